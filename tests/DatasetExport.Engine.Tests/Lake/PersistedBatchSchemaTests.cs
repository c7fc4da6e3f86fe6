using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.Lake;

/// <summary>
/// A lake opened with the state store keeps the batch schemas it read there, so a scan in a new process (a lake with a
/// fresh in-process cache) does not parse an unchanged batch again. As in <see cref="BatchSchemaCacheTests"/>, a hit is
/// seen by rewriting a file behind the store with the same size and last-write time.
/// </summary>
public sealed class PersistedBatchSchemaTests : IDisposable
{
    private readonly TempFolder _lake = new("de-kept-schemas");
    private readonly TempFolder _home = new("de-kept-schemas-state");
    private readonly IStateStore _store;

    public PersistedBatchSchemaTests() => _store = SqliteStateStore.Open(_home.Path);

    public void Dispose()
    {
        _store.Dispose();
        _home.Dispose();
        _lake.Dispose();
    }

    private string WriteBatch(string name, string text) => BatchSchemaCacheTests.WriteSettledBatch(_lake, name, text);

    private static void RewriteKeepingTime(string path, string text) => BatchSchemaCacheTests.RewriteKeepingTime(path, text);

    /// <summary>A scan as a new process makes it: nothing in memory, only what the store kept.</summary>
    private async Task<DatasetInfo> ScanInNewProcessAsync(bool skipInvalidRecords = false, IBatchSchemaStore? store = null) =>
        await new FolderLake(_lake.Path, store ?? _store, new BatchSchemaCache(100)).GetDatasetAsync("web", new BatchReadOptions(skipInvalidRecords), default);

    [Fact]
    public async Task A_new_process_takes_an_unchanged_batch_schema_and_count_from_the_store()
    {
        var path = WriteBatch("a.jsonl", "{\"a\":1,\"geo\":{\"city\":\"x\",\"tags\":[\"t\"]}}\n{\"a\":2}\n");
        var first = await ScanInNewProcessAsync();
        Assert.Equal("a int64, geo struct<city:string,tags:list<string>>", first.Schema!.ToString());

        RewriteKeepingTime(path, "{\"b\":1,\"geo\":{\"city\":\"y\",\"tags\":[\"t\"]}}\n{\"b\":2}\n");
        var second = await ScanInNewProcessAsync();

        Assert.Equal(first.Schema, second.Schema);
        Assert.Equal(first.RecordCount, second.RecordCount);
        // Without the store, the same new process reads the file.
        Assert.Equal("b int64, geo struct<city:string,tags:list<string>>",
            (await new FolderLake(_lake.Path, null, new BatchSchemaCache(100)).GetDatasetAsync("web", default)).Schema!.ToString());
    }

    [Fact]
    public async Task A_schema_nested_forty_levels_deep_is_taken_from_the_store_too()
    {
        // JSON lines may nest 64 levels; the stored schema JSON nests two levels per field level.
        static string Nested(string field) => "{\"" + field + "\":" + string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 41) + "\n";
        var path = WriteBatch("a.jsonl", Nested("x"));
        var first = await ScanInNewProcessAsync();
        Assert.StartsWith("x struct<a:struct<", first.Schema!.ToString());

        RewriteKeepingTime(path, Nested("y"));
        var second = await ScanInNewProcessAsync();

