using System.Management.Automation;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Runs a flow now: exports each of its datasets to its destination and records the runs.</para>
/// <para type="description">Writes one ExportRun per dataset, each as it ends. A dataset that fails does not stop the others: its run is
/// written with Status Failed and also as an error (with -ErrorAction Stop that error stops the export there). Ctrl+C cancels the export; the files of a cancelled run
/// are not committed. A flow runs this way whatever its schedule, and whether it is enabled or not. -ThrottleLimit exports several
/// flows at once: the flows are then gathered first (each confirmed as it comes, with -Confirm) and started when the input ends.</para>
/// </summary>
/// <example>
///   <code>Start-ExportRun -Flow web-nightly</code>
///   <para>Exports each dataset of the flow now, with progress, and returns one ExportRun per dataset.</para>
/// </example>
/// <example>
///   <code>Get-ExportFlow web* | Start-ExportRun -Verbose</code>
///   <para>Runs every web flow now, one after another; -Verbose shows each retried transfer.</para>
/// </example>
/// <example>
///   <code>Get-ExportFlow web* | Start-ExportRun -ThrottleLimit 4</code>
///   <para>Runs every web flow now, up to four at once (after an outage, say), each with its own progress bar; each run is written as it ends.</para>
/// </example>
/// <example>
///   <code>Start-ExportRun -Flow web-nightly -Dataset clicks</code>
///   <para>Exports only the clicks dataset of the flow, e.g. after its run failed, leaving its other datasets alone.</para>
/// </example>
/// <example>
///   <code>Get-ExportRun -Status Failed | Start-ExportRun</code>
///   <para>Runs again each flow that has a failed run: once per flow, however many of its runs failed.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Start, "ExportRun", SupportsShouldProcess = true)]
[OutputType(typeof(ExportRun))]
public sealed class StartExportRunCommand : DatasetExportCmdlet
{
    /// <summary>
    /// The flows this command has run (or gathered, with -ThrottleLimit above 1). Each runs once per command, however often it comes in (every failed run of a flow
    /// piped back in): a second run in the same minute would write into the same exportTime= folders.
    /// </summary>
    private readonly HashSet<Guid> _flowsRun = new();

    /// <summary>With -ThrottleLimit above 1: the flows confirmed so far, started together when the input ends.</summary>
    private readonly List<FlowRecord> _gathered = new();

    private string? _gatheredLakePath;

    #region Parameters

    /// <summary>The flows to run: names, or flow objects from Get-ExportFlow / New-ExportFlow (a run stands for its flow). Each runs once per command.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[] Flow { get; set; } = [];

    /// <summary>
    /// Only these of the flow's datasets (ids; a dataset object stands for its id, a run for its dataset): to run again the
    /// one whose run failed without exporting the others again. Each must be one of the flow's datasets.
    /// </summary>
    [Parameter]
    [NameTransformation(typeof(EligibleDataset))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DatasetIdCompleter))]
    public string[]? Dataset { get; set; }

    /// <summary>The lake folder; defaults to the configured lake.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LakePath { get; set; }

    /// <summary>
    /// How many flows export at once (each flow's datasets one after another, each flow with its own progress bar); 1, the
    /// default, runs each flow as it comes in, one after another. Above 1 the flows are gathered first and start when the input ends.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 32)]
    public int ThrottleLimit { get; set; } = 1;

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        var lakePath = ResolveLakePathOrStop(LakePath);
        foreach (var name in Flow)
        {
            var flow = FindFlowOrWriteError(name);
            if (flow is null) continue;
            if (_flowsRun.Contains(flow.Id))
            {
                WriteVerbose($"Flow '{flow.Name}' was already given to this command; it runs once per command.");
                continue;
            }
            var destinationName = DestinationNameOf(flow.DestinationId);
            var datasets = Dataset is null ? $"{flow.DatasetIds.Count} dataset(s)" : $"dataset(s) {string.Join(", ", Dataset.Select(id => $"'{id}'"))}";
            if (!ShouldProcess($"flow '{flow.Name}'", $"Export {datasets} from lake '{lakePath}' to destination '{destinationName}'")) continue;
            _flowsRun.Add(flow.Id);
            if (ThrottleLimit == 1)
            {
                Run([flow], lakePath);
                continue;
            }
            // Gathered, not started: every flow is asked for (-Confirm) before any starts, no prompt comes among the runs
            // and progress bars of flows exporting, and the flows start together, up to -ThrottleLimit at once.
            _gathered.Add(flow);
            _gatheredLakePath = lakePath;
        }
    }

    protected override void EndProcessingCore()
    {
        if (_gathered.Count > 0) Run(_gathered, _gatheredLakePath!);
    }

    /// <summary>Runs the flows, up to -ThrottleLimit at once, writing each run as it ends; a flow refused is an error about it, the others run.</summary>
    private void Run(IReadOnlyList<FlowRecord> flows, string lakePath)
    {
        var activity = flows.Count == 1 ? $"Exporting flow '{flows[0].Name}'" : "Exporting flows";
        Guard(() => ExportProgressWriter.Run(this, activity,
            reports => Engine.RunFlowsAsync(flows, lakePath, reports.Progress,
                (flow, refusal) => reports.WriteError(ToErrorRecord(refusal, flow.Name)), StopToken, Dataset, ThrottleLimit, reports.WrittenAsync)),
            flows.Count == 1 ? flows[0].Name : null);
    }
}
