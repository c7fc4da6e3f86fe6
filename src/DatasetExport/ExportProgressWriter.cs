using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Threading.Channels;
using DatasetExport.Engine;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;

namespace DatasetExport;

/// <summary>
/// Runs an export on a worker thread and writes, from the pipeline thread only, each run as it ends (with an error for a
/// run that failed), its warnings, its progress and the engine's log (<see cref="ExportEngine.Log"/>, as verbose records): PowerShell
/// hosts are not safe to call from other threads, and drawing every report would slow the export down (Start-ExportRun,
/// Invoke-ExportSchedule).
/// </summary>
internal static class ExportProgressWriter
{
    /// <summary>Progress is drawn at most this often: the console, not the export, should pay for it.</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private const int FirstActivityId = 1;

    /// <summary>
    /// Runs <paramref name="export"/>, writing each run as it ends, and returns its runs (all written by then);
    /// <paramref name="activity"/> titles the final "Done" record. When the export throws, the runs that ended before were
    /// written; the exception follows. <paramref name="export"/> reports through its <see cref="ExportReports"/> (callable on
    /// any thread): progress, warnings and errors are each written in their place among the runs, so a warning said before a
    /// failed run stops the command (-ErrorAction Stop) is not lost with it, and an error (a flow refused among others that
    /// run) stops the command there with -ErrorAction Stop.
    /// </summary>
    public static IReadOnlyList<RunRecord> Run(DatasetExportCmdlet cmdlet, string activity, Func<ExportReports, Task<IReadOnlyList<RunRecord>>> export)
    {
        // Progress reports and log messages share one queue, so the pipeline thread writes them in the order they happened.
        var queue = Channel.CreateUnbounded<Report>(new UnboundedChannelOptions { SingleReader = true });
        var reports = new ExportReports(queue.Writer);
        var engine = cmdlet.Engine;
        engine.Log = message => queue.Writer.TryWrite(new Report(null, message));
        try
        {
            var running = Task.Run(() => export(reports));
            running.ContinueWith(_ => queue.Writer.TryComplete(), TaskScheduler.Default);
            var bars = new ProgressBars(cmdlet);
            try
            {
                Pump(cmdlet, queue.Reader, bars);
            }
            catch
            {
                // The command ends before the export: stopped while it wrote (PipelineStoppedException; a -TimeoutSeconds of
                // ForEach-Object -Parallel; a command downstream that threw), or a write refused (a failed run's or a refused flow's error with
                // -ErrorAction Stop; $ProgressPreference or $VerbosePreference 'Stop'). Cancel
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
                // Stopped by a failed run's error (-ErrorAction Stop) or a command downstream that threw, the script may go on:
                // take the bars down, as when the export ends, rather than leave them on screen under its output.
                try
                {
                    bars.CompleteAll(activity);
                }
                catch (Exception)
                {
                    // A stopped pipeline, or progress refused ($ProgressPreference 'Stop'): nothing more can be drawn.
                }
                throw;
            }
            bars.CompleteAll(activity);
            return running.GetAwaiter().GetResult();
        }
        finally
        {
            engine.Log = null;
        }
    }

    /// <summary>Writes every run as it ends, every warning, error and log message, and the progress worth drawing, until the export ends.</summary>
    private static void Pump(DatasetExportCmdlet cmdlet, ChannelReader<Report> reports, ProgressBars bars)
    {
        while (reports.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            // Keep only each flow's newest report, except that every dataset of every flow is shown at least once, however
            // fast it went, and a flow that ended has its bar taken down at once.
            var latest = new Dictionary<string, ExportProgress>(StringComparer.Ordinal);
            while (reports.TryRead(out var report))
            {
                if (report.LogMessage is { } message)
                {
                    cmdlet.WriteVerbose(message);
                    continue;
                }
                if (report.Warning is { } warning)
                {
                    cmdlet.WriteWarning(warning);
                    continue;
                }
                if (report.Error is { } error)
                {
                    cmdlet.WriteError(error);
                    continue;
                }
                if (report.Written is { } written)
                {
                    written.TrySetResult();
                    continue;
                }
                var progress = report.Progress!;
                if (progress.EndedRun is { } run)
                {
                    cmdlet.WriteRun(run);
                    continue;
                }
                if (latest.Remove(progress.FlowName, out var previous) && (progress.IsFlowDone || !SameDataset(previous, progress))) bars.Draw(previous);
                if (progress.IsFlowDone) bars.Complete(progress.FlowName);
                else latest[progress.FlowName] = progress;
            }
            foreach (var progress in latest.Values) bars.DrawIfDue(progress);
        }
    }

    private static bool SameDataset(ExportProgress a, ExportProgress b) => a.FlowName == b.FlowName && a.DatasetIndex == b.DatasetIndex;

