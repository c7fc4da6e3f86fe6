using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// A producer that switches a dataset between Parquet and JSON Lines: the JSON batches' strings, numbers and objects take
/// the Parquet batches' timestamp, date, time, binary, decimal and map columns, each value converted exactly.
/// </summary>
public sealed partial class SchemaEvolutionTests
{
    private const string TypedColumns = "id int64, ts timestamp, d date, t time, b binary, m decimal(12,3), mp map<string,date>";

    /// <summary>Rows 1-3, DuckDB's Parquet: a column of every kind JSON has no type for.</summary>
    private void TypedParquet(string file, int first = 1, int last = 3) => Parquet(file,
        "SELECT i::BIGINT AS id, TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + to_microseconds(i) AS ts, DATE '2024-02-27' + i::INTEGER AS d, " +
        "TIME '12:00:00' + to_microseconds(i) AS t, unhex(printf('%02x', i) || 'ff00') AS b, (i + 0.125)::DECIMAL(12,3) AS m, " +
        $"map(['k' || i], [DATE '2024-01-01' + i::INTEGER]) AS mp FROM range({first}, {last + 1}) r(i)");

    /// <summary>Rows 4-10 as a producer writes them in JSON: our own writer's text, and the ISO-8601 forms others write.</summary>
    private static readonly string[] TypedJsonLines =
    [
        """{"id": 4, "ts": "2024-01-02T03:04:05.123456Z", "d": "2024-02-29", "t": "23:59:59.999999", "b": "AAEC/w==", "m": 1.5, "mp": {"x": "2024-03-01", "y": null}}""",
        """{"id": 5, "ts": "2024-01-02T05:04:05.1234567+02:00", "d": "0001-01-01", "t": "24:00:00", "b": "", "m": -0.001, "mp": {}}""",
        """{"id": 6, "ts": "2024-01-02 03:04:05", "d": null, "t": "00:00:00.5", "b": null, "m": 123456789.125, "mp": null}""",
        """{"id": 7, "ts": "2024-01-01T23:04:05.987654321-04:00", "t": "07:08", "b": "/w==", "m": 1.25e2}""",
        """{"id": 8, "ts": null, "m": 0.12500, "mp": {"z": "2024-12-31"}}""",
        """{"id": 9, "ts": "2024-01-02t03:04z", "d": "2024-01-31", "t": "00:00:00", "b": "AA==", "m": -7}""",
        """{"id": 10, "ts": "2024-01-02T01:34:05.5-0130", "m": 0.0}""",
    ];

    private static readonly DateTime TypedBase = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    /// <summary>What rows 1-10 hold, as the engine's records; timestamps with their 100 ns ticks (a Parquet file cuts them to µs).</summary>
    private static List<Record> TypedRecords(bool microseconds)
    {
        DateTime Ts(long ticks)
        {
            var value = TypedBase.AddTicks(ticks);
            return microseconds ? new DateTime(value.Ticks - value.Ticks % 10, DateTimeKind.Utc) : value;
        }
        static List<KeyValuePair<object, object?>> Map(params (string Key, DateOnly? Value)[] entries) =>
            entries.Select(entry => new KeyValuePair<object, object?>(entry.Key, entry.Value)).ToList();
        static Record Row(long id, object? ts, object? d, object? t, object? b, object? m, object? mp) =>
            new() { ["id"] = id, ["ts"] = ts, ["d"] = d, ["t"] = t, ["b"] = b, ["m"] = m, ["mp"] = mp };
        var records = Enumerable.Range(1, 3).Select(i => Row(i, Ts(1_234_560 + i * 10), new DateOnly(2024, 2, 27).AddDays(i),
            new TimeSpan(12, 0, 0) + TimeSpan.FromMicroseconds(i), new byte[] { (byte)i, 0xFF, 0x00 }, i + 0.125m,
            Map(("k" + i, new DateOnly(2024, 1, 1).AddDays(i))))).ToList();
        records.Add(Row(4, Ts(1_234_560), new DateOnly(2024, 2, 29), new TimeSpan(0, 23, 59, 59, 999, 999), new byte[] { 0, 1, 2, 255 }, 1.5m,
            Map(("x", new DateOnly(2024, 3, 1)), ("y", null))));
        records.Add(Row(5, Ts(1_234_567), new DateOnly(1, 1, 1), TimeSpan.FromDays(1), Array.Empty<byte>(), -0.001m, Map()));
        records.Add(Row(6, Ts(0), null, TimeSpan.FromMilliseconds(500), null, 123456789.125m, null));
        records.Add(Row(7, Ts(9_876_543), null, new TimeSpan(7, 8, 0), new byte[] { 255 }, 125m, null));
        records.Add(Row(8, null, null, null, null, 0.125m, Map(("z", new DateOnly(2024, 12, 31)))));
        records.Add(Row(9, Ts(-5 * TimeSpan.TicksPerSecond), new DateOnly(2024, 1, 31), TimeSpan.Zero, new byte[] { 0 }, -7m, null));
        records.Add(Row(10, Ts(5_000_000), null, null, null, 0m, null));
        return records;
    }

