using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using DuckDB.NET.Data;

namespace DatasetExport.Bench;

/// <summary>All runs of one conversion at one dataset size.</summary>
public sealed class ConversionMeasurement(long rows, Conversion conversion, long inputBytes)
{
    public long Rows { get; } = rows;
    public Conversion Conversion { get; } = conversion;
    public long InputBytes { get; } = inputBytes;
    public List<ChildResult> Engine { get; } = [];
    public List<ChildResult> DuckDb { get; } = [];
    public string Check { get; set; } = "not checked";
    public bool CheckPassed { get; set; }
    public ChildResult? Stages { get; set; }

    public double EngineMedian => Statistics.Median(Engine.Select(r => r.Seconds));
    public double DuckDbMedian => Statistics.Median(DuckDb.Select(r => r.Seconds));
    public double EngineCpuMedian => Statistics.Median(Engine.Select(r => r.CpuSeconds));
    public double DuckDbCpuMedian => Statistics.Median(DuckDb.Select(r => r.CpuSeconds));
    public double Ratio => EngineMedian / DuckDbMedian;
    public long EnginePeak => Engine.Max(r => r.PeakWorkingSetBytes);
    public long DuckDbPeak => DuckDb.Max(r => r.PeakWorkingSetBytes);
}

public static class Statistics
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}

/// <summary>The Markdown results: machine, command, date, the tables, and each missed target with its margin.</summary>
public static class Report
{
    public const double RatioTarget = 1.0;
    public const long PeakTargetBytes = 300L * 1024 * 1024;
    public const double PeakGrowthTarget = 0.20;

