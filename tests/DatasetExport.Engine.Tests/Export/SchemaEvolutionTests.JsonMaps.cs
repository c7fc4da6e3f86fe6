using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// JSON Lines objects whose keys are data (a key per id) infer <c>map&lt;string, V&gt;</c> (<see cref="JsonSchemaInference.MapMinKeys"/>):
/// exported to Parquet as a MAP column DuckDB reads, and to JSON Lines as objects again; our own JSON Lines export of a
/// Parquet map of many keys reads back.
/// </summary>
public sealed partial class SchemaEvolutionTests
{
    /// <summary>10,000 rows, each with two keys of its own: 20,000 distinct keys.</summary>
    private const string ManyKeyedMap =
        "SELECT i::BIGINT AS id, map(['user-' || i, 'x' || i], [i::INTEGER, -i::INTEGER]) AS m FROM range(0, 10000) r(i)";

    private const string MapRows = "SELECT id || '|' || m::VARCHAR AS row FROM ";

    /// <summary>Two rows, the first with 20,000 keys: a map's keys all in one object, dense as the batch shows them.</summary>
    private const string OneRowOfManyKeys =
        "SELECT 0::BIGINT AS id, map(list('user-' || i ORDER BY i), list(i::INTEGER ORDER BY i)) AS m FROM range(0, 20000) r(i) " +
        "UNION ALL SELECT 1, map(['x'], [1])";

    [Theory]
    [InlineData(ManyKeyedMap, 10_000)]
    [InlineData(OneRowOfManyKeys, 2)]
    public async Task Our_json_lines_export_of_a_map_of_20000_string_keys_reads_back_beside_its_parquet_batch_and_alone(string rows, long rowCount)
    {
        // Was: the JSON batch's objects inferred a struct of a field per key, past the 10,000 fields a batch may infer:
        // "field 'm.x4999' would be field 10001 of the batch", and the dataset failed (one row of them: until an object
        // of many keys became a map rather than pass the limit, however dense).
        Parquet("a.parquet", rows);

        var run = await ExportToJsonLinesAndBackAsync();

        Assert.Equal("id int64, m map<string,int64>", (await DatasetSchemaAsync()).ToString());
        var original = _duck.Strings(MapRows + $"read_parquet({DuckDb.Quote(Batch("a.parquet"))}) ORDER BY id");
        Assert.StartsWith("0|{user-0=0, ", original[0]);
        Assert.Equal(original.SelectMany(row => new[] { row, row }), _duck.Strings(MapRows + Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet) + " ORDER BY id"));