    /// <summary>
    /// A progress bar per flow exporting (several at once under -ThrottleLimit), each drawn at most every
    /// <see cref="ProgressInterval"/> unless its dataset changed, and taken down when its flow is done; ids are reused, so
    /// flows exporting one after another share one bar.
    /// </summary>
    private sealed class ProgressBars(Cmdlet cmdlet)
    {
        private readonly Dictionary<string, (int ActivityId, ExportProgress Drawn, Stopwatch Since)> _open = new(StringComparer.Ordinal);
        private bool _drewAny;

        public void DrawIfDue(ExportProgress report)
        {
            if (_open.TryGetValue(report.FlowName, out var bar) && SameDataset(bar.Drawn, report) && bar.Since.Elapsed < ProgressInterval) return;
            Draw(report);
        }

        public void Draw(ExportProgress report)
        {
            var activityId = _open.TryGetValue(report.FlowName, out var bar) ? bar.ActivityId : FreeActivityId();
            cmdlet.WriteProgress(Describe(activityId, report));
            _open[report.FlowName] = (activityId, report, Stopwatch.StartNew());
            _drewAny = true;
        }

        public void Complete(string flowName)
        {
            if (!_open.Remove(flowName, out var bar)) return;
            cmdlet.WriteProgress(new ProgressRecord(bar.ActivityId, ActivityOf(bar.Drawn), "Done") { RecordType = ProgressRecordType.Completed });
        }

        /// <summary>Takes down every bar still up; when none was ever drawn, completes one titled <paramref name="activity"/>.</summary>
        public void CompleteAll(string activity)
        {
            foreach (var flowName in _open.Keys.ToList()) Complete(flowName);
            if (!_drewAny) cmdlet.WriteProgress(new ProgressRecord(FirstActivityId, activity, "Done") { RecordType = ProgressRecordType.Completed });
        }

        private int FreeActivityId()
        {
            var activityId = FirstActivityId;
            while (_open.Values.Any(bar => bar.ActivityId == activityId)) activityId++;
            return activityId;
        }
    }

    private static string ActivityOf(ExportProgress report) => $"Exporting flow '{report.FlowName}'";

    private static ProgressRecord Describe(int activityId, ExportProgress report)
    {
        var datasetShare = report.BatchCount == 0 ? 0.0 : (double)report.BatchesDone / report.BatchCount;
        var percent = report.DatasetCount == 0 ? 0 : (int)(100 * (report.DatasetIndex + datasetShare) / report.DatasetCount);
        var status = string.Format(CultureInfo.CurrentCulture,
            "Dataset {0} ({1} of {2}): {3:N0} files, {4:N0} records, {5:N1} MB written",
            report.DatasetId, report.DatasetIndex + 1, report.DatasetCount, report.FilesWritten, report.RecordsWritten, report.BytesWritten / 1048576.0);
        return new ProgressRecord(activityId, ActivityOf(report), status)
        {
            CurrentOperation = report.Activity,
            PercentComplete = Math.Clamp(percent, 0, 100),
        };
    }

    /// <summary>
    /// One queued item: a progress report, a log message, a warning, an error, or a mark the pipeline thread completes once it
    /// wrote everything queued before it.
    /// </summary>
    internal readonly record struct Report(
        ExportProgress? Progress, string? LogMessage, string? Warning = null, ErrorRecord? Error = null, TaskCompletionSource? Written = null);

    /// <summary>What an export running on engine threads tells the pipeline thread: each call only queues it.</summary>
    internal sealed class ExportReports(ChannelWriter<Report> writer) : IProgress<ExportProgress>
    {
        /// <summary>The export's progress, runs as they end included.</summary>
        public IProgress<ExportProgress> Progress => this;

        void IProgress<ExportProgress>.Report(ExportProgress value) => writer.TryWrite(new Report(value, null));

        public void Warn(string warning) => writer.TryWrite(new Report(null, null, warning));

        public void WriteError(ErrorRecord error) => writer.TryWrite(new Report(null, null, Error: error));

        /// <summary>
        /// Completes once the pipeline thread wrote everything reported before (and the commands downstream took it): the engine
        /// awaits it before each flow starts, so a failed run whose error stops the command (-ErrorAction Stop) stops the flows
        /// after it before they start. Cancelled with the command's export (Ctrl+C, or the command stopping at that error).
        /// </summary>
        public Task WrittenAsync(CancellationToken cancellationToken)
        {
            // Completed on the pipeline thread: the export's continuation must not run there.
            var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return writer.TryWrite(new Report(null, null, Written: written)) ? written.Task.WaitAsync(cancellationToken) : Task.CompletedTask;
        }
    }
}
