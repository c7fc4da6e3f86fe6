using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Lake;

namespace DatasetExport.Engine.State;

/// <summary>Raised on a duplicate name, a missing record, or a state file the engine cannot use.</summary>
public sealed class StateException : Exception
{
    public StateException(StateFailure failure, string message, Exception? inner = null) : base(message, inner) => Failure = failure;
    public StateFailure Failure { get; }
}

public enum StateFailure
{
    NotFound,
    AlreadyExists,
    InUse,
    /// <summary>The run is no longer Running (it finished, or another process marked it Abandoned): it is final.</summary>
    NotRunning,
    /// <summary>The state file is damaged, or from a newer version of the module.</summary>
    Unusable,
}

/// <summary>Durable state: destinations, flows, runs and the batches each flow has exported.</summary>
public interface IStateStore : IBatchSchemaStore, IDisposable
{
    /// <summary>The file or folder that holds the state, for messages.</summary>
    string Location { get; }

    // Options (e.g. "LakePath").
    string? GetOption(string name);
    void SetOption(string name, string? value);

    // Destinations: names are unique, case-insensitive. Secrets are encrypted at rest by the store.
    void AddDestination(DestinationSettings destination);
    /// <summary>
    /// Replaces the destination's settings. With <paramref name="readModifiedAt"/> (its ModifiedAt when the caller read it),
    /// only while it is still stored with that time: a destination another session changed since is refused with
    /// <see cref="StateException"/> (InUse), nothing written, rather than overwritten with the stale record. Settings read
    /// with <see cref="DestinationSettings.UnreadableSecrets"/> are refused (Unusable) unless given new secrets, which replace them.
    /// </summary>
    void UpdateDestination(DestinationSettings destination, DateTimeOffset? readModifiedAt = null);
    /// <summary>
    /// Renames the destination, nothing else (its secrets are not read or written, so one whose secrets cannot be decrypted
    /// here is renamed too), only while it is still stored with <paramref name="readModifiedAt"/>: refused like
    /// <see cref="UpdateDestination"/> (InUse when changed since, AlreadyExists for another's name, NotFound).
    /// </summary>
    void RenameDestination(Guid id, string newName, DateTimeOffset readModifiedAt, DateTimeOffset modifiedAt);
    /// <summary>Throws <see cref="StateException"/> (InUse) when a flow still uses it, or a Running run still writes to it.</summary>
    void RemoveDestination(Guid id);
    // Secrets that cannot be decrypted here leave a destination's Secrets empty and say why in UnreadableSecrets.
    DestinationSettings? FindDestination(string name);
    DestinationSettings? GetDestination(Guid id);
    IReadOnlyList<DestinationSettings> ListDestinations();
    /// <summary>Every destination's id and name, by name: what completing or binding a name needs, without decrypting secrets.</summary>
    IReadOnlyList<(Guid Id, string Name)> ListDestinationNames();
    /// <summary>The name of destination <paramref name="id"/> (null when there is none), without decrypting its secrets.</summary>
    string? GetDestinationName(Guid id);

    // Flows: names are unique, case-insensitive.
    void AddFlow(FlowRecord flow);
    /// <summary>
    /// Replaces the flow's settings; never its <see cref="FlowRecord.LastSlot"/>, which only claiming moves. With
    /// <paramref name="readModifiedAt"/>, refused like <see cref="UpdateDestination"/> when another session changed it since.
    /// </summary>
    void UpdateFlow(FlowRecord flow, DateTimeOffset? readModifiedAt = null);
    void RemoveFlow(Guid id);
    FlowRecord? FindFlow(string name);
    FlowRecord? GetFlow(Guid id);
    IReadOnlyList<FlowRecord> ListFlows();
    /// <summary>
    /// Claims <paramref name="slot"/> for the flow and records <paramref name="runs"/> (one per dataset, Running) in one
    /// transaction: the flow's last slot moves to <paramref name="slot"/> only when it is unset or earlier, so of several
    /// processes claiming the same slot exactly one gets true. False, with nothing written, when the slot (or a later one)
    /// was already claimed, or when a run for a time after the slot exported one of the datasets to its run's destination
    /// (<see cref="ListLatestExportsAfter"/>: committed since the caller read it; its run here would go into an older
    /// exportTime= folder, so the caller reads again and leaves it out); <see cref="StateException"/> (InUse), with nothing written, when one of the datasets is still
    /// being exported by another run; NotFound when the flow no longer exists.
    /// </summary>
    bool TryClaimSlot(Guid flowId, DateTimeOffset slot, IReadOnlyCollection<RunRecord> runs);

