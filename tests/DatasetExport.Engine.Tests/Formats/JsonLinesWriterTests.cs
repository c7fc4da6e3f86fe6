using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

[Collection(FormatsCollection.Name)]
public sealed class JsonLinesWriterTests(FormatsFixture fixture)
{
    private const int Rows = FormatsFixture.Rows;
    private readonly DuckDb _duck = fixture.Duck;

    /// <summary>The original table's types, except binary (base64 text in JSON) and timestamps (read with their 'Z').</summary>
    private string ReadJsonColumns()
    {
        var types = _duck.Describe($"read_parquet({DuckDb.Quote(fixture.AllTypesParquet)})");
        types["bl"] = "VARCHAR";
        foreach (var name in new[] { "ts", "tstz", "tsms", "tsns" }) types[name] = "TIMESTAMPTZ";
        return "{" + string.Join(", ", types.Select(pair => $"'{pair.Key}': '{pair.Value}'")) + "}";
    }

    [Theory]
    [InlineData(CompressionKind.None, "uncompressed")]
    [InlineData(CompressionKind.Gzip, "gzip")]
    public async Task DuckDB_reads_every_kind_back_record_by_record(CompressionKind compression, string duckCompression)
    {
        var path = fixture.NewPath("written" + FormatCatalog.FileExtension(FileType.Json, compression));

        var (bytes, records) = await ParquetFileWriterTests.WriteAsync(path, AllTypes.Schema, AllTypes.ExpectedRecords(Rows), FileType.Json, compression);

        Assert.Equal(new FileInfo(path).Length, bytes);
        Assert.Equal(Rows, records);
        var ours = $"read_json({DuckDb.Quote(path)}, format = 'newline_delimited', compression = '{duckCompression}', columns = {ReadJsonColumns()})";
        var original = $"read_parquet({DuckDb.Quote(fixture.AllTypesParquet)})";
        _duck.AssertSameRows(ours, original, AllTypes.SameRowConditions(fromJson: true), Rows);
        var expected = AllTypes.ExpectedRecords(Rows);
        var lines = await ReadLinesAsync(path, compression == CompressionKind.Gzip);
        Assert.Equal(Rows, lines.Count);
        for (var i = 0; i < Rows; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            Assert.Equal(((decimal)expected[i]["dec38"]!).ToString(CultureInfo.InvariantCulture), line.RootElement.GetProperty("dec38").GetRawText());
        }
    }

    private static async Task<List<string>> ReadLinesAsync(string path, bool gzipped)
    {
        await using var file = File.OpenRead(path);
        await using var input = gzipped ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        using var reader = new StreamReader(input, Encoding.UTF8);
        var lines = new List<string>();
        while (await reader.ReadLineAsync() is { } line) lines.Add(line);
        return lines;
    }

