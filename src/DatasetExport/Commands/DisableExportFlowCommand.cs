using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Disables flows: Invoke-ExportSchedule skips them; Start-ExportRun still runs them by hand.</para>
/// <para type="description">A disabled flow is never due, and its runs abandoned by a process that died are not redone.
/// Enabled again (Enable-ExportFlow), it runs only its latest due slot, not every slot it missed. With -PassThru each
/// changed flow is returned.</para>
/// </summary>
/// <example>
///   <code>Get-ExportFlow web* | Disable-ExportFlow</code>
///   <para>Pauses every web flow: Invoke-ExportSchedule skips them until they are enabled again.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Disable, "ExportFlow", SupportsShouldProcess = true)]
[OutputType(typeof(ExportFlow))]
public sealed class DisableExportFlowCommand : FlowSwitchCmdlet
{
    protected override bool Enable => false;
}