        // The JSON Lines export alone: the map inferred from its objects.
        File.Delete(Batch("a.parquet"));
        Assert.Equal("id int64, m map<string,int64>", (await DatasetSchemaAsync()).ToString());
        var alone = await AddFlowAsync("alone", FileType.Parquet, CompressionKind.Zstd, ExportMode.Full);
        var aloneRun = Succeeded(await RunAsync(alone, 2));
        Assert.Equal(rowCount, aloneRun.RecordsWritten);
        Assert.Equal("MAP(VARCHAR, BIGINT)", _duck.Describe(Relation(aloneRun.Files.Select(file => file.SinkPath), FileType.Parquet))["m"]);
        Assert.Equal(original, _duck.Strings(MapRows + Relation(aloneRun.Files.Select(file => file.SinkPath), FileType.Parquet) + " ORDER BY id"));
    }

    /// <summary>Line i of a.jsonl: an id and a map with a key per user, of values that are objects.</summary>
    private static string UserLine(int i) => $"{{\"id\":{i},\"m\":{{\"u{i}\":{{\"n\":{i},\"at\":\"t{i}\"}},\"u{i + 5000}\":{{\"n\":{-i}}}}}}}";

    [Theory]
    [InlineData(FileType.Parquet, ExportMode.Full, false)]
    [InlineData(FileType.Parquet, ExportMode.Incremental, true)]
    [InlineData(FileType.Json, ExportMode.Full, true)]
    [InlineData(FileType.Json, ExportMode.Incremental, false)]
    public async Task A_json_only_lake_with_an_object_keyed_by_ids_exports_a_map(FileType fileType, ExportMode mode, bool skipInvalidRecords)
    {
        Json("a.jsonl", Enumerable.Range(0, 300).Select(UserLine).ToArray());
        // A later batch with few keys: its object infers a struct, which the map takes as entries.
        Json("b.jsonl", """{"id": 1000, "m": {"u1000": {"n": 1000, "at": "t1000"}}}""", """{"id": 1001, "m": {}}""", """{"id": 1002}""");
        var flow = await AddFlowAsync($"maps-{fileType}-{mode}", fileType, CompressionKind.None, mode, skipInvalidRecords: skipInvalidRecords);
        var expected = Enumerable.Range(0, 300).Select(UserLine)
            .Append("""{"id":1000,"m":{"u1000":{"n":1000,"at":"t1000"}}}""").Append("""{"id":1001,"m":{}}""").Append("""{"id":1002,"m":null}""")
            .ToList();

        var parts = new List<string>();
        if (mode == ExportMode.Incremental)
        {
            File.Move(Batch("b.jsonl"), _root.Combine("b.jsonl"));
            parts.AddRange(Succeeded(await RunAsync(flow, 0)).Files.Select(file => file.SinkPath));
            File.Move(_root.Combine("b.jsonl"), Batch("b.jsonl"));
            var second = Succeeded(await RunAsync(flow, 1));
            Assert.Equal(3L, second.RecordsWritten);
            parts.AddRange(second.Files.Select(file => file.SinkPath));
        }
        else
        {
            var run = Succeeded(await RunAsync(flow, 0));
            Assert.Equal((303L, 0L), (run.RecordsWritten, run.RecordsSkipped));
            parts.AddRange(run.Files.Select(file => file.SinkPath));
        }

        Assert.Equal("id int64, m map<string,struct<n:int64,at:string>>", (await DatasetSchemaAsync()).ToString());
        if (fileType == FileType.Parquet)
        {
            Assert.Equal("MAP(VARCHAR, STRUCT(n BIGINT, \"at\" VARCHAR))", _duck.Describe(Relation(parts, FileType.Parquet))["m"]);
            Assert.Equal(["0|2|0|t0|0|NULL", "299|2|299|t299|-299|NULL", "1000|1|1000|t1000|NULL|NULL", "1001|0|NULL|NULL|NULL|NULL", "1002|NULL|NULL|NULL|NULL|NULL"],
                _duck.Strings("SELECT id || '|' || coalesce(cardinality(m)::VARCHAR, 'NULL') || '|' || coalesce(m['u' || id].n::VARCHAR, 'NULL') || '|' || coalesce(m['u' || id].at, 'NULL')"
                    + " || '|' || coalesce(m['u' || (id + 5000)].n::VARCHAR, 'NULL') || '|' || coalesce(m['u' || (id + 5000)].at, 'NULL') FROM "
                    + Relation(parts, FileType.Parquet) + " WHERE id IN (0, 299, 1000, 1001, 1002) ORDER BY id"));
            return;
        }
        // JSON Lines: each line's object back as it was (a missing value written null), in id order.
        var lines = parts.SelectMany(File.ReadAllLines).Select(line => JsonDocument.Parse(line).RootElement)
            .OrderBy(line => line.GetProperty("id").GetInt64()).Select(line => line.GetRawText()).ToList();
        Assert.Equal(expected.Select(Canonical), lines.Select(Canonical));
    }

    /// <summary>The JSON with the null fields of objects left out (our writer writes every field of a struct).</summary>
    private static string Canonical(string json)
    {
        static object? Plain(JsonElement element) => element.ValueKind switch
        {
            JsonValueKind.Object => element.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null || p.Name == "m")
                .ToDictionary(p => p.Name, p => Plain(p.Value)),
            JsonValueKind.Null => null,
            _ => element.GetRawText(),
        };
        return JsonSerializer.Serialize(Plain(JsonDocument.Parse(json).RootElement));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_value_in_an_inferred_map_that_does_not_convert_to_a_parquet_maps_value_kind_names_its_key(bool skipInvalidRecords)
    {
        // The JSON batch's m is a map<string,string> (a key per id), the Parquet batch's a map<string,date>: the declared
        // map, whose values the JSON strings convert to; one that is no date does not fit, named by its key.
        Parquet("a.parquet", "SELECT 1::BIGINT AS id, map(['k'], [DATE '2024-01-02']) AS m");
        Json("b.jsonl", Enumerable.Range(2, 300).Select(i => i == 150
            ? $"{{\"id\":{i},\"m\":{{\"u{i}\":\"2024-01-0x\"}}}}"
            : $"{{\"id\":{i},\"m\":{{\"u{i}\":\"2024-01-03\"}}}}").ToArray());
        var flow = await AddFlowAsync("dates", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full, skipInvalidRecords: skipInvalidRecords);

        var run = await RunAsync(flow, 0);

        Assert.Equal("id int64, m map<string,date>", (await DatasetSchemaAsync()).ToString());
        if (!skipInvalidRecords)
        {
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains("b.jsonl (line 149): field 'm[\"u150\"]' is date in the dataset schema but this line holds a string, not a date yyyy-MM-dd", run.Error);
            Assert.Empty(StoredParts(flow));
            return;
        }
        Succeeded(run);
        Assert.Equal((300L, 1L), (run.RecordsWritten, run.RecordsSkipped));
        Assert.Equal(["1|2024-01-02", "2|2024-01-03", "149|2024-01-03", "151|2024-01-03"],
            _duck.Strings($"SELECT id || '|' || coalesce(m['k'], m['u' || id])::VARCHAR FROM {Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet)} WHERE id IN (1, 2, 149, 150, 151) ORDER BY id"));
    }

    [Fact]
    public async Task An_object_that_becomes_a_map_only_after_the_schema_sample_exports_as_one()
    {
        // The first 5,000 lines cycle through 50 keys (the sample of 4,096 lines sees a struct of 50 fields); the next 5,000
        // each add a key of their own. Line 5,001 does not fit the sample's struct: the export infers the batch from every
        // line, which gives a map.
        Json("a.jsonl", Enumerable.Range(0, 10_000).Select(i => $"{{\"id\":{i},\"m\":{{\"{(i < 5000 ? $"k{i % 50}" : $"u{i}")}\":{i}}}}}").ToArray());
        var flow = await AddFlowAsync("late", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, m map<string,int64>", (await DatasetSchemaAsync()).ToString());
        var relation = Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet);
        Assert.Equal("MAP(VARCHAR, BIGINT)", _duck.Describe(relation)["m"]);
        Assert.Equal(["0|{k0=0}", "4999|{k49=4999}", "5000|{u5000=5000}", "9999|{u9999=9999}"],
            _duck.Strings(MapRows + relation + " WHERE id IN (0, 4999, 5000, 9999) ORDER BY id"));
        Assert.Equal(10_000L, _duck.Count($"SELECT sum(cardinality(m))::BIGINT FROM {relation}"));
    }

    [Fact]
    public async Task An_object_the_schema_sample_judges_a_map_that_every_line_judges_a_struct_exports_as_every_line_judges_it()
    {
        // The sample's 4,096 lines hold one key each of 201 (sparse: a map); the 2,000 after it all 201 keys (dense over the
        // batch: a struct). Was: no later line misfitted (no new key, no other kind), so the run wrote a MAP column where
        // the batch's schema (and a state home that knew it, or the lines in another order) gave a STRUCT.
        var sampleLines = JsonLinesBatchReader.SchemaSampleLines;
        Json("a.jsonl", Enumerable.Range(0, sampleLines).Select(i => $"{{\"id\":{i},\"m\":{{\"k{i % 201}\":{i}}}}}")
            .Concat(Enumerable.Range(sampleLines, 2000).Select(i => $"{{\"id\":{i},\"m\":{{" + string.Join(',', Enumerable.Range(0, 201).Select(k => $"\"k{k}\":{k}")) + "}}"))
            .ToArray());
        var flow = await AddFlowAsync("judged", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal(FieldKind.Struct, (await DatasetSchemaAsync()).Fields[1].Kind);
        var relation = Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet);
        Assert.StartsWith("STRUCT(k0 BIGINT, k1 BIGINT", _duck.Describe(relation)["m"]);
        Assert.Equal((sampleLines + 2000L, 0L), (run.RecordsWritten, run.RecordsSkipped));
        Assert.Equal(sampleLines + 2000L, _duck.Count($"SELECT count(DISTINCT id) FROM {relation}"));
        Assert.Equal(["0|0|NULL", "4096|0|200"], _duck.Strings($"SELECT id || '|' || coalesce(m.k0::VARCHAR, 'NULL') || '|' || coalesce(m.k200::VARCHAR, 'NULL') FROM {relation} WHERE id IN (0, 4096) ORDER BY id"));
    }

    [Fact]
    public async Task Incremental_a_column_that_turns_from_a_struct_into_a_map_between_runs_keeps_each_runs_files_and_reads_back_by_name()
    {
        // Run 1: a.jsonl's m has one key (a struct). Run 2: b.jsonl's m a key per id (a map), which takes a.jsonl's struct
        // over in the dataset schema; run 1's file keeps its struct, run 2's has the map, and DuckDB reads both by name.
        Json("a.jsonl", Enumerable.Range(0, 3).Select(i => $"{{\"id\":{i},\"m\":{{\"k1\":{i}}}}}").ToArray());
        var flow = await AddFlowAsync("turns", FileType.Parquet, CompressionKind.Snappy, ExportMode.Incremental);
        var first = Succeeded(await RunAsync(flow, 0));
        Assert.Equal("STRUCT(k1 BIGINT)", _duck.Describe(Relation(first.Files.Select(file => file.SinkPath), FileType.Parquet))["m"]);

        Json("b.jsonl", Enumerable.Range(3, 300).Select(i => $"{{\"id\":{i},\"m\":{{\"u{i}\":{i}}}}}").ToArray());
        var second = Succeeded(await RunAsync(flow, 1));

        Assert.Equal("id int64, m map<string,int64>", (await DatasetSchemaAsync()).ToString());
        Assert.Equal(300L, second.RecordsWritten);
        Assert.Equal("MAP(VARCHAR, BIGINT)", _duck.Describe(Relation(second.Files.Select(file => file.SinkPath), FileType.Parquet))["m"]);
        var all = Relation(first.Files.Concat(second.Files).Select(file => file.SinkPath), FileType.Parquet);
        Assert.Equal(["0|{k1=0}", "2|{k1=2}", "3|{u3=3}", "302|{u302=302}"], _duck.Strings(MapRows + all + " WHERE id IN (0, 2, 3, 302) ORDER BY id"));
        Assert.Equal(303L, _duck.Count($"SELECT count(DISTINCT id) FROM {all}"));
    }
}
