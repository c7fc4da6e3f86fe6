using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine;

/// <summary>A flow whose schedule has a slot due now; <see cref="Slot"/> is the slot that would run (UTC, to the minute).</summary>
public sealed record DueFlow(FlowRecord Flow, DateTimeOffset Slot);

/// <summary>
/// A due slot (or the redo of an abandoned one) left for a later invocation because the flow is still exporting one of
/// its datasets; <paramref name="Reason"/> names the run that holds it.
/// </summary>
public sealed record DeferredSlot(string FlowName, DateTimeOffset Slot, string Reason);

/// <summary>What a flow's schedule says at the engine's "now", for Get-ExportFlow.</summary>
/// <param name="Schedule">The schedule in words, e.g. "Daily at 02:00 (Europe/Paris)".</param>
/// <param name="NextRunTime">The slot the next <c>Invoke-ExportSchedule</c> would run (in the past when it is due now); null for manual, disabled and completed flows.</param>
/// <param name="LastRunTime">When the flow's latest run in the history started; null when it never ran or all its runs were removed (RemoveRuns).</param>
/// <param name="LastStatus">The status of that run.</param>
/// <param name="Completed">True when no slot will ever be due again (a once flow whose slot ran, a flow whose last slot before its end time ran).</param>
public sealed record FlowStatus(FlowRecord Flow, string Schedule, DateTimeOffset? NextRunTime, DateTimeOffset? LastRunTime, RunStatus? LastStatus, bool Completed);

// What Invoke-ExportSchedule does: run every enabled flow that is due, exactly once per flow, dataset and slot across
// processes, and redo the slot of a run whose process died.
public sealed partial class ExportEngine
{
    /// <summary>
    /// Enabled flows with a due slot at the engine's "now" (only <paramref name="flowNames"/> when given; an unknown name
    /// throws StateException NotFound). What <c>Invoke-ExportSchedule -WhatIf</c> lists.
    /// </summary>
    public IReadOnlyList<DueFlow> GetDueFlows(IReadOnlyCollection<string>? flowNames = null)
    {
        var now = Time.GetUtcNow();
        var due = new List<DueFlow>();
        foreach (var flow in SelectFlows(flowNames))
        {
            if (flow.Enabled && FlowSchedule.For(flow).LatestDueSlot(flow.LastSlot, now) is { } slot) due.Add(new DueFlow(flow, slot));
        }
        return due;
    }

    /// <summary>
    /// <c>Invoke-ExportSchedule</c>: marks runs whose process died (heartbeat older than <see cref="RunLease"/>)
    /// Abandoned and redoes those of each flow's last slot unless a later slot is due, then runs each due flow once for
    /// its latest due slot. Each slot is claimed in the state store together with its runs (one per dataset) before anything is exported, so
    /// several processes invoking at once run each flow, dataset and slot exactly once. A flow still exporting one of
    /// its datasets (another process, or a manual run) is skipped: its slot stays unclaimed for a later invocation.
    /// Up to <paramref name="throttleLimit"/> flows export at once (each flow's datasets one after another); a flow waiting
    /// its turn is read again and claimed only when it starts (as stored then: one removed or disabled meanwhile does not
    /// run), and not at all once <paramref name="cancellationToken"/> is cancelled.
    /// Returns every run, in the order of the flows; failed runs have Status Failed and Error set. Each is also reported to
    /// <paramref name="progress"/> as it ends (<see cref="ExportProgress.EndedRun"/>), so the runs of flows that ended are known
    /// even when a later flow throws. <paramref name="progress"/>
    /// and <paramref name="deferred"/> (each slot left for later because a dataset is still exporting) are called on engine
    /// threads, from several flows at once when <paramref name="throttleLimit"/> is above 1. <paramref name="beforeEachFlow"/>,
    /// when given, is awaited when a flow's turn comes, before it is read and claimed (<see cref="RunAtMostAsync"/>).
    /// </summary>
    public async Task<IReadOnlyList<RunRecord>> RunDueFlowsAsync(
        string lakePath, IReadOnlyCollection<string>? flowNames, IProgress<ExportProgress>? progress, CancellationToken cancellationToken,
        Action<DeferredSlot>? deferred = null, int throttleLimit = 1, Func<CancellationToken, Task>? beforeEachFlow = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(throttleLimit, 1);
        var lake = new FolderLake(lakePath, State);
        var flows = SelectFlows(flowNames);
        State.AbandonStaleRuns(Time.GetUtcNow() - RunLease);
        ExportRunner.SweepStaging(State);
        var due = GetDueFlows(flowNames);
        var work = new List<Func<Task<IReadOnlyList<RunRecord>>>>();
        // A flow with a later slot due now runs that one instead: it supersedes the last slot as a later claimed slot does.
        foreach (var flow in flows.Where(f => f.Enabled && !due.Any(d => d.Flow.Id == f.Id)))
        {
            work.Add(() => CurrentFlow(flow) is { } current
                ? RedoAbandonedSlotAsync(current, lake, progress, deferred, cancellationToken)
                : Task.FromResult<IReadOnlyList<RunRecord>>([]));
        }
        foreach (var (flow, _) in due)
        {
            // The slot due when its turn comes: one claimed meanwhile (another process) is not due any more.
            work.Add(() => CurrentFlow(flow) is { } current && FlowSchedule.For(current).LatestDueSlot(current.LastSlot, Time.GetUtcNow()) is { } slot
                ? RunSlotAsync(current, slot, lake, progress, deferred, cancellationToken)
                : Task.FromResult<IReadOnlyList<RunRecord>>([]));
        }
        return await RunAtMostAsync(work, throttleLimit, cancellationToken, beforeEachFlow).ConfigureAwait(false);
    }

