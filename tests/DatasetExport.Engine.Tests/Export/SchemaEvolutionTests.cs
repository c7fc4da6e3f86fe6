using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// A dataset whose schema changes over its life (columns added, dropped, reordered, widened, a switch of batch format),
/// followed through real export runs to a Local destination, Full and Incremental, and read back with DuckDB and with the
/// engine's own Parquet reader: every record once, with its values and the dataset's types, nulls where a batch lacked a
/// column, and every part file readable by another reader.
/// </summary>
public sealed class SchemaEvolutionTests : IDisposable
{
    private static readonly DateTimeOffset FirstSlot = new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _root = new("de-evolution");
    private readonly DuckDb _duck = new();
    private readonly ExportEngine _engine;

    public SchemaEvolutionTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    public void Dispose()
    {
        _engine.Dispose();
        _duck.Dispose();
        _root.Dispose();
    }

    private string Lake => _root.Combine("lake");

    private string Batch(string file)
    {
        var path = Path.Combine(Lake, "ds", file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>A Parquet batch DuckDB writes from <paramref name="sql"/>.</summary>
    private void Parquet(string file, string sql, string codec = "snappy") =>
        _duck.Execute($"COPY ({sql}) TO {DuckDb.Quote(Batch(file))} (FORMAT parquet, COMPRESSION {codec})");

    /// <summary>A JSON Lines batch of the given lines.</summary>
    private void Json(string file, params string[] lines) => File.WriteAllLines(Batch(file), lines);

    private async Task<FlowRecord> AddFlowAsync(
        string name, FileType fileType, CompressionKind compression, ExportMode mode, bool skipInvalidBatches = false)
    {
        var destination = new DestinationSettings
        {
            Name = name,
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = compression,
            Properties = { [LocalFolderDestination.PathProperty] = _root.Combine("out", name) },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: true, default);
        var flow = new FlowRecord
        {
            Name = name, DestinationId = destination.Id, DatasetIds = ["ds"], Mode = mode, SkipInvalidBatches = skipInvalidBatches,
        };
        _engine.AddFlow(flow);
        return flow;
    }

    private async Task<RunRecord> RunAsync(FlowRecord flow, int slot) =>
        Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(slot), null, default));

    private static RunRecord Succeeded(RunRecord run)
    {
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        return run;
    }

    /// <summary>Every part file under the flow's destination folder.</summary>
    private string[] StoredParts(FlowRecord flow) =>
        Directory.Exists(_root.Combine("out", flow.Name))
            ? Directory.GetFiles(_root.Combine("out", flow.Name), "part-*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>A DuckDB relation over <paramref name="files"/> (our part files) without the folder's hive columns.</summary>
    private static string Relation(IEnumerable<string> files, FileType fileType)
    {
        var list = "[" + string.Join(", ", files.Select(DuckDb.Quote)) + "]";
        return fileType == FileType.Parquet
            ? $"read_parquet({list}, union_by_name = true, hive_partitioning = false)"
            : $"read_json({list}, format = 'newline_delimited', hive_partitioning = false)";
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.None)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task Incremental_a_new_batch_that_conflicts_with_batches_exported_before_is_the_one_skipped_whatever_its_path(
        FileType fileType, CompressionKind compression)
    {
        Json("b.jsonl", "{\"id\": 1, \"v\": 10}", "{\"id\": 2, \"v\": 20}");
        var flow = await AddFlowAsync("skip", fileType, compression, ExportMode.Incremental, skipInvalidBatches: true);
        Succeeded(await RunAsync(flow, 0));

        // The producer now writes text where numbers were, in a file whose name sorts before the one exported.
        Json("a.jsonl", "{\"id\": 3, \"v\": \"thirty\"}");
        var second = Succeeded(await RunAsync(flow, 1));

        var skipped = Assert.Single(second.SkippedBatches);
        Assert.Equal("a.jsonl", skipped.RelativePath);
        Assert.Contains("'v'", skipped.Problem);
        Assert.Equal((0L, 0), (second.RecordsWritten, second.Files.Count));
        Assert.Equal(["b.jsonl"], _engine.State.GetExportedBatches(flow.Id, "ds").Select(key => key.Split('|')[0]));
        // The destination holds numbers only, as it did.
        Assert.Equal("BIGINT", _duck.Describe(Relation(StoredParts(flow), fileType))["v"]);
        Assert.Equal(["10", "20"], _duck.Strings($"SELECT v FROM {Relation(StoredParts(flow), fileType)} ORDER BY id"));

        // Still there, it is tried (and left out) again by the next run; the exported one is never reported.
        var third = Succeeded(await RunAsync(flow, 2));
        Assert.Equal("a.jsonl", Assert.Single(third.SkippedBatches).RelativePath);
    }

    [Fact]
    public async Task Incremental_strict_a_run_failing_on_a_new_conflicting_batch_names_that_batch_and_column_and_leaves_earlier_exports()
    {
        Json("b.jsonl", "{\"id\": 1, \"v\": 10}");
        var flow = await AddFlowAsync("strict", FileType.Json, CompressionKind.Gzip, ExportMode.Incremental);
        var first = Succeeded(await RunAsync(flow, 0));
        var firstFiles = StoredParts(flow);
        var firstBytes = firstFiles.Select(File.ReadAllBytes).ToList();

        Json("a.jsonl", "{\"id\": 2, \"v\": \"twenty\"}");
        var second = await RunAsync(flow, 1);

        Assert.Equal(RunStatus.Failed, second.Status);
        Assert.Contains("Batch 'a.jsonl'", second.Error);
        Assert.Contains("Column 'v'", second.Error);
        Assert.DoesNotContain("b.jsonl", second.Error);
        Assert.Empty(second.Files);
        Assert.Equal(firstFiles, StoredParts(flow));
        Assert.Equal(firstBytes, firstFiles.Select(File.ReadAllBytes));
        Assert.Single(_engine.State.GetExportedBatches(flow.Id, "ds"));
        Assert.Single(first.Files);
    }
}
