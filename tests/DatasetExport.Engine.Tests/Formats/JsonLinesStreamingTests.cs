using System.Text;
using System.Text.Json;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The JSON Lines reader walks each line's tokens once, fields in the order they come, yet must read a line as looking
/// fields up in schema order did: any field order, unknown fields skipped, a field named twice taking its last value, a
/// line with several faults reporting the first the schema order meets, and the parser's message for invalid JSON
/// anywhere in the line (<see cref="JsonDocument.Parse(string, JsonDocumentOptions)"/> is the oracle), before any misfit.
/// </summary>
public sealed class JsonLinesStreamingTests : IDisposable
{
    private static readonly DatasetSchema Schema = new(
    [
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("geo", FieldKind.Struct, Children: [new SchemaField("city", FieldKind.String), new SchemaField("zip", FieldKind.Int32)]),
        new SchemaField("items", FieldKind.List, Children:
        [
            new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.Int64), new SchemaField("v", FieldKind.String)]),
        ]),
        new SchemaField("nums", FieldKind.List, Children: [new SchemaField("element", FieldKind.Double)]),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int32, Nullable: false), new SchemaField("value", FieldKind.String)]),
        new SchemaField("amount", FieldKind.Decimal, Precision: 12, Scale: 2),
    ]);

    private readonly TempFolder _folder = new("de-jsonl-stream");

    public void Dispose() => _folder.Dispose();

    private string Write(params string[] lines)
    {
        var path = _folder.Combine($"{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, string.Join('\n', lines) + "\n", new UTF8Encoding(false));
        return path;
    }

    /// <summary>The records read with a handler, and the handler's messages without the file path.</summary>
    private static async Task<(List<Record> Records, List<string> Reported)> ReadAsync(string path, DatasetSchema schema, int chunkSize = 3)
    {
        var reported = new List<string>();
        var reader = new JsonLinesBatchReader(chunkSize, error => reported.Add(error.Message[(path.Length + 1)..]));
        var records = new List<Record>();
        await foreach (var chunk in reader.ReadAsync(path, false, schema, default)) records.AddRange(chunk.Records);
        return (records, reported);
    }

    private static Record Row(long id, object? geo = null, object? items = null, object? nums = null, object? m = null, object? amount = null) => new()
    {
        ["id"] = id, ["geo"] = geo, ["items"] = items, ["nums"] = nums, ["m"] = m, ["amount"] = amount,
    };

    private static Dictionary<string, object?> Geo(string? city, int? zip) => new() { ["city"] = city, ["zip"] = zip };

    private static Dictionary<string, object?> Item(long? k, string? v) => new() { ["k"] = k, ["v"] = v };

    private static string ParserMessage(string line) => Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(line).Dispose()).Message;

    [Fact]
    public async Task Fields_in_any_order_escaped_names_and_unknown_fields_anywhere_read_as_in_schema_order()
    {
        var path = Write(
            """{"id": 1, "geo": {"city": "Oslo", "zip": 150}, "items": [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}], "nums": [1.5, 2], "m": {"3": "c"}, "amount": 9.99}""",
            """{"amount": 9.99, "x": {"id": "no", "geo": [1, {"y": null}]}, "m": {"3": "c"}, "nums": [1.5, 2], "items": [{"v": "a", "k": 1, "k2": [[]]}, {"u": true, "v": "b", "k": 2}], "geo": {"zip": 150, "city": "Oslo", "id": 5}, "\u0069d": 1}""",
            """{"\u0067eo": {"\u0063ity": "Oslo"}, "zz": "last", "id": 2}""",
            """{"unknown": [1, "two", {"three": [3]}], "id": 3, "geo": {"other": {"city": 5}}}""");

        var (records, reported) = await ReadAsync(path, Schema);

        Assert.Empty(reported);
        var full = Row(1, Geo("Oslo", 150), new List<object?> { Item(1, "a"), Item(2, "b") }, new List<object?> { 1.5, 2.0 },
            new List<KeyValuePair<object, object?>> { new(3, "c") }, 9.99m);
        RecordAssert.Equal([full, full, Row(2, Geo("Oslo", null)), Row(3, Geo(null, null))], records);
    }

    [Fact]
    public async Task A_field_named_twice_takes_its_last_value_at_any_depth_but_a_map_key_given_twice_is_refused()
    {
        var path = Write(
            """{"id": 1, "id": 2}""",
            """{"id": 3, "geo": {"city": "a", "zip": "not a number", "zip": 7}}""",
            """{"id": 4, "items": [{"k": 1, "k": 2}, {"v": "x", "v": null}], "nums": [1], "nums": [2, 3]}""",
            """{"id": 5, "m": {"1": "a", "1": "b"}}""",
            """{"id": "six", "\u0069d": 6, "geo": {"city": "x"}, "geo": null}""",
            """{"id": 7, "id": "seven"}""",
            """{"id": 8, "geo": {"city": "c"}, "geo": {"zip": 8, "zip": null}, "amount": {}, "amount": 1}""",
            """{"id": 9, "items": [{"k": "bad", "k": 1}, {"k": 2, "k": "bad"}]}""");

        var (records, reported) = await ReadAsync(path, Schema);

        RecordAssert.Equal(
        [
            Row(2),
            Row(3, Geo("a", 7)),
            Row(4, items: new List<object?> { Item(2, null), Item(null, null) }, nums: new List<object?> { 2.0, 3.0 }),
            Row(6),
            Row(8, Geo(null, null), amount: 1m),
        ], records);
        Assert.Equal(
        [
            // Was: the map took both entries, one key twice (JSON inference refuses a name twice in one object).
            "(line 4): map field 'm' has key \"1\", which is the same int32 key as an earlier key of this object: a map holds each key once.",
            "(line 6): field 'id' is int64 in the dataset schema but this line holds a string.",
            "(line 8): field 'items[].k' is int64 in the dataset schema but this line holds a string.",
        ], reported);
    }

    [Theory]
    [InlineData("""{"amount": "x", "id": "y"}""", "field 'id' is int64 in the dataset schema but this line holds a string.")]
    [InlineData("""{"amount": "x"}""", "field 'id' is int64 and not nullable in the dataset schema but this line lacks it.")]
    [InlineData("""{"geo": {"zip": "z"}, "id": null}""", "field 'id' is int64 and not nullable in the dataset schema but this line holds null.")]
    [InlineData("""{"id": 1, "nums": ["n"], "geo": {"zip": true, "city": 5}}""", "field 'geo.city' is string in the dataset schema but this line holds a number (5).")]
    [InlineData("""{"id": 1, "items": [{"v": 1, "k": "x"}]}""", "field 'items[].k' is int64 in the dataset schema but this line holds a string.")]
    [InlineData("""{"m": {"x": 1}, "geo": 5, "id": 1}""", "field 'geo' is struct<city:string,zip:int32> in the dataset schema but this line holds a number (5).")]
    [InlineData("""{"id": 1, "amount": false, "m": {"x": "y"}}""", "map field 'm' has int32 keys in the dataset schema but this line has key \"x\", not an integer within int32.")]
    [InlineData("""{"id": 1, "m": {"1": "a", "\u0078": 2}, "amount": true}""", "map field 'm' has int32 keys in the dataset schema but this line has key \"x\", not an integer within int32.")]
    public async Task A_line_with_several_faults_reports_the_first_in_schema_order(string line, string message)
    {
        var path = Write("""{"id": 0}""", line, """{"id": 2}""");

        var strict = await Assert.ThrowsAsync<BatchReadException>(async () => await ReadAsyncStrict(path));
        var (records, reported) = await ReadAsync(path, Schema);

        Assert.Equal($"{path} (line 2): {message}", strict.Message);
        Assert.Equal([$"(line 2): {message}"], reported);
        RecordAssert.Equal([Row(0), Row(2)], records);
    }

    private static async Task ReadAsyncStrict(string path)
    {
        await foreach (var _ in new JsonLinesBatchReader().ReadAsync(path, false, Schema, default)) { }
    }

    public static TheoryData<string> InvalidLines => new()
    {
        """{"id": "misfit", "geo": tru}""",
        """{"id": 1} x""",
        """{"id": 1}{"id": 2}""",
        """{"id": 1},""",
        """{"id": 1, "unknown": [1, 2}""",
        """{"unknown": "x", "id": 01}""",
        """{"id": 1, "id": 2, "geo": {"city": "a",}}""",
        """{"id": 1, "nums": [1, 2]""",
        "{\"id\": 1, \"unknown\": " + new string('[', 70) + new string(']', 70) + "}",
        "[1, {\"id\": 2}",
        "\"text",
    };

    [Theory]
    [MemberData(nameof(InvalidLines))]
    public async Task Invalid_JSON_anywhere_in_a_line_gives_the_parsers_message_even_after_a_misfit(string line)
    {
        var path = Write("""{"id": 0}""", line, """{"id": 2}""");

        var strict = await Assert.ThrowsAsync<BatchReadException>(async () => await ReadAsyncStrict(path));
        var (records, reported) = await ReadAsync(path, Schema);

        Assert.Equal($"{path} (line 2): invalid JSON: {ParserMessage(line)}", strict.Message);
        Assert.Equal([$"(line 2): invalid JSON: {ParserMessage(line)}"], reported);
        RecordAssert.Equal([Row(0), Row(2)], records);
    }

    [Fact]
    public async Task Structs_and_lists_nested_to_the_parsers_limit_read_whole()
    {
        // 62 structs inside the line's object, and a list of lists 62 deep: 63 levels of JSON, one under the limit.
        const int depth = 62;
        SchemaField structs = new("v", FieldKind.Int64);
        SchemaField lists = new("element", FieldKind.Int64);
        for (var level = 0; level < depth; level++)
        {
            structs = new SchemaField("s", FieldKind.Struct, Children: level == 0 ? [structs, new SchemaField("w", FieldKind.String)] : [structs]);
            lists = new SchemaField(level == depth - 1 ? "l" : "element", FieldKind.List, Children: [lists]);
        }
        var schema = new DatasetSchema([structs, lists]);
        var structText = string.Concat(Enumerable.Repeat("{\"x\": 0, \"s\": ", depth - 1)) + "{\"w\": \"\\u00e9\", \"v\": 7}" + new string('}', depth - 1);
        var listText = new string('[', depth - 1) + "[1, 2], []" + new string(']', depth - 1);
        var path = Write($$"""{"l": {{listText}}, "s": {{structText}}}""");

        var (records, reported) = await ReadAsync(path, schema);

        Assert.Empty(reported);
        object? value = Assert.Single(records)["s"];
        for (var level = 1; level < depth; level++) value = Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(value)["s"];
        var innermost = Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(value);
        Assert.Equal([7L, "é"], [innermost["v"], innermost["w"]]);
        object? list = records[0]["l"];
        for (var level = 1; level < depth - 1; level++) list = Assert.Single(Assert.IsAssignableFrom<IReadOnlyList<object?>>(list));
        var lastLevel = Assert.IsAssignableFrom<IReadOnlyList<object?>>(list);
        Assert.Equal(2, lastLevel.Count);
        Assert.Equal([1L, 2L], Assert.IsAssignableFrom<IReadOnlyList<object?>>(lastLevel[0]));
        Assert.Empty(Assert.IsAssignableFrom<IReadOnlyList<object?>>(lastLevel[1]));
    }

    [Fact]
    public async Task Escapes_decode_in_every_kind_read_from_a_string()
    {
        var longEscaped = string.Concat(Enumerable.Repeat("\\u0041\\\"", 100));
        var path = Write(
            $$$"""{"s": "{{{longEscaped}}}", "bin": "AAH\/", "day": "2024\u002d02\u002d29", "when": "2024-03-04T05:06:07\u005a", "t": "\u0032\u0033:59", "keys": {"\u0031\u0030": "\u00e9\t\ud83d\ude00"}}""",
            """{"s": "\\\/\b\f\n\r\t", "keys": {"-\u0031": null}}""");
        var schema = new DatasetSchema(
        [
            new SchemaField("s", FieldKind.String), new SchemaField("bin", FieldKind.Binary), new SchemaField("day", FieldKind.Date),
            new SchemaField("when", FieldKind.Timestamp), new SchemaField("t", FieldKind.Time),
            new SchemaField("keys", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int64, Nullable: false), new SchemaField("value", FieldKind.String)]),
        ]);

        var (records, reported) = await ReadAsync(path, schema);

        Assert.Empty(reported);
        RecordAssert.Equal(
        [
            new Record
            {
                ["s"] = string.Concat(Enumerable.Repeat("A\"", 100)), ["bin"] = new byte[] { 0, 1, 255 }, ["day"] = new DateOnly(2024, 2, 29),
                ["when"] = new DateTime(2024, 3, 4, 5, 6, 7, DateTimeKind.Utc), ["t"] = new TimeSpan(23, 59, 0),
                ["keys"] = new List<KeyValuePair<object, object?>> { new(10L, "é\t😀") },
            },
            new Record
            {
                ["s"] = "\\/\b\f\n\r\t", ["bin"] = null, ["day"] = null, ["when"] = null, ["t"] = null,
                ["keys"] = new List<KeyValuePair<object, object?>> { new(-1L, null) },
            },
        ], records);
    }

    [Fact]
    public void Short_decimals_parse_to_the_same_double_as_the_full_parser_and_others_are_left_to_it()
    {
        var random = new Random(11);
        var numbers = new List<string> { "0", "-0", "-0.0", "0.1", "0.3", "-2.675", "834.04", "123456789012345", "-12345678901234.5", "0.00000000000001", "999999999999999" };
        for (var i = 0; i < 100_000; i++)
        {
            var digits = string.Concat(Enumerable.Range(0, random.Next(1, 16)).Select(_ => (char)('0' + random.Next(10)))).TrimStart('0');
            if (digits.Length == 0) digits = "0";
            var point = random.Next(digits.Length + 1);
            var text = point == 0 || point == digits.Length ? digits : digits[..point] + "." + digits[point..];
            numbers.Add(random.Next(2) == 0 ? "-" + text : text);
        }

        foreach (var number in numbers)
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(number));
            reader.Read();
            Assert.True(JsonLineShredder.TryParseShortDecimal(reader.ValueSpan, out var value), number);
            Assert.True(BitConverter.DoubleToInt64Bits(reader.GetDouble()) == BitConverter.DoubleToInt64Bits(value), $"{number}: {value:R}, expected {reader.GetDouble():R}");
        }
        foreach (var number in new[] { "1234567890123456", "0.000000000000001", "9007199254740993", "1e5", "-1.5E+3", "2.5e-3" })
        {
            Assert.False(JsonLineShredder.TryParseShortDecimal(Encoding.UTF8.GetBytes(number), out _), number);
        }
    }

    private static readonly DatasetSchema EveryKind = new(
    [
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("i32", FieldKind.Int32), new SchemaField("f", FieldKind.Float), new SchemaField("d", FieldKind.Double),
        new SchemaField("dec", FieldKind.Decimal, Precision: 18, Scale: 4), new SchemaField("s", FieldKind.String), new SchemaField("b", FieldKind.Boolean),
        new SchemaField("bin", FieldKind.Binary), new SchemaField("day", FieldKind.Date), new SchemaField("ts", FieldKind.Timestamp), new SchemaField("t", FieldKind.Time),
        new SchemaField("geo", FieldKind.Struct, Children:
        [
            new SchemaField("city", FieldKind.String), new SchemaField("zip", FieldKind.Int32),
            new SchemaField("inner", FieldKind.Struct, Children: [new SchemaField("x", FieldKind.Double)]),
        ]),
        new SchemaField("items", FieldKind.List, Children:
        [
            new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.Int64), new SchemaField("v", FieldKind.String)]),
        ]),
        new SchemaField("nums", FieldKind.List, Children: [new SchemaField("element", FieldKind.Double)]),
        new SchemaField("ll", FieldKind.List, Children: [new SchemaField("element", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)])]),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int32, Nullable: false), new SchemaField("value", FieldKind.String)]),
        new SchemaField("ms", FieldKind.Map, Children:
        [
            new SchemaField("key", FieldKind.String, Nullable: false),
            new SchemaField("value", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int64)]),
        ]),
    ]);

    private static readonly string[] Numbers =
    [
        "0", "-0", "1", "-17", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808", "1.5", "-2.25e3", "1e400",
        "3.4e39", "0.1", "1E-5", "834.04", "123456789.123456789", "12345678901234567890123",
    ];

    private static readonly string[] Strings =
    [
        "\"plain\"", "\"q\\\"b\\\\s\\/\\n\"", "\"\\u00e9\\ud83d\\ude00\"", "\"héllo 中\"", "\"\"", "\"AAH/\"", "\"AAH\\/\"", "\"not base64!\"",
        "\"2024-02-29\"", "\"2024\\u002d01-01\"", "\"2024-03-04T05:06:07.5Z\"", "\"2024-03-04T05:06:07+01:00\"", "\"2024-03-04 05:06:07\"",
        "\"23:59:59.1234567\"", "\"1:02\"", "\"25:00\"", "\"2024/01/01\"",
    ];

    /// <summary>A random line: fields of every kind in any order, named twice, unknown or escaped, values of the wrong kind, nulls, and some invalid JSON.</summary>
    private static string RandomLine(Random random, int noise)
    {
        if (random.Next(noise * 10) == 0) return new[] { "[1,2]", "\"x\"", "12", "null", "true" }[random.Next(5)];
        string[] names = ["id", "i32", "f", "d", "dec", "s", "b", "bin", "day", "ts", "t", "geo", "items", "nums", "ll", "m", "ms", "zz", "\\u0069d", "g\\u0065o"];
        var fields = Enumerable.Range(0, random.Next(8)).Select(_ => names[random.Next(names.Length)])
            .Select(name => $"\"{name}\": {RandomValue(random, name.Replace("\\u0069", "i").Replace("\\u0065", "e"), noise)}").ToList();
        if (random.Next(4) > 0) fields.Insert(random.Next(fields.Count + 1), $"\"id\": {random.Next(-5, 1000)}");
        var line = "{" + string.Join(", ", fields) + "}";
        return random.Next(noise * 8) switch
        {
            0 => line[..random.Next(1, line.Length)],
            1 => line + " x",
            2 => line + "{}",
            3 => line.Replace(", ", " , ,"),
            _ => line,
        };
    }

    private static string RandomValue(Random random, string name, int noise)
    {
        string Many(int most, Func<string> item) => string.Join(", ", Enumerable.Range(0, random.Next(most + 1)).Select(_ => item()));
        string Pick(string[] from) => from[random.Next(from.Length)];
        if (random.Next(12) == 0) return "null";
        if (random.Next(noise * 4) == 0) return random.Next(3) switch { 0 => Pick(Numbers), 1 => Pick(Strings), _ => Pick(["true", "[]", "{}", "[1]", "{\"a\":1}"]) };
        var wrong = random.Next(noise * 3) == 0;
        return name switch
        {
            "geo" => "{" + Many(3, () => Pick(["city", "zip", "inner", "q", "zip"]) switch
            {
                "inner" => $"\"inner\": {{\"x\": {Pick(Numbers)}{(random.Next(3) == 0 ? ", \"x\": 2" : "")}}}",
                var field => $"\"{field}\": {RandomValue(random, field == "city" ? "s" : "i32", noise)}",
            }) + "}",
            "items" => "[" + Many(3, () => random.Next(8) == 0 ? "null" : "{" + Many(3, () => Pick(["k", "v", "w"]) switch
            {
                "k" => $"\"k\": {RandomValue(random, "id", noise)}",
                var field => $"\"{field}\": {RandomValue(random, "s", noise)}",
            }) + "}") + "]",
            "nums" => "[" + Many(3, () => RandomValue(random, "d", noise)) + "]",
            "ll" => "[" + Many(2, () => random.Next(6) == 0 ? "null" : "[" + Many(2, () => RandomValue(random, "id", noise)) + "]") + "]",
            "m" => "{" + Many(3, () => $"\"{Pick(["1", "-7", "2147483648", "x", "\\u0035", "007", " 3"])}\": {RandomValue(random, "s", noise)}") + "}",
            "ms" => "{" + Many(2, () => $"\"{Pick(["a", "b\\n", "é", "a"])}\": " + (random.Next(5) == 0 ? "null" : $"{{\"a\": {RandomValue(random, "id", noise)}}}")) + "}",
            "id" or "i32" => wrong ? Pick(Strings) : random.Next(noise) == 0 ? Pick(Numbers) : Numbers[random.Next(5)],
            "f" or "d" or "dec" => wrong ? Pick(Strings) : Pick(Numbers),
            "b" => wrong ? Pick(Numbers) : Pick(["true", "false"]),
            "day" => wrong ? Pick(Strings) : Strings[8 + random.Next(2)],
            "ts" => wrong ? Pick(Strings) : Strings[10 + random.Next(3)],
            "t" => wrong ? Pick(Strings) : Strings[13 + random.Next(2)],
            "bin" => wrong ? Pick(Strings) : Strings[4 + random.Next(3)],
            _ => wrong ? Pick(Numbers) : Pick(Strings),
        };
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 8)]
    [InlineData(3, 30)]
    [InlineData(4, 100)]
    public async Task Random_lines_read_as_the_former_JsonDocument_reader_read_them(int seed, int noise)
    {
        var random = new Random(seed);
        var lines = Enumerable.Range(0, 3000).Select(_ => RandomLine(random, noise)).ToList();
        var path = Write([.. lines]);
        var (expectedRows, expectedRefused) = JsonDocumentShredderOracle.Read(EveryKind, path, lines);
        var refused = new List<string>();
        var chunks = new List<RecordChunk>();

        await foreach (var chunk in new JsonLinesBatchReader(chunkSize: 7, onInvalidRecord: error => refused.Add(error.Message)).ReadAsync(path, false, EveryKind, default))
        {
            chunks.Add(chunk);
        }
        var strict = await Xunit.Record.ExceptionAsync(async () =>
        {
            await foreach (var _ in new JsonLinesBatchReader().ReadAsync(path, false, EveryKind, default)) { }
        });

        Assert.InRange(expectedRows.Count, 300, 2700);
        Assert.Equal(expectedRefused, refused);
        Assert.All(chunks.SkipLast(1), chunk => Assert.Equal(7, chunk.RowCount));
        RecordAssert.Equal(expectedRows, chunks.SelectMany(chunk => chunk.Records).ToList());
        Assert.Equal(expectedRefused.FirstOrDefault(), strict?.Message);
    }
}
