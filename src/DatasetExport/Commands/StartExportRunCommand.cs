using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Threading.Channels;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Runs a flow now: exports each of its datasets to its destination and records the runs.</para>
/// <para type="description">Returns one ExportRun per dataset. A dataset that fails does not stop the others: its run is
/// returned with Status Failed and also written as an error. Ctrl+C cancels the export; the files of a cancelled run
/// are not committed.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "ExportRun", SupportsShouldProcess = true)]
[OutputType(typeof(ExportRun))]
public sealed class StartExportRunCommand : DatasetExportCmdlet
{
    /// <summary>Progress is drawn at most this often: the console, not the export, should pay for it.</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private const int ProgressActivityId = 1;

    #region Parameters

    /// <summary>The flows to run: names, or flow objects from Get-ExportFlow / New-ExportFlow.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [NameTransformation]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[] Flow { get; set; } = [];

    /// <summary>The lake folder; defaults to the configured lake.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LakePath { get; set; }

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        var lakePath = Engine.ResolveLakePath(LakePath is null ? null : GetUnresolvedProviderPathFromPSPath(LakePath));
        foreach (var name in Flow)
        {
            var flow = FindFlowOrWriteError(name);
            if (flow is null) continue;
            var destinationName = Engine.State.GetDestination(flow.DestinationId)?.Name ?? flow.DestinationId.ToString();
            var action = $"Export {flow.DatasetIds.Count} dataset(s) from lake '{lakePath}' to destination '{destinationName}'";
            if (!ShouldProcess($"flow '{flow.Name}'", action)) continue;
            Guard(() => Run(flow, lakePath), flow.Name);
        }
    }

    /// <summary>
    /// Runs the engine on a worker thread and writes its progress from this (the pipeline) thread only: PowerShell
    /// hosts are not safe to call from other threads, and drawing every report would slow the export down.
    /// </summary>
    private void Run(FlowRecord flow, string lakePath)
    {
        var reports = Channel.CreateUnbounded<ExportProgress>(new UnboundedChannelOptions { SingleReader = true });
        var progress = new ChannelProgress(reports.Writer);
        var export = Task.Run(() => Engine.RunFlowAsync(flow, lakePath, progress, StopToken));
        export.ContinueWith(_ => reports.Writer.TryComplete(), TaskScheduler.Default);

        var sinceLastDraw = Stopwatch.StartNew();
        ExportProgress? drawn = null;
        void Draw(ExportProgress report)
        {
            WriteProgress(Describe(flow.Name, report));
            drawn = report;
            sinceLastDraw.Restart();
        }

        while (reports.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            // Keep only the newest report, except that every dataset is shown at least once, however fast it went.
            ExportProgress? latest = null;
            while (reports.Reader.TryRead(out var report))
            {
                if (latest is not null && latest.DatasetIndex != report.DatasetIndex) Draw(latest);
                latest = report;
            }
            if (latest is null) continue;
            var datasetChanged = drawn is null || drawn.DatasetIndex != latest.DatasetIndex;
            if (datasetChanged || sinceLastDraw.Elapsed >= ProgressInterval) Draw(latest);
        }
        WriteProgress(new ProgressRecord(ProgressActivityId, $"Exporting flow '{flow.Name}'", "Done") { RecordType = ProgressRecordType.Completed });

        foreach (var run in export.GetAwaiter().GetResult())
        {
            var output = EngineMapping.ToOutput(run);
            WriteObject(output);
            if (run.Status == global::DatasetExport.Engine.State.RunStatus.Failed)
            {
                WriteError(new ErrorRecord(
                    new InvalidOperationException($"Export of dataset '{run.DatasetId}' by flow '{run.FlowName}' failed: {run.Error}"),
                    "ExportRunFailed", ErrorCategory.WriteError, output));
            }
        }
    }

    private static ProgressRecord Describe(string flowName, ExportProgress report)
    {
        var datasetShare = report.BatchCount == 0 ? 0.0 : (double)report.BatchesDone / report.BatchCount;
        var percent = report.DatasetCount == 0 ? 0 : (int)(100 * (report.DatasetIndex + datasetShare) / report.DatasetCount);
        var status = string.Format(CultureInfo.CurrentCulture,
            "Dataset {0} ({1} of {2}): {3:N0} files, {4:N0} records, {5:N1} MB written",
            report.DatasetId, report.DatasetIndex + 1, report.DatasetCount, report.FilesWritten, report.RecordsWritten, report.BytesWritten / 1048576.0);
        return new ProgressRecord(ProgressActivityId, $"Exporting flow '{flowName}'", status)
        {
            CurrentOperation = report.Activity,
            PercentComplete = Math.Clamp(percent, 0, 100),
        };
    }

    /// <summary>Called on engine threads: only queues the report for the pipeline thread.</summary>
    private sealed class ChannelProgress(ChannelWriter<ExportProgress> writer) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => writer.TryWrite(value);
    }
}
