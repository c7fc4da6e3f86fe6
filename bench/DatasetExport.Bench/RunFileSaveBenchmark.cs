using System.Diagnostics;
using System.Globalization;
using System.Text;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.State;

namespace DatasetExport.Bench;

/// <summary>
/// What saving a running run costs as its file list grows (<c>--run-file-saves N</c>): an export saves its run with each
/// file it stores, so that a process dying mid-run leaves its files known; a run of thousands of parts (a big dataset, a
/// small MaxFileSizeMB) must not pay again for the parts before. Saves one run N times in a fresh state home, one new file
/// each time, as the export does.
/// </summary>
internal static class RunFileSaveBenchmark
{
    public static string Run(int files, string workFolder)
    {
        var home = Path.Combine(workFolder, "run-file-saves");
        if (Directory.Exists(home)) Directory.Delete(home, recursive: true);
        using var store = SqliteStateStore.Open(home);
        var destination = new DestinationSettings { Name = "bench", Type = DestinationType.Local, Properties = { [DestinationKeys.Path] = Path.Combine(workFolder, "out") } };
        store.AddDestination(destination);
        var flow = new FlowRecord { Name = "bench", DestinationId = destination.Id, DatasetIds = ["web"], Mode = ExportMode.Full };
        store.AddFlow(flow);
        var now = DateTimeOffset.UtcNow;
        var run = new RunRecord
        {
            FlowId = flow.Id, FlowName = flow.Name, DatasetId = "web", DestinationId = destination.Id, DestinationName = destination.Name,
            ScheduledTime = now, StartedAt = now, HeartbeatAt = now, ExportPath = "web/exportTime=202601010000",
        };
        store.AddRun(run);

        var table = new StringBuilder()
            .AppendLine($"Saving one running run {files:N0} times, one new file each (state home on {workFolder}):")
            .AppendLine()
            .AppendLine("| files saved | seconds so far | ms per save, last step |")
            .AppendLine("|---:|---:|---:|");
        var step = Math.Max(1, files / 5);
        var total = Stopwatch.StartNew();
        var stepStarted = TimeSpan.Zero;
        for (var saved = 1; saved <= files; saved++)
        {
            var name = $"part-{saved:D5}-{Guid.NewGuid():N}.parquet";
            run.Files.Add(new RunFileRecord
            {
                RelativePath = $"{run.ExportPath}/{name}", SinkPath = Path.Combine(workFolder, "out", run.ExportPath, name),
                Size = 256L << 20, Records = 1_000_000, Sha256 = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + new string('0', 32),
            });
            run.RecordsWritten += 1_000_000;
            run.OutputBytes += 256L << 20;
            run.HeartbeatAt = DateTimeOffset.UtcNow;
            store.UpdateRun(run);
            if (saved % step != 0 && saved != files) continue;
            var elapsed = total.Elapsed;
            var stepSaves = saved % step == 0 ? step : saved % step;
            table.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {saved:N0} | {elapsed.TotalSeconds:F2} | {(elapsed - stepStarted).TotalMilliseconds / stepSaves:F2} |"));
            stepStarted = elapsed;
        }
        return table.ToString();
    }
}
