using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Verifies a run: re-reads its manifest and every file from the destination, checking existence, size and sha256.</para>
/// </summary>
/// <example>
///   <code>Get-ExportRun -Flow web-nightly -Last 1 | Test-ExportRun</code>
///   <para>Re-reads the manifest and every file of the latest run: each must exist with the recorded size and SHA-256.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "ExportRun", DefaultParameterSetName = ByInputObjectSet)]
[OutputType(typeof(ExportRunVerification))]
public sealed class TestExportRunCommand : DatasetExportCmdlet
{
    private const string ByInputObjectSet = "ByInputObject";
    private const string ByIdSet = "ById";

    #region Parameters

    /// <summary>Runs from Get-ExportRun or Start-ExportRun.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByInputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ExportRun[] InputObject { get; set; } = [];

    /// <summary>Run ids.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByIdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("RunId")]
    public Guid[] Id { get; set; } = [];

    #endregion

    /// <summary>
    /// The engine's failures here are about the run's destination: NotFound means it was removed (DestinationNotFound;
    /// a missing run is reported before, as RunNotFound).
    /// </summary>
    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        var ids = ParameterSetName == ByIdSet ? Id : InputObject.Select(run => run.Id).ToArray();
        foreach (var id in ids)
        {
            var run = Engine.State.GetRun(id);
            if (run is null)
            {
                WriteNotFound("Run", id.ToString());
                continue;
            }
            Guard(() => WriteObject(EngineMapping.ToOutput(Wait(() => Engine.VerifyRunAsync(run, StopToken)))), run.DestinationName);
        }
    }
}