    public static string Markdown(
        IReadOnlyList<string> args, DateTimeOffset started, TimeSpan duration,
        IReadOnlyList<ConversionMeasurement> conversions, IReadOnlyList<UploadResult> uploads, string? uploadSetDescription)
    {
        var text = new StringBuilder();
        var command = "dotnet run -c Release --project bench/DatasetExport.Bench --" + string.Concat(args.Select(a => " " + a));
        text.AppendLine($"Measured {started:yyyy-MM-dd HH:mm} UTC in {duration.TotalMinutes:F1} min with:");
        text.AppendLine().AppendLine("```sh").AppendLine(command).AppendLine("```").AppendLine();
        text.AppendLine("| machine | |").AppendLine("|---|---|");
        foreach (var (name, value) in Machine()) text.AppendLine($"| {name} | {value} |");
        text.AppendLine();

        text.AppendLine("### Conversions (median of the repetitions; MB/s = input batch bytes per second; CPU s = user + system time of the child process)").AppendLine();
        text.AppendLine("| rows | conversion | reps | engine s | DuckDB s | engine/DuckDB | engine rec/s | engine MB/s | DuckDB rec/s | DuckDB MB/s | CPU s engine / DuckDB | engine peak WS | DuckDB peak WS | output MB engine / DuckDB | read back |");
        text.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var m in conversions)
        {
            var inputMb = m.InputBytes / 1e6;
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {m.Rows:N0} | {m.Conversion.Name} | {m.Engine.Count} | {m.EngineMedian:F2} | {m.DuckDbMedian:F2} | **{m.Ratio:F2}** | " +
                $"{m.Rows / m.EngineMedian:N0} | {inputMb / m.EngineMedian:F1} | {m.Rows / m.DuckDbMedian:N0} | {inputMb / m.DuckDbMedian:F1} | " +
                $"{m.EngineCpuMedian:F1} / {m.DuckDbCpuMedian:F1} | " +
                $"{Mb(m.EnginePeak)} | {Mb(m.DuckDbPeak)} | {m.Engine[^1].OutputBytes / 1e6:F1} / {m.DuckDb[^1].OutputBytes / 1e6:F1} | {m.Check} |"));
        }
        text.AppendLine();

        var staged = conversions.Where(m => m.Stages?.StageSeconds is not null).ToList();
        if (staged.Count > 0)
        {
            text.AppendLine("### Where the engine's time goes (stages run one after the other in one child process, seconds)").AppendLine();
            var names = staged[0].Stages!.StageSeconds!.Keys.ToList();
            text.AppendLine("| rows | conversion | " + string.Join(" | ", names) + " | sum | allocated GB | gen0 / gen2 GCs | GC pauses s |");
            text.AppendLine("|---:|---|" + string.Concat(names.Select(_ => "---:|")) + "---:|---:|---:|---:|");
            foreach (var m in staged)
            {
                var stages = m.Stages!.StageSeconds!;
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {m.Rows:N0} | {m.Conversion.Name} | {string.Join(" | ", names.Select(n => stages[n].ToString("F2", CultureInfo.InvariantCulture)))} | " +
                    $"{stages.Values.Sum():F2} | {m.Stages.AllocatedBytes / 1e9:F1} | {m.Stages.Gen0Collections} / {m.Stages.Gen2Collections} | {m.Stages.GcPauseSeconds:F2} |"));
            }
            text.AppendLine();
        }

        if (uploads.Count > 0)
        {
            text.AppendLine($"### Uploads ({uploadSetDescription}; median of the repetitions)").AppendLine();
            text.AppendLine("| destination | files | MB | reps | engine s | rclone s | engine/rclone | engine MB/s | rclone MB/s | read back |");
            text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var u in uploads)
            {
                var (engine, rclone) = (Statistics.Median(u.EngineSeconds), Statistics.Median(u.RcloneSeconds));
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {u.Target} | {u.Files} | {u.Bytes / 1e6:F1} | {u.EngineSeconds.Count} | {engine:F2} | {rclone:F2} | **{engine / rclone:F2}** | " +
                    $"{u.Bytes / 1e6 / engine:F1} | {u.Bytes / 1e6 / rclone:F1} | {u.Check} |"));
            }
            text.AppendLine();
        }

        text.AppendLine("### Targets").AppendLine();
        foreach (var line in Targets(conversions, uploads)) text.AppendLine("- " + line);
        return text.ToString();
    }

    private static IEnumerable<string> Targets(IReadOnlyList<ConversionMeasurement> conversions, IReadOnlyList<UploadResult> uploads)
    {
        foreach (var m in conversions)
        {
            yield return m.Ratio <= RatioTarget
                ? Invariant($"{m.Conversion.Name} at {m.Rows:N0} rows: engine/DuckDB {m.Ratio:F2} ≤ 1.0, met.")
                : Invariant($"{m.Conversion.Name} at {m.Rows:N0} rows: engine/DuckDB {m.Ratio:F2}, **missed** by {(m.Ratio - 1) * 100:F1}% ({m.EngineMedian - m.DuckDbMedian:F2} s slower).");
        }
        foreach (var u in uploads)
        {
            var ratio = Statistics.Median(u.EngineSeconds) / Statistics.Median(u.RcloneSeconds);
            yield return ratio <= RatioTarget
                ? Invariant($"upload to {u.Target}: engine/rclone {ratio:F2} ≤ 1.0, met.")
                : Invariant($"upload to {u.Target}: engine/rclone {ratio:F3}, **missed** by {(ratio - 1) * 100:F1}% ({Statistics.Median(u.EngineSeconds) - Statistics.Median(u.RcloneSeconds):F3} s slower).");
        }
        var sizes = conversions.Select(m => m.Rows).Distinct().Order().ToList();
        foreach (var group in conversions.GroupBy(m => m.Conversion.Name))
        {
            var largest = group.Single(m => m.Rows == sizes[^1]);
            var peakLine = largest.EnginePeak <= PeakTargetBytes
                ? Invariant($"{group.Key} peak working set at {largest.Rows:N0} rows: {Mb(largest.EnginePeak)} ≤ 300 MB, met")
                : Invariant($"{group.Key} peak working set at {largest.Rows:N0} rows: {Mb(largest.EnginePeak)}, **missed** 300 MB by {Mb(largest.EnginePeak - PeakTargetBytes)}");
            if (sizes.Count > 1)
            {
                var smallest = group.Single(m => m.Rows == sizes[0]);
                var growth = (double)largest.EnginePeak / smallest.EnginePeak - 1;
                peakLine += growth <= PeakGrowthTarget
                    ? Invariant($"; {growth * 100:+0.0;-0.0}% against {Mb(smallest.EnginePeak)} at {smallest.Rows:N0} rows (≤ 20%), met.")
                    : Invariant($"; {growth * 100:+0.0}% against {Mb(smallest.EnginePeak)} at {smallest.Rows:N0} rows, **missed** the 20% bound by {(growth - PeakGrowthTarget) * 100:F1} points.");
            }
            yield return peakLine;
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024.0:F0} MB");

    private static IEnumerable<(string, string)> Machine()
    {
        yield return ("CPU", ReadProc("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString());
        yield return ("cores (nproc)", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
        var memory = ReadProc("/proc/meminfo", "MemTotal");
        yield return ("memory", memory is null ? "?" : string.Create(CultureInfo.InvariantCulture, $"{long.Parse(memory.Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0 / 1024.0:F1} GiB"));
        yield return ("OS", RuntimeInformation.OSDescription);
        yield return (".NET", RuntimeInformation.FrameworkDescription + (System.Runtime.GCSettings.IsServerGC ? ", server GC" : ", workstation GC"));
        yield return ("engine code", EngineCode());
        yield return ("DuckDB", DuckDbVersion());
        string rclone;
        try
        {
            rclone = UploadTarget.RunScript("rclone", ["version"]).Split('\n')[0];
        }
        catch (Exception error) when (error is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            rclone = "not installed";
        }
        yield return ("rclone", rclone);
        yield return ("load average at the end", File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?");
    }

    /// <summary>How many of the managed assemblies beside the benchmark carry ReadyToRun code (Release builds do).</summary>
    private static string EngineCode()
    {
        var assemblies = Directory.GetFiles(AppContext.BaseDirectory, "*.dll");
        var precompiled = assemblies.Count(path =>
        {
            using var reader = new System.Reflection.PortableExecutable.PEReader(File.OpenRead(path));
            return reader.PEHeaders.CorHeader is { ManagedNativeHeaderDirectory.Size: > 0 };
        });
        return string.Create(CultureInfo.InvariantCulture, $"{precompiled} of {assemblies.Length} managed assemblies ReadyToRun-compiled");
    }

    private static string DuckDbVersion()
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version()";
        return command.ExecuteScalar()?.ToString() ?? "?";
    }

    private static string? ReadProc(string path, string key)
    {
        if (!File.Exists(path)) return null;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line?[(line.IndexOf(':') + 1)..].Trim();
    }
}
