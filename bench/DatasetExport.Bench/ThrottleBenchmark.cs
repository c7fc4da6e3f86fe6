using System.Diagnostics;
using System.Globalization;
using System.Text;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.State;

namespace DatasetExport.Bench;

/// <summary>
/// Invoke-ExportSchedule -ThrottleLimit: the time for a number of due flows, each exporting the synthetic dataset of one
/// conversion to a local folder, with each limit given, alternately, each repetition in a state home of its own.
/// </summary>
public static class ThrottleBenchmark
{
    public static async Task<string> RunAsync(string workFolder, string lake, Conversion conversion, int flows, IReadOnlyList<int> limits, int reps)
    {
        var report = new StringBuilder();
        report.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"| {flows} due flows, each `{conversion.Name}` of the lake's {conversion.DatasetId}, to a local folder | wall s (median) | CPU s (median) |"));
        report.AppendLine("|---|---:|---:|");
        var times = limits.Distinct().ToDictionary(limit => limit, _ => new List<(double Wall, double Cpu)>());
        for (var rep = 0; rep < reps; rep++)
        {
            foreach (var limit in times.Keys) times[limit].Add(await TimeAsync(workFolder, lake, conversion, flows, limit));
        }
        foreach (var (limit, measured) in times)
        {
            report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| -ThrottleLimit {limit} | {Median(measured.Select(m => m.Wall)):F2} | {Median(measured.Select(m => m.Cpu)):F2} |"));
        }
        return report.ToString();
    }

    private static async Task<(double Wall, double Cpu)> TimeAsync(string workFolder, string lake, Conversion conversion, int flows, int limit)
    {
        var place = Path.Combine(workFolder, "throttle-" + Guid.NewGuid().ToString("N"));
        var output = Directory.CreateDirectory(Path.Combine(place, "out")).FullName;
        try
        {
            using var engine = ExportEngine.Open(new EngineOptions { StateHome = Path.Combine(place, "state") });
            var destination = new DestinationSettings
            {
                Name = "local", Type = DestinationType.Local, FileType = conversion.FileType, Compression = conversion.Compression,
                Properties = { [LocalFolderDestination.PathProperty] = output },
            };
            await engine.AddDestinationAsync(destination, skipValidation: true, default);
            for (var i = 0; i < flows; i++)
            {
                engine.AddFlow(new FlowRecord
                {
                    Name = $"flow-{i}", DestinationId = destination.Id, DatasetIds = [conversion.DatasetId],
                    ScheduleKind = ScheduleKind.Once, StartTime = DateTimeOffset.UtcNow.AddMinutes(-1),
                });
            }
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var runs = await engine.RunDueFlowsAsync(lake, null, null, default, throttleLimit: limit);
            clock.Stop();
            var spent = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            if (runs.Count != flows || runs.Any(run => run.Status != RunStatus.Succeeded))
            {
                throw new InvalidOperationException($"-ThrottleLimit {limit}: {runs.Count(run => run.Status == RunStatus.Succeeded)} of {flows} runs succeeded: " +
                    string.Join("; ", runs.Select(run => run.Error).OfType<string>().Distinct()));
            }
            return (clock.Elapsed.TotalSeconds, spent.TotalSeconds);
        }
        finally
        {
            Directory.Delete(place, recursive: true);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
