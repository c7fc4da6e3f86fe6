using System.Collections.Concurrent;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// A dataset whose schema changes over its life (columns added, dropped, reordered, widened, a switch of batch format),
/// followed through real export runs to a Local destination, Full and Incremental, and read back with DuckDB and with the
/// engine's own Parquet reader: every record once, with its values and the dataset's types, nulls where a batch lacked a
/// column, and every part file readable by another reader.
/// </summary>
public sealed partial class SchemaEvolutionTests : IDisposable
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
        string name, FileType fileType, CompressionKind compression, ExportMode mode, bool skipInvalidBatches = false, int maxFileSizeMB = 256,
        bool skipInvalidRecords = false)
    {
        var destination = new DestinationSettings
        {
            Name = name,
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = compression,
            MaxFileSizeMB = maxFileSizeMB,
            Properties = { [LocalFolderDestination.PathProperty] = _root.Combine("out", name) },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: true, default);
        var flow = new FlowRecord
        {
            Name = name, DestinationId = destination.Id, DatasetIds = ["ds"], Mode = mode, SkipInvalidBatches = skipInvalidBatches,
            SkipInvalidRecords = skipInvalidRecords,
        };
        _engine.AddFlow(flow);
        return flow;
    }

    private async Task<RunRecord> RunAsync(FlowRecord flow, int slot, IProgress<ExportProgress>? progress = null) =>
        Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(slot), progress, default));

    /// <summary>The dataset's schema as the lake merges it now.</summary>
    private async Task<DatasetSchema> DatasetSchemaAsync() =>
        (await new FolderLake(Lake).GetDatasetAsync("ds", default)).Schema ?? throw new Xunit.Sdk.XunitException("the dataset is not eligible");

    /// <summary>Every record of the Parquet files, in order, as the engine's own reader reads them as <paramref name="schema"/>.</summary>
    private static async Task<List<Record>> ReadRecordsAsync(IEnumerable<string> files, DatasetSchema schema)
    {
        var records = new List<Record>();
        foreach (var file in files)
        {
            await foreach (var chunk in new ParquetBatchReader().ReadAsync(file, file.EndsWith(".gz", StringComparison.Ordinal), schema, default)) records.AddRange(chunk.Records);
        }
        return records;
    }

    /// <summary>Records the batches whose row groups a run copied still encoded ("Copying " reports), from the engine's threads.</summary>
    private sealed class CopiedBatches : IProgress<ExportProgress>
    {
        private readonly ConcurrentDictionary<string, bool> _copied = new();

        public IReadOnlyList<string> Names => _copied.Keys.Order(StringComparer.Ordinal).ToList();

        public void Report(ExportProgress value)
        {
            if (value.Activity.StartsWith("Copying ", StringComparison.Ordinal)) _copied.TryAdd(value.Activity["Copying ".Length..], true);
        }
    }

    /// <summary>A Parquet batch Parquet.Net writes with REQUIRED columns id (int64) and d (double), ids from <paramref name="firstId"/>.</summary>
    private async Task ParquetNetRequiredAsync(string file, int firstId, int rows)
    {
        var id = new global::Parquet.Schema.DataField("id", typeof(long), isNullable: false);
        var d = new global::Parquet.Schema.DataField("d", typeof(double), isNullable: false);
        await using var stream = File.Create(Batch(file));
        await using var writer = await global::Parquet.ParquetWriter.CreateAsync(new global::Parquet.Schema.ParquetSchema(id, d), stream);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync<long>(id, Enumerable.Range(firstId, rows).Select(i => (long)i).ToArray(), null, null, default);
        await group.WriteAsync<double>(d, Enumerable.Range(firstId, rows).Select(i => i / 4.0).ToArray(), null, null, default);
        group.CompleteValidate();
    }

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

    /// <summary>
    /// Two Parquet batches of 200 rows each (ids 0-199, 200-399) that differ in one way, what the merged dataset holds
    /// for every id (DuckDB SQL over i in range(400)), the conditions comparing our file (o) with it (e), and the batches
    /// whose columns store exactly what our file stores: only those may be copied still encoded.
    /// </summary>
    private async Task<(string Expected, string[] Conditions, string[] Copied)> WriteVariantAsync(string variant)
    {
        const string First = "FROM range(0, 200) r(i)";
        const string Second = "FROM range(200, 400) r(i)";
        switch (variant)
        {
            case "column order":
                Parquet("a.parquet", $"SELECT i AS id, 's' || i AS s, i * 10 AS v {First}");
                Parquet("b.parquet", $"SELECT i * 10 AS v, i AS id, 's' || i AS s {Second}");
                return ("SELECT i AS id, 's' || i AS s, i * 10 AS v FROM range(400) r(i)", ["o.s = e.s", "o.v = e.v"], ["a.parquet"]);
            case "int32 widened to int64":
                Parquet("a.parquet", $"SELECT i AS id, i * 10000000000 AS v {First}");
                Parquet("b.parquet", $"SELECT i AS id, (i * 10)::INTEGER AS v {Second}");
                return ("SELECT i AS id, CASE WHEN i < 200 THEN i * 10000000000 ELSE i * 10 END AS v FROM range(400) r(i)", ["o.v = e.v"], ["a.parquet"]);
            case "timestamp unit and UTC flag":
                // Micros adjusted to UTC are what our files store; micros without the flag hold the same numbers (taken as UTC).
                Parquet("a.parquet", $"SELECT i AS id, TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + to_microseconds(i) AS ts {First}");
                // DuckDB keeps the unit of a constant (arithmetic would make these microseconds): one instant per batch.
                Parquet("b.parquet", "SELECT i AS id, TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS ts FROM range(200, 300) r(i)");
                Parquet("c.parquet", "SELECT i AS id, TIMESTAMP_MS '2024-01-02 03:04:05.123' AS ts FROM range(300, 350) r(i)");
                Parquet("d.parquet", $"SELECT i AS id, TIMESTAMP '2024-01-02 03:04:05.123456' + to_microseconds(i) AS ts FROM range(350, 400) r(i)");
                return ("SELECT i AS id, epoch_us(TIMESTAMP '2024-01-02 03:04:05.123456') + CASE WHEN i < 200 OR i >= 350 THEN i WHEN i < 300 THEN 0 ELSE -456 END AS us " +
                        "FROM range(400) r(i)",
                    ["epoch_us(o.ts) = e.us"], ["a.parquet", "d.parquet"]);
            case "required and optional":
                await ParquetNetRequiredAsync("a.parquet", 0, 200);
                Parquet("b.parquet", $"SELECT i AS id, CASE WHEN i % 7 = 0 THEN NULL ELSE i / 4 END AS d {Second}");
                return ("SELECT i AS id, CASE WHEN i >= 200 AND i % 7 = 0 THEN NULL ELSE i / 4 END AS d FROM range(400) r(i)",
                    ["o.d IS NOT DISTINCT FROM e.d"], ["b.parquet"]);
            case "required in every batch":
                await ParquetNetRequiredAsync("a.parquet", 0, 200);
                await ParquetNetRequiredAsync("b.parquet", 200, 200);
                return ("SELECT i AS id, i / 4 AS d FROM range(400) r(i)", ["o.d = e.d"], ["a.parquet", "b.parquet"]);
            case "struct field added":
                Parquet("a.parquet", $"SELECT i AS id, {{'x': i::INTEGER, 'y': 'y' || i}} AS st {First}");
                Parquet("b.parquet", $"SELECT i AS id, {{'x': i::INTEGER}} AS st {Second}");
                return ("SELECT i AS id, i AS x, CASE WHEN i < 200 THEN 'y' || i END AS y FROM range(400) r(i)",
                    ["o.st.x = e.x", "o.st.y IS NOT DISTINCT FROM e.y"], ["a.parquet"]);
            case "struct fields in another order":
                Parquet("a.parquet", $"SELECT i AS id, {{'x': i::INTEGER, 'y': 'y' || i}} AS st {First}");
                Parquet("b.parquet", $"SELECT i AS id, {{'y': 'y' || i, 'x': i::INTEGER}} AS st {Second}");
                return ("SELECT i AS id, i AS x, 'y' || i AS y FROM range(400) r(i)", ["o.st.x = e.x", "o.st.y = e.y"], ["a.parquet"]);
            case "decimal precision and scale":
                // The merge is decimal(18,6): b's, so b is copied and a's values are stored again at scale 6.
                Parquet("a.parquet", $"SELECT i AS id, (i + 0.125)::DECIMAL(12,3) AS m {First}");
                Parquet("b.parquet", $"SELECT i AS id, (i * 1000000 + 0.000001)::DECIMAL(18,6) AS m {Second}");
                return ("SELECT i AS id, CASE WHEN i < 200 THEN (i + 0.125)::DECIMAL(18,6) ELSE (i * 1000000 + 0.000001)::DECIMAL(18,6) END AS m FROM range(400) r(i)",
                    ["o.m = e.m"], ["b.parquet"]);
            case "list element widened":
                Parquet("a.parquet", $"SELECT i AS id, [i, NULL, i * 10000000000] AS l {First}");
                Parquet("b.parquet", $"SELECT i AS id, CASE WHEN i % 5 = 0 THEN NULL ELSE [i::INTEGER] END AS l {Second}");
                return ("SELECT i AS id, CASE WHEN i < 200 THEN [i, NULL, i * 10000000000] WHEN i % 5 = 0 THEN NULL ELSE [i] END AS l FROM range(400) r(i)",
                    ["CAST(o.l AS VARCHAR) IS NOT DISTINCT FROM CAST(e.l AS VARCHAR)"], ["a.parquet"]);
            case "narrow and unsigned integers":
                // All int32 columns of ours: stored as INT32 with or without a width annotation, so copied.
                Parquet("a.parquet", $"SELECT i AS id, (i * 1000)::INTEGER AS v FROM range(0, 100) r(i)");
                Parquet("b.parquet", $"SELECT i AS id, (i - 150)::TINYINT AS v FROM range(100, 200) r(i)");
                Parquet("c.parquet", $"SELECT i AS id, (i * 100 - 32000)::SMALLINT AS v FROM range(200, 300) r(i)");
                Parquet("d.parquet", $"SELECT i AS id, (i - 100)::UTINYINT AS v FROM range(300, 350) r(i)");
                Parquet("e.parquet", $"SELECT i AS id, ((i - 350) * 700 + 30000)::USMALLINT AS v FROM range(350, 400) r(i)");
                return ("SELECT i AS id, CASE WHEN i < 100 THEN i * 1000 WHEN i < 200 THEN i - 150 WHEN i < 300 THEN i * 100 - 32000 " +
                        "WHEN i < 350 THEN i - 100 ELSE (i - 350) * 700 + 30000 END AS v FROM range(400) r(i)",
                    ["o.v = e.v"], ["a.parquet", "b.parquet", "c.parquet", "d.parquet", "e.parquet"]);
            case "text annotations":
                // Text as STRING, JSON or ENUM is UTF-8 in a byte array either way (copied); a UUID is 16 bytes (decoded to its text).
                _duck.Execute("CREATE TYPE IF NOT EXISTS evolution_mood AS ENUM ('calm', 'busy')");
                Parquet("a.parquet", $"SELECT i AS id, 's' || i AS s FROM range(0, 100) r(i)");
                Parquet("b.parquet", $"SELECT i AS id, ('{{\"n\": ' || i || '}}')::JSON AS s FROM range(100, 200) r(i)");
                Parquet("c.parquet", $"SELECT i AS id, (CASE WHEN i % 2 = 0 THEN 'calm' ELSE 'busy' END)::evolution_mood AS s FROM range(200, 300) r(i)");
                Parquet("d.parquet", $"SELECT i AS id, ('00000000-0000-0000-0000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS s FROM range(300, 400) r(i)");
                return ("SELECT i AS id, CASE WHEN i < 100 THEN 's' || i WHEN i < 200 THEN '{\"n\": ' || i || '}' WHEN i < 300 THEN " +
                        "(CASE WHEN i % 2 = 0 THEN 'calm' ELSE 'busy' END) ELSE '00000000-0000-0000-0000-' || lpad(i::VARCHAR, 12, '0') END AS s FROM range(400) r(i)",
                    ["o.s = e.s"], ["a.parquet", "b.parquet", "c.parquet"]);
            default:
                throw new ArgumentOutOfRangeException(nameof(variant));
        }
    }

    public static TheoryData<string, CompressionKind> Variants()
    {
        var data = new TheoryData<string, CompressionKind>();
        foreach (var variant in new[]
                 {
                     "column order", "int32 widened to int64", "timestamp unit and UTC flag", "required and optional", "required in every batch",
                     "struct field added", "struct fields in another order", "decimal precision and scale", "list element widened",
                     "narrow and unsigned integers", "text annotations",
                 })
        {
            // Snappy keeps the DuckDB batches' pages as they are; Zstd recompresses them.
            data.Add(variant, CompressionKind.Snappy);
            data.Add(variant, CompressionKind.Zstd);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Parquet_batches_differing_from_the_merged_schema_in_one_way_are_copied_only_when_they_match_and_read_back_right(
        string variant, CompressionKind compression)
    {
        var (expected, conditions, copiedBatches) = await WriteVariantAsync(variant);
        var schema = await DatasetSchemaAsync();
        var flow = await AddFlowAsync("parquet", FileType.Parquet, compression, ExportMode.Full);
        var copied = new CopiedBatches();

        var run = Succeeded(await RunAsync(flow, 0, copied));

        Assert.Equal(400, run.RecordsWritten);
        var parts = run.Files.Select(file => file.SinkPath).ToList();
        _duck.AssertSameRows(Relation(parts, FileType.Parquet), $"({expected})", conditions, 400);
        Assert.Equal(copiedBatches, copied.Names);
        // Our own reader reads the file as it reads the batches, record for record, and finds the dataset's schema in it.
        foreach (var part in parts) Assert.Equal(schema, await new ParquetBatchReader().ReadSchemaAsync(part, false, default));
        var batches = Directory.GetFiles(Path.Combine(Lake, "ds")).Order(StringComparer.Ordinal);
        // Our files store microseconds: a nanosecond batch's 100 ns ticks are cut to them on write (docs/formats.md).
        var fromBatches = (await ReadRecordsAsync(batches, schema))
            .Select(record =>
            {
                var cut = new Record();
                foreach (var (name, value) in record) cut[name] = value is DateTime t ? new DateTime(t.Ticks - t.Ticks % 10, DateTimeKind.Utc) : value;
                return cut;
            })
            .ToList();
        RecordAssert.Equal(fromBatches, await ReadRecordsAsync(parts, schema));
    }

    /// <summary>The names of the fields of every line of a JSON Lines part, in order (each line must have the same).</summary>
    private static List<string> JsonFieldNames(string part)
    {
        var names = SampleLake.ReadJsonLines(part)
            .Select(line => string.Join(",", System.Text.Json.JsonDocument.Parse(line).RootElement.EnumerateObject().Select(p => p.Name)))
            .Distinct().ToList();
        return Assert.Single(names).Split(',').ToList();
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.None)]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    [InlineData(FileType.Parquet, CompressionKind.Zstd)]
    public async Task A_dataset_whose_schema_evolves_across_runs_and_formats_arrives_whole_each_run_in_the_schema_merged_then(
        FileType fileType, CompressionKind compression)
    {
        var incremental = await AddFlowAsync("incremental", fileType, compression, ExportMode.Incremental);
        var full = await AddFlowAsync("full", fileType, compression, ExportMode.Full);
        var schemas = new List<DatasetSchema>();
        var incrementalRuns = new List<RunRecord>();
        RunRecord? lastFull = null;
        async Task RunBothAsync(int slot)
        {
            schemas.Add(await DatasetSchemaAsync());
            incrementalRuns.Add(Succeeded(await RunAsync(incremental, slot)));
            lastFull = Succeeded(await RunAsync(full, slot));
        }

        // Day 1: DuckDB Parquet with a column later dropped ('old') and a float.
        Parquet("2026-10-01.parquet", "SELECT i AS id, 'n' || i AS name, i::INTEGER AS v, 'old' || i AS old, (i + 0.5)::FLOAT AS f FROM range(0, 100) r(i)");
        await RunBothAsync(0);
        // Day 2: another writer, columns in another order, 'old' dropped, v and f widened, a column added.
        Parquet("2026-10-02.parquet",
            "SELECT i * 10000000000 AS v, i AS id, i / 4 AS f, 'n' || i AS name, i % 2 = 0 AS added FROM range(100, 200) r(i)", codec: "zstd");
        await RunBothAsync(1);
        // Day 3: the producer switches to JSON Lines, plain and gzipped, with overlapping columns and a new one.
        Json("2026-10-03.jsonl", Enumerable.Range(200, 50).Select(i => $"{{\"id\": {i}, \"v\": {i}, \"name\": \"n{i}\", \"added\": {(i % 2 == 0 ? "true" : "false")}, \"note\": \"note{i}\"}}").ToArray());
        _duck.Execute($"COPY (SELECT i AS id, i AS v, 1.5 AS f, 'n' || i AS name FROM range(250, 300) r(i)) TO {DuckDb.Quote(Batch("2026-10-04.jsonl.gz"))} (FORMAT json, COMPRESSION gzip)");
        await RunBothAsync(2);

        Assert.Equal("id int64, name string, v int32, old string, f float", schemas[0].ToString());
        Assert.Equal("id int64, name string, v int64, old string, f double, added boolean", schemas[1].ToString());
        Assert.Equal("id int64, name string, v int64, old string, f double, added boolean, note string", schemas[2].ToString());
        // Each incremental run writes its new batches in the dataset's schema merged at its time, over every batch in the
        // lake (those exported before too): the dropped column stays, null; earlier runs' files keep their narrower types.
        for (var run = 0; run < 3; run++)
        {
            Assert.Equal(new[] { 100L, 100, 100 }[run], incrementalRuns[run].RecordsWritten);
            foreach (var part in incrementalRuns[run].Files.Select(file => file.SinkPath))
            {
                if (fileType == FileType.Parquet) Assert.Equal(schemas[run], await new ParquetBatchReader().ReadSchemaAsync(part, false, default));
                else Assert.Equal(schemas[run].Fields.Select(field => field.Name), JsonFieldNames(part));
            }
        }
        Assert.Equal(300, lastFull!.RecordsWritten);

        const string expected = """
            (SELECT i AS id, 'n' || i AS name,
               CASE WHEN i >= 100 AND i < 200 THEN i * 10000000000 ELSE i END AS v,
               CASE WHEN i < 100 THEN 'old' || i END AS old,
               CASE WHEN i < 100 THEN i + 0.5 WHEN i < 200 THEN i / 4 WHEN i >= 250 THEN 1.5 END AS f,
               CASE WHEN i >= 100 AND i < 250 THEN i % 2 = 0 END AS added,
               CASE WHEN i >= 200 AND i < 250 THEN 'note' || i END AS note
             FROM range(300) r(i))
            """;
        string[] conditions =
        [
            "o.name = e.name", "o.v = e.v", "o.old IS NOT DISTINCT FROM e.old", "o.f IS NOT DISTINCT FROM e.f",
            "o.added IS NOT DISTINCT FROM e.added", "o.note IS NOT DISTINCT FROM e.note",
        ];
        // Every record once, with its values, nulls where its batch lacked the column: the incremental destination read whole,
        // and the last full run alone.
        var union = fileType == FileType.Parquet
            ? Relation(StoredParts(incremental), fileType)
            : $"read_json([{string.Join(", ", StoredParts(incremental).Select(DuckDb.Quote))}], format = 'newline_delimited', union_by_name = true, hive_partitioning = false)";
        _duck.AssertSameRows(union, expected, conditions, 300);
        Assert.Equal(300, _duck.Count($"SELECT count(DISTINCT id) FROM {union}"));
        var lastParts = lastFull.Files.Select(file => file.SinkPath).ToList();
        _duck.AssertSameRows(Relation(lastParts, fileType), expected, conditions, 300);
        if (fileType == FileType.Parquet)
        {
            Assert.Equal(["BIGINT", "VARCHAR", "BIGINT", "VARCHAR", "DOUBLE", "BOOLEAN", "VARCHAR"], _duck.Describe(Relation(lastParts, fileType)).Values);
            var batches = Directory.GetFiles(Path.Combine(Lake, "ds")).Where(file => file.Contains(".parquet")).Order(StringComparer.Ordinal);
            var ours = await ReadRecordsAsync(lastParts, schemas[2]);
            RecordAssert.Equal(await ReadRecordsAsync(batches, schemas[2]), ours.Take(200).ToList());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_conflict_past_a_new_batchs_schema_sample_fails_or_skips_that_batch_and_leaves_no_part_of_the_run(bool skipInvalidBatches)
    {
        Json("a.jsonl", "{\"id\": 0, \"v\": 0}");
        var flow = await AddFlowAsync("late", FileType.Json, CompressionKind.None, ExportMode.Incremental, skipInvalidBatches, maxFileSizeMB: 1);
        Succeeded(await RunAsync(flow, 0));
        var before = StoredParts(flow);

        // b.jsonl fills and stores a 1 MB part before c.jsonl is read; c's first 4,096 lines (its schema sample) hold numbers,
        // line 4,500 text.
        var padding = new string('x', 60);
        Json("b.jsonl", Enumerable.Range(1, 20_000).Select(i => $"{{\"id\": {i}, \"v\": {i}, \"pad\": \"{padding}\"}}").ToArray());
        Json("c.jsonl", Enumerable.Range(0, 5_000).Select(i => i == 4_499 ? "{\"id\": -1, \"v\": \"late\"}" : $"{{\"id\": {30_000 + i}, \"v\": {i}}}").ToArray());
        var run = await RunAsync(flow, 1);

        if (skipInvalidBatches)
        {
            Succeeded(run);
            var skipped = Assert.Single(run.SkippedBatches);
            Assert.Equal("c.jsonl", skipped.RelativePath);
            Assert.Contains("line 4500", skipped.Problem);
            Assert.Contains("'v'", skipped.Problem);
            Assert.Equal(20_000, run.RecordsWritten);
            // b.jsonl's records once (the parts of the first attempt, before the sample misfit, were removed), none of c's.
            var ids = run.Files.SelectMany(file => SampleLake.Ids(SampleLake.ReadJsonLines(file.SinkPath))).ToList();
            Assert.Equal(Enumerable.Range(1, 20_000).Select(i => (long)i), ids);
            Assert.Equal(before.Length + run.Files.Count, StoredParts(flow).Length);
        }
        else
        {
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains("c.jsonl", run.Error);
            Assert.Contains("line 4500", run.Error);
            Assert.Contains("'v'", run.Error);
            Assert.Empty(run.Files);
            Assert.Equal(before, StoredParts(flow));
            Assert.Equal(["a.jsonl"], _engine.State.GetExportedBatches(flow.Id, "ds").Select(key => key.Split('|')[0]));
        }
    }

    [Fact]
    public async Task A_batch_rewritten_with_another_schema_and_the_same_size_is_exported_with_its_new_schema_by_a_new_process()
    {
        // Settled (written well before the scans), so its schema is kept in the process cache and the state store.
        var path = Batch("a.jsonl");
        File.WriteAllText(path, "{\"id\": 1, \"v\": 12}\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-10));
        var flow = await AddFlowAsync("rewritten", FileType.Parquet, CompressionKind.Snappy, ExportMode.Incremental);
        var first = Succeeded(await RunAsync(flow, 0));
        Assert.Equal("id int64, v int64", Assert.Single(_engine.State.GetBatchSchemas([path], skipInvalidRecords: false)).Schema.ToString());

        // The producer rewrites it: the column renamed, the same number of bytes, a later write time.
        File.WriteAllText(path, "{\"id\": 1, \"w\": 12}\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        _engine.Dispose();
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        var second = Assert.Single(await engine.RunFlowAsync(engine.State.GetFlow(flow.Id)!, Lake, FirstSlot.AddHours(1), null, default));

        Succeeded(second);
        Assert.Equal(1, second.RecordsWritten);
        var part = Assert.Single(second.Files).SinkPath;
        Assert.Equal("id int64, w int64", (await new ParquetBatchReader().ReadSchemaAsync(part, false, default)).ToString());
        Assert.Equal(["1|12"], _duck.Strings($"SELECT id || '|' || w FROM read_parquet({DuckDb.Quote(part)})"));
        Assert.Equal("id int64, w int64", Assert.Single(engine.State.GetBatchSchemas([path], skipInvalidRecords: false)).Schema.ToString());
        Assert.Single(first.Files);
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    [InlineData(FileType.Parquet, CompressionKind.Zstd)]
    public async Task Incremental_a_new_batch_with_its_columns_in_another_order_keeps_the_columns_of_the_files_before(FileType fileType, CompressionKind compression)
    {
        Json("b.jsonl", "{\"id\": 1, \"v\": 10}");
        var flow = await AddFlowAsync("order", fileType, compression, ExportMode.Incremental);
        Succeeded(await RunAsync(flow, 0));

        Json("a.jsonl", "{\"v\": 20, \"w\": \"new\", \"id\": 2}");
        var second = Succeeded(await RunAsync(flow, 1));

        var part = Assert.Single(second.Files).SinkPath;
        Assert.Equal(["id", "v", "w"], _duck.Describe(Relation([part], fileType)).Keys);
        Assert.Equal(["2|20|new"], _duck.Strings($"SELECT id || '|' || v || '|' || w FROM {Relation([part], fileType)}"));
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.None)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task Columns_whose_names_differ_only_in_case_are_two_columns_each_value_in_its_own(FileType fileType, CompressionKind compression)
    {
        Parquet("a.parquet", "SELECT 1::BIGINT AS id, 'x' AS Name");
        Json("b.jsonl", "{\"id\": 2, \"name\": \"y\"}");
        var flow = await AddFlowAsync("case", fileType, compression, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, Name string, name string", (await DatasetSchemaAsync()).ToString());
        // DuckDB folds case: it names the second one name_1.
        var relation = Relation(run.Files.Select(file => file.SinkPath), fileType);
        Assert.Equal(["id", "Name", "name_1"], _duck.Describe(relation).Keys);
        Assert.Equal(["1|x|NULL", "2|NULL|y"], _duck.Strings($"SELECT id || '|' || coalesce(Name, 'NULL') || '|' || coalesce(name_1, 'NULL') FROM {relation} ORDER BY id"));
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task A_json_batch_holding_a_column_only_as_null_or_a_list_only_empty_exports_with_the_batches_that_type_it(
        FileType fileType, CompressionKind compression)
    {
        // The producer made v optional: one batch holds it only as null (before and after the typed ones in path order).
        Json("0.jsonl", "{\"id\": 0, \"v\": null, \"tags\": []}");
        Parquet("a.parquet", "SELECT 1::BIGINT AS id, 0.25::DOUBLE AS v, [7, NULL] AS tags");
        Json("b.jsonl", "{\"id\": 2, \"v\": null, \"tags\": []}", "{\"id\": 3, \"tags\": null}");
        Json("c.jsonl", "{\"id\": 4, \"v\": 1.5, \"tags\": [8]}");
        var flow = await AddFlowAsync("nulls", fileType, compression, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, v double, tags list<int64>", (await DatasetSchemaAsync()).ToString());
        var relation = Relation(run.Files.Select(file => file.SinkPath), fileType);
        Assert.Equal("DOUBLE", _duck.Describe(relation)["v"]);
        Assert.Equal(["0|NULL|[]", "1|0.25|[7, NULL]", "2|NULL|[]", "3|NULL|NULL", "4|1.5|[8]"],
            _duck.Strings($"SELECT id || '|' || coalesce(v::VARCHAR, 'NULL') || '|' || coalesce(tags::VARCHAR, 'NULL') FROM {relation} ORDER BY id"));
    }

    [Fact]
    public async Task Incremental_a_later_json_batch_holding_a_column_only_as_null_is_exported_in_the_columns_type()
    {
        Json("a.jsonl", "{\"id\": 1, \"v\": 10}");
        var flow = await AddFlowAsync("optional", FileType.Parquet, CompressionKind.Zstd, ExportMode.Incremental);
        Succeeded(await RunAsync(flow, 0));

        Json("b.jsonl", "{\"id\": 2, \"v\": null}", "{\"id\": 3}");
        var second = Succeeded(await RunAsync(flow, 1));

        var part = Assert.Single(second.Files).SinkPath;
        Assert.Equal("id int64, v int64", (await new ParquetBatchReader().ReadSchemaAsync(part, false, default)).ToString());
        Assert.Equal(["2|NULL", "3|NULL"], _duck.Strings($"SELECT id || '|' || coalesce(v::VARCHAR, 'NULL') FROM read_parquet({DuckDb.Quote(part)}) ORDER BY id"));
    }

    [Theory]
    [InlineData("7", 0)]
    [InlineData("\"x\"", 1)]
    public async Task A_batch_whose_schema_sample_saw_a_column_only_as_null_is_checked_past_it_against_the_other_batches_kind(string late, int skipped)
    {
        Json("a.jsonl", "{\"id\": 0, \"v\": 10}");
        // b.jsonl's first 4,096 lines (its schema sample) hold v only as null; line 4,500 a number, or text.
        Json("b.jsonl", Enumerable.Range(1, 5_000).Select(i => i == 4_500 ? $"{{\"id\": {i}, \"v\": {late}}}" : $"{{\"id\": {i}, \"v\": null}}").ToArray());
        var flow = await AddFlowAsync("sampled", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full, skipInvalidBatches: true, skipInvalidRecords: true);

        var run = Succeeded(await RunAsync(flow, 0));

        // Text where the other batch holds numbers is a conflict of the batch (found from every line), never a record left out.
        Assert.Equal(skipped, run.BatchesSkipped);
        Assert.Equal(0, run.RecordsSkipped);
        var relation = Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet);
        Assert.Equal("BIGINT", _duck.Describe(relation)["v"]);
        Assert.Equal(skipped == 0 ? 5_001 : 1, _duck.Count($"SELECT count(*) FROM {relation}"));
        Assert.Equal(skipped == 0 ? 17 : 10, _duck.Count($"SELECT sum(v)::BIGINT FROM {relation}"));
        if (skipped == 1) Assert.Contains("Column 'v' is int64 in one schema and string in another", Assert.Single(run.SkippedBatches).Problem);
    }

    /// <summary>
    /// A Parquet batch whose <paramref name="columns"/> are INT32 of logical type UNKNOWN ("always null"), as pyarrow
    /// writes a column of Arrow's null type (a pandas column of only None): DuckDB's INT32 column, its annotation set.
    /// </summary>
    private void ParquetAlwaysNull(string file, string sql, params string[] columns)
    {
        Parquet(file, sql, codec: "uncompressed");
        var bytes = File.ReadAllBytes(Batch(file));
        var footer = ParquetThrift.ReadFooter(bytes, out var footerStart);
        foreach (var element in footer.Schema.Where(candidate => columns.Contains(candidate.Name)))
        {
            element.ConvertedType = null;
            element.LogicalType = new global::Parquet.Meta.LogicalType { UNKNOWN = new global::Parquet.Meta.NullType() };
        }
        using var buffer = new MemoryStream();
        ParquetThrift.Write(footer, buffer);
        using var output = File.Create(Batch(file));
        output.Write(bytes, 0, footerStart);
        output.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
        output.Write(BitConverter.GetBytes((int)buffer.Length));
        output.Write(ParquetThrift.Magic);
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.None)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task A_parquet_column_of_logical_type_unknown_always_null_takes_the_kind_other_batches_give_it(FileType fileType, CompressionKind compression)
    {
        Parquet("a.parquet", "SELECT 1::BIGINT AS id, 'x' AS note, {'city': 'c'} AS geo, 5::INTEGER AS n");
        ParquetAlwaysNull("b.parquet", "SELECT 2::BIGINT AS id, NULL::INTEGER AS note, NULL::INTEGER AS geo, NULL::INTEGER AS n", "note", "geo");
        ParquetAlwaysNull("c.parquet", "SELECT 3::BIGINT AS id, NULL::INTEGER AS geo", "geo");
        Assert.Equal(["2:NULL:NULL:NULL"], _duck.Strings($"SELECT id || ':' || coalesce(note::VARCHAR, 'NULL') || ':' || coalesce(geo::VARCHAR, 'NULL') || ':' || coalesce(n::VARCHAR, 'NULL') FROM read_parquet({DuckDb.Quote(Batch("b.parquet"))})"));
        var flow = await AddFlowAsync("unknown", fileType, compression, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, note string, geo struct<city:string>, n int32", (await DatasetSchemaAsync()).ToString());
        var relation = Relation(run.Files.Select(file => file.SinkPath), fileType);
        Assert.Equal(["1|x|c|5", "2|NULL|NULL|NULL", "3|NULL|NULL|NULL"],
            _duck.Strings($"SELECT id || '|' || coalesce(note, 'NULL') || '|' || coalesce(geo.city, 'NULL') || '|' || coalesce(n::VARCHAR, 'NULL') FROM {relation} ORDER BY id"));
    }

    [Theory]
    [InlineData("a.jsonl", "b.parquet")]
    [InlineData("b.jsonl", "a.parquet")]
    public async Task A_json_field_only_ever_null_beside_a_parquet_column_always_null_is_a_column_of_nulls(string jsonFile, string parquetFile)
    {
        // Was: "Column 'note' is string in one schema and int32 in another": neither batch tells a kind, yet they conflicted.
        Json(jsonFile, "{\"id\": 1, \"note\": null}");
        ParquetAlwaysNull(parquetFile, "SELECT 2::BIGINT AS id, NULL::INTEGER AS note", "note");
        var flow = await AddFlowAsync("nulls", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal(2, run.RecordsWritten);
        var relation = Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet);
        Assert.Equal(["1|NULL", "2|NULL"], _duck.Strings($"SELECT id || '|' || coalesce(note::VARCHAR, 'NULL') FROM {relation} ORDER BY id"));
    }

    [Theory]
    [InlineData("a.parquet", "b.parquet")]
    [InlineData("b.parquet", "a.parquet")]
    public async Task A_parquet_batch_of_no_rows_typed_otherwise_takes_the_kinds_of_the_batches_with_values(string emptyFile, string fullFile)
    {
        // Was: "Column 'v' is string in one schema and int64 in another": a file of no rows (a pandas frame with nothing in
        // it, its columns typed object) failed the dataset, though it holds no value of any kind.
        Parquet(fullFile, "SELECT 1::BIGINT AS id, 7::BIGINT AS v, {'c': 1::INTEGER} AS s");
        Parquet(emptyFile, "SELECT 2::BIGINT AS id, 'x'::VARCHAR AS v, 'y'::VARCHAR AS s, 3.5::DOUBLE AS extra WHERE false");
        var flow = await AddFlowAsync("empty", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal(1, run.RecordsWritten);
        var relation = Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet);
        Assert.Equal("BIGINT", _duck.Describe(relation)["v"]);
        Assert.Equal(["1|7|1|NULL"], _duck.Strings($"SELECT id || '|' || v || '|' || s.c || '|' || coalesce(extra::VARCHAR, 'NULL') FROM {relation}"));
    }
}
