using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using DuckDB.NET.Data;

namespace DatasetExport.Bench;

/// <summary>What one measured conversion did, reported by the child process that ran it.</summary>
public sealed record ChildResult(
    string Tool,
    string Conversion,
    long Records,
    double Seconds,
    double CpuSeconds,
    long OutputBytes,
    int OutputFiles,
    long PeakWorkingSetBytes,
    long AllocatedBytes,
    int Gen0Collections,
    int Gen2Collections,
    double GcPauseSeconds,
    IReadOnlyDictionary<string, double>? StageSeconds);

/// <summary>
/// Each conversion runs in a child process of the benchmark (the benchmark re-invoked with --child), so the
/// peak working set it reports belongs to that one export and nothing else.
/// </summary>
public static class ChildRun
{
    public const string Engine = "engine";
    public const string DuckDb = "duckdb";
    /// <summary>The engine's pipeline taken apart: lake scan, read, write, hash and copy timed one by one.</summary>
    public const string Stages = "stages";

    private const string ResultPrefix = "BENCH-RESULT ";

    /// <summary>Runs <paramref name="tool"/> on <paramref name="conversion"/> in a child process; outputs go below <paramref name="outputFolder"/>.</summary>
    public static ChildResult Run(string tool, Conversion conversion, string lake, string outputFolder)
    {
        if (Directory.Exists(outputFolder)) Directory.Delete(outputFolder, recursive: true);
        Directory.CreateDirectory(outputFolder);
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet DatasetExport.Bench.dll` the process is the dotnet host: hand it the assembly again.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") start.ArgumentList.Add(typeof(ChildRun).Assembly.Location);
        foreach (var argument in new[] { "--child", tool, conversion.Name, lake, outputFolder }) start.ArgumentList.Add(argument);

        // What the last run left for the kernel to write back (DuckDB does not fsync its output, the engine does) would
        // otherwise be written during this run and slow its own writes: every run starts with nothing dirty.
        if (!OperatingSystem.IsWindows()) Sync();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var resultLine = output.Split('\n').LastOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal));
        if (process.ExitCode != 0 || resultLine is null)
        {
            throw new InvalidOperationException($"The {tool} run of {conversion.Name} failed (exit code {process.ExitCode}); its output:\n{output}");
        }
        return JsonSerializer.Deserialize<ChildResult>(resultLine[ResultPrefix.Length..])!;
    }

    [DllImport("libc", EntryPoint = "sync")]
    private static extern void Sync();

    /// <summary>The child side: <c>--child TOOL CONVERSION LAKE OUTPUT</c>. Prints one result line.</summary>
    public static async Task<int> MainAsync(IReadOnlyList<string> args)
    {
        var (tool, conversion, lake, outputFolder) = (args[0], Conversion.Find(args[1]), args[2], args[3]);
        var result = tool switch
        {
            Engine => await RunEngineAsync(conversion, lake, outputFolder),
            DuckDb => RunDuckDb(conversion, lake, outputFolder),
            Stages => await RunStagesAsync(conversion, lake, outputFolder),
            _ => throw new ArgumentException($"Unknown child tool '{tool}'."),
        };
        Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>The folder below a run's output folder that holds the exported files.</summary>
    public static string FilesFolder(string outputFolder) => Path.Combine(outputFolder, "files");

    /// <summary>The data files a run wrote (the engine's manifest excluded).</summary>
    public static IReadOnlyList<string> DataFiles(string outputFolder) =>
        Directory.EnumerateFiles(FilesFolder(outputFolder), "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith("manifest-", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>What a user of the module does: open the engine, add a Local destination and a flow, run it.</summary>
    private static async Task<ChildResult> RunEngineAsync(Conversion conversion, string lake, string outputFolder)
    {
        var clock = Stopwatch.StartNew();
        RunRecord run;
        using (var engine = ExportEngine.Open(new EngineOptions { StateHome = Path.Combine(outputFolder, "state") }))
        {
            var destination = new DestinationSettings
            {
                Name = "bench-local",
                Type = DestinationType.Local,
                FileType = conversion.FileType,
                Compression = conversion.Compression,
                Properties = { [DestinationKeys.Path] = FilesFolder(outputFolder) },
            };
            await engine.AddDestinationAsync(destination, skipValidation: true, CancellationToken.None);
            var flow = new FlowRecord { Name = "bench-" + conversion.Name, DestinationId = destination.Id, DatasetIds = [conversion.DatasetId] };
            engine.AddFlow(flow);
            run = (await engine.RunFlowAsync(flow, lake, progress: null, CancellationToken.None)).Single();
        }
        clock.Stop();
        if (run.Status != RunStatus.Succeeded) throw new InvalidOperationException($"The engine's run failed: {run.Error}");
        return Result(Engine, conversion, run.RecordsWritten, clock.Elapsed.TotalSeconds, DataFiles(outputFolder), null);
    }

    private static ChildResult RunDuckDb(Conversion conversion, string lake, string outputFolder)
    {
        var clock = Stopwatch.StartNew();
        long records;
        var target = Path.Combine(Directory.CreateDirectory(FilesFolder(outputFolder)).FullName, "out" + conversion.DuckDbExtension);
        using (var connection = new DuckDBConnection("DataSource=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"COPY (SELECT * FROM {conversion.DuckDbSource(lake)}) TO {Sql.Quote(target)} ({conversion.DuckDbCopyOptions})";
            records = command.ExecuteNonQuery();
        }
        clock.Stop();
        return Result(DuckDb, conversion, records, clock.Elapsed.TotalSeconds, DataFiles(outputFolder), null);
    }

    /// <summary>
    /// The export's stages one after the other, each with the engine's own pieces: the lake scan that opens a run,
    /// reading every batch (or, for Parquet batches a Parquet export copies, reading and recompressing their row
    /// groups), reading and writing them into one file, hashing it, and the Local destination's copy into place.
    /// Write time is (read + write) minus read.
    /// </summary>
    private static async Task<ChildResult> RunStagesAsync(Conversion conversion, string lake, string outputFolder)
    {
        var stages = new Dictionary<string, double>();
        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        // As an export's scan: JSON Lines schemas from each batch's first lines, every later line checked as it is read.
        var dataset = await new FolderLake(lake).GetDatasetAsync(conversion.DatasetId, new BatchReadOptions { SampleJsonSchemas = true }, CancellationToken.None);
        var schema = dataset.Schema ?? throw new InvalidOperationException($"Dataset {dataset.Id} is not eligible: {dataset.Reason}");
        stages["scan"] = Lap(clock);

        // As an export does: Parquet batches that qualify are copied still encoded into Parquet files (default part size).
        const long maxFileBytes = 256L << 20;
        long records = 0;
        foreach (var batch in dataset.Batches)
        {
            if (await FormatCatalog.TryCopyRowGroupsAsync(batch, schema, conversion.FileType, conversion.Compression, maxFileBytes, pools: null, CancellationToken.None) is { } copier)
            {
                await foreach (var rowGroup in copier.ReadAsync(CancellationToken.None))
                {
                    using (rowGroup) records += rowGroup.RowCount;
                }
                continue;
            }
            await foreach (var chunk in FormatCatalog.GetReader(batch.Format, null, new RowGroupPools(), dataset.SchemaSamples.GetValueOrDefault(batch.FullPath)).ReadAsync(batch.FullPath, batch.Gzipped, schema, CancellationToken.None))
            {
                records += chunk.RowCount;
                chunk.Release();   // as the export runner does: the reader reuses the memory
            }
        }
        var readSeconds = Lap(clock);
        stages["read"] = readSeconds;

        var staged = Path.Combine(Directory.CreateDirectory(Path.Combine(outputFolder, "staging")).FullName, "part" + FormatCatalog.FileExtension(conversion.FileType, conversion.Compression));
        await using (var stream = new FileStream(staged, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
        {
            await using var writer = FormatCatalog.CreateWriter(stream, schema, conversion.FileType, conversion.Compression, maxFileBytes);
            foreach (var batch in dataset.Batches)
            {
                if (await FormatCatalog.TryCopyRowGroupsAsync(batch, schema, conversion.FileType, conversion.Compression, maxFileBytes, pools: null, CancellationToken.None) is { } copier)
                {
                    await foreach (var rowGroup in copier.ReadAsync(CancellationToken.None))
                    {
                        using (rowGroup) await ((ParquetFileWriter)writer).WriteAsync(rowGroup, CancellationToken.None);
                    }
                    continue;
                }
                await foreach (var chunk in FormatCatalog.GetReader(batch.Format, null, new RowGroupPools(), dataset.SchemaSamples.GetValueOrDefault(batch.FullPath)).ReadAsync(batch.FullPath, batch.Gzipped, schema, CancellationToken.None))
                {
                    await writer.WriteAsync(chunk, CancellationToken.None);
                    chunk.Release();
                }
            }
            await writer.CompleteAsync(CancellationToken.None);
        }
        stages["write"] = Lap(clock) - readSeconds;

        await using (var stream = File.OpenRead(staged)) await SHA256.HashDataAsync(stream);
        stages["sha256"] = Lap(clock);

        var destination = new LocalFolderDestination(new DestinationSettings { Name = "bench-local", Properties = { [DestinationKeys.Path] = FilesFolder(outputFolder) } });
        await destination.UploadFileAsync(staged, Path.GetFileName(staged), CancellationToken.None);
        stages["copy"] = Lap(clock);
        File.Delete(staged);

        return Result(Stages, conversion, records, total.Elapsed.TotalSeconds, DataFiles(outputFolder), stages);
    }

    private static double Lap(Stopwatch clock)
    {
        var seconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        return seconds;
    }

    private static ChildResult Result(string tool, Conversion conversion, long records, double seconds, IReadOnlyList<string> files, Dictionary<string, double>? stages)
    {
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return new ChildResult(
            tool, conversion.Name, records, seconds, self.TotalProcessorTime.TotalSeconds,
            files.Sum(f => new FileInfo(f).Length), files.Count,
            self.PeakWorkingSet64, GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0), GC.CollectionCount(2),
            GC.GetTotalPauseDuration().TotalSeconds, stages);
    }
}