    /// <summary>
    /// The flow as stored when its turn comes, or null when it was removed or disabled meanwhile: a flow may wait for others
    /// (<c>-ThrottleLimit</c>), and another session may change it (its destination, datasets, schedule) while it waits.
    /// </summary>
    private FlowRecord? CurrentFlow(FlowRecord flow) => State.GetFlow(flow.Id) is { Enabled: true } current ? current : null;

    /// <summary>
    /// Runs each flow's <paramref name="work"/> (Invoke-ExportSchedule's due flows, Start-ExportRun's flows), at most
    /// <paramref name="limit"/> at once and in order of start, and returns
    /// their runs in the order of the work. One not started when <paramref name="cancellationToken"/> is cancelled never starts;
    /// nor does one not started when another failed (an exception other than the cancellation, e.g. an unusable state store):
    /// the others still exporting end, then that exception is thrown, as flows run one after another stopped at the first.
    /// <paramref name="beforeStart"/>, when given, is awaited when a flow's turn comes, before it starts: a command awaits there
    /// its pipeline thread's writing of the runs reported so far, so that a failed run whose error stops the command
    /// (-ErrorAction Stop), which cancels <paramref name="cancellationToken"/>, stops a flow waiting its turn before it starts
    /// (and claims a slot it would not redo), not once it started, however long the commands downstream take with that run.
    /// </summary>
    private static async Task<IReadOnlyList<RunRecord>> RunAtMostAsync(
        IReadOnlyList<Func<Task<IReadOnlyList<RunRecord>>>> work, int limit, CancellationToken cancellationToken,
        Func<CancellationToken, Task>? beforeStart = null)
    {
        using var turns = new SemaphoreSlim(limit);
        using var failed = new CancellationTokenSource();
        // SemaphoreSlim lets waiters in in the order they came: with a limit of 1 the flows run one after another, in order.
        var running = work.Select(async flowWork =>
        {
            await turns.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (failed.IsCancellationRequested) return [];
                if (beforeStart is not null)
                {
                    await beforeStart(cancellationToken).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                    if (failed.IsCancellationRequested) return [];
                }
                return await Task.Run(flowWork, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                failed.Cancel();
                throw;
            }
            finally
            {
                turns.Release();
            }
        }).ToList();
        var runs = await Task.WhenAll(running).ConfigureAwait(false);
        return runs.SelectMany(flowRuns => flowRuns).ToList();
    }

    /// <summary>The flow's schedule in words, its next run, its latest run and whether it is completed.</summary>
    public FlowStatus GetFlowStatus(FlowRecord flow)
    {
        var schedule = FlowSchedule.For(flow);
        var now = Time.GetUtcNow();
        var latest = State.ListRuns(flow.Id, last: 1).FirstOrDefault();
        var next = flow.Enabled ? schedule.NextRunTime(flow.LastSlot, now) : null;
        return new FlowStatus(flow, schedule.Describe(), next, latest?.StartedAt, latest?.Status, schedule.IsCompleted(flow.LastSlot, now));
    }

