using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Changes a flow's destination, datasets or mode.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "ExportFlow", SupportsShouldProcess = true)]
[OutputType(typeof(ExportFlow))]
public sealed class SetExportFlowCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The flow to change: its name, or a flow object from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>A new destination: its name, or a destination object.</summary>
    [Parameter]
    [NameTransformation]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string? Destination { get; set; }

    /// <summary>The dataset ids the flow exports from now on (replaces the current list).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DatasetIdCompleter))]
    public string[]? Dataset { get; set; }

    /// <summary>Incremental (-Incremental) or full (-Incremental:$false) exports.</summary>
    [Parameter]
    public SwitchParameter Incremental { get; set; }

    /// <summary>Return the changed flow.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        var flow = FindFlowOrWriteError(Name);
        if (flow is null) return;
        var changes = new List<string>();
        if (Destination is not null)
        {
            var destination = FindDestinationOrWriteError(Destination);
            if (destination is null) return;
            flow.DestinationId = destination.Id;
            changes.Add($"destination '{destination.Name}'");
        }
        if (Dataset is not null)
        {
            flow.DatasetIds = Dataset.Distinct(StringComparer.Ordinal).ToList();
            changes.Add($"datasets {string.Join(", ", flow.DatasetIds)}");
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Incremental)))
        {
            flow.Mode = (Incremental ? ExportMode.Incremental : ExportMode.Full).ToEngine();
            changes.Add($"mode {flow.Mode}");
        }
        if (!ShouldProcess(flow.Name, changes.Count == 0 ? "Save export flow unchanged" : "Set export flow " + string.Join("; ", changes))) return;
        Guard(() =>
        {
            Engine.UpdateFlow(flow);
            if (PassThru) WriteObject(ToOutput(Engine.State.GetFlow(flow.Id) ?? flow));
        }, flow.Name);
    }
}
