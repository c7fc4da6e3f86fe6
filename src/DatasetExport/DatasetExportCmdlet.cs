using System.Globalization;
using System.Management.Automation;
using System.Net;
using System.Security;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using EngineRunStatus = DatasetExport.Engine.State.RunStatus;

namespace DatasetExport;

/// <summary>
/// What every cmdlet shares: the engine, opened on first use from the state home the engine picks
/// ($env:DATASETEXPORT_HOME, else the per-user default) and disposed with the cmdlet; cancellation on Ctrl+C;
/// and the one translation of engine exceptions into ErrorRecords, so cmdlets stay thin.
/// </summary>
public abstract class DatasetExportCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private ExportEngine? _engine;

    internal ExportEngine Engine => _engine ??= ExportEngine.Open();

    /// <summary>Cancelled when the user presses Ctrl+C.</summary>
    protected CancellationToken StopToken => _stopping.Token;

    /// <summary>What the cmdlet manages, for error ids: "Destination" gives DestinationNotFound, DestinationAlreadyExists, ...</summary>
    protected abstract string ErrorNoun { get; }

    protected sealed override void ProcessRecord() => Guard(ProcessRecordCore, target: null);
    protected sealed override void EndProcessing() => Guard(EndProcessingCore, target: null);
    protected override void StopProcessing() => _stopping.Cancel();

    /// <summary>Cancels this command's engine work, as Ctrl+C does: for a command that ends (with an error) before its export.</summary>
    internal void CancelEngineWork() => _stopping.Cancel();

    protected virtual void ProcessRecordCore() { }
    protected virtual void EndProcessingCore() { }

    /// <summary>Runs one unit of work; an engine failure becomes a non-terminating error about <paramref name="target"/>.</summary>
    protected void Guard(Action action, object? target)
    {
        try
        {
            action();
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception error) when (IsEngineFailure(error))
        {
            WriteError(ToErrorRecord(error, target));
        }
    }

    /// <summary>
    /// The lake this command reads: <paramref name="lakePath"/> (a PowerShell path), else the stored option, else
    /// $env:DATASETEXPORT_LAKE (a relative one resolved as a PowerShell path too, against this runspace's location).
    /// No lake at all stops the command with one LakePathNotSet error, not one per piped object.
    /// </summary>
    protected string ResolveLakePathOrStop(string? lakePath)
    {
        try
        {
            return Engine.ResolveLakePath(lakePath is null ? null : GetUnresolvedProviderPathFromPSPath(lakePath), GetUnresolvedProviderPathFromPSPath);
        }
        catch (LakeException error)
        {
            ThrowTerminatingError(ToErrorRecord(error, lakePath));
            throw; // not reached: ThrowTerminatingError always throws
        }
    }

    /// <summary>Waits for an engine task on the pipeline thread (the engine never needs this thread to finish).</summary>
    protected static T Wait<T>(Func<Task<T>> operation) => Task.Run(operation).GetAwaiter().GetResult();

    protected static void Wait(Func<Task> operation) => Task.Run(operation).GetAwaiter().GetResult();

    private static bool IsEngineFailure(Exception error) =>
        error is LakeException or StateException or DestinationException or BatchReadException or ArgumentException;

    /// <summary>The password of a -Credential, "" when it has none; a secret, never to be shown.</summary>
    protected static string PasswordOf(PSCredential credential) => credential.GetNetworkCredential().Password ?? "";

    /// <summary>The text of a SecureString parameter; a secret, never to be shown.</summary>
    protected static string Reveal(SecureString secure) => new NetworkCredential("", secure).Password;

    /// <summary>The one mapping of engine exceptions to stable error ids and PowerShell categories.</summary>
    protected ErrorRecord ToErrorRecord(Exception error, object? target)
    {
        var (id, category, errorTarget) = error switch
        {
            LakeException lake => lake.Failure switch
            {
                LakeFailure.NotConfigured => ("LakePathNotSet", ErrorCategory.InvalidOperation, target),
                LakeFailure.NotFound => ("LakeItemNotFound", ErrorCategory.ObjectNotFound, lake.Target),
                _ => ("DatasetNotEligible", ErrorCategory.InvalidData, lake.Target),
            },
            StateException state => state.Failure switch
            {
                StateFailure.NotFound => (ErrorNoun + "NotFound", ErrorCategory.ObjectNotFound, target),
                StateFailure.AlreadyExists => (ErrorNoun + "AlreadyExists", ErrorCategory.ResourceExists, target),
                StateFailure.InUse => (ErrorNoun + "InUse", ErrorCategory.ResourceBusy, target),
                _ => ("StateUnusable", ErrorCategory.InvalidData, target),
            },
            DestinationException destination => destination.Failure switch
            {
                DestinationFailure.Authentication => ("DestinationAuthenticationFailed", ErrorCategory.AuthenticationError, target),
                DestinationFailure.HostKeyMismatch => ("DestinationHostKeyMismatch", ErrorCategory.SecurityError, target),
                DestinationFailure.NotFound => ("DestinationStorageNotFound", ErrorCategory.ObjectNotFound, target),
                DestinationFailure.PermissionDenied => ("DestinationPermissionDenied", ErrorCategory.PermissionDenied, target),
                DestinationFailure.Unreachable => ("DestinationUnreachable", ErrorCategory.ConnectionError, target),
                DestinationFailure.InvalidConfiguration => ("DestinationInvalidConfiguration", ErrorCategory.InvalidArgument, target),
                _ => ("DestinationFailed", ErrorCategory.WriteError, target),
            },
            BatchReadException batch => ("BatchReadFailed", ErrorCategory.ReadError, batch.FilePath),
            _ => ("InvalidArgument", ErrorCategory.InvalidArgument, target),
        };
        return new ErrorRecord(error, id, category, errorTarget);
    }

    /// <summary>A non-terminating error the cmdlet raises itself (not found, already exists, bad combination).</summary>
    protected void WriteError(string message, string errorId, ErrorCategory category, object? target) =>
        WriteError(new ErrorRecord(new PSInvalidOperationException(message), errorId, category, target));

    /// <summary>
    /// Reports a stored name (or a run's id) that does not exist, as ObjectNotFound with id {Kind}NotFound and the name as
    /// target.
    /// </summary>
    protected void WriteNotFound(string kind, string name) =>
        WriteError(new ErrorRecord(
            new ItemNotFoundException($"No {kind.ToLowerInvariant()} {(kind == "Run" ? "with id" : "named")} '{name}' exists."),
            kind + "NotFound", ErrorCategory.ObjectNotFound, name));

    /// <summary>Rejects names with wildcard characters where a literal name is stored; <paramref name="advice"/> says what to do instead.</summary>
    protected void ThrowIfWildcard(string name, string parameterName, string? advice = null)
    {
        if (WildcardPattern.ContainsWildcardCharacters(name))
        {
            ThrowTerminatingError(new ErrorRecord(
                new PSArgumentException($"The name '{name}' contains wildcard characters, which -{parameterName} does not allow here.{(advice is null ? "" : " " + advice)}", parameterName),
                "NameContainsWildcard", ErrorCategory.InvalidArgument, name));
        }
    }

    /// <summary>
    /// False, after a non-terminating error about <paramref name="target"/>, for a file type and compression pair no writer
    /// supports (Snappy or Zstd for Json). Non-terminating: with destinations from the pipeline the pair depends on each one.
    /// </summary>
    protected bool TryValidateFileType(FileType fileType, Compression compression, string target)
    {
        try
        {
            FormatCatalog.ValidateCombination(fileType.ToEngine(), compression.ToEngine());
            return true;
        }
        catch (ArgumentException error)
        {
            WriteError(new ErrorRecord(error, "InvalidCompressionForFileType", ErrorCategory.InvalidArgument, target));
            return false;
        }
    }

    /// <summary>
    /// Stores -RetryCount and -RetryTimeoutSeconds, when given, as the invariant-culture strings the engine reads; one
    /// given as $null is removed, so the engine's default applies again.
    /// </summary>
    protected void SetRetrySettings(DestinationSettings destination, int? retryCount, int? retryTimeoutSeconds)
    {
        SetOrRemove(DestinationKeys.RetryCount, retryCount);
        SetOrRemove(DestinationKeys.RetryTimeoutSeconds, retryTimeoutSeconds);

        // The parameters carry the names of the keys they set.
        void SetOrRemove(string key, int? value)
        {
            if (value is { } given) destination.Properties[key] = given.ToString(CultureInfo.InvariantCulture);
            else if (MyInvocation.BoundParameters.ContainsKey(key)) destination.Properties.Remove(key);
        }
    }

    /// <summary>
    /// The armored public key -PgpPublicKey gives: armored text as it is, anything else as a PowerShell path to a key
    /// file (armored or binary). Throws <see cref="ArgumentException"/> naming the destination when it is not a usable key.
    /// </summary>
    internal string LoadPgpPublicKey(string pathOrArmored, string destinationName)
    {
        var isArmored = pathOrArmored.Contains("-----BEGIN PGP", StringComparison.Ordinal);
        try
        {
            return PgpKeys.Load(isArmored ? pathOrArmored : GetUnresolvedProviderPathFromPSPath(pathOrArmored), Engine.Time.GetUtcNow());
        }
        catch (ArgumentException error)
        {
            // The engine's parameter name means nothing to PowerShell users: drop the suffix ArgumentException appends for it.
            var problem = error.ParamName is null ? error.Message : error.Message.Replace($" (Parameter '{error.ParamName}')", "", StringComparison.Ordinal);
            throw new PSArgumentException($"The -PgpPublicKey of destination '{destinationName}' cannot be used: {problem}", "PgpPublicKey");
        }
    }

    /// <summary>Looks up a stored destination by exact name; writes DestinationNotFound (or NameContainsWildcard) and returns null when absent.</summary>
    internal DestinationSettings? FindDestinationOrWriteError(string name)
    {
        var destination = Engine.State.FindDestination(name);
        if (destination is null) WriteNotFoundOrPattern("Destination", name);
        return destination;
    }

    /// <summary>Looks up a stored flow by exact name; writes FlowNotFound (or NameContainsWildcard) and returns null when absent.</summary>
    internal FlowRecord? FindFlowOrWriteError(string name)
    {
        var flow = Engine.State.FindFlow(name);
        if (flow is null) WriteNotFoundOrPattern("Flow", name);
        return flow;
    }

    /// <summary>
    /// NotFound for a name that matched nothing; for a pattern, which only the Get- cmdlets take (stored names have no
    /// wildcard characters), a NameContainsWildcard error naming the Get- cmdlet that lists what it matches.
    /// </summary>
    private void WriteNotFoundOrPattern(string kind, string name)
    {
        if (!WildcardPattern.ContainsWildcardCharacters(name))
        {
            WriteNotFound(kind, name);
            return;
        }
        var noun = kind.ToLowerInvariant();
        WriteError(new ErrorRecord(
            new PSArgumentException($"The name '{name}' contains wildcard characters, but {MyInvocation.MyCommand.Name} takes exact {noun} names. "
                + $"Get-Export{kind} '{name}' lists the {noun}s it matches."),
            "NameContainsWildcard", ErrorCategory.InvalidArgument, name));
    }

    internal ExportFlow ToOutput(FlowRecord flow) => EngineMapping.ToOutput(Engine.GetFlowStatus(flow), DestinationNameOf(flow.DestinationId));

    /// <summary>The destination's name, read without decrypting its secrets (a flow lists it by name); its id when it is gone.</summary>
    protected string DestinationNameOf(Guid destinationId) =>
        Engine.State.GetDestinationName(destinationId) ?? destinationId.ToString();

    /// <summary>
    /// Writes the run; a Failed or Abandoned run (<see cref="EndedBadly"/>) is also a non-terminating error (ExportRunFailed,
    /// WriteError) whose target is the run object.
    /// </summary>
    internal void WriteRun(RunRecord run)
    {
        var output = EngineMapping.ToOutput(run);
        WriteObject(output);
        if (!EndedBadly(run)) return;
        var outcome = run.Status == EngineRunStatus.Failed ? "failed" : "was abandoned";
        WriteError(new ErrorRecord(
            new InvalidOperationException($"Export of dataset '{run.DatasetId}' by flow '{run.FlowName}' {outcome}: {run.Error}"),
            "ExportRunFailed", ErrorCategory.WriteError, output));
    }

    internal static bool EndedBadly(RunRecord run) => run.Status is EngineRunStatus.Failed or EngineRunStatus.Abandoned;

    /// <summary>
    /// Items one of whose names matches any of the patterns (all when none); writes NotFound for each literal name that
    /// matched nothing.
    /// </summary>
    internal IEnumerable<T> FilterByName<T>(IReadOnlyList<T> items, Func<T, IEnumerable<string>> namesOf, string[]? patterns, string kind)
    {
        if (patterns is null || patterns.Length == 0) return items;
        var matched = new List<T>();
        foreach (var pattern in patterns)
        {
            var wildcard = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
            var hits = items.Where(item => namesOf(item).Any(wildcard.IsMatch)).ToList();
            if (hits.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern)) WriteNotFound(kind, pattern);
            matched.AddRange(hits.Where(hit => !matched.Contains(hit)));
        }
        return matched;
    }

    public void Dispose()
    {
        _engine?.Dispose();
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }
}