    /// <summary>
    /// Rows 1-10 as DuckDB reads our files: Parquet typed (timestamps as epoch µs, binaries in hex, decimals at their
    /// scale), JSON Lines as the text our writer wrote.
    /// </summary>
    private static readonly string[] TypedParquetRows =
    [
        "1|1704164645123457|2024-02-28|12:00:00.000001|01FF00|1.125|{k1=2024-01-02}",
        "2|1704164645123458|2024-02-29|12:00:00.000002|02FF00|2.125|{k2=2024-01-03}",
        "3|1704164645123459|2024-03-01|12:00:00.000003|03FF00|3.125|{k3=2024-01-04}",
        "4|1704164645123456|2024-02-29|23:59:59.999999|000102FF|1.500|{x=2024-03-01, y=NULL}",
        "5|1704164645123456|0001-01-01|24:00:00||-0.001|{}",
        "6|1704164645000000|NULL|00:00:00.5|NULL|123456789.125|NULL",
        "7|1704164645987654|NULL|07:08:00|FF|125.000|NULL",
        "8|NULL|NULL|NULL|NULL|0.125|{z=2024-12-31}",
        "9|1704164640000000|2024-01-31|00:00:00|00|-7.000|NULL",
        "10|1704164645500000|NULL|NULL|NULL|0.000|NULL",
    ];

    private static readonly string[] TypedJsonRows =
    [
        "1|2024-01-02T03:04:05.123457Z|2024-02-28|12:00:00.000001|Af8A|1.125|{\"k1\":\"2024-01-02\"}",
        "2|2024-01-02T03:04:05.123458Z|2024-02-29|12:00:00.000002|Av8A|2.125|{\"k2\":\"2024-01-03\"}",
        "3|2024-01-02T03:04:05.123459Z|2024-03-01|12:00:00.000003|A/8A|3.125|{\"k3\":\"2024-01-04\"}",
        "4|2024-01-02T03:04:05.123456Z|2024-02-29|23:59:59.999999|AAEC/w==|1.5|{\"x\":\"2024-03-01\",\"y\":null}",
        "5|2024-01-02T03:04:05.1234567Z|0001-01-01|24:00:00||-0.001|{}",
        "6|2024-01-02T03:04:05Z|NULL|00:00:00.5|NULL|123456789.125|NULL",
        "7|2024-01-02T03:04:05.9876543Z|NULL|07:08:00|/w==|125|NULL",
        "8|NULL|NULL|NULL|NULL|0.125|{\"z\":\"2024-12-31\"}",
        "9|2024-01-02T03:04:00Z|2024-01-31|00:00:00|AA==|-7|NULL",
        "10|2024-01-02T03:04:05.5Z|NULL|NULL|NULL|0.0|NULL",
    ];