        Assert.Equal(first.Schema, second.Schema);
    }

    [Fact]
    public void The_engine_keeps_what_its_lake_scans_read_in_its_state_store()
    {
        var path = WriteBatch("a.jsonl", "{\"a\":1}\n");
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _home.Combine("engine") });

        Assert.Single(engine.GetDatasets(_lake.Path, includeIneligible: false, default));

        Assert.Equal("a int64", Assert.Single(engine.State.GetBatchSchemas([path], skipInvalidRecords: false)).Schema.ToString());
    }

    [Fact]
    public async Task A_batch_with_another_size_or_write_time_is_read_again_and_kept_anew()
    {
        var path = WriteBatch("a.jsonl", "{\"a\":1}\n");
        await ScanInNewProcessAsync();

        RewriteKeepingTime(path, "{\"a\":1.5}\n");
        Assert.Equal("a double", (await ScanInNewProcessAsync()).Schema!.ToString());

        RewriteKeepingTime(path, "{\"a\":\"x\"}\n");
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(1));
        Assert.Equal("a string", (await ScanInNewProcessAsync()).Schema!.ToString());

        var kept = Assert.Single(_store.GetBatchSchemas([path], skipInvalidRecords: false));
        Assert.Equal("a string", kept.Schema.ToString());
        Assert.Equal(new FileInfo(path).Length, kept.SizeBytes);
    }

    [Fact]
    public async Task A_scan_writes_only_what_it_had_to_read()
    {
        WriteBatch("a.jsonl", "{\"a\":1}\n");
        var counting = new SaveCountingStore(_store);
        await ScanInNewProcessAsync(store: counting);
        Assert.Equal([1], counting.Saves);

        await ScanInNewProcessAsync(store: counting);
        Assert.Equal([1], counting.Saves);

        WriteBatch("b.jsonl", "{\"b\":1}\n");
        await ScanInNewProcessAsync(store: counting);
        Assert.Equal([1, 1], counting.Saves);
    }

    [Fact]
    public async Task A_batch_written_just_before_its_read_is_not_kept()
    {
        var path = WriteBatch("a.jsonl", "{\"a\":1}\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow);

        await ScanInNewProcessAsync();

        Assert.Empty(_store.GetBatchSchemas([path], skipInvalidRecords: false));
    }

    [Fact]
    public async Task A_strict_read_serves_a_lenient_scan_but_a_lenient_read_not_a_strict_one()
    {
        var path = WriteBatch("a.jsonl", "{\"a\":1}\nnot json\n");
        Assert.NotNull((await ScanInNewProcessAsync()).Reason);
        Assert.Equal("a int64", (await ScanInNewProcessAsync(skipInvalidRecords: true)).Schema!.ToString());
        Assert.Empty(_store.GetBatchSchemas([path], skipInvalidRecords: false));

        var clean = WriteBatch("b.jsonl", "{\"b\":1}\n");
        File.Delete(path);
        await ScanInNewProcessAsync();
        RewriteKeepingTime(clean, "{\"c\":1}\n");
        Assert.Equal("b int64", (await ScanInNewProcessAsync(skipInvalidRecords: true)).Schema!.ToString());
    }

    [Fact]
    public void Schemas_of_every_kind_round_trip_through_the_store_and_unreadable_entries_are_misses()
    {
        var schema = new DatasetSchema([
            new SchemaField("id", FieldKind.String, Nullable: false),
            new SchemaField("price", FieldKind.Decimal, Precision: 18, Scale: 2),
            new SchemaField("when", FieldKind.Timestamp),
            new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)]),
            new SchemaField("attributes", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]),
            new SchemaField("geo", FieldKind.Struct, Children: [new SchemaField("lat", FieldKind.Double), new SchemaField("day", FieldKind.Date), new SchemaField("at", FieldKind.Time)]),
        ]);
        var written = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1234567);
        var paths = Enumerable.Range(0, 1200).Select(i => $"/lake/web/{i}.jsonl").ToList();
        _store.SaveBatchSchemas(paths.Select((path, i) => new KnownBatchSchema(path, false, 42, written, schema, i % 2 == 0 ? null : i)).ToList());

        var kept = _store.GetBatchSchemas(paths, skipInvalidRecords: false);

        Assert.Equal(1200, kept.Count);
        Assert.All(kept, entry =>
        {
            Assert.Equal(schema, entry.Schema);
            Assert.Equal(written, entry.LastWriteUtc);
            var index = paths.IndexOf(entry.FullPath);
            Assert.Equal(index % 2 == 0 ? null : index, entry.RecordCount);
        });

        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}"))
        {
            connection.Open();
            using var damage = connection.CreateCommand();
            damage.CommandText = "UPDATE batch_schemas SET schema_json = '[{\"name\":\"a\",\"kind\":\"Quantum\"}]' WHERE full_path = '/lake/web/0.jsonl'";
            Assert.Equal(1, damage.ExecuteNonQuery());
        }
        Assert.Empty(_store.GetBatchSchemas(["/lake/web/0.jsonl"], skipInvalidRecords: false));
        Assert.Single(_store.GetBatchSchemas(["/lake/web/1.jsonl"], skipInvalidRecords: false));
    }

    [Fact]
    public void A_field_only_ever_null_is_kept_as_such_and_an_entry_kept_before_that_was_told_is_read_again()
    {
        var written = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var schema = new DatasetSchema(
        [
            new SchemaField("note", FieldKind.String) { OnlyNulls = true },
            new SchemaField("name", FieldKind.String),
            new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String) { OnlyNulls = true }]),
            new SchemaField("unknown", FieldKind.Int32) { OnlyNulls = true },
            new SchemaField("day", FieldKind.Date) { OnlyNulls = true },
            new SchemaField("count", FieldKind.Int64),
        ]);
        _store.SaveBatchSchemas([new KnownBatchSchema("/lake/web/0.jsonl", false, 42, written, schema, 1), new KnownBatchSchema("/lake/web/1.jsonl", false, 42, written, schema, 1)]);

        var kept = Assert.Single(_store.GetBatchSchemas(["/lake/web/0.jsonl"], skipInvalidRecords: false)).Schema;
        Assert.Equal([true, false], kept.Fields.Take(2).Select(field => field.OnlyNulls));
        Assert.True(kept.Fields[2].ChildFields[0].OnlyNulls);
        Assert.Equal([true, true, false], kept.Fields.Skip(3).Select(field => field.OnlyNulls));

        // As kept before: a nullable string with no word on its nulls, which only a read of the file can give.
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}"))
        {
            connection.Open();
            using var old = connection.CreateCommand();
            old.CommandText = "UPDATE batch_schemas SET schema_json = '[{\"name\":\"note\",\"kind\":\"String\",\"nullable\":true}]' WHERE full_path = '/lake/web/0.jsonl'";
            Assert.Equal(1, old.ExecuteNonQuery());
        }
        Assert.Empty(_store.GetBatchSchemas(["/lake/web/0.jsonl"], skipInvalidRecords: false));
        Assert.Single(_store.GetBatchSchemas(["/lake/web/1.jsonl"], skipInvalidRecords: false));
    }

    [Fact]
    public async Task A_store_that_fails_costs_the_scan_its_time_not_its_result()
    {
        WriteBatch("a.jsonl", "{\"a\":1}\n");

        var dataset = await ScanInNewProcessAsync(store: new FailingStore());

        Assert.Equal("a int64", dataset.Schema!.ToString());
    }

    /// <summary>The store, counting the entries of each save.</summary>
    private sealed class SaveCountingStore(IBatchSchemaStore inner) : IBatchSchemaStore
    {
        public List<int> Saves { get; } = [];

        public IReadOnlyList<KnownBatchSchema> GetBatchSchemas(IReadOnlyCollection<string> fullPaths, bool skipInvalidRecords) =>
            inner.GetBatchSchemas(fullPaths, skipInvalidRecords);

        public void SaveBatchSchemas(IReadOnlyCollection<KnownBatchSchema> schemas)
        {
            Saves.Add(schemas.Count);
            inner.SaveBatchSchemas(schemas);
        }
    }

    private sealed class FailingStore : IBatchSchemaStore
    {
        public IReadOnlyList<KnownBatchSchema> GetBatchSchemas(IReadOnlyCollection<string> fullPaths, bool skipInvalidRecords) =>
            throw new StateException(StateFailure.Unusable, "The state file is locked.");

        public void SaveBatchSchemas(IReadOnlyCollection<KnownBatchSchema> schemas) =>
            throw new StateException(StateFailure.Unusable, "The state file is locked.");
    }

    [Fact]
    public async Task A_json_batch_kept_in_the_store_still_takes_a_parquet_batchs_types_in_a_new_process()
    {
        var json = WriteBatch("a.jsonl", "{\"ts\":\"2024-01-02T03:04:05Z\",\"m\":{\"k\":1.5}}\n");
        Assert.Equal("ts string, m struct<k:double>", (await ScanInNewProcessAsync()).Schema!.ToString());
        var parquet = _lake.Combine("web", "b.parquet");
        using (var duck = new Tests.Formats.DuckDb())
        {
            duck.Execute($"COPY (SELECT TIMESTAMPTZ '2024-01-02 03:04:05+00' AS ts, MAP {{'k': 2.5::DECIMAL(10,2)}} AS m) TO {Tests.Formats.DuckDb.Quote(parquet)} (FORMAT parquet)");
        }
        File.SetLastWriteTimeUtc(parquet, DateTime.UtcNow.AddMinutes(-1));
        // Rewritten behind the store: what the new process merges is the schema kept there, JSON-inferred fields and all.
        RewriteKeepingTime(json, "{\"tX\":\"2024-01-02T03:04:05Z\",\"m\":{\"k\":1.5}}\n");

        var merged = await ScanInNewProcessAsync();

        Assert.Equal("ts timestamp, m map<string,decimal(10,2)>", merged.Schema?.ToString());
        var kept = Assert.Single(_store.GetBatchSchemas([json], skipInvalidRecords: false)).Schema;
        Assert.True(kept.Fields.All(field => field.JsonInferred) && kept.Fields[1].ChildFields.All(field => field.JsonInferred));

        // An entry kept before fields said so is a miss: its batch is read again (now with tX) and merges. Was: it read as
        // declared kinds, which conflicted until the file changed or the entry expired (30 days).
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}"))
        {
            connection.Open();
            using var old = connection.CreateCommand();
            old.CommandText = "UPDATE batch_schemas SET schema_json = replace(schema_json, ',\"jsonInferred\":true', '') WHERE full_path = $path";
            old.Parameters.AddWithValue("$path", json);
            Assert.Equal(1, old.ExecuteNonQuery());
        }
        var reread = await ScanInNewProcessAsync();
        Assert.Equal("tX string, m map<string,decimal(10,2)>, ts timestamp", reread.Schema?.ToString());
    }

    [Fact]
    public async Task A_json_batch_of_integers_kept_before_fields_said_so_is_read_again_and_its_numbers_take_a_parquet_decimal()
    {
        // A batch of integers only: kept before fields said whether JSON inference gave them, its int64 read as declared, so
        // merged with another JSON batch's numbers with a fraction it made a declared double, which conflicted with the
        // Parquet decimal until the file changed or the entry expired (30 days). Read again, the numbers take the decimal
        // (widened for the integers).
        var ints = WriteBatch("a.jsonl", "{\"m\":5}\n");
        Assert.Equal("m int64", (await ScanInNewProcessAsync()).Schema!.ToString());
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}"))
        {
            connection.Open();
            using var old = connection.CreateCommand();
            old.CommandText = "UPDATE batch_schemas SET schema_json = replace(schema_json, ',\"jsonInferred\":true', '') WHERE full_path = $path";
            old.Parameters.AddWithValue("$path", ints);
            Assert.Equal(1, old.ExecuteNonQuery());
        }
        WriteBatch("b.jsonl", "{\"m\":1.5}\n");
        var parquet = _lake.Combine("web", "c.parquet");
        using (var duck = new Tests.Formats.DuckDb())
        {
            duck.Execute($"COPY (SELECT 2.5::DECIMAL(10,2) AS m) TO {Tests.Formats.DuckDb.Quote(parquet)} (FORMAT parquet)");
        }
        File.SetLastWriteTimeUtc(parquet, DateTime.UtcNow.AddMinutes(-1));

        var merged = await ScanInNewProcessAsync();

        Assert.True(merged.Schema is not null, merged.Reason);
        Assert.Equal("m decimal(21,2)", merged.Schema.ToString());
        Assert.True(Assert.Single(_store.GetBatchSchemas([ints], skipInvalidRecords: false)).Schema.Fields[0].JsonInferred);
    }

    [Fact]
    public async Task A_parquet_batch_of_no_rows_is_kept_as_declared_and_merged_as_only_nulls_by_its_record_count()
    {
        Directory.CreateDirectory(_lake.Combine("web"));
        var empty = _lake.Combine("web", "a.parquet");
        var full = _lake.Combine("web", "b.parquet");
        using (var duck = new Tests.Formats.DuckDb())
        {
            duck.Execute($"COPY (SELECT 'x'::VARCHAR AS v WHERE false) TO {Tests.Formats.DuckDb.Quote(empty)} (FORMAT parquet)");
            duck.Execute($"COPY (SELECT 7::BIGINT AS v) TO {Tests.Formats.DuckDb.Quote(full)} (FORMAT parquet)");
        }
        foreach (var file in new[] { empty, full }) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-1));
        Assert.Equal("v int64", (await ScanInNewProcessAsync()).Schema?.ToString());

        // The store keeps the file's own schema (a plain string, as an entry kept before this rule) with its count of no rows:
        // a new process takes it from there and merges it as only nulls.
        var kept = Assert.Single(_store.GetBatchSchemas([empty], skipInvalidRecords: false));
        Assert.Equal((FieldKind.String, false, (long?)0), (kept.Schema.Fields[0].Kind, kept.Schema.Fields[0].OnlyNulls, kept.RecordCount));
        Assert.Equal("v int64", (await ScanInNewProcessAsync()).Schema?.ToString());
    }

    [Fact]
    public async Task A_batch_schema_kept_by_the_rules_before_maps_were_inferred_is_read_again()
    {
        // 300 lines, a key per id in m: a map by the rules of now; a struct of 300 fields by the rules before.
        var lines = string.Concat(Enumerable.Range(0, 300).Select(i => $"{{\"id\":{i},\"m\":{{\"u{i}\":{i}}}}}\n"));
        var path = WriteBatch("a.jsonl", lines);
        Assert.Equal("id int64, m map<string,int64>", (await ScanInNewProcessAsync()).Schema!.ToString());
        var kept = Assert.Single(_store.GetBatchSchemas([path], skipInvalidRecords: false)).Schema;
        Assert.Equal("id int64, m map<string,int64>", kept.ToString());

        // What a state home of before holds for the batch: the JSON-inferred fields as an array, naming no rules.
        var oldRules = "[{\"name\":\"id\",\"kind\":\"Int64\",\"nullable\":false,\"jsonInferred\":true},"
            + "{\"name\":\"m\",\"kind\":\"Struct\",\"nullable\":false,\"jsonInferred\":true,\"children\":["
            + string.Join(',', Enumerable.Range(0, 300).Select(i => $"{{\"name\":\"u{i}\",\"kind\":\"Int64\",\"nullable\":true,\"jsonInferred\":true}}"))
            + "]}]";
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}"))
        {
            connection.Open();
            using var old = connection.CreateCommand();
            old.CommandText = "UPDATE batch_schemas SET schema_json = $json WHERE full_path = $path";
            old.Parameters.AddWithValue("$json", oldRules);
            old.Parameters.AddWithValue("$path", path);
            Assert.Equal(1, old.ExecuteNonQuery());
        }
        Assert.Empty(_store.GetBatchSchemas([path], skipInvalidRecords: false));

        // A fresh state home and this one give the batch the same schema: the old entry is a miss, the file read again.
        var reread = await ScanInNewProcessAsync();

        Assert.Equal("id int64, m map<string,int64>", reread.Schema!.ToString());
        Assert.Equal("id int64, m map<string,int64>", Assert.Single(_store.GetBatchSchemas([path], skipInvalidRecords: false)).Schema.ToString());
    }

    [Fact]
    public async Task A_batch_schema_kept_by_rules_2_where_a_line_left_out_disproved_a_map_is_read_again()
    {
        // 300 lines, a key per id in m, and a line of invalid JSON (left out with SkipInvalidRecords) whose value is a
        // string: a map by the rules of now; a struct of 300 fields by rules 2, where the line's value disproved the map.
        var lines = string.Concat(Enumerable.Range(0, 300).Select(i => $"{{\"id\":{i},\"m\":{{\"u{i}\":{i}}}}}\n")) + "{\"id\":1,\"m\":{\"u5\":\"x\"}\n";
        var path = WriteBatch("a.jsonl", lines);
        Assert.Equal("id int64, m map<string,int64>", (await ScanInNewProcessAsync(skipInvalidRecords: true)).Schema!.ToString());

        var rules2 = "{\"jsonInference\":2,\"fields\":[{\"name\":\"id\",\"kind\":\"Int64\",\"nullable\":false,\"jsonInferred\":true},"
            + "{\"name\":\"m\",\"kind\":\"Struct\",\"nullable\":false,\"jsonInferred\":true,\"children\":["
            + string.Join(',', Enumerable.Range(0, 300).Select(i => $"{{\"name\":\"u{i}\",\"kind\":\"Int64\",\"nullable\":true,\"jsonInferred\":true}}"))
            + "]}]}";
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}"))
        {
            connection.Open();
            using var old = connection.CreateCommand();
            old.CommandText = "UPDATE batch_schemas SET schema_json = $json WHERE full_path = $path";
            old.Parameters.AddWithValue("$json", rules2);
            old.Parameters.AddWithValue("$path", path);
            Assert.Equal(1, old.ExecuteNonQuery());
        }

        // Was: the entry of rules 2 read back, and this state home kept the batch a struct where a fresh one infers a map.
        Assert.Empty(_store.GetBatchSchemas([path], skipInvalidRecords: true));
        Assert.Equal("id int64, m map<string,int64>", (await ScanInNewProcessAsync(skipInvalidRecords: true)).Schema!.ToString());
    }

    [Fact]
    public async Task A_parquet_batch_schema_is_kept_as_before_and_a_json_one_with_the_version_of_the_inference_rules()
    {
        var json = WriteBatch("a.jsonl", "{\"a\":1}\n");
        var parquet = _lake.Combine("web", "b.parquet");
        using (var duck = new Tests.Formats.DuckDb())
        {
            duck.Execute($"COPY (SELECT 1::INTEGER AS a) TO {Tests.Formats.DuckDb.Quote(parquet)} (FORMAT parquet)");
        }
        File.SetLastWriteTimeUtc(parquet, DateTime.UtcNow.AddMinutes(-1));
        await ScanInNewProcessAsync();

        using var connection = new SqliteConnection($"Data Source={Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName)}");
        connection.Open();
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT full_path, schema_json FROM batch_schemas ORDER BY full_path";
        using var rows = read.ExecuteReader();
        Assert.True(rows.Read());
        Assert.Equal((json, $"{{\"jsonInference\":{JsonSchemaInference.RulesVersion},\"fields\":[{{\"name\":\"a\",\"kind\":\"Int64\",\"nullable\":false,\"jsonInferred\":true}}]}}"), (rows.GetString(0), rows.GetString(1)));
        Assert.True(rows.Read());
        Assert.Equal(parquet, rows.GetString(0));
        Assert.StartsWith("[{\"name\":\"a\",\"kind\":\"Int32\"", rows.GetString(1));
    }
}