    // Runs.
    /// <summary>
    /// Records a new Running run. Throws <see cref="StateException"/> (InUse) when another run of the same flow
    /// and dataset is still Running: the check and the insert are one atomic step, across processes.
    /// </summary>
    void AddRun(RunRecord run);
    /// <summary>
    /// Records new Running runs (those of one start of a flow) in one transaction: all, or none with <see cref="StateException"/>
    /// (InUse) when another run of the same flow and one of their datasets is still Running.
    /// </summary>
    void AddRuns(IReadOnlyCollection<RunRecord> runs);
    /// <summary>
    /// Redoes a slot: records <paramref name="run"/> (Running) when the slot owes its dataset a redo (<see cref="ListSlotRedos"/>),
    /// settling it, in one atomic step; false, with nothing written, otherwise, and also when a run for a later time exported
    /// the dataset to the run's destination (<see cref="ListLatestExportsAfter"/>, committed since the caller read it: the
    /// redo would go into an older exportTime= folder; the redo stays owed, superseded). Each abandoned run of a flow's last slot is
    /// redone exactly once across processes, unless a later export supersedes it. Throws <see cref="StateException"/> (InUse) when another run of the flow and
    /// dataset is Running; the redo is still owed then.
    /// </summary>
    bool TryAddSlotRun(RunRecord run);
    /// <summary>
    /// Marks Running runs whose heartbeat is older than <paramref name="heartbeatBefore"/> Abandoned; returns them. Each one of its
    /// flow's last slot with no other run of its dataset there, alive or finished, leaves the slot owing that dataset a redo.
    /// </summary>
    IReadOnlyList<RunRecord> AbandonStaleRuns(DateTimeOffset heartbeatBefore);
    /// <summary>
    /// The datasets the flow's <paramref name="slot"/> owes a redo (their run was abandoned there and not redone; a later slot
    /// claimed settles them all). Kept apart from the run history, which may be removed.
    /// </summary>
    IReadOnlyList<string> ListSlotRedos(Guid flowId, DateTimeOffset slot);
    /// <summary>
    /// Per dataset, the flow's successful run to the destination for the latest time, where that time is after
    /// <paramref name="after"/>: recorded at each commit and kept when the run is removed from the history.
    /// </summary>
    IReadOnlyList<LatestExport> ListLatestExportsAfter(Guid flowId, Guid destinationId, DateTimeOffset after);
    /// <summary>
    /// Saves a Running run's progress or failure (never marks batches exported). A run that is no longer Running is final:
    /// <see cref="StateException"/> (NotRunning), nothing written.
    /// </summary>
    void UpdateRun(RunRecord run);
    /// <summary>The flow's finished runs with <see cref="RunRecord.FilesToRemove"/>, oldest first.</summary>
    IReadOnlyList<RunRecord> ListRunsWithFilesToRemove(Guid flowId);
    /// <summary>The finished runs of any flow with <see cref="RunRecord.FilesToRemove"/> on the destination, oldest first.</summary>
    IReadOnlyList<RunRecord> ListRunsWithFilesToRemoveOn(Guid destinationId);
    /// <summary>
    /// Forgets a finished run's <see cref="RunRecord.FilesToRemove"/> once they are deleted from the destination, so later runs
    /// stop deleting them again: an Abandoned run's file list and manifest, and of its left files those in
    /// <paramref name="removed"/> (the run taken over may have added others meanwhile, <see cref="KeepLeftFiles"/>). Does
    /// nothing for a Running run.
    /// </summary>
    void ForgetRemovedFiles(Guid runId, IReadOnlyCollection<string> removed);
    /// <summary>
    /// Adds <paramref name="paths"/> to the <see cref="RunRecord.LeftFiles"/> of a run that is no longer Running: a run another
    /// process took over (Abandoned) cannot be saved otherwise, and what it stored and could not delete must stay known for
    /// the flow's next run to delete. Does nothing for a Running run.
    /// </summary>
    void KeepLeftFiles(Guid runId, IReadOnlyCollection<string> paths);
    /// <summary>
    /// Records a sign of life of a Running run. False when the run is no longer Running (another process marked it
    /// Abandoned, or it finished): its process must stop it. Throws <see cref="StateException"/> (NotFound) for an unknown run.
    /// </summary>
    bool Heartbeat(Guid runId, DateTimeOffset at);
    /// <summary>
    /// Marks the run Succeeded and records <paramref name="batches"/> as exported by its flow for its dataset to its
    /// destination, in one transaction, only while the stored run is still Running: a run another process marked Abandoned is
    /// refused with <see cref="StateException"/> (NotRunning) and nothing is written.
    /// </summary>
    void CommitRun(RunRecord run, IReadOnlyCollection<BatchKey> batches);
    /// <summary>
    /// Removes finished runs from the history, each with its file list, in one transaction, and returns those it kept, each
    /// with why: NotFound for an id of no run; InUse for a run still Running, and one holding <see cref="RunRecord.FilesToRemove"/>
    /// on a destination that still exists (a later run, Remove-ExportFlow or Remove-ExportDestination deletes them through it).
    /// What the scheduler reads (<see cref="ListSlotRedos"/>, <see cref="ListLatestExportsAfter"/>) and the batches a removed run
    /// exported stay recorded: removing runs changes neither which slots run nor what an incremental flow sends.
    /// </summary>
    IReadOnlyList<(Guid RunId, StateException Refusal)> RemoveRuns(IReadOnlyCollection<Guid> runIds);
    RunRecord? GetRun(Guid id);
    /// <summary>The runs with these ids, in one read (in no promised order); ids of no run are left out.</summary>
    IReadOnlyList<RunRecord> GetRuns(IReadOnlyCollection<Guid> ids);
    /// <summary>Runs, newest first, optionally filtered.</summary>
    IReadOnlyList<RunRecord> ListRuns(Guid? flowId = null, RunStatus? status = null, int? last = null);
    /// <summary>
    /// Runs, newest first, optionally of one flow, in one state, whose <see cref="RunRecord.FlowName"/> (the name the flow had
    /// when it ran: runs outlive their flow) <paramref name="flowNameMatches"/> accepts, started after <paramref name="startedAfter"/>
    /// and before <paramref name="startedBefore"/>; at most <paramref name="last"/>. Read
    /// lazily a page at a time, each page its own short read: however long the history, memory holds one page, no lock is
    /// held while the caller handles a run, and a caller that stops early reads no further (nor any older run for
    /// <paramref name="last"/>). A run recorded after the first page is read is not listed. With <paramref name="orFlowIds"/>,
    /// the runs of those flows are listed too whatever name they recorded (flows renamed since whose name now matches).
    /// </summary>
    IEnumerable<RunRecord> EnumerateRuns(Guid? flowId = null, RunStatus? status = null, Func<string, bool>? flowNameMatches = null, int? last = null,
        DateTimeOffset? startedAfter = null, DateTimeOffset? startedBefore = null, IReadOnlySet<Guid>? orFlowIds = null);

    /// <summary>
    /// The batch keys (<see cref="BatchKey.Value"/>) the flow has exported for the dataset (its id matched case-insensitively),
    /// to <paramref name="destinationId"/> only when given, else to any destination.
    /// </summary>
    IReadOnlySet<string> GetExportedBatches(Guid flowId, string datasetId, Guid? destinationId = null);

    /// <summary>
    /// The runs that exported the latest copy of each batch the flow has exported for the dataset to the destination: what
    /// an incremental flow will not send there again, so what must still be there (newest run first is not promised).
    /// </summary>
    IReadOnlyList<Guid> ListRunsHoldingExportedBatches(Guid flowId, string datasetId, Guid destinationId);
}
