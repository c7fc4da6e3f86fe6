namespace DatasetExport.Engine.Lake;

public enum LakeFailure
{
    /// <summary>No lake path was given or configured.</summary>
    NotConfigured,
    /// <summary>The lake folder or a dataset does not exist.</summary>
    NotFound,
    /// <summary>The dataset exists but cannot be exported (no batches, unreadable, conflicting schemas).</summary>
    NotEligible,
}

/// <summary>The lake or a dataset in it cannot be used; <see cref="Target"/> names the path or dataset id.</summary>
public sealed class LakeException : Exception
{
    public LakeException(LakeFailure failure, string message, string target, Exception? inner = null) : base(message, inner)
    {
        Failure = failure;
        Target = target;
    }

    public LakeFailure Failure { get; }
    public string Target { get; }
}
