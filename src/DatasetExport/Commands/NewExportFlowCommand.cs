using System.Management.Automation;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Creates a flow: datasets bound to a destination.</para>
/// <para type="description">Datasets come as ids or as EligibleDataset objects from Get-EligibleDataset through the pipeline;
/// the flow is created once all pipeline input has arrived. With -Incremental, later runs export only batches the flow
/// has not exported yet. Without a schedule the flow runs only by Start-ExportRun; with -Once, -Hourly, -Daily or -Cron
/// it is also run by Invoke-ExportSchedule when due (see docs/scheduling.md).</para>
/// </summary>
/// <example>
///   <code>Get-EligibleDataset 'web*' | New-ExportFlow -Name web-nightly -Destination archive -Daily -At 02:00 -Incremental</code>
///   <para>Exports the web datasets every night at 02:00 UTC, each run only the batches not exported before.</para>
/// </example>
/// <example>
///   <code>New-ExportFlow -Name orders-once -Destination s3 -Dataset orders -Once -StartTime '2026-12-01T06:00Z'</code>
///   <para>One export of the orders dataset, due on 1 December 2026 at 06:00 UTC.</para>
/// </example>
/// <example>
///   <code>New-ExportFlow -Name clicks -Destination sftp -Dataset clicks -Cron '15 */4 * * 1-5' -TimeZone Europe/Paris</code>
///   <para>Due at a quarter past every fourth hour on weekdays, Paris time.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ExportFlow", SupportsShouldProcess = true, DefaultParameterSetName = ManualSet)]
[OutputType(typeof(ExportFlow))]
public sealed class NewExportFlowCommand : FlowScheduleCmdlet
{
    private const string ManualSet = "Manual";

    private readonly List<string> _datasetIds = new();

    #region Parameters

    /// <summary>A unique name for the flow.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The destination: its name, or the object New-/Get-ExportDestination returned (a flow stands for its destination).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [NameTransformation(typeof(ExportDestination))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string Destination { get; set; } = "";

    /// <summary>Dataset ids, or EligibleDataset objects from the pipeline (a flow stands for its datasets, a run for its dataset).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "DatasetId")]
    [NameTransformation(typeof(EligibleDataset))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DatasetIdCompleter))]
    public string[] Dataset { get; set; } = [];

    /// <summary>Export only batches this flow has not exported yet (the first run exports everything).</summary>
    [Parameter]
    public SwitchParameter Incremental { get; set; }

    /// <summary>Leave out JSON lines that are not valid JSON objects (counted in the run's RecordsSkipped) instead of failing the run.</summary>
    [Parameter]
    public SwitchParameter SkipInvalidRecords { get; set; }

    /// <summary>
    /// Leave out whole batches that cannot be read or whose schema conflicts (listed in the run's SkippedBatches and tried
    /// again by the next run) instead of failing the run.
    /// </summary>
    [Parameter]
    public SwitchParameter SkipInvalidBatches { get; set; }

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        foreach (var id in Dataset)
        {
            if (!_datasetIds.Contains(id, StringComparer.Ordinal)) _datasetIds.Add(id);
        }
    }

    protected override void EndProcessingCore()
    {
        ThrowIfWildcard(Name, nameof(Name));
        foreach (var id in _datasetIds)
        {
            ThrowIfWildcard(id, nameof(Dataset), $"-Dataset takes dataset ids; to export the datasets a pattern matches, pipe them in: Get-EligibleDataset '{id}' | New-ExportFlow ...");
        }
        if (Engine.State.FindFlow(Name) is not null)
        {
            WriteError($"A flow named '{Name}' already exists. Use Set-ExportFlow to change it, or choose another name.",
                "FlowAlreadyExists", ErrorCategory.ResourceExists, Name);
            return;
        }
        var destination = FindDestinationOrWriteError(Destination);
        if (destination is null) return;

        var flow = new FlowRecord
        {
            Name = Name,
            DestinationId = destination.Id,
            DatasetIds = _datasetIds,
            Mode = (Incremental ? ExportMode.Incremental : ExportMode.Full).ToEngine(),
            SkipInvalidRecords = SkipInvalidRecords.IsPresent,
            SkipInvalidBatches = SkipInvalidBatches.IsPresent,
        };
        var details = new List<string>();
        if (SkipInvalidRecords) details.Add("skipping invalid records");
        if (SkipInvalidBatches) details.Add("skipping invalid batches");
        if (!TryApplySchedule(flow, Name, details)) return;
        var action = $"Create export flow of {_datasetIds.Count} dataset(s) ({string.Join(", ", _datasetIds)}) to destination '{destination.Name}'"
            + (details.Count == 0 ? "" : ", " + string.Join(", ", details));
        if (!ShouldProcess(Name, action)) return;
        Guard(() =>
        {
            Engine.AddFlow(flow);
            WriteObject(ToOutput(Engine.State.FindFlow(Name) ?? flow));
        }, Name);
    }
}
