namespace DatasetExport;

/// <summary>A dataset in the lake, as Get-EligibleDataset returns it.</summary>
public sealed class EligibleDataset
{
    public string Id { get; init; } = "";
    public string Name { get; init; } = "";
    public string? Description { get; init; }
    public string Path { get; init; } = "";
    public int BatchCount { get; init; }
    public long SizeBytes { get; init; }
    /// <summary>Total records when cheap to know (every batch is Parquet); otherwise null.</summary>
    public long? RecordCount { get; init; }
    /// <summary>"Parquet", "JsonLines" or "Mixed".</summary>
    public string Format { get; init; } = "";
    public DateTimeOffset? LastModified { get; init; }
    public DatasetColumn[] Schema { get; init; } = [];
    public bool IsEligible { get; init; }
    /// <summary>Why the dataset cannot be exported; null when it can.</summary>
    public string? Reason { get; init; }
    /// <summary>Every batch that cannot be exported with the others, in path order; empty when all can.</summary>
    public BatchProblem[] BatchProblems { get; init; } = [];

    /// <summary>The id, so a dataset converts to what -Dataset parameters expect.</summary>
    public override string ToString() => Id;
}

/// <summary>One top-level column of a dataset.</summary>
public sealed class DatasetColumn
{
    public string Name { get; init; } = "";
    /// <summary>Readable type, e.g. <c>int64</c>, <c>decimal(18,2)</c>, <c>list&lt;string&gt;</c>.</summary>
    public string Type { get; init; } = "";
    public bool Nullable { get; init; }

    public override string ToString() => $"{Name} {Type}";
}

/// <summary>A batch file that cannot be exported: unreadable, or its schema conflicts with the batches before it.</summary>
public sealed class BatchProblem
{
    /// <summary>The batch file's path inside its dataset folder, '/'-separated.</summary>
    public string Path { get; init; } = "";
    /// <summary>What is wrong, naming the file and, where it has one, the position (line N, footer, row group N, gzip).</summary>
    public string Problem { get; init; } = "";
    /// <summary>Its record count where the file tells (a readable Parquet footer); otherwise null.</summary>
    public long? Records { get; init; }

    public override string ToString() => Problem;
}
