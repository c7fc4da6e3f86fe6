using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Renames a stored flow, keeping its schedule, its run history and what it has exported.</para>
/// <para type="description">Unlike removing the flow and making it again, an incremental flow renamed does not export
/// every batch again. Its recorded runs keep the name they ran with and are listed by Get-ExportRun under the new name.
/// When its destination's FolderTemplate uses %FLOW_NAME%, a warning says that later exports go to folders of the new
/// name.</para>
/// </summary>
/// <example>
///   <code>Rename-ExportFlow web-nightly web-daily -PassThru</code>
///   <para>Renames the flow and writes it as now stored.</para>
/// </example>
/// <example>
///   <code>Import-Csv renames.csv | Rename-ExportFlow</code>
///   <para>Renames each flow named in the Name column to its NewName.</para>
/// </example>
[Cmdlet(VerbsCommon.Rename, "ExportFlow", SupportsShouldProcess = true)]
[OutputType(typeof(ExportFlow))]
public sealed class RenameExportFlowCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The flow to rename: its name, or a flow object from the pipeline (a run stands for its flow).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The flow's new name: unique among flows, case-insensitively (a change of case alone is a rename too).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string NewName { get; set; } = "";

    /// <summary>Writes the renamed flow.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        ThrowIfWildcard(NewName, nameof(NewName));
        var flow = FindFlowOrWriteError(Name);
        if (flow is null || !ShouldProcess(flow.Name, $"Rename export flow to '{NewName}'")) return;
        Guard(() =>
        {
            foreach (var warning in Engine.RenameFlow(flow, NewName)) WriteWarning(warning);
            if (PassThru) WriteObject(ToOutput(Engine.State.GetFlow(flow.Id) ?? flow));
        }, flow.Name);
    }
}
