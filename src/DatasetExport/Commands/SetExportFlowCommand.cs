using System.Management.Automation;
using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;
using EngineScheduleKind = DatasetExport.Engine.State.ScheduleKind;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Changes a flow's destination, datasets, mode, bad-input handling or schedule.</para>
/// <para type="description">Only what is given changes. -Once, -Hourly, -Daily and -Cron replace the schedule (-StartTime,
/// -EndTime and -TimeZone keep their values unless given, except that -Once without -StartTime runs at the next
/// Invoke-ExportSchedule unless the stored start is still ahead); -Manual removes it; -EndTime $null removes the end time.
/// The slots the flow already ran stay run.</para>
/// </summary>
/// <example>
///   <code>Set-ExportFlow web-nightly -Hourly -Every 6 -PassThru</code>
///   <para>Changes the flow's schedule to every 6 hours; the rest of the flow stays as it was.</para>
/// </example>
/// <example>
///   <code>Set-ExportFlow web-nightly -EndTime $null</code>
///   <para>Lets the flow run on with no end time; its schedule stays as it was.</para>
/// </example>
/// <example>
///   <code>Set-ExportFlow web-nightly -Manual</code>
///   <para>Removes the schedule: the flow then runs only with Start-ExportRun.</para>
/// </example>
[Cmdlet(VerbsCommon.Set, "ExportFlow", SupportsShouldProcess = true, DefaultParameterSetName = KeepScheduleSet)]
[OutputType(typeof(ExportFlow))]
public sealed class SetExportFlowCommand : FlowScheduleCmdlet
{
    private const string KeepScheduleSet = "KeepSchedule";
    private const string ManualSet = "Manual";

    #region Parameters

    /// <summary>The flow to change: its name, or a flow object from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>A new destination: its name, or a destination object (a flow stands for its destination).</summary>
    [Parameter]
    [NameTransformation(typeof(ExportDestination))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string? Destination { get; set; }

    /// <summary>The dataset ids the flow exports from now on (replaces the current list); datasets, flows (their datasets) or runs (their dataset) also do.</summary>
    [Parameter]
    [NameTransformation(typeof(EligibleDataset))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DatasetIdCompleter))]
    public string[]? Dataset { get; set; }

    /// <summary>Full (every run exports every batch) or Incremental (only batches the flow has not exported yet).</summary>
    [Parameter]
    public ExportMode Mode { get; set; }

    /// <summary>Leave out invalid JSON lines instead of failing the run (-SkipInvalidRecords:$false to stop).</summary>
    [Parameter]
    public SwitchParameter SkipInvalidRecords { get; set; }

    /// <summary>Leave out batches that cannot be read or do not fit the schema instead of failing the run (-SkipInvalidBatches:$false to stop).</summary>
    [Parameter]
    public SwitchParameter SkipInvalidBatches { get; set; }

    /// <summary>Remove the schedule: the flow then runs only by Start-ExportRun.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ManualSet)]
    public SwitchParameter Manual { get; set; }

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
            foreach (var id in Dataset)
            {
                ThrowIfWildcard(id, nameof(Dataset), $"-Dataset takes dataset ids; to set the datasets a pattern matches, give them: -Dataset (Get-EligibleDataset '{id}').");
            }
            flow.DatasetIds = Dataset.Distinct(StringComparer.Ordinal).ToList();
            changes.Add($"datasets {string.Join(", ", flow.DatasetIds)}");
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Mode)))
        {
            flow.Mode = Mode.ToEngine();
            changes.Add($"mode {Mode}");
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(SkipInvalidRecords)))
        {
            flow.SkipInvalidRecords = SkipInvalidRecords.IsPresent;
            changes.Add(SkipInvalidRecords ? "skip invalid records" : "fail on invalid records");
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(SkipInvalidBatches)))
        {
            flow.SkipInvalidBatches = SkipInvalidBatches.IsPresent;
            changes.Add(SkipInvalidBatches ? "skip invalid batches" : "fail on invalid batches");
        }
        if (Manual)
        {
            flow.ScheduleKind = EngineScheduleKind.Manual;
            flow.StartTime = flow.EndTime = null;
            flow.TimeZone = "UTC";
            changes.Add("no schedule");
        }
        if (ParameterSetName == OnceSet && !MyInvocation.BoundParameters.ContainsKey(nameof(StartTime)))
        {
            // Once, without a time: at the next invocation, never at a slot the flow already ran.
            flow.StartTime = FlowSchedule.OnceSlotWhenSwitched(flow, Engine.Time.GetUtcNow());
            changes.Add($"once at {flow.StartTime.Value.UtcDateTime:yyyy-MM-dd HH:mm} UTC");
        }
        if (!TryApplySchedule(flow, flow.Name, changes)) return;
        if (!ShouldProcess(flow.Name, changes.Count == 0 ? "Save export flow unchanged" : "Set export flow " + string.Join("; ", changes))) return;
        Guard(() =>
        {
            Engine.UpdateFlow(flow);
            if (PassThru) WriteObject(ToOutput(Engine.State.GetFlow(flow.Id) ?? flow));
        }, flow.Name);
    }
}
