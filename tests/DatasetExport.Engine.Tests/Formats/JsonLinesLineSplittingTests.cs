using System.IO.Compression;
using System.Text;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// How the JSON Lines reader splits a file into UTF-8 lines (<see cref="JsonLinesBatchReader.LineSource"/>): line ends,
/// BOM, blank lines, lines longer than its buffer, invalid UTF-8, gzip; plain and gzipped files must split the same.
/// </summary>
public sealed class JsonLinesLineSplittingTests : IDisposable
{
    private const int BufferBytes = JsonLinesBatchReader.InitialLineBufferBytes;

    /// <summary>What `gzip` writes for an empty input: header, an empty final deflate block, CRC-32 0, length 0.</summary>
    private static readonly byte[] EmptyGzip = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private readonly TempFolder _folder = new("de-jsonl-lines");

    public void Dispose() => _folder.Dispose();

    /// <summary>The bytes written twice, plain and gzipped.</summary>
    private (string Plain, string Gzipped) Write(string name, byte[] content)
    {
        var plain = _folder.Combine(name);
        File.WriteAllBytes(plain, content);
        var gzipped = plain + ".gz";
        if (content.Length == 0)
        {
            File.WriteAllBytes(gzipped, EmptyGzip);   // GZipStream writes no member at all for no data
        }
        else
        {
            using var gzip = new GZipStream(File.Create(gzipped), CompressionLevel.Fastest);
            gzip.Write(content);
        }
        return (plain, gzipped);
    }

    private (string Plain, string Gzipped) Write(string name, string content) => Write(name, Encoding.UTF8.GetBytes(content));

    private static async Task<List<(long LineNumber, string Text)>> LinesAsync(string path, bool gzipped)
    {
        var lines = new List<(long, string)>();
        await using var source = JsonLinesBatchReader.LineSource.Open(path, gzipped);
        while (await source.ReadAsync(CancellationToken.None))
        {
            while (source.TryTakeLine(out var lineNumber, out var line)) lines.Add((lineNumber, Encoding.UTF8.GetString(line.Span)));
        }
        return lines;
    }

    /// <summary>Reads both files and checks they split into the same lines; returns them.</summary>
    private static async Task<List<(long LineNumber, string Text)>> BothAsync((string Plain, string Gzipped) files)
    {
        var plain = await LinesAsync(files.Plain, false);
        Assert.Equal(plain, await LinesAsync(files.Gzipped, true));
        return plain;
    }

    [Fact]
    public async Task LF_CRLF_and_lone_CR_end_lines_and_a_last_line_needs_no_line_end()
    {
        var files = Write("ends.jsonl", "{\"a\":1}\n{\"a\":2}\r\n{\"a\":3}\r{\"a\":4}\r\n\r\n{\"a\":5}");

        Assert.Equal(
            [(1L, "{\"a\":1}"), (2L, "{\"a\":2}"), (3L, "{\"a\":3}"), (4L, "{\"a\":4}"), (6L, "{\"a\":5}")],
            await BothAsync(files));
    }

    [Fact]
    public async Task Blank_lines_are_counted_and_skipped_Unicode_white_space_included()
    {
        // Tab, vertical tab, form feed, no-break space, en quad, line separator: all white space to string.IsNullOrWhiteSpace.
        var files = Write("blank.jsonl", "\n  \t\v\f\n{\"a\":1}\n\u00A0\u2000\u2028\n\n{\"a\":2}\n   \n");

        Assert.Equal([(3L, "{\"a\":1}"), (6L, "{\"a\":2}")], await BothAsync(files));
    }

    [Fact]
    public async Task A_byte_order_mark_is_dropped_only_at_the_start_of_the_file()
    {
        byte[] bom = [0xEF, 0xBB, 0xBF];
        var files = Write("bom.jsonl", [.. bom, .. "{\"a\":1}\n"u8, .. bom, .. "{\"a\":2}"u8]);

        // A BOM later in the file is U+FEFF inside the line, which the JSON parser then refuses.
        Assert.Equal([(1L, "{\"a\":1}"), (2L, "\uFEFF{\"a\":2}")], await BothAsync(files));
        var error = await Assert.ThrowsAsync<BatchReadException>(() => new JsonLinesBatchReader().ReadSchemaAsync(files.Plain, false, default));
        Assert.Equal("line 2", error.Location);
        Assert.Contains("invalid JSON", error.Message);
    }