    /// <summary>Our part files as DuckDB reads them, one line per row in id order (see <see cref="TypedParquetRows"/>).</summary>
    private List<string?> TypedRows(IEnumerable<string> parts, FileType fileType)
    {
        var list = "[" + string.Join(", ", parts.Select(DuckDb.Quote)) + "]";
        if (fileType == FileType.Parquet)
        {
            return _duck.Strings(
                "SELECT id || '|' || coalesce(epoch_us(ts)::VARCHAR, 'NULL') || '|' || coalesce(d::VARCHAR, 'NULL') || '|' || coalesce(t::VARCHAR, 'NULL') " +
                "|| '|' || coalesce(hex(b), 'NULL') || '|' || coalesce(m::VARCHAR, 'NULL') || '|' || coalesce(mp::VARCHAR, 'NULL') " +
                $"FROM read_parquet({list}, union_by_name = true, hive_partitioning = false) ORDER BY id");
        }
        return _duck.Strings(
            "SELECT id || '|' || coalesce(ts, 'NULL') || '|' || coalesce(d, 'NULL') || '|' || coalesce(t, 'NULL') || '|' || coalesce(b, 'NULL') " +
            "|| '|' || coalesce(m::VARCHAR, 'NULL') || '|' || coalesce(mp::VARCHAR, 'NULL') " +
            $"FROM read_json({list}, format = 'newline_delimited', hive_partitioning = false, columns = " +
            "{id: 'BIGINT', ts: 'VARCHAR', d: 'VARCHAR', t: 'VARCHAR', b: 'VARCHAR', m: 'JSON', mp: 'JSON'}) ORDER BY id");
    }

