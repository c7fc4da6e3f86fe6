using System.Management.Automation;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Verifies runs (or a flow's newest succeeded run of each dataset): re-reads the manifest and every file from the destination, checking existence, size and sha256.</para>
/// </summary>
/// <example>
///   <code>Get-ExportRun -Flow web-nightly -Last 1 | Test-ExportRun</code>
///   <para>Re-reads the manifest and every file of the latest run: each must exist with the recorded size and SHA-256.</para>
/// </example>
/// <example>
///   <code>Get-ExportFlow | Test-ExportRun | Where-Object { -not $_.IsValid }</code>
///   <para>Verifies the newest succeeded run of each dataset of every flow and keeps the ones that no longer match; a dataset
///   with no succeeded run is reported as a RunNotFound error.</para>
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
    /// Flows whose backups to verify: names (wildcards allowed) or flow objects from Get-ExportFlow. Verifies the newest
    /// succeeded run of each of the flow's datasets.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = ByFlowSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [NameTransformation(typeof(ExportFlow))]
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
        foreach (var (datasetId, run) in Engine.GetLatestSucceededRuns(flow))
        {
            if (run is null)
            {
                WriteError(new ErrorRecord(
                    new ItemNotFoundException($"Flow '{flow.Name}' has no succeeded run of dataset '{datasetId}' to verify."),
                    "RunNotFound", ErrorCategory.ObjectNotFound, datasetId));
                continue;
            }
            Verify(run);
        }
    }

    private void Verify(RunRecord run) =>
        Guard(() => WriteObject(EngineMapping.ToOutput(Wait(() => Engine.VerifyRunAsync(run, StopToken)))), run.DestinationName);
}