    [Fact]
    public async Task A_file_of_only_a_BOM_or_only_blank_lines_has_no_lines_and_an_empty_schema()
    {
        foreach (var (name, content) in new[] { ("empty.jsonl", ""u8.ToArray()), ("bom-only.jsonl", [0xEF, 0xBB, 0xBF]), ("blank.jsonl", "\r\n \n\n"u8.ToArray()) })
        {
            var files = Write(name, content);
            Assert.Empty(await BothAsync(files));
            Assert.Empty((await new JsonLinesBatchReader().ReadSchemaAsync(files.Gzipped, true, default)).Fields);
        }
    }

    [Fact]
    public async Task Lines_longer_than_the_buffer_grow_it_and_keep_multi_byte_characters_whole()
    {
        // Three-byte characters (€) and four-byte ones (😀) across every buffer boundary of a line 3.5 buffers long.
        var longText = string.Concat(Enumerable.Repeat("€x😀", (int)(3.5 * BufferBytes / 8)));
        var lines = new[] { "{\"short\":1}", $"{{\"long\":\"{longText}\"}}", "{\"short\":2}", $"{{\"long\":\"{longText}{longText}\"}}" };
        var files = Write("long.jsonl", string.Join("\r\n", lines));

        Assert.Equal(lines.Select((text, index) => ((long)index + 1, text)), await BothAsync(files));
        var schema = await new JsonLinesBatchReader().ReadSchemaAsync(files.Gzipped, true, default);
        Assert.Equal("short int64, long string", schema.ToString());
    }

    [Theory]
    [InlineData(-2)]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_CRLF_split_by_the_buffer_end_is_one_line_end(int shift)
    {
        // The first line's '\r' falls `shift` bytes from the end of the first buffer fill.
        var padding = new string('p', BufferBytes - 1 + shift - "{\"p\":\"\"}".Length);
        var content = $"{{\"p\":\"{padding}\"}}\r\n{{\"p\":\"q\"}}\r\n{{\"p\":\"r\"}}";
        Assert.Equal(BufferBytes - 1 + shift, content.IndexOf('\r'));
        var files = Write($"boundary{shift}.jsonl", content);

        var lines = await BothAsync(files);

        Assert.Equal([1L, 2L, 3L], lines.Select(line => line.LineNumber));
        Assert.Equal("{\"p\":\"r\"}", lines[2].Text);
    }

    [Fact]
    public async Task Invalid_UTF8_inside_a_string_value_fails_the_file_at_its_line_even_with_a_handler()
    {
        // 0xC3 starts a two-byte sequence that 0x28 does not continue; the line is otherwise valid JSON.
        var files = Write("latin1.jsonl", [.. "{\"a\":\"ok\"}\n\n{\"a\":\"ab"u8, 0xC3, 0x28, .. "\"}\n{\"a\":\"ok\"}\n"u8]);
        var schema = new DatasetSchema([new SchemaField("a", FieldKind.String)]);

        foreach (var (path, gzipped) in new[] { (files.Plain, false), (files.Gzipped, true) })
        {
            var skipped = new List<BatchReadException>();
            var reader = new JsonLinesBatchReader(onInvalidRecord: skipped.Add);
            var errors = new[]
            {
                await Assert.ThrowsAsync<BatchReadException>(() => reader.ReadSchemaAsync(path, gzipped, default)),
                await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(reader, path, gzipped, schema)),
            };

            Assert.Empty(skipped);
            foreach (var error in errors)
            {
                Assert.Equal(path, error.FilePath);
                Assert.Equal("line 3", error.Location);
                Assert.EndsWith("the file cannot be decoded: the line is not valid UTF-8 (byte 0xC3 at byte 9 of the line).", error.Message);
            }
        }
    }

    [Fact]
    public async Task Invalid_JSON_lines_go_to_the_handler_with_their_line_numbers_across_line_end_styles()
    {
        var files = Write("handler.jsonl", "{\"id\":1}\r\n{\"id\":\r\r{\"id\":3}\n[3]\r\n\n{\"id\":5}");
        var reported = new List<string>();
        var reader = new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Location));

        var schema = await reader.ReadSchemaAsync(files.Gzipped, true, default);
        var records = await RecordAssert.ReadAllAsync(reader, files.Plain, false, schema);

        Assert.Equal("id int64", schema.ToString());
        Assert.Equal([1L, 3L, 5L], records.Select(record => record["id"]));
        Assert.Equal(["line 2", "line 5", "line 2", "line 5"], reported);
    }
}
