using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine;

// The operations the cmdlets call. Each validates its input and throws LakeException, StateException,
// DestinationException or ArgumentException with a message fit to show the user.
public sealed partial class ExportEngine
{
    /// <summary>Every dataset in the lake, eligible ones only unless <paramref name="includeIneligible"/>.</summary>
    public IReadOnlyList<DatasetInfo> GetDatasets(string lakePath, bool includeIneligible, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD: lake

    /// <summary>One dataset by id; throws LakeException NotFound.</summary>
    public DatasetInfo GetDataset(string lakePath, string datasetId, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD: lake

    /// <summary>Validates (unless <paramref name="skipValidation"/>: connect, write and delete a probe) and stores a new destination.</summary>
    public Task AddDestinationAsync(DestinationSettings destination, bool skipValidation, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD

    public Task UpdateDestinationAsync(DestinationSettings destination, bool skipValidation, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD

    /// <summary>Removes a destination; throws StateException InUse when a flow uses it.</summary>
    public void RemoveDestination(DestinationSettings destination) => throw new NotImplementedException(); // LEAD

    /// <summary>Writes, reads back and deletes a probe file; throws DestinationException saying what failed.</summary>
    public Task TestDestinationAsync(DestinationSettings destination, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD

    /// <summary>Checks the destination exists and the dataset ids are well-formed, then stores the flow.</summary>
    public void AddFlow(FlowRecord flow) => throw new NotImplementedException(); // LEAD

    public void UpdateFlow(FlowRecord flow) => throw new NotImplementedException(); // LEAD

    public void RemoveFlow(FlowRecord flow) => throw new NotImplementedException(); // LEAD

    /// <summary>
    /// Runs the flow now: one run per dataset, recorded in the state store. A failed dataset does not stop the
    /// others; its run is returned with Status Failed and Error set. <paramref name="progress"/> is called on
    /// engine threads.
    /// </summary>
    public Task<IReadOnlyList<RunRecord>> RunFlowAsync(FlowRecord flow, string lakePath, IProgress<ExportProgress>? progress, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD: export runner

    /// <summary>Re-reads the run's manifest and every file from the destination, checking existence, size and sha256.</summary>
    public Task<RunVerification> VerifyRunAsync(RunRecord run, CancellationToken cancellationToken) =>
        throw new NotImplementedException(); // LEAD
}
