using System.Globalization;

namespace DatasetExport.Bench;

/// <summary>The command line of the benchmark. Every option has a default suited to a quick run.</summary>
public sealed class BenchOptions
{
    public const string Usage = """
        DatasetExport export benchmark: the engine against DuckDB (conversions) and rclone (uploads).

          dotnet run -c Release --project bench/DatasetExport.Bench -- [options]

          --rows N[,N...]        dataset sizes to measure, e.g. 1000000,10000000 (default 1000000)
          --reps N[,N...]        repetitions per size, one value or one per size (default 3)
          --batches N            batch files per dataset in the lake (default 8)
          --seed N               seed of the synthetic data (default 42)
          --work DIR             lake, outputs and servers go here (default /tmp/datasetexport-bench)
          --conversions LIST     comma-separated subset of: parquet-jsonl-gzip, parquet-parquet-snappy,
                                 parquet-parquet-zstd, jsonl-parquet-snappy (default all of these), and
                                 jsonl-maps-parquet-snappy, parquet-maps-jsonl-gzip (the events with a map column:
                                 in JSON an attributes object whose keys are data; only when named)
          --stages               also time the engine's stages (lake scan, read, write, hash, copy) per conversion,
                                 at the smallest size
          --no-uploads           skip the upload comparison
          --upload-rows N        upload the engine's Parquet snappy output of this size (default: the smallest)
          --upload-reps N        repetitions of each upload (default 5)
          --upload-targets LIST  comma-separated subset of: s3, azure, sftp (default all)
          --markdown FILE        also write the results as Markdown to FILE
          --generate-only        only generate the lakes of the --rows sizes (they are reused by later runs)
          --run-file-saves N     only time how a running export saves its run with each of N files (state store)
          --metadata-scale       only time the cmdlets' paths against a lake of 100,000 batch files in 300 datasets and
                                 a state store of 200 flows, ~80,000 runs and ~1,000,000 exported batches
          --schedule-throttle N  only time Invoke-ExportSchedule with N due flows, each exporting the first --conversions
                                 conversion of the smallest --rows size to a local folder, with -ThrottleLimit 1 and 4
                                 (alternately, --reps times)
        """;

    public IReadOnlyList<long> Rows { get; private set; } = [1_000_000];
    public IReadOnlyList<int> Reps { get; private set; } = [3];
    public int Batches { get; private set; } = 8;
    public int Seed { get; private set; } = 42;
    public string WorkFolder { get; private set; } = Path.Combine(Path.GetTempPath(), "datasetexport-bench");
    public IReadOnlyList<Conversion> Conversions { get; private set; } = Conversion.All;
    public bool Stages { get; private set; }
    public bool Uploads { get; private set; } = true;
    public int UploadReps { get; private set; } = 5;
    public long? UploadRows { get; private set; }
    public IReadOnlyList<string> UploadTargets { get; private set; } = ["s3", "azure", "sftp"];
    public string? MarkdownPath { get; private set; }
    public bool GenerateOnly { get; private set; }
    public int? RunFileSaves { get; private set; }
    public bool MetadataScale { get; private set; }
    public int? ScheduleThrottleFlows { get; private set; }

    /// <summary>The size whose exported files the upload comparison uses.</summary>
    public long UploadSize => UploadRows ?? Rows.Min();

    /// <summary>The repetitions for the size at <paramref name="index"/> in <see cref="Rows"/>.</summary>
    public int RepsFor(int index) => Reps.Count == 1 ? Reps[0] : Reps[index];

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--rows": options.Rows = ParseList(Value(), name, s => long.Parse(s, CultureInfo.InvariantCulture)); break;
                case "--reps": options.Reps = ParseList(Value(), name, s => int.Parse(s, CultureInfo.InvariantCulture)); break;
                case "--batches": options.Batches = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--seed": options.Seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--work": options.WorkFolder = Path.GetFullPath(Value()); break;
                case "--conversions": options.Conversions = ParseList(Value(), name, Conversion.Find); break;
                case "--stages": options.Stages = true; break;
                case "--no-uploads": options.Uploads = false; break;
                case "--upload-rows": options.UploadRows = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--upload-reps": options.UploadReps = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--upload-targets": options.UploadTargets = ParseList(Value(), name, UploadTarget.CheckName); break;
                case "--markdown": options.MarkdownPath = Path.GetFullPath(Value()); break;
                case "--generate-only": options.GenerateOnly = true; break;
                case "--metadata-scale": options.MetadataScale = true; break;
                case "--run-file-saves": options.RunFileSaves = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--schedule-throttle": options.ScheduleThrottleFlows = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"Unknown option '{name}'.");
            }
        }
        if (options.Rows.Any(r => r < 1)) throw new ArgumentException("--rows must be positive.");
        if (options.Reps.Any(r => r < 1) || options.UploadReps < 1) throw new ArgumentException("Repetitions must be at least 1.");
        if (options.Reps.Count != 1 && options.Reps.Count != options.Rows.Count)
        {
            throw new ArgumentException("--reps takes one value, or one value per --rows size.");
        }
        if (options.Batches < 1) throw new ArgumentException("--batches must be at least 1.");
        if (options.RunFileSaves is < 1) throw new ArgumentException("--run-file-saves must be at least 1.");
        if (options.ScheduleThrottleFlows is < 1) throw new ArgumentException("--schedule-throttle must be at least 1.");
        if (options.UploadRows is { } uploadRows && !options.Rows.Contains(uploadRows)) throw new ArgumentException("--upload-rows must be one of the --rows sizes.");
        return options;
    }

    private static List<T> ParseList<T>(string text, string name, Func<string, T> parse)
    {
        try
        {
            return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse).ToList();
        }
        catch (FormatException error)
        {
            throw new ArgumentException($"{name}: {error.Message}", error);
        }
    }
}
