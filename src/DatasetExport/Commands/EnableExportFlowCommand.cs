using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Enables flows: Invoke-ExportSchedule runs them again when due.</para>
/// <para type="description">A flow enabled after a pause runs only its latest due slot, not every slot it missed.</para>
/// </summary>
/// <example>
///   <code>Enable-ExportFlow web-nightly -PassThru</code>
///   <para>Makes a disabled flow due again on its schedule.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Enable, "ExportFlow", SupportsShouldProcess = true)]
[OutputType(typeof(ExportFlow))]
public sealed class EnableExportFlowCommand : FlowSwitchCmdlet
{
    protected override bool Enable => true;
}
