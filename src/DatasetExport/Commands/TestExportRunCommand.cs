using System.Management.Automation;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Verifies runs, or what a flow has exported: re-reads the manifest and every file from the destination, checking existence, size and sha256.</para>
/// <para type="description">With -Flow (or flows from the pipeline) it verifies, for each dataset of the flow, the runs that
/// hold the latest copy of every batch the flow has exported to its current destination: an incremental flow's whole
/// history there, a full flow's newest run. A dataset with nothing exported there yet is a RunNotFound error. Runs removed
/// from the history (Remove-ExportRun) cannot be verified: a warning says how many of a dataset's are gone.</para>
/// </summary>
/// <example>
///   <code>Get-ExportRun -Flow web-nightly -Last 1 | Test-ExportRun</code>
///   <para>Re-reads the manifest and every file of the latest run: each must exist with the recorded size and SHA-256.</para>
/// </example>
/// <example>
///   <code>Get-ExportFlow | Test-ExportRun | Where-Object { -not $_.IsValid }</code>
///   <para>Verifies everything every flow has exported to its destination (for an incremental flow, each run that still holds
///   batches it will not send again) and keeps the runs whose files no longer match.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "ExportRun", DefaultParameterSetName = ByInputObjectSet)]
[OutputType(typeof(ExportRunVerification))]
public sealed class TestExportRunCommand : DatasetExportCmdlet
{
    private const string ByInputObjectSet = "ByInputObject";
    private const string ByIdSet = "ById";
    private const string ByFlowSet = "ByFlow";

    #region Parameters

    /// <summary>Runs from Get-ExportRun or Start-ExportRun.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByInputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ExportRun[] InputObject { get; set; } = [];

    /// <summary>Run ids.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByIdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("RunId")]
    public Guid[] Id { get; set; } = [];

    /// <summary>
    /// Flows whose exports to verify: names (wildcards allowed) or flow objects from Get-ExportFlow. Verifies the runs
    /// holding the latest copy of each batch the flow exported to its current destination.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByFlowSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [NameTransformation(typeof(ExportFlow), RunStandsForFlow = false)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[] Flow { get; set; } = [];

    #endregion

    /// <summary>
    /// The engine's failures here are about the run's destination: NotFound means it was removed (DestinationNotFound;
    /// a missing run is reported before, as RunNotFound).
    /// </summary>
    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        if (ParameterSetName == ByFlowSet)
        {
            foreach (var flow in FilterByName(Engine.State.ListFlows(), flow => [flow.Name], Flow, "Flow")) VerifyFlow(flow);
            return;
        }
        var ids = ParameterSetName == ByIdSet ? Id : InputObject.Select(run => run.Id).ToArray();
        foreach (var id in ids)
        {
            var run = Engine.State.GetRun(id);
            if (run is null)
            {
                WriteNotFound("Run", id.ToString());
                continue;
            }
            Verify(run);
        }
    }

    private void VerifyFlow(FlowRecord flow)
    {
        foreach (var (datasetId, runs, removedRuns) in Engine.GetRunsHoldingExports(flow))
        {
            if (removedRuns > 0)
            {
                WriteWarning($"Flow '{flow.Name}', dataset '{datasetId}': {removedRuns} run(s) that exported batches it will not send again " +
                    "have been removed from the run history (Remove-ExportRun); their files are not verified.");
            }
            if (runs.Count == 0 && removedRuns == 0)
            {
                WriteError(new ErrorRecord(
                    new ItemNotFoundException($"Flow '{flow.Name}' has exported nothing of dataset '{datasetId}' to its destination yet: there is no run to verify."),
                    "RunNotFound", ErrorCategory.ObjectNotFound, datasetId));
                continue;
            }
            foreach (var run in runs) Verify(run);
        }
    }

    private void Verify(RunRecord run) =>
        Guard(() => WriteObject(EngineMapping.ToOutput(Wait(() => Engine.VerifyRunAsync(run, StopToken)))), run.DestinationName);
}
