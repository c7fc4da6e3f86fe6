using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Retry;
using DatasetExport.Engine.Destinations.Sftp;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine;

// The operations the cmdlets call. Each validates its input and throws LakeException, StateException,
// DestinationException or ArgumentException with a message fit to show the user.
public sealed partial class ExportEngine
{
    /// <summary>A Running run whose heartbeat is older than this belongs to a process that died.</summary>
    public static readonly TimeSpan RunLease = TimeSpan.FromMinutes(5);

    public const int MaxFileSizeLimitMB = 100 * 1024;

    /// <summary>
    /// Every dataset in the lake, eligible ones only unless <paramref name="includeIneligible"/>; only those whose id and name
    /// <paramref name="include"/> accepts when given (the others' batches are not read).
    /// </summary>
    public IReadOnlyList<DatasetInfo> GetDatasets(string lakePath, bool includeIneligible, CancellationToken cancellationToken, Func<string, string, bool>? include = null)
    {
        var datasets = new FolderLake(lakePath, State).ListDatasetsAsync(include, cancellationToken).GetAwaiter().GetResult();
        return includeIneligible ? datasets : datasets.Where(d => d.IsEligible).ToList();
    }

    /// <summary>One dataset by id; throws LakeException NotFound.</summary>
    public DatasetInfo GetDataset(string lakePath, string datasetId, CancellationToken cancellationToken) =>
        new FolderLake(lakePath, State).GetDatasetAsync(datasetId, cancellationToken).GetAwaiter().GetResult();

    /// <summary>Validates (unless <paramref name="skipValidation"/>: connect, write and delete a probe) and stores a new destination.</summary>
    public async Task AddDestinationAsync(DestinationSettings destination, bool skipValidation, CancellationToken cancellationToken)
    {
        Normalize(destination);
        if (State.FindDestination(destination.Name) is not null)
        {
            throw new StateException(StateFailure.AlreadyExists, $"A destination named '{destination.Name}' already exists.");
        }
        if (!skipValidation) await ValidateAsync(destination, cancellationToken).ConfigureAwait(false);
        destination.CreatedAt = destination.ModifiedAt = Time.GetUtcNow();
        State.AddDestination(destination);
    }

    /// <summary>
    /// Validates (unless <paramref name="skipValidation"/>) and stores the destination's settings, refused (StateException
    /// InUse) when another session changed it after <paramref name="destination"/> was read, rather than undoing that change.
    /// </summary>
    public async Task UpdateDestinationAsync(DestinationSettings destination, bool skipValidation, CancellationToken cancellationToken)
    {
        var readModifiedAt = destination.ModifiedAt;
        Normalize(destination);
        if (!skipValidation) await ValidateAsync(destination, cancellationToken).ConfigureAwait(false);
        destination.ModifiedAt = Time.GetUtcNow();
        State.UpdateDestination(destination, readModifiedAt);
    }

