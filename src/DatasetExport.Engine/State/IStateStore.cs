using DatasetExport.Engine.Destinations;

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
    /// <summary>The state file is damaged, or from a newer version of the module.</summary>
    Unusable,
}

/// <summary>Durable state: destinations, flows, runs and the batches each flow has exported.</summary>
public interface IStateStore : IDisposable
{
    /// <summary>The file or folder that holds the state, for messages.</summary>
    string Location { get; }

    // Options (e.g. "LakePath").
    string? GetOption(string name);
    void SetOption(string name, string? value);

    // Destinations: names are unique, case-insensitive. Secrets are encrypted at rest by the store.
    void AddDestination(DestinationSettings destination);
    void UpdateDestination(DestinationSettings destination);
    /// <summary>Throws <see cref="StateException"/> (InUse) when a flow still uses it.</summary>
    void RemoveDestination(Guid id);
    DestinationSettings? FindDestination(string name);
    DestinationSettings? GetDestination(Guid id);
    IReadOnlyList<DestinationSettings> ListDestinations();

    // Flows: names are unique, case-insensitive.
    void AddFlow(FlowRecord flow);
    void UpdateFlow(FlowRecord flow);
    void RemoveFlow(Guid id);
    FlowRecord? FindFlow(string name);
    FlowRecord? GetFlow(Guid id);
    IReadOnlyList<FlowRecord> ListFlows();

    // Runs.
    /// <summary>
    /// Records a new Running run. Throws <see cref="StateException"/> (InUse) when another run of the same flow
    /// and dataset is still Running: the check and the insert are one atomic step, across processes.
    /// </summary>
    void AddRun(RunRecord run);
    /// <summary>Marks Running runs whose heartbeat is older than <paramref name="heartbeatBefore"/> Abandoned; returns them.</summary>
    IReadOnlyList<RunRecord> AbandonStaleRuns(DateTimeOffset heartbeatBefore);
    /// <summary>Saves a run's progress or failure (never marks batches exported).</summary>
    void UpdateRun(RunRecord run);
    void Heartbeat(Guid runId, DateTimeOffset at);
    /// <summary>
    /// Marks the run Succeeded and records <paramref name="batches"/> as exported by its flow for its dataset,
    /// in one transaction.
    /// </summary>
    void CommitRun(RunRecord run, IReadOnlyCollection<BatchKey> batches);
    RunRecord? GetRun(Guid id);
    /// <summary>Runs, newest first, optionally filtered.</summary>
    IReadOnlyList<RunRecord> ListRuns(Guid? flowId = null, RunStatus? status = null, int? last = null);

    /// <summary>The batch keys (<see cref="BatchKey.Value"/>) the flow has exported for the dataset.</summary>
    IReadOnlySet<string> GetExportedBatches(Guid flowId, string datasetId);
}
