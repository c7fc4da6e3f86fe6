using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DatasetExport.Engine.Formats;
using Parquet;
using Parquet.Schema;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// String columns hold UTF-8: text reaches the files as it did when chunks held UTF-16 chars (the JSON Lines writer's
/// escaping, Parquet's bytes), and text that is not valid Unicode ends as U+FFFD, as it did then.
/// </summary>
public sealed class Utf8TextTests : IDisposable
{
    private static readonly DatasetSchema Schema = new(
    [
        new SchemaField("s", FieldKind.String),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.String)]),
    ]);

    /// <summary>Every ASCII char, the chars JSON writers escape beyond it, other scripts, surrogate pairs and U+FFFD.</summary>
    private static readonly string[] Texts =
    [
        "",
        string.Concat(Enumerable.Range(0, 128).Select(code => (char)code)),
        "<html> & 'apos' \"q\" back\\slash /",
        "\u0085 \u00A0 \u00AD \u2028 \u2029 \uFEFF \uFFFD \uE000 \uFFFF",
        "ü é ñ € 中文 日本語 한국어 العربية עברית",
        "😀 \U0001D11E \U0010FFFF a😀b",
        "e\u0301 combining",
        string.Concat(Enumerable.Repeat("é中😀x\t", 5_000)),
    ];

    private readonly TempFolder _folder = new("de-utf8-text");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task JSON_Lines_text_and_map_keys_are_written_as_the_writer_escapes_the_same_UTF16_strings()
    {
        var records = Texts.Select(text => new Record
        {
            ["s"] = text,
            ["m"] = new List<KeyValuePair<object, object?>> { new(text, text) },
        }).ToList();

        var written = await WriteAsync(FileType.Json, records);

        // What the writer made of the strings as .NET strings (UTF-16), with the JSON Lines writer's encoder.
        var expected = new MemoryStream();
        foreach (var text in Texts)
        {
            using (var json = new Utf8JsonWriter(expected, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                json.WriteStartObject();
                json.WriteString("s", text);
                json.WriteStartObject("m");
                json.WriteString(text, text);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            expected.WriteByte((byte)'\n');
        }
        Assert.Equal(Encoding.UTF8.GetString(expected.ToArray()), Encoding.UTF8.GetString(written));
        Assert.Equal(expected.ToArray(), written);
    }

    [Fact]
    public async Task Text_read_from_JSON_Lines_and_from_Parquet_reads_back_as_the_same_strings()
    {
        var records = Texts.Select(text => new Record { ["s"] = text, ["m"] = new List<KeyValuePair<object, object?>> { new(text, text) } }).ToList();
        var jsonPath = _folder.Combine("texts.jsonl");
        var parquetPath = _folder.Combine("texts.parquet");
        await File.WriteAllBytesAsync(jsonPath, await WriteAsync(FileType.Json, records));
        await File.WriteAllBytesAsync(parquetPath, await WriteAsync(FileType.Parquet, records));

        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new JsonLinesBatchReader(), jsonPath, false, Schema));
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), parquetPath, false, Schema));
    }

    [Fact]
    public async Task A_lone_surrogate_in_a_record_becomes_U_FFFD_in_the_chunk_and_in_both_files()
    {
        var records = new List<Record>
        {
            new() { ["s"] = "a\uD800b", ["m"] = new List<KeyValuePair<object, object?>> { new("\uDC00", "x\uD83D") } },
        };
        var chunk = new RecordChunk(Schema, records);

        var read = Assert.Single(chunk.Records);
        Assert.Equal("a\uFFFDb", read["s"]);
        var entry = Assert.Single(Assert.IsAssignableFrom<IReadOnlyList<KeyValuePair<object, object?>>>(read["m"]));
        Assert.Equal(("\uFFFD", "x\uFFFD"), ((string)entry.Key, (string?)entry.Value));

        var parquetPath = _folder.Combine("surrogates.parquet");
        await File.WriteAllBytesAsync(parquetPath, await WriteAsync(FileType.Parquet, records));
        Assert.Equal(["a\uFFFDb"], await ParquetNetTextsAsync(parquetPath));

        // Written from UTF-16, the lone surrogates became "\uFFFD" escapes; now U+FFFD is in the text before it is
        // written, as its UTF-8 bytes. Both read back as U+FFFD.
        Assert.Equal("{\"s\":\"a\uFFFDb\",\"m\":{\"\uFFFD\":\"x\uFFFD\"}}\n", Encoding.UTF8.GetString(await WriteAsync(FileType.Json, records)));
    }

    [Fact]
    public async Task Invalid_UTF8_in_a_Parquet_text_column_reads_as_U_FFFD_as_ParquetNet_decodes_it()
    {
        // Written valid, then the marker's bytes replaced wherever they are (dictionary, statistics): no page checksums.
        const string marker = "\u00E9\u00E8\u00EA\u00EB";
        byte[] invalid = [(byte)'A', 0xFF, (byte)'B', 0xC3, (byte)'C', 0x80, 0xED, 0xA0];
        var records = new List<Record> { new() { ["s"] = marker }, new() { ["s"] = "ok" }, new() { ["s"] = marker } };
        var bytes = await WriteAsync(FileType.Parquet, records, CompressionKind.None);
        var markerBytes = Encoding.UTF8.GetBytes(marker);
        var replaced = 0;
        for (var at = bytes.AsSpan().IndexOf(markerBytes); at >= 0; at = bytes.AsSpan().IndexOf(markerBytes))
        {
            invalid.CopyTo(bytes, at);
            replaced++;
        }
        Assert.True(replaced >= 1);
        var path = _folder.Combine("invalid.parquet");
        await File.WriteAllBytesAsync(path, bytes);

        var expected = Encoding.UTF8.GetString(invalid);
        Assert.Equal("A\uFFFDB\uFFFDC\uFFFD\uFFFD\uFFFD", expected);
        Assert.Equal([expected, "ok", expected], await ParquetNetTextsAsync(path));
        var read = await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, Schema);
        Assert.Equal([expected, "ok", expected], read.Select(record => record["s"]));
    }

    [Fact]
    public void Shredding_strings_makes_no_object_per_value()
    {
        const int Rows = 4096;
        var lines = new[]
        {
            """{"s": "plain ascii text of some length", "m": {"k": "v"}}""",
            """{"s": "héllo 中文 😀", "m": {"ключ": "значение"}}""",
            """{"s": "q\"b\\s\/n\nt\t\u00e9\ud83d\ude00", "m": {"k\"ey\u00e9": "\u4e2d"}}""",
        }.Select(line => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(line)).ToArray();
        var shredder = new JsonLineShredder(Schema, "strings.jsonl", Rows, new RowGroupPools());
        void ShredChunk()
        {
            for (var row = 0; row < Rows; row++) shredder.AddRow(lines[row % lines.Length], row + 1);
            var chunk = shredder.Build();
            Assert.Equal(Rows, chunk.RowCount);
            chunk.Release();
        }
        ShredChunk();   // the pools' arrays and text blocks, once

        // The least of three chunks: an allocation the runtime makes on this thread once in a while (seen once under load:
        // 8,592 bytes in a chunk that takes 2,096) is not one per value, which every chunk would show.
        var allocated = Enumerable.Range(0, 3).Min(_ =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            ShredChunk();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        });

        // An array or string per value would take at least 24 bytes for each of the 3 * 4096 strings.
        Assert.True(allocated < 8 * 1024, $"{allocated} bytes allocated for {Rows} rows");
    }

    /// <summary>Column 's' of the file's first row group as Parquet.Net decodes it.</summary>
    private static async Task<string[]> ParquetNetTextsAsync(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path, ParquetSchemaMapping.ReadOptions());
        var field = reader.Schema.GetDataFields().Single(candidate => candidate.Name == "s");
        using var group = reader.OpenRowGroupReader(0);
        var count = (int)group.GetMetadata(field)!.MetaData!.NumValues;
        var definitions = new int[count];
        var values = new ReadOnlyMemory<char>[count];
        await group.ReadRawAsync<ReadOnlyMemory<char>>(field, values, definitions, null);
        return values.Take(definitions.Count(level => level == field.MaxDefinitionLevel)).Select(value => value.ToString()).ToArray();
    }

    private static async Task<byte[]> WriteAsync(FileType type, IReadOnlyList<Record> records, CompressionKind compression = CompressionKind.Snappy)
    {
        using var output = new MemoryStream();
        await using (var writer = FormatCatalog.CreateWriter(output, Schema, type, type == FileType.Json ? CompressionKind.None : compression))
        {
            await writer.WriteAsync(new RecordChunk(Schema, records), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }
        return output.ToArray();
    }
}
