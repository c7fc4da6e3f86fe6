using System.Globalization;
using System.IO.Compression;
using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

[Collection(FormatsCollection.Name)]
public sealed class JsonLinesBatchReaderTests(FormatsFixture fixture)
{
    private readonly JsonLinesBatchReader _reader = new();

    private async Task<string> WriteLinesAsync(string fileName, params string[] lines)
    {
        var path = fixture.NewPath(fileName);
        await File.WriteAllTextAsync(path, string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        return path;
    }

    private Task<DatasetSchema> InferAsync(string path, bool gzipped = false) => _reader.ReadSchemaAsync(path, gzipped, CancellationToken.None);

    [Fact]
    public async Task DuckDB_JSON_output_is_inferred_and_read_with_every_value()
    {
        var path = fixture.NewPath("duck.json");
        fixture.Duck.Execute($"""
            COPY (SELECT id, i32, d, dec18, s, dt, ts, st, lst, lstst, stnull, lstlst, nul, bo FROM ({AllTypes.SelectSql(3000)}))
            TO {DuckDb.Quote(path)} (FORMAT json)
            """);

        var schema = await InferAsync(path);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        // DuckDB writes every column on every line, nulls included: nullable where a null was seen.
        Assert.Equal(
            "id int64, i32 int64, d double, dec18 double, s string, dt string, ts string, st struct<a:int64,b:string,c:struct<d:list<int64>>>, "
            + "lst list<int64>, lstst list<struct<k:int64>>, stnull struct<p:int64>, lstlst list<list<int64>>, nul int64, bo boolean",
            schema.ToString());
        Assert.False(schema.Fields[0].Nullable);
        Assert.True(schema.Fields.Single(field => field.Name == "nul").Nullable);
        Assert.True(schema.Fields.Single(field => field.Name == "lst").ChildFields[0].Nullable);
        Assert.Equal(3000, records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            var source = AllTypes.Expected(i);
            var expected = new Record
            {
                ["id"] = (long)i,
                ["i32"] = (long)(int)source["i32"]!,
                ["d"] = source["d"],
                ["dec18"] = (double)(decimal)source["dec18"]!,
                ["s"] = source["s"],
                ["dt"] = ((DateOnly)source["dt"]!).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                ["ts"] = ((DateTime)source["ts"]!).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
                ["st"] = source["st"],
                ["lst"] = source["lst"],
                ["lstst"] = source["lstst"],
                ["stnull"] = source["stnull"],
                ["lstlst"] = source["lstlst"],
                ["nul"] = source["nul"],
                ["bo"] = source["bo"],
            };
            RecordAssert.Equal(expected, records[i], $"line {i + 1}");
        }
    }

    [Fact]
    public async Task Inference_widens_merges_and_marks_nullable_by_the_documented_rules()
    {
        var path = await WriteLinesAsync("rules.jsonl",
            """{"n": 1, "mixed": 1, "huge": 1, "onlynull": null, "s": "2024-01-01", "o": {"a": 1}, "arr": [1, 2], "empty": [], "flag": true}""",
            "",
            """{"n": 2, "mixed": 2.5, "huge": 123456789012345678901234567890, "onlynull": null, "s": "x", "o": {"b": "t"}, "arr": [null, 3.5], "empty": [], "late": {"x": [true]}}""",
            "   ",
            """{"n": 3, "mixed": -4, "huge": 2, "s": "y", "o": null, "arr": [], "empty": [], "flag": false}""");

        var schema = await InferAsync(path);

        Assert.Equal(new DatasetSchema(
        [
            new SchemaField("n", FieldKind.Int64, Nullable: false),
            new SchemaField("mixed", FieldKind.Double, Nullable: false),
            new SchemaField("huge", FieldKind.Double, Nullable: false),
            new SchemaField("onlynull", FieldKind.String, Nullable: true),
            new SchemaField("s", FieldKind.String, Nullable: false),
            new SchemaField("o", FieldKind.Struct, Nullable: true, Children:
            [
                new SchemaField("a", FieldKind.Int64, Nullable: true),
                new SchemaField("b", FieldKind.String, Nullable: true),
            ]),
            new SchemaField("arr", FieldKind.List, Nullable: false, Children: [new SchemaField("element", FieldKind.Double, Nullable: true)]),
            new SchemaField("empty", FieldKind.List, Nullable: false, Children: [new SchemaField("element", FieldKind.String, Nullable: true)]),
            new SchemaField("flag", FieldKind.Boolean, Nullable: true),
            new SchemaField("late", FieldKind.Struct, Nullable: true, Children:
                [new SchemaField("x", FieldKind.List, Nullable: false, Children: [new SchemaField("element", FieldKind.Boolean, Nullable: false)])]),
        ]), schema);

        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);
        Assert.Equal(3, records.Count);
        RecordAssert.Equal(new Record
        {
            ["n"] = 2L, ["mixed"] = 2.5, ["huge"] = 123456789012345678901234567890.0, ["onlynull"] = null, ["s"] = "x",
            ["o"] = new Dictionary<string, object?> { ["a"] = null, ["b"] = "t" },
            ["arr"] = new List<object?> { null, 3.5 }, ["empty"] = new List<object?>(), ["flag"] = null,
            ["late"] = new Dictionary<string, object?> { ["x"] = new List<object?> { true } },
        }, records[1], "line 3");
        Assert.Equal(-4.0, records[2]["mixed"]);
    }