    /// <summary>
    /// Claims the slot with one Running run per dataset not exported since the slot's time (<see cref="SupersededDatasets"/>),
    /// then exports them; nothing when another process claimed it first.
    /// </summary>
    private async Task<IReadOnlyList<RunRecord>> RunSlotAsync(
        FlowRecord flow, DateTimeOffset slot, FolderLake lake, IProgress<ExportProgress>? progress, Action<DeferredSlot>? deferred,
        CancellationToken cancellationToken)
    {
        var destination = DestinationOf(flow);
        Dictionary<string, LatestExport> superseded;
        List<RunRecord> runs;
        for (var attempt = 1; ; attempt++)
        {
            var now = Time.GetUtcNow();
            superseded = SupersededDatasets(flow, slot);
            runs = flow.DatasetIds.Where(datasetId => !superseded.ContainsKey(datasetId))
                .Select(datasetId => ExportRunner.NewRun(flow, destination, datasetId, slot, now)).ToList();
            try
            {
                if (State.TryClaimSlot(flow.Id, slot, runs)) break;
            }
            catch (StateException busy) when (busy.Failure is StateFailure.InUse or StateFailure.NotFound)
            {
                // Still exporting a dataset (or removed meanwhile): the slot stays unclaimed, a later invocation runs it.
                if (busy.Failure == StateFailure.InUse) deferred?.Invoke(new DeferredSlot(flow.Name, slot, busy.Message));
                return [];
            }
            // Claimed by another process; or not, and a dataset was exported for a later time since it was read (another
            // session's Start-ExportRun committed): read again to leave it out. A slot still unclaimed after that waits for
            // a later invocation.
            if (attempt == 3 || State.GetFlow(flow.Id) is not { } stored || stored.LastSlot >= slot) return [];
        }
        flow.LastSlot = slot;
        LogSuperseded(flow, slot, superseded);
        return await ExportRecordedRunsAsync(flow, destination, lake, runs, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The flow's datasets a run for a time after <paramref name="slot"/> exported to the flow's destination (Start-ExportRun
    /// after the slot's time, before the slot was claimed or redone), with that run: the slot's run would export nothing that
    /// run did not (a full flow), or only batches that arrived since (an incremental flow), into the slot's exportTime=
    /// folder, older than that run's, where readers that take folders in time order would never look. The next slot exports them.
    /// Read from what each commit records (<see cref="IStateStore.ListLatestExportsAfter"/>), so removed runs still count.
    /// </summary>
    private Dictionary<string, LatestExport> SupersededDatasets(FlowRecord flow, DateTimeOffset slot) =>
        State.ListLatestExportsAfter(flow.Id, flow.DestinationId, slot)
            .Where(later => flow.DatasetIds.Contains(later.DatasetId, StringComparer.OrdinalIgnoreCase))
            .ToDictionary(later => later.DatasetId, StringComparer.OrdinalIgnoreCase);

    /// <summary>Tells <see cref="Log"/> (verbose output) which datasets a slot leaves out, and the run that exported each.</summary>
    private void LogSuperseded(FlowRecord flow, DateTimeOffset slot, IReadOnlyDictionary<string, LatestExport> superseded)
    {
        foreach (var (datasetId, later) in superseded)
        {
            Log?.Invoke($"Flow '{flow.Name}': slot {slot.UtcDateTime:yyyy-MM-dd HH:mm} UTC is not run for dataset '{datasetId}': " +
                $"run {later.RunId}, started at {later.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, exported it since, into {later.ExportPath}; " +
                "the next slot exports what arrived after.");
        }
    }

    /// <summary>
    /// Redoes the datasets the flow's last slot owes a redo (<see cref="IStateStore.ListSlotRedos"/>: their run was abandoned
    /// there; earlier slots were superseded by that one), unless a run started since exported them (<see cref="SupersededDatasets"/>).
    /// Each redo is recorded atomically, so it happens once across processes.
    /// </summary>
    private async Task<IReadOnlyList<RunRecord>> RedoAbandonedSlotAsync(
        FlowRecord flow, FolderLake lake, IProgress<ExportProgress>? progress, Action<DeferredSlot>? deferred, CancellationToken cancellationToken)
    {
        if (flow.ScheduleKind == ScheduleKind.Manual || flow.LastSlot is not { } slot) return [];
        var abandoned = State.ListSlotRedos(flow.Id, slot).Where(datasetId => flow.DatasetIds.Contains(datasetId, StringComparer.OrdinalIgnoreCase)).ToList();
        if (abandoned.Count == 0) return [];
        var superseded = SupersededDatasets(flow, slot).Where(pair => abandoned.Contains(pair.Key, StringComparer.OrdinalIgnoreCase))
            .ToDictionary(StringComparer.OrdinalIgnoreCase);
        abandoned.RemoveAll(superseded.ContainsKey);
        LogSuperseded(flow, slot, superseded);
        if (abandoned.Count == 0) return [];
        var destination = DestinationOf(flow);
        var redos = new List<RunRecord>();
        foreach (var datasetId in flow.DatasetIds.Where(datasetId => abandoned.Contains(datasetId, StringComparer.OrdinalIgnoreCase)))
        {
            var redo = ExportRunner.NewRun(flow, destination, datasetId, slot, Time.GetUtcNow());
            try
            {
                if (State.TryAddSlotRun(redo)) redos.Add(redo);
            }
            catch (StateException busy) when (busy.Failure == StateFailure.InUse)
            {
                // Another run of this dataset is exporting; the redo waits for a later invocation.
                deferred?.Invoke(new DeferredSlot(flow.Name, slot, busy.Message));
            }
        }
        return await ExportRecordedRunsAsync(flow, destination, lake, redos, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Exports runs already recorded Running, in order. When the destination cannot be opened, the runs end Failed with
    /// the reason, never left Running.
    /// </summary>
    private async Task<IReadOnlyList<RunRecord>> ExportRecordedRunsAsync(
        FlowRecord flow, DestinationSettings destination, FolderLake lake, IReadOnlyList<RunRecord> runs,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        if (runs.Count == 0) return runs;
        IExportDestination target;
        try
        {
            target = _createDestination(destination);
        }
        catch (Exception error)
        {
            for (var index = 0; index < runs.Count; index++) FailUnstarted(runs[index], error.Message, index, runs.Count, progress);
            return runs;
        }
        await using (target.ConfigureAwait(false))
        {
            return await ExportRunsAsync(flow, destination, target, lake, runs, progress, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Exports runs already recorded Running, in order, keeping the waiting ones alive. When the export is cancelled (or the
    /// state store fails), the runs not started yet end Failed with the reason, never left Running. Each run is reported as
    /// it ends (<see cref="ExportProgress.EndedRun"/>); unless cancelled, the flow's last progress report says it is done
    /// (<see cref="ExportProgress.IsFlowDone"/>).
    /// </summary>
    private async Task<IReadOnlyList<RunRecord>> ExportRunsAsync(
        FlowRecord flow, DestinationSettings destination, IExportDestination target, FolderLake lake, IReadOnlyList<RunRecord> runs,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        var runner = new ExportRunner(State, Time, Log);
        using var heartbeat = new RunHeartbeat(State, Time);
        foreach (var run in runs) heartbeat.Hold(run);
        var started = 0;
        try
        {
            await RemoveFilesLeftElsewhereAsync(flow, destination, target, cancellationToken).ConfigureAwait(false);
            for (; started < runs.Count; started++)
            {
                var scope = new ProgressScope(progress, flow.Name, runs[started].DatasetId, started, runs.Count);
                await runner.RunAsync(flow, destination, target, lake, runs[started], heartbeat, scope, cancellationToken).ConfigureAwait(false);
                progress?.Report(ExportProgress.ForRunEnded(runs[started], started, runs.Count));
            }
        }
        catch (Exception error)
        {
            var cancelled = error is OperationCanceledException;
            var reason = cancelled ? "The export was cancelled." : error.Message;
            // The run in progress when it was cancelled has ended already (recorded Failed by the runner).
            if (cancelled && started < runs.Count) progress?.Report(ExportProgress.ForRunEnded(runs[started], started, runs.Count));
            for (var index = cancelled ? started + 1 : started; index < runs.Count; index++) FailUnstarted(runs[index], reason, index, runs.Count, progress);
            if (cancelled) throw;
        }
        progress?.Report(ExportProgress.ForFlowDone(flow.Name, runs.Count));
        return runs;
    }

    /// <summary>
    /// Deletes the files earlier runs of the flow left uncommitted (<see cref="RunRecord.FilesToRemove"/>: dead runs' files, and
    /// those a failed run could not delete) where none of its runs will look again: on a destination the flow has left, in
    /// a folder its destination has left, or of a dataset it no longer exports. (The next run of a dataset deletes those in
    /// its own place.) A destination that cannot be reached keeps them recorded for next time; the export goes on. A
    /// cancellation (Ctrl+C) stops the deletes at once; what is left stays recorded too.
    /// </summary>
    private async Task RemoveFilesLeftElsewhereAsync(FlowRecord flow, DestinationSettings destination, IExportDestination target, CancellationToken cancellationToken)
    {
        var elsewhere = State.ListRunsWithFilesToRemove(flow.Id)
            .Where(run => !run.StoredIn(destination.Id, destination.FolderPath) || !flow.DatasetIds.Contains(run.DatasetId, StringComparer.OrdinalIgnoreCase));
        // The flow's export goes on whatever stays.
        await DeleteFilesLeftWhereTheyLieAsync(elsewhere, (destination, target), State.GetDestination,
            (run, reason) => Log?.Invoke($"Flow '{flow.Name}': the files earlier runs left on destination '{run.DestinationName}' were not deleted this time: {reason}"),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the <see cref="RunRecord.FilesToRemove"/> of <paramref name="runs"/>, each destination and folder through its own
    /// destination: <paramref name="open"/> where they lie there, otherwise one opened for them (from <paramref name="settingsOf"/>
    /// a destination id, in the run's folder) that gets at most <see cref="FilesLeftElsewhereBudget"/>. A place that cannot be
    /// reached, whose settings cannot be read here, or whose destination was removed (no settings) keeps its files recorded and
    /// is told to <paramref name="kept"/> (a run of the place, and why).
    /// </summary>
    private async Task DeleteFilesLeftWhereTheyLieAsync(
        IEnumerable<RunRecord> runs, (DestinationSettings Settings, IExportDestination Target)? open, Func<Guid, DestinationSettings?> settingsOf,
        Action<RunRecord, string> kept, CancellationToken cancellationToken)
    {
        foreach (var place in runs.GroupBy(run => (run.DestinationId, run.FolderPath)))
        {
            if (open is { } current && place.First().StoredIn(current.Settings.Id, current.Settings.FolderPath))
            {
                await ExportRunner.DeleteFilesLeftAsync(State, place, current.Target, cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                // It refused removal only while such a run was Running.
                if (settingsOf(place.Key.DestinationId) is not { } elsewhere)
                {
                    kept(place.First(), $"destination '{place.First().DestinationName}' has been removed");
                    continue;
                }
                // A place the flow has left may be gone for good (a decommissioned server): it must not hold things up.
                using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                budget.CancelAfter(FilesLeftElsewhereBudget);
                await using var other = _createDestination(elsewhere.InFolder(place.Key.FolderPath ?? elsewhere.FolderPath));
                await ExportRunner.DeleteFilesLeftAsync(State, place, other, budget.Token).ConfigureAwait(false);
            }
            catch (Exception error) when (error is DestinationException or StateException)
            {
                // Unreachable, or its settings cannot be read here (secrets protected by keys this state home lost).
                kept(place.First(), error.Message);
            }
        }
    }

    /// <summary>How long deleting what earlier runs left waits for a destination other than the one being exported to.</summary>
    private static readonly TimeSpan FilesLeftElsewhereBudget = TimeSpan.FromSeconds(30);

    /// <summary>Records <paramref name="run"/>, the flow's dataset <paramref name="index"/> of <paramref name="count"/>, Failed for <paramref name="reason"/> before it started, and reports it ended.</summary>
    private void FailUnstarted(RunRecord run, string reason, int index, int count, IProgress<ExportProgress>? progress)
    {
        run.Status = RunStatus.Failed;
        run.CompletedAt = Time.GetUtcNow();
        run.Error = reason;
        try
        {
            State.UpdateRun(run);
        }
        catch (StateException refused) when (refused.Failure == StateFailure.NotRunning)
        {
            // Another process took it over (Abandoned) and redoes it.
            run.Status = RunStatus.Abandoned;
            run.Error = ExportRunner.LostRunError;
        }
        progress?.Report(ExportProgress.ForRunEnded(run, index, count));
    }

    private List<FlowRecord> SelectFlows(IReadOnlyCollection<string>? flowNames)
    {
        if (flowNames is null) return State.ListFlows().ToList();
        return flowNames.Select(name => State.FindFlow(name) ?? throw new StateException(StateFailure.NotFound, $"There is no flow named '{name}'.")).ToList();
    }
}
