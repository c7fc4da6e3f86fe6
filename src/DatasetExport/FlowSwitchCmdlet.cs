using System.Management.Automation;

namespace DatasetExport;

/// <summary>What Enable-ExportFlow and Disable-ExportFlow share: they differ only in the value they store.</summary>
public abstract class FlowSwitchCmdlet : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The flows: names, or flow objects from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>Return each changed flow.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    #endregion

    protected abstract bool Enable { get; }

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        foreach (var name in Name)
        {
            var flow = FindFlowOrWriteError(name);
            if (flow is null || !ShouldProcess(flow.Name, Enable ? "Enable export flow" : "Disable export flow")) continue;
            Guard(() =>
            {
                flow.Enabled = Enable;
                Engine.UpdateFlow(flow);
                if (PassThru) WriteObject(ToOutput(Engine.State.GetFlow(flow.Id) ?? flow));
            }, flow.Name);
        }
    }
}
