using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The JSON Lines writer walks a chunk's columns: its bytes must equal those of the record-by-record algorithm
/// (<see cref="RecordJsonOracle"/>) for every kind, nesting and null, and match the documented text.
/// </summary>
public sealed class JsonLinesColumnsTests
{
    private static readonly DatasetSchema Nested = new(
    [
        new SchemaField("s", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int32), new SchemaField("b", FieldKind.String)]),
        new SchemaField("l", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)]),
        new SchemaField("ll", FieldKind.List, Children: [new SchemaField("element", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int32)])]),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int32)]),
        new SchemaField("ls", FieldKind.List, Children: [new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.Boolean, Nullable: false)])]),
        new SchemaField("ml", FieldKind.Map, Children:
            [new SchemaField("key", FieldKind.Int64, Nullable: false), new SchemaField("value", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)])]),
        new SchemaField("n", FieldKind.Int64, Nullable: false),
    ]);

    private static async Task<string> WriteAsync(DatasetSchema schema, params RecordChunk[] chunks)
    {
        await using var output = new MemoryStream();
        await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Json, CompressionKind.None))
        {
            foreach (var chunk in chunks) await writer.WriteAsync(chunk, CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(output.Length, writer.BytesWritten);
            Assert.Equal(chunks.Sum(chunk => chunk.RowCount), writer.RecordsWritten);
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>Writes the records in chunks of <paramref name="chunkSize"/> and checks the text against the oracle's.</summary>
    private static async Task<string> WriteAndCompareAsync(DatasetSchema schema, IReadOnlyList<Record> records, int chunkSize = 1000)
    {
        var written = await WriteAsync(schema, records.Chunk(chunkSize).Select(chunk => new RecordChunk(schema, chunk)).ToArray());
        Assert.Equal(Encoding.UTF8.GetString(RecordJsonOracle.Write(schema, records)), written);
        return written;
    }

    private static List<object?> List(params object?[] items) => [.. items];

    private static List<KeyValuePair<object, object?>> Map(params (object Key, object? Value)[] entries) =>
        entries.Select(entry => new KeyValuePair<object, object?>(entry.Key, entry.Value)).ToList();

    [Fact]
    public async Task Every_type_is_written_byte_for_byte_as_the_record_writer_wrote_it()
    {
        var written = await WriteAndCompareAsync(AllTypes.Schema, AllTypes.ExpectedRecords(2_500), chunkSize: 700);

        Assert.Equal(2_500, written.Count(c => c == '\n'));
    }

    [Fact]
    public async Task Nested_nulls_empty_lists_and_maps_keep_their_shape()
    {
        Record Row(object? s = null, object? l = null, object? ll = null, object? m = null, object? ls = null, object? ml = null) =>
            new() { ["s"] = s, ["l"] = l, ["ll"] = ll, ["m"] = m, ["ls"] = ls, ["ml"] = ml, ["n"] = 1L };
        var records = new List<Record>
        {
            Row(),
            Row(s: new Dictionary<string, object?> { ["a"] = null, ["b"] = "x" }, l: List(), ll: List(), m: Map(), ls: List(), ml: Map()),
            Row(s: new Dictionary<string, object?> { ["a"] = 3, ["b"] = null }, l: List(null, 2L, null), ll: List(List(1), List(), null, List(null, 5)),
                m: Map(("k", null), ("j", 4)), ls: List(null, new Dictionary<string, object?> { ["k"] = true }), ml: Map((1L, null), (2L, List()), (3L, List("v", null)))),
            Row(l: List((object?)null), ll: List((object?)null), ls: List((object?)null)),
        };

        var written = await WriteAndCompareAsync(Nested, records);

        Assert.Equal(
            """
            {"s":null,"l":null,"ll":null,"m":null,"ls":null,"ml":null,"n":1}
            {"s":{"a":null,"b":"x"},"l":[],"ll":[],"m":{},"ls":[],"ml":{},"n":1}
            {"s":{"a":3,"b":null},"l":[null,2,null],"ll":[[1],[],null,[null,5]],"m":{"k":null,"j":4},"ls":[null,{"k":true}],"ml":{"1":null,"2":[],"3":["v",null]},"n":1}
            {"s":null,"l":[null],"ll":[null],"m":null,"ls":[null],"ml":null,"n":1}

            """.ReplaceLineEndings("\n"),
            written);
    }

    [Fact]
    public async Task NaN_and_infinities_are_null_wherever_they_are()
    {
        var schema = new DatasetSchema(
        [
            new SchemaField("d", FieldKind.Double), new SchemaField("f", FieldKind.Float),
            new SchemaField("ld", FieldKind.List, Children: [new SchemaField("element", FieldKind.Double)]),
            new SchemaField("mf", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Double, Nullable: false), new SchemaField("value", FieldKind.Float)]),
        ]);
        var records = new List<Record>
        {
            new() { ["d"] = double.NaN, ["f"] = float.PositiveInfinity, ["ld"] = List(double.NegativeInfinity, 1.5, double.NaN), ["mf"] = Map((0.1, float.NaN), (-2.5, 0.25f)) },
            new() { ["d"] = double.MaxValue, ["f"] = float.NegativeInfinity, ["ld"] = List(double.Epsilon), ["mf"] = Map((double.NaN, float.MinValue)) },
        };

        var written = await WriteAndCompareAsync(schema, records);

        Assert.StartsWith("""{"d":null,"f":null,"ld":[null,1.5,null],"mf":{"0.1":null,"-2.5":0.25}}""" + "\n", written);
    }

    [Fact]
    public async Task Timestamps_dates_and_times_carry_only_the_fraction_digits_they_need()
    {
        var schema = new DatasetSchema(
        [
            new SchemaField("ts", FieldKind.Timestamp), new SchemaField("dt", FieldKind.Date), new SchemaField("tm", FieldKind.Time),
            new SchemaField("byTs", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Timestamp, Nullable: false), new SchemaField("value", FieldKind.Time)]),
        ]);
        var second = new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Utc);
        var records = new List<Record>
        {
            new() { ["ts"] = second, ["dt"] = new DateOnly(1, 1, 1), ["tm"] = TimeSpan.Zero, ["byTs"] = Map((second, new TimeSpan(23, 59, 59))) },
            new() { ["ts"] = second.AddMilliseconds(120), ["dt"] = new DateOnly(999, 12, 31), ["tm"] = new TimeSpan(0, 1, 2, 3, 450), ["byTs"] = Map((second.AddMilliseconds(5), TimeSpan.FromTicks(1))) },
            new() { ["ts"] = second.AddTicks(1_234_567), ["dt"] = new DateOnly(9999, 12, 31), ["tm"] = TimeSpan.FromTicks(TimeSpan.TicksPerDay - 1), ["byTs"] = Map((DateTime.MaxValue, null)) },
            new() { ["ts"] = DateTime.MinValue, ["dt"] = null, ["tm"] = null, ["byTs"] = Map((DateTime.MinValue.AddTicks(10), TimeSpan.FromTicks(10))) },
        };

        var written = await WriteAndCompareAsync(schema, records);

        Assert.Equal(
            """
            {"ts":"2024-02-29T23:59:58Z","dt":"0001-01-01","tm":"00:00:00","byTs":{"2024-02-29T23:59:58Z":"23:59:59"}}
            {"ts":"2024-02-29T23:59:58.12Z","dt":"0999-12-31","tm":"01:02:03.45","byTs":{"2024-02-29T23:59:58.005Z":"00:00:00.0000001"}}
            {"ts":"2024-02-29T23:59:58.1234567Z","dt":"9999-12-31","tm":"23:59:59.9999999","byTs":{"9999-12-31T23:59:59.9999999Z":null}}
            {"ts":"0001-01-01T00:00:00Z","dt":null,"tm":null,"byTs":{"0001-01-01T00:00:00.000001Z":"00:00:00.000001"}}

            """.ReplaceLineEndings("\n"),
            written);
    }

    [Fact]
    public async Task Scalar_map_keys_are_written_in_their_string_text()
    {
        SchemaField MapOf(string name, FieldKind key, int precision = 0, int scale = 0) => new(name, FieldKind.Map, Children:
            [new SchemaField("key", key, Nullable: false, Precision: precision, Scale: scale), new SchemaField("value", FieldKind.Boolean)]);
        var schema = new DatasetSchema(
        [
            MapOf("b", FieldKind.Boolean), MapOf("i", FieldKind.Int32), MapOf("f", FieldKind.Float), MapOf("m", FieldKind.Decimal, 20, 4),
            MapOf("bin", FieldKind.Binary), MapOf("d", FieldKind.Date), MapOf("t", FieldKind.Time),
        ]);
        var record = new Record
        {
            ["b"] = Map((true, false), (false, null)), ["i"] = Map((int.MinValue, true)), ["f"] = Map((0.1f, true), (1e20f, true)),
            ["m"] = Map((-1.5000m, true)), ["bin"] = Map((new byte[] { 0, 255, 62 }, true), (new byte[3000], true)),
            ["d"] = Map((new DateOnly(2020, 5, 6), true)), ["t"] = Map((new TimeSpan(1, 2, 3), true)),
        };

        var written = await WriteAndCompareAsync(schema, [record]);

        Assert.StartsWith("""{"b":{"true":false,"false":null},"i":{"-2147483648":true},"f":{"0.1":true,"1E+20":true},"m":{"-1.5000":true},"bin":{"AP8+":true,""" + "\"AAAA", written);
        Assert.EndsWith("\"d\":{\"2020-05-06\":true},\"t\":{\"01:02:03\":true}}\n", written);
    }

    [Fact]
    public async Task Non_ASCII_text_stays_UTF8_except_outside_the_BMP_and_quotes_and_control_characters_are_escaped()
    {
        var schema = new DatasetSchema(
        [
            new SchemaField("na\"me ü", FieldKind.String),
            new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.String)]),
            new SchemaField("st", FieldKind.Struct, Children: [new SchemaField("\t€", FieldKind.String)]),
        ]);
        var records = new List<Record>
        {
            new()
            {
                ["na\"me ü"] = "ü € 𝄞 中文 \"q\" back\\slash \u0001\u001f\t\r\n <html> & 'apos' \u2028",
                ["m"] = Map(("k\"ey\n", "\u007f"), ("ключ", "")),
                ["st"] = new Dictionary<string, object?> { ["\t€"] = "x" },
            },
        };

        var written = await WriteAndCompareAsync(schema, records);

        Assert.Equal(
            "{\"na\\\"me ü\":\"ü € \\uD834\\uDD1E 中文 \\\"q\\\" back\\\\slash \\u0001\\u001F\\t\\r\\n <html> & 'apos' \\u2028\"," +
            "\"m\":{\"k\\\"ey\\n\":\"\\u007F\",\"ключ\":\"\"},\"st\":{\"\\t€\":\"x\"}}\n",
            written);
    }

    [Fact]
    public async Task A_slice_is_written_alone_as_exactly_its_rows()
    {
        var records = AllTypes.ExpectedRecords(60);
        var chunk = new RecordChunk(AllTypes.Schema, records);

        var written = await WriteAsync(AllTypes.Schema, chunk.Slice(17, 9), chunk.Slice(59, 1), chunk.Slice(3, 0));

        Assert.Equal(Encoding.UTF8.GetString(RecordJsonOracle.Write(AllTypes.Schema, [.. records.GetRange(17, 9), records[59]])), written);
    }

    [Fact]
    public async Task Random_nested_records_match_the_record_writer()
    {
        var random = new Random(20261126);
        object? Maybe(Func<object?> make) => random.Next(4) == 0 ? null : make();
        List<object?> RandomList(Func<object?> element) => Enumerable.Range(0, random.Next(4)).Select(_ => element()).ToList();
        var records = Enumerable.Range(0, 3_000).Select(i => new Record
        {
            ["s"] = Maybe(() => new Dictionary<string, object?> { ["a"] = Maybe(() => random.Next()), ["b"] = Maybe(() => "t" + random.Next(100)) }),
            ["l"] = Maybe(() => RandomList(() => Maybe(() => random.NextInt64()))),
            ["ll"] = Maybe(() => RandomList(() => Maybe(() => RandomList(() => Maybe(() => random.Next(-9, 9)))))),
            ["m"] = Maybe(() => Enumerable.Range(0, random.Next(3)).Select(k => new KeyValuePair<object, object?>("k" + k, Maybe(() => k))).ToList()),
            ["ls"] = Maybe(() => RandomList(() => Maybe(() => new Dictionary<string, object?> { ["k"] = random.Next(2) == 0 }))),
            ["ml"] = Maybe(() => Enumerable.Range(0, random.Next(3)).Select(k => new KeyValuePair<object, object?>((long)k, Maybe(() => RandomList(() => Maybe(() => "e"))))).ToList()),
            ["n"] = (long)i,
        }).ToList();

        await WriteAndCompareAsync(Nested, records, chunkSize: 333);
    }

    [Fact]
    public void A_map_with_struct_keys_is_refused_when_the_writer_is_made()
    {
        var schema = new DatasetSchema([new SchemaField("byPoint", FieldKind.Map, Children:
        [
            new SchemaField("key", FieldKind.Struct, Nullable: false, Children: [new SchemaField("x", FieldKind.Int32)]),
            new SchemaField("value", FieldKind.String),
        ])]);

        var error = Assert.Throws<ArgumentException>(() => FormatCatalog.CreateWriter(new MemoryStream(), schema, FileType.Json, CompressionKind.None));

        Assert.Contains("Map field 'byPoint'", error.Message);
        Assert.Contains("struct<x:int32>", error.Message);
    }

    [Fact]
    public async Task A_chunk_of_another_schema_is_refused()
    {
        var other = new DatasetSchema([new SchemaField("x", FieldKind.Int64)]);
        await using var writer = FormatCatalog.CreateWriter(new MemoryStream(), Nested, FileType.Json, CompressionKind.None);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteAsync(new RecordChunk(other, [new Record { ["x"] = 1L }]), CancellationToken.None));

        Assert.Contains("x int64", error.Message);
    }
}
