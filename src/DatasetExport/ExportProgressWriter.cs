using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Threading.Channels;
using DatasetExport.Engine;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;

namespace DatasetExport;

/// <summary>
/// Runs an export on a worker thread and writes its progress and the engine's log (<see cref="ExportEngine.Log"/>, as
/// verbose records) from the pipeline thread only: PowerShell hosts are not safe to call from other threads, and drawing
/// every report would slow the export down (Start-ExportRun, Invoke-ExportSchedule).
/// </summary>
internal static class ExportProgressWriter
{
    /// <summary>Progress is drawn at most this often: the console, not the export, should pay for it.</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private const int ProgressActivityId = 1;

    /// <summary>Runs <paramref name="export"/> and returns its runs; <paramref name="activity"/> titles the final "Done" record.</summary>
    public static IReadOnlyList<RunRecord> Run(
        DatasetExportCmdlet cmdlet, string activity, Func<IProgress<ExportProgress>, Task<IReadOnlyList<RunRecord>>> export)
    {
        // Progress reports and log messages share one queue, so the pipeline thread writes them in the order they happened.
        var reports = Channel.CreateUnbounded<Report>(new UnboundedChannelOptions { SingleReader = true });
        var progress = new ChannelProgress(reports.Writer);
        var engine = cmdlet.Engine;
        engine.Log = message => reports.Writer.TryWrite(new Report(null, message));
        try
        {
            var running = Task.Run(() => export(progress));
            running.ContinueWith(_ => reports.Writer.TryComplete(), TaskScheduler.Default);
            ExportProgress? drawn;
            try
            {
                drawn = Pump(cmdlet, reports.Reader);
            }
            catch
            {
                // The command ends before the export: stopped while it drew (PipelineStoppedException; a -TimeoutSeconds of
                // ForEach-Object -Parallel), or a write refused ($ProgressPreference or $VerbosePreference 'Stop'). Cancel
                // the export and wait for it, so it records its runs Failed and deletes their files while the engine, disposed
                // with this command, is still open. Left running, it lost its state store and left its runs Running, the
                // flow refused as FlowInUse, until their lease ran out.
                cmdlet.CancelEngineWork();
                try
                {
                    running.GetAwaiter().GetResult();
                }
                catch (Exception)
                {
                    // Cancelled, as asked: its runs are recorded; the command's own error follows.
                }
                throw;
            }
            var title = drawn is null ? activity : ActivityOf(drawn);
            cmdlet.WriteProgress(new ProgressRecord(ProgressActivityId, title, "Done") { RecordType = ProgressRecordType.Completed });
            return running.GetAwaiter().GetResult();
        }
        finally
        {
            engine.Log = null;
        }
    }

    /// <summary>Writes every log message and the progress worth drawing until the export ends; returns the last progress drawn.</summary>
    private static ExportProgress? Pump(Cmdlet cmdlet, ChannelReader<Report> reports)
    {
        var sinceLastDraw = Stopwatch.StartNew();
        ExportProgress? drawn = null;
        void Draw(ExportProgress report)
        {
            cmdlet.WriteProgress(Describe(report));
            drawn = report;
            sinceLastDraw.Restart();
        }

        while (reports.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            // Keep only the newest report, except that every dataset of every flow is shown at least once, however fast it went.
            ExportProgress? latest = null;
            while (reports.TryRead(out var report))
            {
                if (report.LogMessage is { } message)
                {
                    cmdlet.WriteVerbose(message);
                    continue;
                }
                if (latest is not null && !SameDataset(latest, report.Progress!)) Draw(latest);
                latest = report.Progress;
            }
            if (latest is null) continue;
            if (drawn is null || !SameDataset(drawn, latest) || sinceLastDraw.Elapsed >= ProgressInterval) Draw(latest);
        }
        return drawn;
    }

    private static bool SameDataset(ExportProgress a, ExportProgress b) => a.FlowName == b.FlowName && a.DatasetIndex == b.DatasetIndex;

    private static string ActivityOf(ExportProgress report) => $"Exporting flow '{report.FlowName}'";

    private static ProgressRecord Describe(ExportProgress report)
    {
        var datasetShare = report.BatchCount == 0 ? 0.0 : (double)report.BatchesDone / report.BatchCount;
        var percent = report.DatasetCount == 0 ? 0 : (int)(100 * (report.DatasetIndex + datasetShare) / report.DatasetCount);
        var status = string.Format(CultureInfo.CurrentCulture,
            "Dataset {0} ({1} of {2}): {3:N0} files, {4:N0} records, {5:N1} MB written",
            report.DatasetId, report.DatasetIndex + 1, report.DatasetCount, report.FilesWritten, report.RecordsWritten, report.BytesWritten / 1048576.0);
        return new ProgressRecord(ProgressActivityId, ActivityOf(report), status)
        {
            CurrentOperation = report.Activity,
            PercentComplete = Math.Clamp(percent, 0, 100),
        };
    }

    /// <summary>One queued item: a progress report or a log message.</summary>
    private readonly record struct Report(ExportProgress? Progress, string? LogMessage);

    /// <summary>Called on engine threads: only queues the report for the pipeline thread.</summary>
    private sealed class ChannelProgress(ChannelWriter<Report> writer) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => writer.TryWrite(new Report(value, null));
    }
}
