using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Removes a stored flow. Files it exported stay where they are.</para>
/// <para type="description">The flow's recorded runs stay as history. Files its failed or interrupted runs left
/// uncommitted (no manifest lists them) are deleted, as its next run would have; a warning names each destination
/// that could not delete them.</para>
/// </summary>
/// <example>
///   <code>Remove-ExportFlow web-nightly</code>
///   <para>Removes the flow after asking for confirmation; its exported files and recorded runs stay.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExportFlow", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveExportFlowCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The flows to remove: names, or flow objects from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[] Name { get; set; } = [];

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        foreach (var name in Name)
        {
            var flow = FindFlowOrWriteError(name);
            if (flow is null || !ShouldProcess(flow.Name, "Remove export flow")) continue;
            Guard(() =>
            {
                foreach (var warning in Wait(() => Engine.RemoveFlowAsync(flow, StopToken))) WriteWarning(warning);
            }, flow.Name);
        }
    }
}
