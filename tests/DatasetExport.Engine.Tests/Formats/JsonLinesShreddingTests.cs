using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The JSON Lines reader shreds lines straight into columns: the columns must equal what shredding the expected records
/// gives, a refused line must leave no entries behind, and string values must survive later chunks.
/// </summary>
public sealed class JsonLinesShreddingTests : IDisposable
{
    private static readonly DatasetSchema Nested = new(
    [
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("geo", FieldKind.Struct, Children:
        [
            new SchemaField("city", FieldKind.String),
            new SchemaField("zip", FieldKind.Int32),
        ]),
        new SchemaField("items", FieldKind.List, Children:
        [
            new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.Int64), new SchemaField("v", FieldKind.String)]),
        ]),
        new SchemaField("nums", FieldKind.List, Children: [new SchemaField("element", FieldKind.Double)]),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int32, Nullable: false), new SchemaField("value", FieldKind.String)]),
        new SchemaField("amount", FieldKind.Decimal, Precision: 12, Scale: 2),
    ]);

    private readonly TempFolder _folder = new("de-jsonl-shred");

    public void Dispose() => _folder.Dispose();

    private string Write(string name, params string[] lines)
    {
        var path = _folder.Combine(name);
        File.WriteAllText(path, string.Join('\n', lines) + "\n", new UTF8Encoding(false));
        return path;
    }

    private static async Task<List<RecordChunk>> ReadChunksAsync(JsonLinesBatchReader reader, string path, DatasetSchema schema)
    {
        var chunks = new List<RecordChunk>();
        await foreach (var chunk in reader.ReadAsync(path, false, schema, default)) chunks.Add(chunk);
        return chunks;
    }

    private static Record Row(long id, object? geo = null, object? items = null, object? nums = null, object? m = null, object? amount = null) => new()
    {
        ["id"] = id, ["geo"] = geo, ["items"] = items, ["nums"] = nums, ["m"] = m, ["amount"] = amount,
    };

    private static Dictionary<string, object?> Fields(params (string Name, object? Value)[] fields) =>
        fields.ToDictionary(field => field.Name, field => field.Value, StringComparer.Ordinal);

    /// <summary>The chunk's columns hold exactly the entries that shredding <paramref name="expected"/> gives.</summary>
    private static void AssertColumns(IReadOnlyList<Record> expected, RecordChunk actual)
    {
        var reference = new RecordChunk(actual.Schema, expected);
        Assert.Equal(reference.RowCount, actual.RowCount);
        for (var i = 0; i < reference.Columns.Count; i++)
        {
            var (want, got) = (reference.Columns[i], actual.Columns[i]);
            Assert.True(want.LevelCount == got.LevelCount, $"{got.Leaf.Path}: {got.LevelCount} entries, expected {want.LevelCount}");
            Assert.True(want.Definitions.Span.SequenceEqual(got.Definitions.Span), $"{got.Leaf.Path}: definition levels differ");
            Assert.True(want.Repetitions.Span.SequenceEqual(got.Repetitions.Span), $"{got.Leaf.Path}: repetition levels differ");
            Assert.True(want.ValueCount == got.ValueCount, $"{got.Leaf.Path}: {got.ValueCount} values, expected {want.ValueCount}");
        }
        RecordAssert.Equal(expected, actual.Records);
    }

    [Fact]
    public async Task Nested_values_nulls_and_empty_lists_shred_like_their_records()
    {
        var path = Write("nested.jsonl",
            """{"id": 1, "geo": null, "items": null, "nums": null, "m": null, "amount": null}""",
            """{"id": 2, "geo": {"city": "Oslo"}, "items": [], "nums": [], "m": {}}""",
            """{"id": 3, "geo": {"city": null, "zip": 5}, "items": [{"k": 1, "v": "a"}, null, {"k": 2}, {}], "nums": [1, null, 2.5], "m": {"-1": "neg", "7": null}, "amount": 12}""",
            """{"id": 4}""",
            """{"id": 5, "geo": {}, "items": [{"v": "only"}], "nums": [-3], "m": {"2147483647": "max"}, "amount": 0.25, "ignored": [1, {"x": 2}]}""");

        var chunk = Assert.Single(await ReadChunksAsync(new JsonLinesBatchReader(), path, Nested));

        AssertColumns(
        [
            Row(1),
            Row(2, geo: Fields(("city", "Oslo"), ("zip", null)), items: new List<object?>(), nums: new List<object?>(), m: new List<KeyValuePair<object, object?>>()),
            Row(3, geo: Fields(("city", null), ("zip", 5)),
                items: new List<object?> { Fields(("k", 1L), ("v", "a")), null, Fields(("k", 2L), ("v", null)), Fields(("k", null), ("v", null)) },
                nums: new List<object?> { 1.0, null, 2.5 },
                m: new List<KeyValuePair<object, object?>> { new(-1, "neg"), new(7, null) },
                amount: 12m),
            Row(4),
            Row(5, geo: Fields(("city", null), ("zip", null)), items: new List<object?> { Fields(("k", null), ("v", "only")) },
                nums: new List<object?> { -3.0 }, m: new List<KeyValuePair<object, object?>> { new(int.MaxValue, "max") }, amount: 0.25m),
        ], chunk);
    }

    [Fact]
    public async Task A_refused_line_in_the_middle_of_a_chunk_leaves_the_other_rows_aligned()
    {
        var path = Write("refused.jsonl",
            """{"id": 1, "geo": {"city": "a", "zip": 1}, "items": [{"k": 1}], "nums": [1], "m": {"1": "x"}}""",
            // Fails in the last column, after every other column took entries for it.
            """{"id": 2, "geo": {"city": "b", "zip": 2}, "items": [{"k": 2}, {"k": 3}], "nums": [2, 3], "m": {"2": "y"}, "amount": "lots"}""",
            """{"id": 3, "nums": [4]}""",
            // Fails inside a list of structs, after its first element.
            """{"id": 4, "geo": {"city": "d"}, "items": [{"k": 4, "v": "ok"}, {"k": "five"}]}""",
            // Fails on the second map key, after the first entry.
            """{"id": 5, "m": {"5": "five", "x": "ex"}}""",
            """[6]""",
            """{"id": 7, "items": [], "m": {"7": "seven"}}""",
            """{"id": 8, "geo": {"zip": 2147483648}}""",
            """{"id": 9, "geo": {"city": "i"}, "items": [{"k": 9}], "nums": [9, null], "m": {}}""");
        var reported = new List<BatchReadException>();

        var chunks = await ReadChunksAsync(new JsonLinesBatchReader(chunkSize: 3, onInvalidRecord: reported.Add), path, Nested);

        Assert.Equal(
        [
            $"{path} (line 2): field 'amount' is decimal(12,2) in the dataset schema but this line holds a string.",
            $"{path} (line 4): field 'items[].k' is int64 in the dataset schema but this line holds a string.",
            $"{path} (line 5): map field 'm' has int32 keys in the dataset schema but this line has key \"x\", not an integer within int32.",
            $"{path} (line 6): expected a JSON object but found an array.",
            $"{path} (line 8): field 'geo.zip' is int32 in the dataset schema but this line holds a number (2147483648).",
        ], reported.Select(error => error.Message));
        Assert.Equal([3, 1], chunks.Select(chunk => chunk.RowCount));
        AssertColumns(
        [
            Row(1, geo: Fields(("city", "a"), ("zip", 1)), items: new List<object?> { Fields(("k", 1L), ("v", null)) },
                nums: new List<object?> { 1.0 }, m: new List<KeyValuePair<object, object?>> { new(1, "x") }),
            Row(3, nums: new List<object?> { 4.0 }),
            Row(7, items: new List<object?>(), m: new List<KeyValuePair<object, object?>> { new(7, "seven") }),
        ], chunks[0]);
        AssertColumns(
        [
            Row(9, geo: Fields(("city", "i"), ("zip", null)), items: new List<object?> { Fields(("k", 9L), ("v", null)) },
                nums: new List<object?> { 9.0, null }, m: new List<KeyValuePair<object, object?>>()),
        ], chunks[1]);
    }

    [Fact]
    public async Task A_refused_line_fails_a_strict_read_with_the_same_message()
    {
        var path = Write("strict.jsonl", """{"id": 1}""", """{"id": 2, "nums": [1, "two"]}""");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => ReadChunksAsync(new JsonLinesBatchReader(), path, Nested));

        Assert.Equal($"{path} (line 2): field 'nums[]' is double in the dataset schema but this line holds a string.", error.Message);
    }

    [Fact]
    public async Task Null_or_missing_values_of_a_field_that_cannot_be_null_are_refused()
    {
        var path = Write("required.jsonl", """{"id": null}""", """{"geo": null}""", """{"id": 3, "m": {"1": "a"}}""");
        var reported = new List<BatchReadException>();

        var chunks = await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: reported.Add), path, Nested);

        Assert.Equal(
        [
            $"{path} (line 1): field 'id' is int64 and not nullable in the dataset schema but this line holds null.",
            $"{path} (line 2): field 'id' is int64 and not nullable in the dataset schema but this line lacks it.",
        ], reported.Select(error => error.Message));
        AssertColumns([Row(3, m: new List<KeyValuePair<object, object?>> { new(1, "a") })], Assert.Single(chunks));
    }

    [Fact]
    public async Task Escaped_and_non_ASCII_strings_survive_in_values_and_map_keys()
    {
        var longText = string.Concat(Enumerable.Repeat("é中😀x", 20_000));
        var path = Write("strings.jsonl",
            """{"s": "plain", "when": "2024-03-04T05:06:07.5Z", "tags": {"k": 1}}""",
            """{"s": "q\"b\\s\/n\nt\t\u00e9\u4e2d\ud83d\ude00", "when": "2024-03-04T05:06:07\u002e5+01:00", "tags": {"k\"ey\u00e9": 2}}""",
            """{"s": "héllo 中文 😀", "when": null, "tags": {"中": 3}}""",
            """{"s": ""}""",
            $$"""{"s": "{{longText}}"}""",
            $$"""{"s": "{{longText}}\n"}""");
        var schema = new DatasetSchema(
        [
            new SchemaField("s", FieldKind.String), new SchemaField("when", FieldKind.Timestamp),
            new SchemaField("tags", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]),
        ]);

        var records = Assert.Single(await ReadChunksAsync(new JsonLinesBatchReader(), path, schema)).Records;

        Assert.Equal(["plain", "q\"b\\s/n\nt\té中😀", "héllo 中文 😀", "", longText, longText + "\n"], records.Select(record => record["s"]));
        Assert.Equal([new DateTime(2024, 3, 4, 5, 6, 7, 500, DateTimeKind.Utc), new DateTime(2024, 3, 4, 4, 6, 7, 500, DateTimeKind.Utc), null, null, null, null],
            records.Select(record => record["when"]));
        Assert.Equal(["k", "k\"eyé", "中"], records.Take(3).Select(record => ((IReadOnlyList<KeyValuePair<object, object?>>)record["tags"]!).Single().Key));
    }

    [Fact]
    public async Task Chunks_stay_intact_after_later_chunks_were_read()
    {
        var lines = Enumerable.Range(0, 500).Select(i => $$"""{"id": {{i}}, "name": "name-{{i}}-{{new string((char)('a' + i % 26), i % 300)}}", "tags": ["t{{i}}", "ü{{i}}"]}""").ToArray();
        var path = Write("many.jsonl", lines);
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64), new SchemaField("name", FieldKind.String),
            new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)]),
        ]);

        // Records are assembled only after the whole file was read, so every chunk's strings must still be its own.
        var chunks = await ReadChunksAsync(new JsonLinesBatchReader(chunkSize: 7), path, schema);

        Assert.Equal(72, chunks.Count);
        var records = chunks.SelectMany(chunk => chunk.Records).ToList();
        Assert.Equal(500, records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            Assert.Equal((long)i, records[i]["id"]);
            Assert.Equal($"name-{i}-{new string((char)('a' + i % 26), i % 300)}", records[i]["name"]);
            Assert.Equal([$"t{i}", $"ü{i}"], (IReadOnlyList<object?>)records[i]["tags"]!);
        }
    }

    [Fact]
    public async Task Every_leaf_kind_converts_as_the_record_reader_did()
    {
        var path = Write("kinds.jsonl",
            """{"b": true, "i": -7, "f": 1.5, "dec": 3, "day": "2024-02-29", "t": "23:59:59.1234567", "bin": "AAH/", "m": {"-9223372036854775808": 1}}""",
            """{"b": false, "i": 2147483647, "f": 2, "dec": 0.125, "day": "\u0032024-01-01", "t": "\u00301:02", "bin": "", "m": {"5": null, "6": 2.5}}""",
            """{"day": "2024/01/01"}""",
            """{"t": "25:00"}""",
            """{"bin": "not base64!"}""",
            """{"i": 2.5}""",
            """{"m": {"9223372036854775808": 1}}""");
        var schema = new DatasetSchema(
        [
            new SchemaField("b", FieldKind.Boolean), new SchemaField("i", FieldKind.Int32), new SchemaField("f", FieldKind.Float),
            new SchemaField("dec", FieldKind.Decimal, Precision: 9, Scale: 3), new SchemaField("day", FieldKind.Date), new SchemaField("t", FieldKind.Time),
            new SchemaField("bin", FieldKind.Binary),
            new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int64, Nullable: false), new SchemaField("value", FieldKind.Double)]),
        ]);
        var reported = new List<string>();

        var chunk = Assert.Single(await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema));

        RecordAssert.Equal(
        [
            new Record
            {
                ["b"] = true, ["i"] = -7, ["f"] = 1.5f, ["dec"] = 3m, ["day"] = new DateOnly(2024, 2, 29), ["t"] = new TimeSpan(0, 23, 59, 59).Add(TimeSpan.FromTicks(1234567)),
                ["bin"] = new byte[] { 0, 1, 255 }, ["m"] = new List<KeyValuePair<object, object?>> { new(long.MinValue, 1.0) },
            },
            new Record
            {
                ["b"] = false, ["i"] = int.MaxValue, ["f"] = 2f, ["dec"] = 0.125m, ["day"] = new DateOnly(2024, 1, 1), ["t"] = new TimeSpan(1, 2, 0),
                ["bin"] = Array.Empty<byte>(), ["m"] = new List<KeyValuePair<object, object?>> { new(5L, null), new(6L, 2.5) },
            },
        ], chunk.Records);
        Assert.Equal(
        [
            "(line 3): field 'day' is date in the dataset schema but this line holds a string, not a date yyyy-MM-dd.",
            "(line 4): field 't' is time in the dataset schema but this line holds a string, not a time HH:mm[:ss[.fffffffff]].",
            "(line 5): field 'bin' is binary in the dataset schema but this line holds a string, not base64 of the standard alphabet with its padding and no white space.",
            "(line 6): field 'i' is int32 in the dataset schema but this line holds a number (2.5).",
            "(line 7): map field 'm' has int64 keys in the dataset schema but this line has key \"9223372036854775808\", not an integer within int64.",
        ], reported);
    }

    [Fact]
    public async Task Timestamps_dates_times_and_decimals_read_from_json_text_in_the_documented_forms_exactly_and_no_others()
    {
        var path = Write("text.jsonl",
            """{"ts": "2024-01-02T03:04:05Z"}""",
            """{"ts": "2024-01-02T03:04:05.1234567Z", "t": "24:00:00"}""",
            """{"ts": "2024-01-02T03:04:05.999999999z", "t": "03:04:05.123456789"}""",
            """{"ts": "2024-01-02 05:04:05+02", "t": "03:04"}""",
            """{"ts": "2024-01-01T22:04:05.5-0500", "d": "2024-02-29"}""",
            """{"ts": "2024-01-02t03:04", "m": 1.5e-2}""",
            """{"m": -123456789.120, "b": "AAH/"}""",
            """{"m": 5E+2}""",
            """{"ts": "01/02/2024 03:04:05"}""",
            """{"ts": "2024-01-02T03:04:05.1234567890Z"}""",
            """{"ts": "2024-01-02T03:04:05 +02:00"}""",
            """{"ts": "Tue, 02 Jan 2024 03:04:05 GMT"}""",
            """{"ts": "2024-01-02"}""",
            """{"t": "3:04 PM"}""",
            """{"m": 1.0005}""",
            """{"m": 1234567890}""",
            """{"m": 1e-30}""",
            """{"b": "AAH"}""");
        var schema = new DatasetSchema(
        [
            new SchemaField("ts", FieldKind.Timestamp), new SchemaField("d", FieldKind.Date), new SchemaField("t", FieldKind.Time),
            new SchemaField("m", FieldKind.Decimal, Precision: 12, Scale: 3), new SchemaField("b", FieldKind.Binary),
        ]);
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema))
            .SelectMany(chunk => chunk.Records).ToList();

        var at = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        Record Row(DateTime? ts = null, DateOnly? d = null, TimeSpan? t = null, decimal? m = null, byte[]? b = null) =>
            new() { ["ts"] = ts, ["d"] = d, ["t"] = t, ["m"] = m, ["b"] = b };
        RecordAssert.Equal(
        [
            Row(at),
            Row(at.AddTicks(1_234_567), t: TimeSpan.FromDays(1)),
            // Digits past 100 ns are cut, as nanosecond Parquet timestamps are: never rounded up into the next second.
            Row(at.AddTicks(9_999_999), t: new TimeSpan(3, 4, 5).Add(TimeSpan.FromTicks(1_234_567))),
            Row(at, t: new TimeSpan(3, 4, 0)),
            Row(at.AddTicks(5_000_000), d: new DateOnly(2024, 2, 29)),
            Row(at.AddSeconds(-5), m: 0.015m),
            Row(m: -123456789.12m, b: [0, 1, 255]),
            Row(m: 500m),
        ], records);
        Assert.Equal("-123456789.120", ((decimal)records[6]["m"]!).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(
        [
            .. Enumerable.Range(9, 5).Select(line => $"(line {line}): field 'ts' is timestamp in the dataset schema but this line holds a string, not an ISO-8601 timestamp, yyyy-MM-ddTHH:mm[:ss[.fffffffff]] with Z, an offset or none (UTC)."),
            "(line 14): field 't' is time in the dataset schema but this line holds a string, not a time HH:mm[:ss[.fffffffff]].",
            .. new[] { "1.0005", "1234567890", "1e-30" }.Select((number, i) =>
                $"(line {15 + i}): field 'm' is decimal(12,3) in the dataset schema but this line holds a number ({number}), which it does not hold exactly (too many digits after the point or before it)."),
            "(line 18): field 'b' is binary in the dataset schema but this line holds a string, not base64 of the standard alphabet with its padding and no white space.",
        ], reported);
    }

    private static SchemaField MapOf(string name, FieldKind key, int precision = 0, int scale = 0) =>
        new(name, FieldKind.Map, Children: [new SchemaField("key", key, Nullable: false, Precision: precision, Scale: scale), new SchemaField("value", FieldKind.Int64)]);

    private static List<KeyValuePair<object, object?>> Entries(params object[] keys) => keys.Select((key, i) => new KeyValuePair<object, object?>(key, (long)i)).ToList();

    [Fact]
    public async Task Map_keys_of_every_scalar_kind_read_back_from_the_text_our_json_writer_writes_them_in()
    {
        // Was: keys other than string, int32 and int64 were refused ("JSON map keys can be read as string, int32 or int64").
        var schema = new DatasetSchema(
        [
            MapOf("b", FieldKind.Boolean), MapOf("i", FieldKind.Int32), MapOf("l", FieldKind.Int64), MapOf("f", FieldKind.Float), MapOf("d", FieldKind.Double),
            MapOf("u64", FieldKind.Decimal, 20, 0), MapOf("dec", FieldKind.Decimal, 12, 3), MapOf("bin", FieldKind.Binary), MapOf("day", FieldKind.Date),
            MapOf("ts", FieldKind.Timestamp), MapOf("t", FieldKind.Time), MapOf("s", FieldKind.String),
        ]);
        var record = new Record
        {
            ["b"] = Entries(true, false), ["i"] = Entries(int.MinValue, 0, 7), ["l"] = Entries(long.MaxValue, -1L),
            ["f"] = Entries(0.1f, -1e20f, float.PositiveInfinity), ["d"] = Entries(0.1, 1e300, double.NegativeInfinity, double.Epsilon, double.NaN),
            ["u64"] = Entries(18446744073709551615m, 0m), ["dec"] = Entries(1.250m, -0.001m, 123456789.5m),
            ["bin"] = Entries(new byte[] { 0, 1, 255 }, Array.Empty<byte>()), ["day"] = Entries(new DateOnly(1, 1, 1), new DateOnly(2024, 2, 29)),
            ["ts"] = Entries(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1_234_567), new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc)),
            ["t"] = Entries(TimeSpan.FromDays(1), new TimeSpan(0, 7, 8, 9).Add(TimeSpan.FromTicks(120))), ["s"] = Entries("k", ""),
        };
        var path = _folder.Combine("keys.jsonl");
        await using (var output = File.Create(path))
        await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Json, CompressionKind.None))
        {
            await writer.WriteAsync(new RecordChunk(schema, [record]), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }
        var written = File.ReadAllText(path);

        var records = Assert.Single(await ReadChunksAsync(new JsonLinesBatchReader(), path, schema)).Records;

        RecordAssert.Equal([record], records);
        Assert.Equal("1.250", ((decimal)((IReadOnlyList<KeyValuePair<object, object?>>)records[0]["dec"]!)[0].Key).ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The writer's text, which the reader takes back.
        Assert.Contains("\"b\":{\"true\":0,\"false\":1}", written);
        Assert.Contains("\"f\":{\"0.1\":0,\"-1E+20\":1,\"Infinity\":2}", written);
        Assert.Contains("\"d\":{\"0.1\":0,\"1E+300\":1,\"-Infinity\":2,\"5E-324\":3,\"NaN\":4}", written);
        Assert.Contains("\"u64\":{\"18446744073709551615\":0,\"0\":1}", written);
        Assert.Contains("\"bin\":{\"AAH/\":0,\"\":1}", written);
        Assert.Contains("\"ts\":{\"2024-01-02T03:04:05.1234567Z\":0,\"2024-01-02T03:04:05Z\":1}", written);
        Assert.Contains("\"t\":{\"24:00:00\":0,\"07:08:09.000012\":1}", written);
    }

    [Fact]
    public async Task DuckDBs_json_of_maps_of_floating_point_keys_reads_back_infinite_keys_too()
    {
        // Was: DuckDB writes an infinite key as "inf" / "-inf" (its NaN "nan" read, .NET parsing NaN in any case): the line
        // was refused ("has key \"inf\", not a number (NaN, Infinity and -Infinity too)").
        using var duck = new DuckDb();
        var line = duck.Strings(
            "SELECT to_json({'d': map([0.1::DOUBLE, 'inf'::DOUBLE, '-inf'::DOUBLE, 'nan'::DOUBLE, -0.0::DOUBLE, 1e20::DOUBLE], [0, 1, 2, 3, 4, 5]), " +
            "'f': map(['inf'::FLOAT, '-inf'::FLOAT, 0.5::FLOAT], [0, 1, 2])})::VARCHAR")[0]!;
        Assert.Equal("""{"d":{"0.1":0,"inf":1,"-inf":2,"nan":3,"-0.0":4,"1e+20":5},"f":{"inf":0,"-inf":1,"0.5":2}}""", line);
        var schema = new DatasetSchema([MapOf("d", FieldKind.Double), MapOf("f", FieldKind.Float)]);
        var path = Write("duckdb-keys.jsonl", line);

        var records = Assert.Single(await ReadChunksAsync(new JsonLinesBatchReader(), path, schema)).Records;

        RecordAssert.Equal(
        [
            new()
            {
                ["d"] = Entries(0.1, double.PositiveInfinity, double.NegativeInfinity, double.NaN, -0.0, 1e20),
                ["f"] = Entries(float.PositiveInfinity, float.NegativeInfinity, 0.5f),
            },
        ], records);
        var oracle = JsonDocumentShredderOracle.Read(schema, path, [line]);
        Assert.Empty(oracle.Refused);
        RecordAssert.Equal(oracle.Rows, records);
    }

    [Fact]
    public async Task A_number_key_with_nul_characters_after_it_does_not_convert()
    {
        // Was: .NET's number parsing skips trailing U+0000, so "7\u0000" was the int32 key 7 (and "7" beside it a second 7),
        // "1.5\u0000" the double 1.5: not an optional sign and digits, nor the writer's text of any number.
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64), MapOf("i", FieldKind.Int32), MapOf("l", FieldKind.Int64), MapOf("f", FieldKind.Float), MapOf("d", FieldKind.Double),
        ]);
        var path = Write("nul-keys.jsonl",
            """{"id": 1, "i": {"7": 0}, "l": {"-8": 0}, "f": {"1.5": 0}, "d": {"NaN": 0}}""",
            """{"id": 2, "i": {"7\u0000": 0}}""",
            """{"id": 3, "l": {"-8\u0000\u0000": 0}}""",
            """{"id": 4, "f": {"1.5\u0000": 0}}""",
            """{"id": 5, "d": {"NaN\u0000": 0}}""");
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema))
            .SelectMany(chunk => chunk.Records).ToList();

        RecordAssert.Equal([new() { ["id"] = 1L, ["i"] = Entries(7), ["l"] = Entries(-8L), ["f"] = Entries(1.5f), ["d"] = Entries(double.NaN) }], records);
        Assert.Equal(
        [
            "(line 2): map field 'i' has int32 keys in the dataset schema but this line has key \"7\\u0000\", not an integer within int32.",
            "(line 3): map field 'l' has int64 keys in the dataset schema but this line has key \"-8\\u0000\\u0000\", not an integer within int64.",
            "(line 4): map field 'f' has float keys in the dataset schema but this line has key \"1.5\\u0000\", not a number (NaN, Infinity and -Infinity too).",
            "(line 5): map field 'd' has double keys in the dataset schema but this line has key \"NaN\\u0000\", not a number (NaN, Infinity and -Infinity too).",
        ], reported);
        Assert.Equal(reported, JsonDocumentShredderOracle.Read(schema, path, File.ReadAllLines(path)).Refused.Select(message => message[(path.Length + 1)..]));
    }

    [Fact]
    public async Task A_map_key_given_twice_in_one_object_is_an_invalid_record_naming_field_and_key()
    {
        // Was: a map took both entries, so the Parquet written held one key twice in one map ("1" and "01" both the int32 1,
        // a JSON name repeated past a batch's schema sample, two texts of one instant).
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64), MapOf("i", FieldKind.Int32), MapOf("s", FieldKind.String), MapOf("d", FieldKind.Double),
            MapOf("ts", FieldKind.Timestamp), MapOf("dec", FieldKind.Decimal, 12, 3),
        ]);
        var manyKeys = string.Join(", ", Enumerable.Range(0, 20).Select(i => $"\"{i}\": {i}"));
        var path = Write("repeated-keys.jsonl",
            // Distinct keys: 0 and -0 are two doubles (their bits differ), and the same keys in another line or map are fine.
            """{"id": 1, "i": {"1": 0, "2": 1}, "s": {"a": 0, "A": 1}, "d": {"0": 0, "-0": 1}, "ts": {"2024-01-02T03:04:05Z": 0}, "dec": {"1.5": 0, "1.501": 1}}""",
            """{"id": 2, "i": {"1": 0, "2": 1}, "s": {"a": 0}}""",
            """{"id": 3, "i": {"1": 0, "01": 1}}""",
            """{"id": 4, "s": {"a": 0, "b": 1, "a": 2}}""",
            """{"id": 5, "d": {"NaN": 0, "nan": 1}}""",
            """{"id": 6, "ts": {"2024-01-02T03:04:05Z": 0, "2024-01-02T04:04:05+01:00": 1}}""",
            """{"id": 7, "dec": {"1.5": 0, "1.50": 1}}""",
            // Past the keys compared in turn: kept in a set, built afresh for each map.
            """{"id": 8, "i": {""" + manyKeys + "}}",
            """{"id": 9, "i": {""" + manyKeys + """, "+13": 20}}""",
            """{"id": 10, "i": {""" + manyKeys + "}}");
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema))
            .SelectMany(chunk => chunk.Records).ToList();
        var strict = await Assert.ThrowsAsync<BatchReadException>(() => ReadChunksAsync(new JsonLinesBatchReader(), path, schema));

        Assert.Equal([1L, 2L, 8L, 10L], records.Select(record => record["id"]));
        Assert.Equal(Entries(0.0, -0.0), records[0]["d"]);
        Assert.Equal(Enumerable.Range(0, 20).ToArray(), ((IReadOnlyList<KeyValuePair<object, object?>>)records[3]["i"]!).Select(entry => (int)entry.Key));
        Assert.Equal(
        [
            "(line 3): map field 'i' has key \"01\", which is the same int32 key as an earlier key of this object: a map holds each key once.",
            "(line 4): map field 's' has key \"a\", which repeats an earlier key of this object: a map holds each key once.",
            "(line 5): map field 'd' has key \"nan\", which is the same double key as an earlier key of this object: a map holds each key once.",
            "(line 6): map field 'ts' has key \"2024-01-02T04:04:05+01:00\", which is the same timestamp key as an earlier key of this object: a map holds each key once.",
            "(line 7): map field 'dec' has key \"1.50\", which is the same decimal(12,3) key as an earlier key of this object: a map holds each key once.",
            "(line 9): map field 'i' has key \"+13\", which is the same int32 key as an earlier key of this object: a map holds each key once.",
        ], reported);
        Assert.Equal($"{path} {reported[0]}", strict.Message);
        var oracle = JsonDocumentShredderOracle.Read(schema, path, File.ReadAllLines(path));
        Assert.Equal(reported, oracle.Refused.Select(message => message[(path.Length + 1)..]));
        RecordAssert.Equal(oracle.Rows, records);
    }

    [Fact]
    public async Task A_map_key_that_does_not_convert_to_the_key_kind_is_an_invalid_record_naming_field_and_key()
    {
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64), MapOf("b", FieldKind.Boolean), MapOf("u64", FieldKind.Decimal, 20, 0), MapOf("bin", FieldKind.Binary),
            MapOf("day", FieldKind.Date), MapOf("ts", FieldKind.Timestamp), MapOf("f", FieldKind.Float),
        ]);
        var path = Write("bad-keys.jsonl",
            """{"id": 1, "b": {"true": 0}, "u64": {"18446744073709551615": 0}, "bin": {"AAH/": 0}, "day": {"2024-02-29": 0}, "ts": {"2024-01-02 03:04:05+01": 0}, "f": {"1.5": 0}}""",
            """{"id": 2, "b": {"True": 1}}""",
            """{"id": 3, "u64": {"1.5": 1}}""",
            """{"id": 4, "bin": {"AAH/": 1, "AA H/": 2}}""",
            """{"id": 5, "day": {"2024-02-30": 1}}""",
            """{"id": 6, "ts": {"2024-01-02": 1}}""",
            """{"id": 7, "f": {" 1.5": 1}}""",
            """{"id": 8, "day": {"k\"\u00e9\n": 1}}""",
            """{"id": 9}""");
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema))
            .SelectMany(chunk => chunk.Records).ToList();
        var strict = await Assert.ThrowsAsync<BatchReadException>(() => ReadChunksAsync(new JsonLinesBatchReader(), path, schema));

        Assert.Equal([1L, 9L], records.Select(record => record["id"]));
        RecordAssert.Equal(
        [
            new()
            {
                ["id"] = 1L, ["b"] = Entries(true), ["u64"] = Entries(18446744073709551615m), ["bin"] = Entries(new byte[] { 0, 1, 255 }),
                ["day"] = Entries(new DateOnly(2024, 2, 29)), ["ts"] = Entries(new DateTime(2024, 1, 2, 2, 4, 5, DateTimeKind.Utc)), ["f"] = Entries(1.5f),
            },
        ], records[..1]);
        Assert.Equal(
        [
            "(line 2): map field 'b' has boolean keys in the dataset schema but this line has key \"True\", not true or false.",
            "(line 3): map field 'u64' has decimal(20,0) keys in the dataset schema but this line has key \"1.5\", not a number with at most 0 digits after the point and 20 before it.",
            "(line 4): map field 'bin' has binary keys in the dataset schema but this line has key \"AA H/\", not base64 of the standard alphabet with its padding and no white space.",
            "(line 5): map field 'day' has date keys in the dataset schema but this line has key \"2024-02-30\", not a date yyyy-MM-dd.",
            "(line 6): map field 'ts' has timestamp keys in the dataset schema but this line has key \"2024-01-02\", not an ISO-8601 timestamp, yyyy-MM-ddTHH:mm[:ss[.fffffffff]] with Z, an offset or none (UTC).",
            "(line 7): map field 'f' has float keys in the dataset schema but this line has key \" 1.5\", not a number (NaN, Infinity and -Infinity too).",
            "(line 8): map field 'day' has date keys in the dataset schema but this line has key \"k\\\"é\\n\", not a date yyyy-MM-dd.",
        ], reported);
        Assert.Equal($"{path} {reported[0]}", strict.Message);
    }

    [Fact]
    public async Task A_value_in_a_map_that_does_not_fit_is_named_by_its_map_and_key_not_by_the_maps_value_column()
    {
        // Was: "field 'mp.value.when' is time ..." for every key alike, which no record or column an admin sees is called.
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64),
            new SchemaField("mp", FieldKind.Map, Children:
            [
                new SchemaField("key", FieldKind.String, Nullable: false),
                new SchemaField("value", FieldKind.Struct, Children:
                [
                    new SchemaField("when", FieldKind.Time),
                    new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)]),
                    new SchemaField("inner", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Date, Nullable: false), new SchemaField("value", FieldKind.Int32, Nullable: false)]),
                ]),
            ]),
        ]);
        var path = Write("map-paths.jsonl",
            """{"id": 1, "mp": {"a": {"when": "03:04", "tags": [1], "inner": {"2024-01-02": 5}}, "b": null}}""",
            """{"id": 2, "mp": {"a": {"when": "03:04"}, "b\"\u00e9": {"when": "3 PM"}}}""",
            """{"id": 3, "mp": {"x": {"tags": [1, "two"]}}}""",
            """{"id": 4, "mp": {"x": {"inner": {"2024-01-02": 1, "2024-01-03": "one"}}}}""",
            """{"id": 5, "mp": {"x": {"inner": {"2024-01-02": null}}}}""",
            """{"id": 6, "mp": {"x": {"inner": {"tomorrow": 1}}}}""",
            // The same faults, read the careful way (a field named twice) and by a reader over the whole line (an escaped field name).
            """{"id": 7, "mp": {"y": {"when": "noon"}}, "id": 7}""",
            """{"\u0069d": 8, "mp": {"z": {"inner": {"2024-01-02": null}}}}""",
            """{"id": 9, "mp": {"a": {"tags": []}}}""");
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema))
            .SelectMany(chunk => chunk.Records).ToList();

        Assert.Equal([1L, 9L], records.Select(record => record["id"]));
        Assert.Equal(
        [
            "(line 2): field 'mp[\"b\\\"é\"].when' is time in the dataset schema but this line holds a string, not a time HH:mm[:ss[.fffffffff]].",
            "(line 3): field 'mp[\"x\"].tags[]' is int64 in the dataset schema but this line holds a string.",
            "(line 4): field 'mp[\"x\"].inner[\"2024-01-03\"]' is int32 in the dataset schema but this line holds a string.",
            "(line 5): field 'mp[\"x\"].inner[\"2024-01-02\"]' is int32 and not nullable in the dataset schema but this line holds null.",
            "(line 6): map field 'mp[\"x\"].inner' has date keys in the dataset schema but this line has key \"tomorrow\", not a date yyyy-MM-dd.",
            "(line 7): field 'mp[\"y\"].when' is time in the dataset schema but this line holds a string, not a time HH:mm[:ss[.fffffffff]].",
            "(line 8): field 'mp[\"z\"].inner[\"2024-01-02\"]' is int32 and not nullable in the dataset schema but this line holds null.",
        ], reported);
        var lines = File.ReadAllLines(path);
        Assert.Equal(reported, JsonDocumentShredderOracle.Read(schema, path, lines).Refused.Select(message => message[(path.Length + 1)..]));
    }

    [Fact]
    public async Task Base64_with_white_space_in_or_around_it_is_not_binary()
    {
        // .NET's base64 decoding skips white space, so these all read as 00 01 02 FF; no JSON writer of base64 (ours, btoa,
        // Python's b64encode, Java's Base64.getEncoder) puts any in a value.
        var path = Write("base64.jsonl",
            """{"b": "AAEC/w=="}""",
            """{"b": "AAEC\/w=="}""",
            """{"b": "AAEC /w=="}""",
            """{"b": "AAEC\r\n/w=="}""",
            """{"b": "\tAAEC/w=="}""",
            """{"b": "AAEC/w== "}""",
            """{"b": "AAEC/w==\u0020"}""",
            """{"b": "AAEC/w"}""",
            """{"b": "AAEC_w=="}""");
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path,
            new DatasetSchema([new SchemaField("b", FieldKind.Binary)]))).SelectMany(chunk => chunk.Records).ToList();

        RecordAssert.Equal([new() { ["b"] = new byte[] { 0, 1, 2, 255 } }, new() { ["b"] = new byte[] { 0, 1, 2, 255 } }], records);
        Assert.Equal(
            Enumerable.Range(3, 7).Select(line => $"(line {line}): field 'b' is binary in the dataset schema but this line holds a string, " +
                "not base64 of the standard alphabet with its padding and no white space."),
            reported);
    }

    [Fact]
    public async Task A_json_number_its_decimal_column_allows_but_dotnet_decimal_cannot_hold_says_so_not_too_many_digits()
    {
        // decimal(38,0) and decimal(38,30) allow these digits; .NET decimal (28 to 29 significant digits, scale at most 28) does not.
        var path = Write("wide.jsonl",
            """{"m": 1234567890123456789012345678, "n": 0.5}""",
            """{"m": 123456789012345678901234567890}""",
            """{"n": 1e-30}""",
            """{"m": 1e38}""",
            """{"n": 123456789.5}""");
        var schema = new DatasetSchema(
            [new SchemaField("m", FieldKind.Decimal, Precision: 38, Scale: 0), new SchemaField("n", FieldKind.Decimal, Precision: 38, Scale: 30)]);
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path, schema))
            .SelectMany(chunk => chunk.Records).ToList();

        RecordAssert.Equal([new() { ["m"] = 1234567890123456789012345678m, ["n"] = 0.5m }], records);
        const string DotNet = "which this tool cannot hold exactly (.NET decimal holds 28 to 29 significant digits, at most 28 of them after the point).";
        const string Digits = "which it does not hold exactly (too many digits after the point or before it).";
        Assert.Equal(
        [
            $"(line 2): field 'm' is decimal(38,0) in the dataset schema but this line holds a number (123456789012345678901234567890), {DotNet}",
            $"(line 3): field 'n' is decimal(38,30) in the dataset schema but this line holds a number (1e-30), {DotNet}",
            $"(line 4): field 'm' is decimal(38,0) in the dataset schema but this line holds a number (1e38), {Digits}",
            $"(line 5): field 'n' is decimal(38,30) in the dataset schema but this line holds a number (123456789.5), {Digits}",
        ], reported);
    }

    [Fact]
    public async Task An_iso_timestamp_whose_offset_takes_it_past_year_1_or_9999_in_utc_says_so_not_that_it_is_no_iso_timestamp()
    {
        var path = Write("edges.jsonl",
            """{"ts": "0001-01-01T00:30:00-01:00"}""",
            """{"ts": "9999-12-31T23:59:59.9999999Z"}""",
            """{"ts": "9999-12-31T22:00:00.5-01:00"}""",
            """{"ts": "0001-01-01T00:30:00+01:00"}""",
            """{"ts": "9999-12-31T23:00:00-02:00"}""");
        var reported = new List<string>();

        var records = (await ReadChunksAsync(new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message[(path.Length + 1)..])), path,
            new DatasetSchema([new SchemaField("ts", FieldKind.Timestamp)]))).SelectMany(chunk => chunk.Records).ToList();

        RecordAssert.Equal(
        [
            new() { ["ts"] = new DateTime(1, 1, 1, 1, 30, 0, DateTimeKind.Utc) },
            new() { ["ts"] = DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc) },
            new() { ["ts"] = new DateTime(9999, 12, 31, 23, 0, 0, 500, DateTimeKind.Utc) },
        ], records);
        Assert.Equal(
            new[] { 4, 5 }.Select(line => $"(line {line}): field 'ts' is timestamp in the dataset schema but this line holds a string, " +
                "an ISO-8601 timestamp outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z in UTC, the instants this tool holds."),
            reported);
    }
}
