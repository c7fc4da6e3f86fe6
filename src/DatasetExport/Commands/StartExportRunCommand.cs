using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Runs a flow now: exports each of its datasets to its destination and records the runs.</para>
/// <para type="description">Writes one ExportRun per dataset, each as it ends. A dataset that fails does not stop the others: its run is
/// written with Status Failed and also as an error (with -ErrorAction Stop that error stops the export there). Ctrl+C cancels the export; the files of a cancelled run
/// are not committed. A flow runs this way whatever its schedule, and whether it is enabled or not.</para>
/// </summary>
/// <example>
///   <code>Start-ExportRun -Flow web-nightly</code>
///   <para>Exports each dataset of the flow now, with progress, and returns one ExportRun per dataset.</para>
/// </example>
/// <example>
///   <code>Get-ExportFlow web* | Start-ExportRun -Verbose</code>
///   <para>Runs every web flow now; -Verbose shows each retried transfer.</para>
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
    /// The flows this command has run. Each runs once per command, however often it comes in (every failed run of a flow
    /// piped back in): a second run in the same minute would write into the same exportTime= folders.
    /// </summary>
    private readonly HashSet<Guid> _flowsRun = new();

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
                WriteVerbose($"Flow '{flow.Name}' already ran in this command; it runs once per command.");
                continue;
            }
            var destinationName = DestinationNameOf(flow.DestinationId);
            var datasets = Dataset is null ? $"{flow.DatasetIds.Count} dataset(s)" : $"dataset(s) {string.Join(", ", Dataset.Select(id => $"'{id}'"))}";
            if (!ShouldProcess($"flow '{flow.Name}'", $"Export {datasets} from lake '{lakePath}' to destination '{destinationName}'")) continue;
            _flowsRun.Add(flow.Id);
            Guard(() => ExportProgressWriter.Run(this, $"Exporting flow '{flow.Name}'",
                (progress, _) => Engine.RunFlowAsync(flow, lakePath, progress, StopToken, Dataset)), flow.Name);
        }
    }
}