    [Theory]
    [InlineData("""{"a": 1}""", """{"a": "1"}""", "'a'", "a string", "an integer")]
    [InlineData("""{"a": {"b": 1}}""", """{"a": [1]}""", "'a'", "an array", "an object")]
    [InlineData("""{"a": {"b": true}}""", """{"a": {"b": 0}}""", "'a.b'", "an integer", "a boolean")]
    [InlineData("""{"tags": ["x"]}""", """{"tags": [1]}""", "'tags[]'", "an integer", "a string")]
    public async Task A_type_conflict_names_file_line_and_field(string first, string second, string field, string found, string earlier)
    {
        var path = await WriteLinesAsync("conflict.jsonl", first, "", second);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(path));

        Assert.Equal(path, error.FilePath);
        Assert.Equal("line 3", error.Location);
        Assert.Contains(field, error.Message);
        Assert.Contains(found, error.Message);
        Assert.Contains(earlier, error.Message);
    }

    [Theory]
    [InlineData("""{"a": 1, }""")]
    [InlineData("""{"a": 1}{"a": 2}""")]
    [InlineData("[1, 2]")]
    public async Task An_invalid_line_names_file_and_line_for_schema_and_records(string badLine)
    {
        var path = await WriteLinesAsync("invalid.jsonl", """{"a": 1}""", """{"a": 2}""", badLine, """{"a": 4}""");
        var schema = new DatasetSchema([new SchemaField("a", FieldKind.Int64)]);

        var inferError = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(path));
        var readError = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, path, false, schema));

        foreach (var error in new[] { inferError, readError })
        {
            Assert.Equal(path, error.FilePath);
            Assert.Equal("line 3", error.Location);
            Assert.Contains(path + " (line 3)", error.Message);
        }
    }

    [Fact]
    public async Task A_value_that_does_not_fit_the_dataset_schema_names_line_and_field()
    {
        var path = await WriteLinesAsync("misfit.jsonl", """{"a": {"b": 1}}""", """{"a": {"b": "x"}}""");
        var schema = new DatasetSchema([new SchemaField("a", FieldKind.Struct, Children: [new SchemaField("b", FieldKind.Int64)])]);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, path, false, schema));

        Assert.Equal("line 2", error.Location);
        Assert.Contains("'a.b'", error.Message);
        Assert.Contains("int64", error.Message);
    }

    [Fact]
    public async Task Records_conform_to_a_wider_dataset_schema()
    {
        var path = await WriteLinesAsync("conform.ndjson",
            """{"id": 1, "v": 2, "when": "2024-03-04T05:06:07.5Z", "day": "2024-03-04", "t": "10:11:12.25", "bin": "AAH/", "m": {"k": 1}}""");
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64), new SchemaField("v", FieldKind.Double), new SchemaField("extra", FieldKind.String),
            new SchemaField("when", FieldKind.Timestamp), new SchemaField("day", FieldKind.Date), new SchemaField("t", FieldKind.Time),
            new SchemaField("bin", FieldKind.Binary),
            new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Decimal, Precision: 10, Scale: 2)]),
        ]);

        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        RecordAssert.Equal(new Record
        {
            ["id"] = 1L, ["v"] = 2.0, ["extra"] = null,
            ["when"] = new DateTime(2024, 3, 4, 5, 6, 7, 500, DateTimeKind.Utc), ["day"] = new DateOnly(2024, 3, 4),
            ["t"] = new TimeSpan(0, 10, 11, 12, 250), ["bin"] = new byte[] { 0, 1, 255 },
            ["m"] = new List<KeyValuePair<object, object?>> { new("k", 1m) },
        }, records.Single(), "line 1");
    }

    [Fact]
    public async Task Large_files_stream_in_chunks_and_gzip_batches_read_the_same()
    {
        var plain = fixture.NewPath("large.jsonl");
        var gzipped = plain + ".gz";
        var text = new StringBuilder();
        for (var i = 0; i < 25_000; i++) text.Append("{\"id\":").Append(i).Append(",\"name\":\"n").Append(i).Append("\"}\n");
        await File.WriteAllTextAsync(plain, text.ToString());
        await using (var output = new GZipStream(File.Create(gzipped), CompressionLevel.Fastest)) await output.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()));

        foreach (var (path, isGzipped) in new[] { (plain, false), (gzipped, true) })
        {
            var schema = await InferAsync(path, isGzipped);
            var sizes = new List<int>();
            long expectedId = 0;
            await foreach (var chunk in _reader.ReadAsync(path, isGzipped, schema, CancellationToken.None))
            {
                sizes.Add(chunk.Records.Count);
                foreach (var record in chunk.Records) Assert.Equal(expectedId++, record["id"]);
            }
            var chunkSize = JsonLinesBatchReader.DefaultChunkSize;
            Assert.Equal(Enumerable.Repeat(chunkSize, 25_000 / chunkSize).Append(25_000 % chunkSize), sizes);
            Assert.Null(await _reader.ReadRecordCountAsync(path, isGzipped, CancellationToken.None));
        }
    }

    [Fact]
    public async Task Concatenated_gzip_members_read_as_one_file()
    {
        var path = fixture.NewPath("members.jsonl.gz");
        await using (var file = File.Create(path))
        {
            foreach (var line in new[] { "{\"a\": 1}\n", "{\"a\": 2}\n" })
            {
                await using var member = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true);
                await member.WriteAsync(Encoding.UTF8.GetBytes(line));
            }
        }

        var schema = await InferAsync(path, gzipped: true);
        var records = await RecordAssert.ReadAllAsync(_reader, path, true, schema);

        Assert.Equal([1L, 2L], records.Select(record => record["a"]));
    }

    [Fact]
    public async Task A_byte_order_mark_and_CRLF_line_ends_are_accepted()
    {
        var path = fixture.NewPath("windows.json");
        await File.WriteAllTextAsync(path, "{\"a\": \"é\"}\r\n\r\n{\"a\": \"b\"}\r\n", new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));

        var schema = await InferAsync(path);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        Assert.Equal("a string", schema.ToString());
        Assert.Equal(["é", "b"], records.Select(record => record["a"]));
    }

    [Fact]
    public async Task A_missing_file_is_a_batch_read_error()
    {
        var path = fixture.NewPath("absent.jsonl");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(path));

        Assert.Equal(path, error.FilePath);
    }
}