    /// <summary>
    /// Removes a destination (StateException InUse when a flow uses it or a Running run writes to it; a run whose process died,
    /// past <see cref="RunLease"/>, counts as Abandoned), then deletes what runs of any flow left uncommitted on it
    /// (<see cref="RunRecord.FilesToRemove"/>: flows that moved away or were removed), each folder with the settings it had, since
    /// nothing else can once it is gone. Returns one line when some could not be deleted (unreachable, refusing, its secrets
    /// unreadable here), for the caller to warn with; they stay listed in their runs.
    /// </summary>
    public async Task<IReadOnlyList<string>> RemoveDestinationAsync(DestinationSettings destination, CancellationToken cancellationToken)
    {
        State.AbandonStaleRuns(Time.GetUtcNow() - RunLease);
        State.RemoveDestination(destination.Id);
        string? why = null;
        // The store no longer has its settings: the ones it was removed with serve.
        await DeleteFilesLeftWhereTheyLieAsync(State.ListRunsWithFilesToRemoveOn(destination.Id), open: null, _ => destination,
            (_, reason) => why = reason, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var left = State.ListRunsWithFilesToRemoveOn(destination.Id);
        if (left.Count == 0) return [];
        return [$"{left.Sum(run => run.FilesToRemove.Count())} file(s) that runs left uncommitted on the removed destination '{destination.Name}' " +
            $"could not be deleted: {why ?? "the destination failed to delete them"}. They stay, listed in their runs (LeftFiles; the Files of an Abandoned run)."];
    }

    /// <summary>
    /// Writes, reads back and deletes a probe file, and checks that its OpenPGP key (if any) can still encrypt; throws
    /// DestinationException saying what failed.
    /// </summary>
    public async Task TestDestinationAsync(DestinationSettings destination, CancellationToken cancellationToken)
    {
        await using (var target = _createDestination(destination))
        {
            await DestinationProbe.RunAsync(target, cancellationToken).ConfigureAwait(false);
        }
        if (EncryptionKeyProblem(destination) is { } problem) throw new DestinationException(DestinationFailure.InvalidConfiguration, problem);
    }

    /// <summary>
    /// Why the destination's stored OpenPGP key cannot encrypt now (it expired or was revoked since it was stored), or null
    /// when it can or there is none. Its runs fail with this reason until the key is replaced.
    /// </summary>
    public string? EncryptionKeyProblem(DestinationSettings destination)
    {
        try
        {
            PgpFileEncryption.For(destination, Time.GetUtcNow());
            return null;
        }
        catch (ArgumentException error)
        {
            return $"{error.Message} Its runs fail until it is given a usable key (Set-ExportDestination -PgpPublicKey).";
        }
    }

    /// <summary>Trust on first use for SFTP (records the server's host key when none is pinned), then the probe.</summary>
    private async Task ValidateAsync(DestinationSettings destination, CancellationToken cancellationToken)
    {
        if (destination.Type == DestinationType.Sftp && string.IsNullOrWhiteSpace(destination.GetProperty(DestinationKeys.HostKeyFingerprint)))
        {
            destination.Properties[DestinationKeys.HostKeyFingerprint] =
                await SftpDestination.ReadHostKeyFingerprintAsync(destination, cancellationToken).ConfigureAwait(false);
        }
        await TestDestinationAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks the destination exists, the dataset ids are well-formed and the schedule is valid (ArgumentException naming
    /// the parameter at fault), then stores the flow. A new flow has no slot claimed yet.
    /// </summary>
    public void AddFlow(FlowRecord flow)
    {
        flow.CreatedAt = flow.ModifiedAt = Time.GetUtcNow();
        flow.LastSlot = null;
        NormalizeFlow(flow);
        if (State.FindFlow(flow.Name) is not null)
        {
            throw new StateException(StateFailure.AlreadyExists, $"A flow named '{flow.Name}' already exists.");
        }
        State.AddFlow(flow);
    }

    /// <summary>
    /// Validates like <see cref="AddFlow"/> and stores the flow's settings; its last claimed slot is kept as stored. Refused
    /// (StateException InUse) when another session changed the flow after <paramref name="flow"/> was read.
    /// </summary>
    public void UpdateFlow(FlowRecord flow)
    {
        var readModifiedAt = flow.ModifiedAt;
        NormalizeFlow(flow);
        flow.ModifiedAt = Time.GetUtcNow();
        State.UpdateFlow(flow, readModifiedAt);
    }

    /// <summary>
    /// Renames the flow and keeps everything else: its schedule and claimed slot, what it exported (an incremental flow does
    /// not send that again, as it would as a flow made anew), its runs (recorded under the name each ran with; found by the
    /// flow's new name). Refused like <see cref="UpdateFlow"/>: AlreadyExists for another flow's name, InUse when another
    /// session changed it since it was read. Returns a warning when its destination's folder template names folders by
    /// %FLOW_NAME%: later exports go elsewhere than earlier ones.
    /// </summary>
    public IReadOnlyList<string> RenameFlow(FlowRecord flow, string newName)
    {
        // UpdateFlow checks the new name first (NormalizeFlow), before anything is written.
        var oldName = flow.Name;
        flow.Name = newName;
        try
        {
            UpdateFlow(flow);
        }
        catch
        {
            flow.Name = oldName;
            throw;
        }
        return State.GetDestination(flow.DestinationId) is { } destination
            ? FolderMacroWarnings(destination, "FLOW_NAME", $"flow '{newName}'", oldName, newName)
            : [];
    }

    /// <summary>
    /// Renames the destination and keeps everything else: its settings and secrets, the flows that use it, what they
    /// exported there, its runs (recorded under the name each ran with). Refused with AlreadyExists for another
    /// destination's name and InUse when another session changed it since it was read. Returns a warning when its
    /// folder template names folders by %DESTINATION%.
    /// </summary>
    public IReadOnlyList<string> RenameDestination(DestinationSettings destination, string newName)
    {
        Validation.RequireName(newName, "destination");
        var now = Time.GetUtcNow();
        State.RenameDestination(destination.Id, newName, destination.ModifiedAt, now);
        var oldName = destination.Name;
        (destination.Name, destination.ModifiedAt) = (newName, now);
        return FolderMacroWarnings(destination, "DESTINATION", $"destination '{newName}'", oldName, newName);
    }

    private static IReadOnlyList<string> FolderMacroWarnings(DestinationSettings destination, string macro, string renamed, string oldName, string newName) =>
        destination.GetProperty(DestinationKeys.FolderTemplate) is { } template && FolderTemplate.Uses(template, macro)
            ? [$"Destination '{destination.Name}' names folders by %{macro}% (FolderTemplate '{template}'): the next exports of {renamed} " +
               $"go to folders named '{newName}'; what it exported before stays in folders named '{oldName}'."]
            : [];

    /// <summary>
    /// Removes a flow (its runs stay as history), then deletes what its runs left uncommitted (<see cref="RunRecord.FilesToRemove"/>:
    /// a dead run's files, those a failed run could not delete), each through its own destination and folder, as the flow's
    /// next run would have: none comes now. A run whose process died (past <see cref="RunLease"/>) counts as Abandoned; one
    /// still running in another session fails at its commit and deletes its own. Files it exported stay. Returns one line per
    /// destination still holding such files (unreachable, refusing deletes, removed), for the caller to warn with; they stay
    /// listed in the runs.
    /// </summary>
    public async Task<IReadOnlyList<string>> RemoveFlowAsync(FlowRecord flow, CancellationToken cancellationToken)
    {
        State.AbandonStaleRuns(Time.GetUtcNow() - RunLease);
        State.RemoveFlow(flow.Id);
        var why = new Dictionary<Guid, string>();
        await DeleteFilesLeftWhereTheyLieAsync(State.ListRunsWithFilesToRemove(flow.Id), open: null, State.GetDestination,
            (run, reason) => why[run.DestinationId] = reason, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return State.ListRunsWithFilesToRemove(flow.Id).GroupBy(run => run.DestinationId).Select(place =>
            $"{place.Sum(run => run.FilesToRemove.Count())} file(s) that runs of flow '{flow.Name}' left uncommitted on destination " +
            $"'{place.Last().DestinationName}' could not be deleted: {why.GetValueOrDefault(place.Key, "the destination failed to delete them")}. " +
            "They stay, listed in the flow's runs (LeftFiles; the Files of an Abandoned run).").ToList();
    }

    /// <summary>
    /// Runs the flow now: one run per dataset, recorded in the state store. A failed dataset does not stop the
    /// others; its run is returned with Status Failed and Error set. <paramref name="progress"/> is called on
    /// engine threads, and told of each run as it ends (<see cref="ExportProgress.EndedRun"/>).
    /// </summary>
    public Task<IReadOnlyList<RunRecord>> RunFlowAsync(FlowRecord flow, string lakePath, IProgress<ExportProgress>? progress, CancellationToken cancellationToken,
        IReadOnlyCollection<string>? datasetIds = null) =>
        RunFlowAsync(flow, lakePath, Time.GetUtcNow(), progress, cancellationToken, datasetIds);

    /// <summary>
    /// Runs the flow for the slot <paramref name="scheduledTime"/>, which names the exportTime= folders; only the
    /// datasets in <paramref name="datasetIds"/> when given (Start-ExportRun -Dataset: one whose run failed), each one
    /// of the flow's (matched case-insensitively; ArgumentException naming those that are not, before anything is
    /// recorded). The runs of all the datasets are recorded at once before any is exported: while another process still
    /// exports one of them, StateException InUse (naming that run) and nothing recorded or exported, rather than
    /// exporting the datasets before it again.
    /// </summary>
    public async Task<IReadOnlyList<RunRecord>> RunFlowAsync(
        FlowRecord flow, string lakePath, DateTimeOffset scheduledTime, IProgress<ExportProgress>? progress, CancellationToken cancellationToken,
        IReadOnlyCollection<string>? datasetIds = null)
    {
        datasetIds = datasetIds is null ? flow.DatasetIds : DatasetsOfFlow(flow, datasetIds);
        var destination = DestinationOf(flow);
        var lake = new FolderLake(lakePath, State);
        State.AbandonStaleRuns(Time.GetUtcNow() - RunLease);
        ExportRunner.SweepStaging(State);

        // Opened before anything is recorded: a destination that cannot be used records no run.
        await using var target = _createDestination(destination);
        var now = Time.GetUtcNow();
        var runs = datasetIds.Select(datasetId => ExportRunner.NewRun(flow, destination, datasetId, scheduledTime, now)).ToList();
        State.AddRuns(runs);
        return await ExportRunsAsync(flow, destination, target, lake, runs, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>Start-ExportRun</c> of several flows: runs each of <paramref name="flows"/> now as <see cref="RunFlowAsync(FlowRecord, string,
    /// IProgress{ExportProgress}?, CancellationToken, IReadOnlyCollection{string}?)"/> does (only <paramref name="datasetIds"/> of each
    /// when given), up to <paramref name="throttleLimit"/> flows at once and in the order given (each flow's datasets one after
    /// another; 1 runs the flows one after another). A flow waiting its turn is read again when it starts, so a change made
    /// meanwhile counts (one removed meanwhile is refused NotFound). A flow refused with an error of its own (<see cref="IsFlowRefusal"/>:
    /// another session still exports one of its datasets, its destination is gone or cannot be opened, a dataset it does not
    /// export; also a state store that cannot be used, locked past its timeout or damaged, which each flow after meets in turn
    /// before it records or exports anything) is told to <paramref name="refused"/> and the others run, as one after another
    /// they did; any other exception stops the flows waiting their turn, and is thrown once those exporting ended
    /// (<see cref="RunAtMostAsync"/>). Flows not started when <paramref name="cancellationToken"/> is cancelled never start.
    /// Returns every run, in the order of the flows; each is also reported to <paramref name="progress"/> as it ends.
    /// <paramref name="progress"/> and <paramref name="refused"/> are called on engine threads, from several flows at once when
    /// <paramref name="throttleLimit"/> is above 1. <paramref name="beforeEachFlow"/>, when given, is awaited when a flow's turn
    /// comes, before it is read again and started (<see cref="RunAtMostAsync"/>).
    /// </summary>
    public async Task<IReadOnlyList<RunRecord>> RunFlowsAsync(
        IReadOnlyList<FlowRecord> flows, string lakePath, IProgress<ExportProgress>? progress, Action<FlowRecord, Exception> refused,
        CancellationToken cancellationToken, IReadOnlyCollection<string>? datasetIds = null, int throttleLimit = 1,
        Func<CancellationToken, Task>? beforeEachFlow = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(throttleLimit, 1);
        var work = flows.Select<FlowRecord, Func<Task<IReadOnlyList<RunRecord>>>>(flow => async () =>
        {
            try
            {
                // The flow as stored when its turn comes: it may have waited for others while another session changed it.
                var current = State.GetFlow(flow.Id)
                    ?? throw new StateException(StateFailure.NotFound, $"Flow '{flow.Name}' was removed before it started.");
                return await RunFlowAsync(current, lakePath, progress, cancellationToken, datasetIds).ConfigureAwait(false);
            }
            catch (Exception refusal) when (IsFlowRefusal(refusal) && !cancellationToken.IsCancellationRequested)
            {
                refused(flow, refusal);
                return [];
            }
        }).ToList();
        return await RunAtMostAsync(work, throttleLimit, cancellationToken, beforeEachFlow).ConfigureAwait(false);
    }

    /// <summary>
    /// The errors a flow's run is refused with, each with a message fit for the user (the kinds the operations throw, as the
    /// module reports them): one flow's, which leave the other flows of a <see cref="RunFlowsAsync"/> to run.
    /// </summary>
    private static bool IsFlowRefusal(Exception error) =>
        error is LakeException or StateException or DestinationException or BatchReadException or ArgumentException;

    /// <summary>The flow's own spelling of each of <paramref name="datasetIds"/>, in the flow's order; ArgumentException for one not in the flow.</summary>
    private static List<string> DatasetsOfFlow(FlowRecord flow, IReadOnlyCollection<string> datasetIds)
    {
        var missing = datasetIds.Where(id => !flow.DatasetIds.Contains(id, StringComparer.OrdinalIgnoreCase)).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException($"Flow '{flow.Name}' does not export {string.Join(", ", missing.Select(id => $"'{id}'"))}; " +
                $"its datasets are {string.Join(", ", flow.DatasetIds.Select(id => $"'{id}'"))}.", nameof(datasetIds));
        }
        return flow.DatasetIds.Where(id => datasetIds.Contains(id, StringComparer.OrdinalIgnoreCase)).ToList();
    }

    /// <summary>
    /// What verifying a flow checks: for each of its datasets, in the flow's order, the runs that hold the latest copy of
    /// every batch the flow has exported to its current destination (an incremental flow's whole history there, a full
    /// flow's newest run and the runs of batches gone from the lake since), oldest first; none for a dataset with nothing
    /// exported there yet. <c>RemovedRuns</c> counts such runs removed from the history since (<see cref="RemoveRuns"/>):
    /// their files can no longer be verified.
    /// </summary>
    public IReadOnlyList<(string DatasetId, IReadOnlyList<RunRecord> Runs, int RemovedRuns)> GetRunsHoldingExports(FlowRecord flow) =>
        flow.DatasetIds
            .Select(datasetId =>
            {
                var holders = State.ListRunsHoldingExportedBatches(flow.Id, datasetId, flow.DestinationId);
                var runs = State.GetRuns(holders).OrderBy(run => run.StartedAt).ToList();
                return (datasetId, (IReadOnlyList<RunRecord>)runs, holders.Count - runs.Count);
            })
            .ToList();

    /// <summary>
    /// Removes finished runs from the history (<see cref="IStateStore.RemoveRuns"/>: the files they exported and the record of
    /// the batches they exported stay), returning those kept with why. Staging folders a dead process left are swept first,
    /// while the store still knows their runs: the sweep leaves alone the folders of runs it does not know.
    /// </summary>
    public IReadOnlyList<(Guid RunId, StateException Refusal)> RemoveRuns(IReadOnlyCollection<Guid> runIds)
    {
        ExportRunner.SweepStaging(State);
        return State.RemoveRuns(runIds);
    }

    /// <summary>Re-reads the run's manifest and every file from the destination, checking existence, size and sha256.</summary>
    public async Task<RunVerification> VerifyRunAsync(RunRecord run, CancellationToken cancellationToken)
    {
        var destination = State.GetDestination(run.DestinationId)
            ?? throw new StateException(StateFailure.NotFound, $"The destination '{run.DestinationName}' of run {run.Id} no longer exists.");
        destination.FolderPath = run.FolderPath ?? destination.FolderPath; // where the run wrote, whatever the folder is now
        await using var target = _createDestination(destination);
        return await RunVerifier.VerifyAsync(run, target, cancellationToken).ConfigureAwait(false);
    }

    private void Normalize(DestinationSettings destination)
    {
        Validation.RequireName(destination.Name, "destination");
        FormatCatalog.ValidateCombination(destination.FileType, destination.Compression);
        if (destination.MaxFileSizeMB is < 1 or > MaxFileSizeLimitMB)
        {
            throw new ArgumentException($"MaxFileSizeMB must be between 1 and {MaxFileSizeLimitMB}.", nameof(destination.MaxFileSizeMB));
        }
        PropertySecrets.ThrowIfAny(destination); // before anything is stored, validated or quoted
        destination.FolderPath = Validation.NormalizeFolderPath(destination.FolderPath);
        if (destination.GetProperty(DestinationKeys.FolderTemplate) is { } template) FolderTemplate.Validate(template);
        PgpKeys.ValidateSettings(destination, Time.GetUtcNow());
        _ = RetryPolicy.From(destination); // rejects an out-of-range RetryCount or RetryTimeoutSeconds now, not at the first run
        if (!DestinationRegistry.IsSupported(destination.Type))
        {
            throw new ArgumentException($"Destination type {destination.Type} is not supported.", nameof(destination.Type));
        }
    }

    private DestinationSettings DestinationOf(FlowRecord flow) => State.GetDestination(flow.DestinationId)
        ?? throw new StateException(StateFailure.NotFound, $"The destination of flow '{flow.Name}' no longer exists.");

    private void NormalizeFlow(FlowRecord flow)
    {
        Validation.RequireName(flow.Name, "flow");
        NormalizeSchedule(flow);
        if (State.GetDestination(flow.DestinationId) is null)
        {
            throw new StateException(StateFailure.NotFound, $"Flow '{flow.Name}' names a destination that does not exist.");
        }
        flow.DatasetIds = flow.DatasetIds.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (flow.DatasetIds.Count == 0) throw new ArgumentException($"Flow '{flow.Name}' needs at least one dataset.", "Dataset");
        foreach (var id in flow.DatasetIds)
        {
            if (DatasetIds.Problem(id) is { } problem) throw new ArgumentException(problem, "Dataset");
        }
    }

    /// <summary>
    /// Slots are to the minute, so start and end times are too; fields of other schedule kinds are cleared (switching a
    /// flow from daily to hourly leaves no stale time of day). Throws ArgumentException naming the parameter at fault.
    /// </summary>
    private static void NormalizeSchedule(FlowRecord flow)
    {
        if (flow.ScheduleKind != ScheduleKind.Hourly) flow.EveryHours = null;
        if (flow.ScheduleKind != ScheduleKind.Daily) flow.At = null;
        if (flow.ScheduleKind != ScheduleKind.Cron) flow.Cron = null;
        if (string.IsNullOrWhiteSpace(flow.TimeZone)) flow.TimeZone = "UTC";
        flow.StartTime = flow.StartTime is { } start ? FlowSchedule.TruncateToMinute(start) : null;
        flow.EndTime = flow.EndTime is { } end ? FlowSchedule.TruncateToMinute(end) : null;
        FlowSchedule.For(flow);
    }
}