    [Fact]
    public async Task Values_are_written_in_their_documented_text()
    {
        var schema = new DatasetSchema(
        [
            new SchemaField("ts", FieldKind.Timestamp), new SchemaField("whole", FieldKind.Timestamp),
            new SchemaField("dt", FieldKind.Date), new SchemaField("tm", FieldKind.Time), new SchemaField("tm0", FieldKind.Time),
            new SchemaField("dec", FieldKind.Decimal, Precision: 38, Scale: 10), new SchemaField("dec2", FieldKind.Decimal, Precision: 9, Scale: 2),
            new SchemaField("nan", FieldKind.Double), new SchemaField("inf", FieldKind.Float), new SchemaField("f", FieldKind.Float),
            new SchemaField("bin", FieldKind.Binary), new SchemaField("text", FieldKind.String),
            new SchemaField("st", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int32), new SchemaField("b", FieldKind.List, Children: [new SchemaField("element", FieldKind.Boolean)])]),
            new SchemaField("mp", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int64, Nullable: false), new SchemaField("value", FieldKind.Date)]),
            new SchemaField("missing", FieldKind.String),
        ]);
        var record = new Record
        {
            ["ts"] = new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Utc).AddTicks(1_234_500),
            ["whole"] = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc),
            ["dt"] = new DateOnly(1999, 12, 31),
            ["tm"] = new TimeSpan(0, 7, 8, 9).Add(TimeSpan.FromTicks(120)),
            ["tm0"] = new TimeSpan(23, 0, 0),
            ["dec"] = decimal.Parse("-123456789012345678.1234567890", System.Globalization.CultureInfo.InvariantCulture),
            ["dec2"] = 1.20m,
            ["nan"] = double.NaN,
            ["inf"] = float.PositiveInfinity,
            ["f"] = 0.1f,
            ["bin"] = new byte[] { 0, 1, 254, 255 },
            ["text"] = "ü \"quoted\" \n line €",
            ["st"] = new Dictionary<string, object?> { ["a"] = 5, ["b"] = new List<object?> { true, null } },
            ["mp"] = new List<KeyValuePair<object, object?>> { new(7L, new DateOnly(2020, 1, 2)), new(-1L, null) },
        };
        await using var output = new MemoryStream();
        await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Json, CompressionKind.None))
        {
            await writer.WriteAsync(new RecordChunk(schema, [record, new Record()]), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(output.Length, writer.BytesWritten);
        }

        var bytes = output.ToArray();
        Assert.NotEqual(0xEF, bytes[0]);
        Assert.Equal(
            """{"ts":"2024-02-29T23:59:58.1234500Z","whole":"2024-01-01T00:00:00Z","dt":"1999-12-31","tm":"07:08:09.000012","tm0":"23:00:00","dec":-123456789012345678.1234567890,"dec2":1.20,"nan":null,"inf":null,"f":0.1,"bin":"AAH+/w==","text":"ü \"quoted\" \n line €","st":{"a":5,"b":[true,null]},"mp":{"7":"2020-01-02","-1":null},"missing":null}""".Replace("2024-02-29T23:59:58.1234500Z", "2024-02-29T23:59:58.12345Z")
            + "\n"
            + """{"ts":null,"whole":null,"dt":null,"tm":null,"tm0":null,"dec":null,"dec2":null,"nan":null,"inf":null,"f":null,"bin":null,"text":null,"st":null,"mp":null,"missing":null}"""
            + "\n",
            Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task A_gzip_file_stops_close_to_a_small_size_limit_although_blocks_compress_in_the_background()
    {
        const long limit = 1 << 20;
        var schema = new DatasetSchema([new SchemaField("text", FieldKind.String)]);
        var random = new Random(7);
        await using var output = new MemoryStream();
        await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Json, CompressionKind.Gzip, maxFileBytes: limit))
        {
            // Random hex compresses about 2:1, so a few MB of JSON fill the file; written 1,000 rows at a time as exports do.
            while (writer.BytesWritten < limit)
            {
                var rows = Enumerable.Range(0, 1000).Select(_ => new Record { ["text"] = Convert.ToHexString(random.GetItems<byte>(Enumerable.Range(0, 256).Select(b => (byte)b).ToArray(), 100)) });
                await writer.WriteAsync(new RecordChunk(schema, rows.ToList()), CancellationToken.None);
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        Assert.InRange(output.Length, limit, limit + limit / 4);
    }

    [Fact]
    public async Task Gzip_output_is_complete_and_the_stream_stays_open()
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("name", FieldKind.String)]);
        var records = Enumerable.Range(0, 30_000).Select(i => new Record { ["id"] = (long)i, ["name"] = $"name {i}" }).ToList();
        await using var plain = new MemoryStream();
        await using var gzipped = new MemoryStream();
        foreach (var (output, compression) in new[] { (plain, CompressionKind.None), (gzipped, CompressionKind.Gzip) })
        {
            await using var writer = FormatCatalog.CreateWriter(output, schema, FileType.Json, compression);
            foreach (var chunk in records.Chunk(7_000)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(output.Length, writer.BytesWritten);
            Assert.Equal(records.Count, writer.RecordsWritten);
        }

        Assert.True(gzipped.CanWrite, "CompleteAsync leaves the output open");
        Assert.True(gzipped.Length < plain.Length / 3);
        await using var decompressed = new MemoryStream();
        gzipped.Position = 0;
        await using (var gzip = new GZipStream(gzipped, CompressionMode.Decompress, leaveOpen: true)) await gzip.CopyToAsync(decompressed);
        Assert.Equal(plain.ToArray(), decompressed.ToArray());
        var lines = Encoding.UTF8.GetString(plain.ToArray()).Split('\n');
        Assert.Equal(30_001, lines.Length);
        Assert.Equal("""{"id":29999,"name":"name 29999"}""", lines[^2]);
        Assert.Equal("", lines[^1]);
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task A_writer_disposed_without_completing_adds_no_trailer_or_footer(FileType fileType, CompressionKind compression)
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64)]);
        var records = Enumerable.Range(0, 150_000).Select(i => new Record { ["id"] = (long)i }).ToArray();
        await using var output = new MemoryStream();
        long bytesBeforeDispose;
        await using (var writer = FormatCatalog.CreateWriter(output, schema, fileType, compression))
        {
            // Until data has reached the output: Parquet sends a row group (50,000 records) at a time, gzip the blocks compressed so far.
            for (var writes = 0; writer.BytesWritten == 0 && writes < 20; writes++)
            {
                await writer.WriteAsync(new RecordChunk(schema, records), CancellationToken.None);
            }
            bytesBeforeDispose = writer.BytesWritten;
        }

        Assert.True(bytesBeforeDispose > 0);
        Assert.Equal(bytesBeforeDispose, output.Length);
        var path = fixture.NewPath("aborted" + FormatCatalog.FileExtension(fileType, compression));
        await File.WriteAllBytesAsync(path, output.ToArray());
        var read = fileType == FileType.Json ? $"read_json({DuckDb.Quote(path)}, format = 'newline_delimited')" : $"read_parquet({DuckDb.Quote(path)})";
        Assert.ThrowsAny<Exception>(() => _duck.Count($"SELECT count(*) FROM {read}"));
    }
}
