using System.Diagnostics;
using DatasetExport.Bench;
using DatasetExport.Engine.Formats;

if (args.Length > 0 && args[0] == "--child") return await ChildRun.MainAsync(args[1..]);
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception error) when (error is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(error.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

if (options.RunFileSaves is { } runFileSaves)
{
    Directory.CreateDirectory(options.WorkFolder);
    var saves = RunFileSaveBenchmark.Run(runFileSaves, options.WorkFolder);
    Console.WriteLine(saves);
    if (options.MarkdownPath is not null) File.WriteAllText(options.MarkdownPath, saves);
    return 0;
}

if (options.ScheduleThrottleFlows is { } dueFlows)
{
    Directory.CreateDirectory(options.WorkFolder);
    var throttleLake = SyntheticLake.Ensure(options.WorkFolder, options.Rows.Min(), options.Batches, options.Seed, [options.Conversions[0].DatasetId]);
    var throttle = await ThrottleBenchmark.RunAsync(options.WorkFolder, throttleLake, options.Conversions[0], dueFlows, [1, 4], options.RepsFor(0));
    Console.WriteLine(throttle);
    if (options.MarkdownPath is not null) File.WriteAllText(options.MarkdownPath, throttle);
    return 0;
}

if (options.MetadataScale)
{
    Directory.CreateDirectory(options.WorkFolder);
    var scale = MetadataScaleBenchmark.Run(options.WorkFolder);
    Console.WriteLine(scale);
    if (options.MarkdownPath is not null) File.WriteAllText(options.MarkdownPath, scale);
    return 0;
}

var started = DateTimeOffset.UtcNow;
var total = Stopwatch.StartNew();
Directory.CreateDirectory(options.WorkFolder);
var measurements = new List<ConversionMeasurement>();
string? uploadSet = null;
string? uploadSetDescription = null;

for (var sizeIndex = 0; sizeIndex < options.Rows.Count; sizeIndex++)
{
    var rows = options.Rows[sizeIndex];
    var clock = Stopwatch.StartNew();
    var lake = SyntheticLake.Ensure(options.WorkFolder, rows, options.Batches, options.Seed, options.Conversions.Select(c => c.DatasetId));
    var expected = OutputCheck.Source(lake);
    Console.WriteLine($"== {rows:N0} rows: lake {lake} ready in {clock.Elapsed.TotalSeconds:F1} s ({expected}; " +
        $"Parquet {SyntheticLake.DatasetBytes(lake, BatchFormat.Parquet) / 1e6:F1} MB, JSON Lines {SyntheticLake.DatasetBytes(lake, BatchFormat.JsonLines) / 1e6:F1} MB)");
    if (expected.Records != rows) throw new InvalidOperationException($"The lake holds {expected.Records} records instead of {rows}.");
    if (options.GenerateOnly) continue;

    var sized = options.Conversions.Select(c => new ConversionMeasurement(rows, c, SyntheticLake.DatasetBytes(lake, c.DatasetId, c.Source))).ToList();
    string Output(Conversion conversion, string tool) => Path.Combine(options.WorkFolder, "out", rows.ToString(), conversion.Name, tool);

    var reps = options.RepsFor(sizeIndex);
    for (var rep = 0; rep < reps; rep++)
    {
        foreach (var measurement in sized)
        {
            // Alternate which tool goes first, so neither always finds the other's leftovers in the page cache.
            var tools = rep % 2 == 0 ? new[] { ChildRun.Engine, ChildRun.DuckDb } : new[] { ChildRun.DuckDb, ChildRun.Engine };
            foreach (var tool in tools)
            {
                var result = ChildRun.Run(tool, measurement.Conversion, lake, Output(measurement.Conversion, tool));
                (tool == ChildRun.Engine ? measurement.Engine : measurement.DuckDb).Add(result);
                Console.WriteLine($"   rep {rep + 1}/{reps} {measurement.Conversion.Name,-22} {tool,-6} {result.Seconds,8:F2} s  " +
                    $"{result.Records / result.Seconds,12:N0} rec/s  peak {result.PeakWorkingSetBytes / 1048576.0,6:F0} MB  " +
                    $"{result.OutputFiles} file(s) {result.OutputBytes / 1e6:F1} MB");
            }
        }
    }

    foreach (var measurement in sized)
    {
        var conversion = measurement.Conversion;
        // The Parquet events, counted once per size above, are the reference but for the datasets with maps.
        var source = conversion.HasMaps ? OutputCheck.SourceWithMaps(lake, conversion) : expected;
        var engineCounts = OutputCheck.Count(ChildRun.DataFiles(Output(conversion, ChildRun.Engine)), conversion.FileType, conversion.HasMaps);
        var duckDbCounts = OutputCheck.Count(ChildRun.DataFiles(Output(conversion, ChildRun.DuckDb)), conversion.FileType, conversion.HasMaps);
        measurement.CheckPassed = source.Records == rows && engineCounts == source && duckDbCounts == source;
        measurement.Check = measurement.CheckPassed
            ? $"both {source.Records:N0}" + (source.MapEntries is { } entries ? $" ({entries:N0} map entries)" : "")
            : $"MISMATCH: expected {source}, engine {engineCounts}, DuckDB {duckDbCounts}";
        Console.WriteLine($"   check {conversion.Name}: {measurement.Check}");
        if (options.Stages && rows == options.Rows.Min())
        {
            measurement.Stages = ChildRun.Run(ChildRun.Stages, conversion, lake, Output(conversion, ChildRun.Stages));
            Console.WriteLine($"   stages {conversion.Name}: " + string.Join(", ", measurement.Stages.StageSeconds!.Select(s => $"{s.Key} {s.Value:F2} s")));
            Directory.Delete(Output(conversion, ChildRun.Stages), recursive: true);
        }
    }
    measurements.AddRange(sized);
    // Written after every size too, so a long run that is stopped still leaves the sizes it finished.
    if (options.MarkdownPath is not null) File.WriteAllText(options.MarkdownPath, Report.Markdown(args, started, total.Elapsed, measurements, [], null));

    if (rows != options.UploadSize) continue;
    // The uploads use the engine's Parquet (snappy) files, else its first conversion's.
    var uploadSource = sized.FirstOrDefault(m => m.Conversion.Name == "parquet-parquet-snappy") ?? sized[0];
    uploadSet = Path.Combine(options.WorkFolder, "upload-set");
    if (Directory.Exists(uploadSet)) Directory.Delete(uploadSet, recursive: true);
    Directory.CreateDirectory(uploadSet);
    foreach (var file in ChildRun.DataFiles(Output(uploadSource.Conversion, ChildRun.Engine)))
    {
        File.Copy(file, Path.Combine(uploadSet, Path.GetFileName(file)));
    }
    uploadSetDescription = $"the engine's {uploadSource.Conversion.Name} output of {rows:N0} rows";
}

IReadOnlyList<UploadResult> uploads = [];
if (options.Uploads && uploadSet is not null)
{
    uploads = await UploadBenchmark.RunAsync(options, RepositoryRoot(), uploadSet);
}

if (options.GenerateOnly) return 0;
var markdown = Report.Markdown(args, started, total.Elapsed, measurements, uploads, uploadSetDescription);
Console.WriteLine();
Console.WriteLine(markdown);
if (options.MarkdownPath is not null) File.WriteAllText(options.MarkdownPath, markdown);
return measurements.All(m => m.CheckPassed) && uploads.All(u => !u.Check.Contains("DIFFERS", StringComparison.Ordinal)) ? 0 : 1;

// The repository holds the test servers' recipes (tests/servers); the benchmark runs from its bin folder below it.
static string RepositoryRoot()
{
    for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
    {
        if (File.Exists(Path.Combine(folder.FullName, "DatasetExport.sln"))) return folder.FullName;
    }
    throw new InvalidOperationException($"No DatasetExport.sln above {AppContext.BaseDirectory}: run the benchmark from the repository.");
}