    /// <summary>Every record of our part files as the engine reads them as <paramref name="schema"/>, in id order.</summary>
    private static async Task<List<Record>> ReadPartsAsync(IEnumerable<string> parts, FileType fileType, DatasetSchema schema)
    {
        var records = new List<Record>();
        foreach (var part in parts)
        {
            IBatchReader reader = fileType == FileType.Parquet ? new ParquetBatchReader() : new JsonLinesBatchReader();
            records.AddRange(await RecordAssert.ReadAllAsync(reader, part, part.EndsWith(".gz", StringComparison.Ordinal), schema));
        }
        return records.OrderBy(record => (long)record["id"]!).ToList();
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Snappy, false)]
    [InlineData(FileType.Parquet, CompressionKind.Zstd, true)]
    [InlineData(FileType.Json, CompressionKind.None, false)]
    [InlineData(FileType.Json, CompressionKind.Gzip, true)]
    public async Task A_json_batch_with_a_parquet_batch_takes_its_timestamp_date_time_binary_decimal_and_map_columns_values_exact(
        FileType fileType, CompressionKind compression, bool jsonFirst)
    {
        // In path order the JSON batch comes first, or the Parquet one: the merge takes the Parquet kinds either way.
        TypedParquet(jsonFirst ? "b.parquet" : "a.parquet");
        Json(jsonFirst ? "a.jsonl" : "b.jsonl", TypedJsonLines);
        var flow = await AddFlowAsync("switch", fileType, compression, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        var schema = await DatasetSchemaAsync();
        Assert.Equal(TypedColumns, schema.ToString());
        Assert.Equal(10, run.RecordsWritten);
        var parts = run.Files.Select(file => file.SinkPath).ToList();
        Assert.Equal(fileType == FileType.Parquet ? TypedParquetRows : TypedJsonRows, TypedRows(parts, fileType));
        RecordAssert.Equal(TypedRecords(microseconds: fileType == FileType.Parquet), await ReadPartsAsync(parts, fileType, schema));
        if (fileType == FileType.Parquet)
        {
            foreach (var part in parts) Assert.Equal(schema, await new ParquetBatchReader().ReadSchemaAsync(part, false, default));
        }
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Snappy, false)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy, true)]
    [InlineData(FileType.Json, CompressionKind.Gzip, false)]
    [InlineData(FileType.Json, CompressionKind.Gzip, true)]
    public async Task Incremental_the_run_after_the_producer_switches_format_keeps_the_parquet_types(FileType fileType, CompressionKind compression, bool jsonFirst)
    {
        var flow = await AddFlowAsync("switch", fileType, compression, ExportMode.Incremental);
        if (jsonFirst) Json("2026-10-01.jsonl", TypedJsonLines);
        else TypedParquet("2026-10-01.parquet");
        Succeeded(await RunAsync(flow, 0));

        // The producer switches; the batches exported before are merged first.
        if (jsonFirst) TypedParquet("2026-10-02.parquet");
        else Json("2026-10-02.jsonl", TypedJsonLines);
        var second = Succeeded(await RunAsync(flow, 1));

        var schema = await DatasetSchemaAsync();
        Assert.Equal(TypedColumns, schema.ToString());
        var parts = second.Files.Select(file => file.SinkPath).ToList();
        var expected = TypedRecords(microseconds: fileType == FileType.Parquet);
        RecordAssert.Equal(jsonFirst ? expected[..3] : expected[3..], await ReadPartsAsync(parts, fileType, schema));
        var rows = fileType == FileType.Parquet ? TypedParquetRows : TypedJsonRows;
        Assert.Equal(jsonFirst ? rows[..3] : rows[3..], TypedRows(parts, fileType));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_json_value_that_does_not_convert_to_the_parquet_kind_fails_the_run_or_is_skipped_and_counted(bool skipInvalidRecords)
    {
        TypedParquet("a.parquet");
        Json("b.jsonl",
            """{"id": 4, "ts": "2024-01-02T03:04:05Z", "m": 1.5}""",
            """{"id": 5, "ts": "01/02/2024 03:04:05", "m": 1.5}""",
            """{"id": 6, "m": 1.0005}""",
            """{"id": 7, "m": 1234567890.5}""",
            """{"id": 8, "b": "not base64"}""",
            """{"id": 9, "d": "2024-02-30"}""",
            """{"id": 10, "t": "3:04 PM"}""",
            """{"id": 11, "mp": {"k": "2024-1-2"}}""",
            """{"id": 12, "ts": "2024-01-02T03:04:05+02:00", "m": 1e-3}""");
        var flow = await AddFlowAsync("bad", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full, skipInvalidRecords: skipInvalidRecords);

        var run = await RunAsync(flow, 0);

        if (!skipInvalidRecords)
        {
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains("b.jsonl", run.Error);
            Assert.Contains("line 2", run.Error);
            Assert.Contains("field 'ts' is timestamp in the dataset schema but this line holds a string, not an ISO-8601 timestamp", run.Error);
            Assert.Empty(StoredParts(flow));
            return;
        }
        Succeeded(run);
        Assert.Equal((5L, 7L), (run.RecordsWritten, run.RecordsSkipped));
        var part = Assert.Single(run.Files).SinkPath;
        Assert.Equal(["1|1704164645123457|1.125", "2|1704164645123458|2.125", "3|1704164645123459|3.125", "4|1704164645000000|1.500", "12|1704157445000000|0.001"],
            _duck.Strings($"SELECT id || '|' || coalesce(epoch_us(ts)::VARCHAR, 'NULL') || '|' || m FROM read_parquet({DuckDb.Quote(part)}) ORDER BY id"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_bad_value_message_names_file_line_field_and_value_kind(bool inMap)
    {
        TypedParquet("a.parquet");
        Json("b.jsonl", """{"id": 4}""", inMap ? """{"id": 5, "mp": {"k": "tomorrow"}}""" : """{"id": 5, "m": 1.0005}""");
        var flow = await AddFlowAsync("bad", FileType.Json, CompressionKind.None, ExportMode.Full);

        var run = await RunAsync(flow, 0);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("b.jsonl", run.Error);
        Assert.Contains("line 2", run.Error);
        Assert.Contains(inMap
            ? "field 'mp[\"k\"]' is date in the dataset schema but this line holds a string, not a date yyyy-MM-dd"
            : "field 'm' is decimal(12,3) in the dataset schema but this line holds a number (1.0005), which it does not hold exactly", run.Error);
    }

    [Fact]
    public async Task A_parquet_string_column_still_conflicts_with_a_parquet_timestamp_column_json_strings_or_not()
    {
        Parquet("a.parquet", "SELECT 1::BIGINT AS id, TIMESTAMPTZ '2024-01-02 03:04:05+00' AS ts");
        Parquet("b.parquet", "SELECT 2::BIGINT AS id, '2024-01-02T03:04:05Z' AS ts");
        Json("c.jsonl", """{"id": 3, "ts": "2024-01-02T03:04:05Z"}""");
        var flow = await AddFlowAsync("declared", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full, skipInvalidBatches: true);

        var run = Succeeded(await RunAsync(flow, 0));

        // No guessing between two declared types: the Parquet string batch is the one left out; the JSON one is read as timestamps.
        var skipped = Assert.Single(run.SkippedBatches);
        Assert.Equal("b.parquet", skipped.RelativePath);
        Assert.Contains("Column 'ts' is timestamp in one schema and string in another", skipped.Problem);
        Assert.Equal(["1|1704164645000000", "3|1704164645000000"],
            _duck.Strings($"SELECT id || '|' || epoch_us(ts) FROM {Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet)} ORDER BY id"));
    }

    [Theory]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Zstd)]
    public async Task A_parquet_batch_storing_what_our_file_stores_is_still_copied_next_to_json_batches_and_others_are_decoded(CompressionKind compression)
    {
        // a: DuckDB's TIMESTAMPTZ (µs, UTC-adjusted), DATE, BLOB, DECIMAL(12,3) on INT64 and MAP: what our writer stores.
        Parquet("a.parquet",
            "SELECT i::BIGINT AS id, TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + to_microseconds(i) AS ts, DATE '2024-02-27' + i::INTEGER AS d, " +
            "unhex(printf('%02x', i) || 'ff00') AS b, (i + 0.125)::DECIMAL(12,3) AS m, map(['k' || i], [DATE '2024-01-01' + i::INTEGER]) AS mp " +
            "FROM range(1, 4) r(i)");
        Json("b.jsonl",
            """{"id": 4, "ts": "2024-01-02T03:04:05.123456Z", "d": "2024-02-29", "b": "AAEC/w==", "m": 1.5, "mp": {"x": "2024-03-01", "y": null}}""",
            """{"id": 5, "ts": null, "d": null, "b": null, "m": null, "mp": null}""");
        // c: milliseconds, which our files do not store: decoded (and stored as µs).
        Parquet("c.parquet",
            "SELECT 6::BIGINT AS id, TIMESTAMP_MS '2024-01-02 03:04:05.123' AS ts, DATE '2024-03-02' AS d, unhex('ab') AS b, 6.5::DECIMAL(12,3) AS m, " +
            "map(['k6'], [DATE '2024-01-07']) AS mp");
        var flow = await AddFlowAsync("copy", FileType.Parquet, compression, ExportMode.Full);
        var copied = new CopiedBatches();

        var run = Succeeded(await RunAsync(flow, 0, copied));

        Assert.Equal("id int64, ts timestamp, d date, b binary, m decimal(12,3), mp map<string,date>", (await DatasetSchemaAsync()).ToString());
        Assert.Equal(["a.parquet"], copied.Names);
        Assert.Equal(
        [
            "1|1704164645123457|2024-02-28|01FF00|1.125|{k1=2024-01-02}",
            "2|1704164645123458|2024-02-29|02FF00|2.125|{k2=2024-01-03}",
            "3|1704164645123459|2024-03-01|03FF00|3.125|{k3=2024-01-04}",
            "4|1704164645123456|2024-02-29|000102FF|1.500|{x=2024-03-01, y=NULL}",
            "5|NULL|NULL|NULL|NULL|NULL",
            "6|1704164645123000|2024-03-02|AB|6.500|{k6=2024-01-07}",
        ], _duck.Strings(
            "SELECT id || '|' || coalesce(epoch_us(ts)::VARCHAR, 'NULL') || '|' || coalesce(d::VARCHAR, 'NULL') || '|' || coalesce(hex(b), 'NULL') " +
            "|| '|' || coalesce(m::VARCHAR, 'NULL') || '|' || coalesce(mp::VARCHAR, 'NULL') " +
            $"FROM {Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet)} ORDER BY id"));
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Zstd)]
    [InlineData(FileType.Json, CompressionKind.None)]
    public async Task DuckDBs_own_json_export_of_the_same_rows_reads_as_its_parquet_does(FileType fileType, CompressionKind compression)
    {
        // One producer, two formats: DuckDB writes TIMESTAMPTZ as "2024-01-02 03:04:05.123456+00", TIME as "03:04:05.25",
        // decimals as numbers (1.5), maps as objects.
        const string Rows = "SELECT i::BIGINT AS id, TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + to_microseconds(i * 1000001) AS ts, " +
            "DATE '2024-01-01' + i::INTEGER AS d, TIME '00:00:00' + to_microseconds(i * 60000250) AS t, (i * 7 + 0.5)::DECIMAL(12,3) AS m, " +
            "CASE WHEN i % 3 = 0 THEN NULL ELSE map(['k' || i, 'z'], [DATE '2024-01-01' - i::INTEGER, NULL]) END AS mp FROM range({0}, {1}) r(i)";
        Parquet("a.parquet", string.Format(System.Globalization.CultureInfo.InvariantCulture, Rows, 0, 100));
        _duck.Execute($"COPY ({string.Format(System.Globalization.CultureInfo.InvariantCulture, Rows, 100, 200)}) TO {DuckDb.Quote(Batch("b.jsonl"))} (FORMAT json)");
        var flow = await AddFlowAsync("duck", fileType, compression, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, ts timestamp, d date, t time, m decimal(12,3), mp map<string,date>", (await DatasetSchemaAsync()).ToString());
        var parts = run.Files.Select(file => file.SinkPath).ToList();
        var list = "[" + string.Join(", ", parts.Select(DuckDb.Quote)) + "]";
        var ours = fileType == FileType.Parquet
            ? $"read_parquet({list})"
            : $"read_json({list}, format = 'newline_delimited', columns = {{id: 'BIGINT', ts: 'TIMESTAMPTZ', d: 'DATE', t: 'TIME', m: 'DECIMAL(12,3)', mp: 'MAP(VARCHAR, DATE)'}})";
        _duck.AssertSameRows(ours, $"({string.Format(System.Globalization.CultureInfo.InvariantCulture, Rows, 0, 200)})",
            ["o.ts = e.ts", "o.d = e.d", "o.t = e.t", "o.m = e.m", "o.mp IS NOT DISTINCT FROM e.mp"], 200);
    }

    [Fact]
    public async Task Our_json_lines_export_read_back_into_the_lake_beside_its_parquet_batch_gives_the_same_records()
    {
        TypedParquet("a.parquet");

        var run = await ExportToJsonLinesAndBackAsync();

        var schema = await DatasetSchemaAsync();
        Assert.Equal("id int64, ts timestamp, d date, t time, b binary, m decimal(12,3), mp map<string,date>", schema.ToString());
        var records = await ReadRecordsAsync(run.Files.Select(file => file.SinkPath), schema);
        Assert.Equal(6, records.Count);
        RecordAssert.Equal(records[..3], records[3..]);
        RecordAssert.Equal(TypedRecords(microseconds: true)[..3], records[..3]);
    }

    /// <summary>
    /// Exports the lake's Parquet batch to JSON Lines (gzip), puts that file back beside it as batch b.jsonl.gz, then exports
    /// both to Parquet (snappy): the run of that, Succeeded.
    /// </summary>
    private async Task<RunRecord> ExportToJsonLinesAndBackAsync()
    {
        var toJson = await AddFlowAsync("to-json", FileType.Json, CompressionKind.Gzip, ExportMode.Full);
        var exported = Assert.Single(Succeeded(await RunAsync(toJson, 0)).Files).SinkPath;
        File.Copy(exported, Batch("b.jsonl.gz"));
        var toParquet = await AddFlowAsync("to-parquet", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);
        return Succeeded(await RunAsync(toParquet, 1));
    }

    /// <summary>DuckDB's Parquet of maps whose keys are no strings: int32, date, timestamp, decimal and UBIGINT (decimal(20,0)) keys.</summary>
    private const string KeyedMaps =
        "SELECT i::BIGINT AS id, map([i::INTEGER, -i::INTEGER], ['a' || i, NULL]) AS mi, map([DATE '2024-01-01' + i::INTEGER], [i * 1.5]) AS md, " +
        "map([TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + to_microseconds(i)], [i]) AS mts, map([(i + 0.125)::DECIMAL(12,3)], [true]) AS mdec, " +
        "map([18446744073709551615::UBIGINT - i::UBIGINT], ['u']) AS mu FROM range(1, 4) r(i)";

    private const string KeyedMapRows =
        "SELECT id || '|' || mi::VARCHAR || '|' || md::VARCHAR || '|' || mts::VARCHAR || '|' || mdec::VARCHAR || '|' || mu::VARCHAR AS row FROM ";

    [Fact]
    public async Task Our_json_lines_export_of_maps_keyed_by_integers_dates_timestamps_and_decimals_reads_back_beside_its_parquet_batch()
    {
        // Was: the JSON batch's objects ({"1": "a1", "-1": null}) inferred structs, which took only a map of string keys:
        // "Column 'mi' is struct<...> in one schema and map<int32,string> in another", and the dataset failed.
        Parquet("a.parquet", KeyedMaps);

        var run = await ExportToJsonLinesAndBackAsync();

        var schema = await DatasetSchemaAsync();
        Assert.Equal("id int64, mi map<int32,string>, md map<date,decimal(21,1)>, mts map<timestamp,int64>, mdec map<decimal(12,3),boolean>, mu map<decimal(20,0),string>",
            schema.ToString());
        var original = _duck.Strings(KeyedMapRows + $"read_parquet({DuckDb.Quote(Batch("a.parquet"))}) ORDER BY id");
        Assert.Equal("1|{1=a1, -1=NULL}|{2024-01-02=1.5}|{'2024-01-02 03:04:05.123457+00'=1}|{1.125=true}|{18446744073709551614=u}", original[0]);
        // Each row twice, from the Parquet batch and from our JSON Lines export of it, as DuckDB reads our Parquet file.
        Assert.Equal(original.SelectMany(row => new[] { row, row }), _duck.Strings(KeyedMapRows + Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet) + " ORDER BY id"));
        var records = await ReadRecordsAsync(run.Files.Select(file => file.SinkPath), schema);
        Assert.Equal(6, records.Count);
        RecordAssert.Equal(records[..3], records[3..]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_json_object_key_that_is_not_the_parquet_maps_key_kind_fails_the_run_or_is_skipped_and_counted(bool skipInvalidRecords)
    {
        Parquet("a.parquet", "SELECT 1::BIGINT AS id, map([1::INTEGER], ['one']) AS mi, map([DATE '2024-01-02'], [1]) AS md");
        Json("b.jsonl",
            """{"id": 2, "mi": {"2": "two", "-2": null}, "md": {"2024-01-03": 2}}""",
            """{"id": 3, "mi": {"3": "three", "x": "ex"}}""",
            """{"id": 4, "md": {"2024-02-30": 4}}""",
            """{"id": 5, "mi": {}}""");
        var flow = await AddFlowAsync("keys", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full, skipInvalidRecords: skipInvalidRecords);

        var run = await RunAsync(flow, 0);

        Assert.Equal("id int64, mi map<int32,string>, md map<date,int64>", (await DatasetSchemaAsync()).ToString());
        if (!skipInvalidRecords)
        {
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains("b.jsonl (line 2): map field 'mi' has int32 keys in the dataset schema but this line has key \"x\", not an integer within int32.", run.Error);
            Assert.Empty(StoredParts(flow));
            return;
        }
        Succeeded(run);
        Assert.Equal((3L, 2L), (run.RecordsWritten, run.RecordsSkipped));
        Assert.Equal(["1|{1=one}|{2024-01-02=1}", "2|{2=two, -2=NULL}|{2024-01-03=2}", "5|{}|NULL"],
            _duck.Strings($"SELECT id || '|' || coalesce(mi::VARCHAR, 'NULL') || '|' || coalesce(md::VARCHAR, 'NULL') FROM {Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet)} ORDER BY id"));
    }

    [Theory]
    [InlineData("a.jsonl", "b.jsonl", "c.parquet")]
    [InlineData("b.jsonl", "c.jsonl", "a.parquet")]
    public async Task Json_batches_of_integers_and_of_fractions_beside_a_parquet_decimal_export_whichever_comes_first(string integers, string fractions, string parquet)
    {
        // Was, with both JSON batches first in path order: the run failed, "a.jsonl (line 1): field 'm' is decimal(12,3) ...
        // holds a number (12345678901), which it does not hold exactly"; with the Parquet batch first it succeeded.
        Json(integers, """{"id": 1, "m": 12345678901}""");
        Json(fractions, """{"id": 2, "m": 1.5}""");
        Parquet(parquet, "SELECT 3::BIGINT AS id, 2.5::DECIMAL(12,3) AS m");
        var flow = await AddFlowAsync("numbers", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, m decimal(22,3)", (await DatasetSchemaAsync()).ToString());
        Assert.Equal(["1|12345678901.000", "2|1.500", "3|2.500"],
            _duck.Strings($"SELECT id || '|' || m FROM {Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet)} ORDER BY id"));
    }

    [Fact]
    public async Task A_json_batch_of_fractions_before_parquet_integers_and_a_parquet_decimal_exports_as_the_widened_decimal()
    {
        // Was: "Column 'm' is double in one schema and decimal(12,3) in another" (the JSON double and the Parquet integers made
        // a declared double first); with the decimal batch first it was decimal(22,3).
        Json("a.jsonl", """{"id": 1, "m": 1.5}""");
        Parquet("b.parquet", "SELECT 2::BIGINT AS id, 12345678901::BIGINT AS m");
        Parquet("c.parquet", "SELECT 3::BIGINT AS id, 2.5::DECIMAL(12,3) AS m");
        var flow = await AddFlowAsync("numbers", FileType.Parquet, CompressionKind.Snappy, ExportMode.Full);

        var run = Succeeded(await RunAsync(flow, 0));

        Assert.Equal("id int64, m decimal(22,3)", (await DatasetSchemaAsync()).ToString());
        Assert.Equal(["1|1.500", "2|12345678901.000", "3|2.500"],
            _duck.Strings($"SELECT id || '|' || m FROM {Relation(run.Files.Select(file => file.SinkPath), FileType.Parquet)} ORDER BY id"));
    }
}
