using System.IO.Compression;
using System.Text;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>The JSON Lines reader's invalid-record handler, and truncated gzip files that GZipStream alone reads as shorter valid ones.</summary>
public sealed class JsonLinesInvalidInputTests : IDisposable
{
    private readonly TempFolder _folder = new("de-jsonl-invalid");

    public void Dispose() => _folder.Dispose();

    private string Write(string name, params string[] lines)
    {
        var path = _folder.Combine(name);
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        return path;
    }

    private static async Task<List<long>> ReadIdsAsync(JsonLinesBatchReader reader, string path, bool gzipped)
    {
        var schema = await reader.ReadSchemaAsync(path, gzipped, default);
        var ids = new List<long>();
        await foreach (var chunk in reader.ReadAsync(path, gzipped, schema, default)) ids.AddRange(chunk.Records.Select(r => Convert.ToInt64(r["id"])));
        return ids;
    }

    [Fact]
    public async Task Strict_by_default_and_with_a_handler_invalid_lines_are_reported_and_left_out()
    {
        var path = Write("mixed.jsonl", "{\"id\": 1}", "{\"id\": ", "{\"id\": 3}", "\"text\"", "{\"id\": 5}");

        var strict = await Assert.ThrowsAsync<BatchReadException>(() => ReadIdsAsync(new JsonLinesBatchReader(), path, false));
        Assert.Equal("line 2", strict.Location);

        var reported = new List<string>();
        var ids = await ReadIdsAsync(new JsonLinesBatchReader(chunkSize: 2, onInvalidRecord: e => reported.Add(e.Location)), path, false);

        Assert.Equal([1L, 3L, 5L], ids);
        // Each pass reports them: once while inferring the schema, once while reading the records.
        Assert.Equal(["line 2", "line 4", "line 2", "line 4"], reported);
    }

    // A lone surrogate escaped in a value and in a field name: valid JSON syntax, but no Unicode text to store.
    [Theory]
    [InlineData("{\"id\": 2, \"s\": \"a\\ud800b\"}")]
    [InlineData("{\"id\": 2, \"\\udc00\": 1}")]
    public async Task A_line_escaping_a_lone_surrogate_is_an_invalid_record(string line)
    {
        var path = Write("surrogate.jsonl", "{\"id\": 1, \"s\": \"x\"}", line, "{\"id\": 3, \"s\": \"\\u00e9\"}");

        var strict = await Assert.ThrowsAsync<BatchReadException>(() => ReadIdsAsync(new JsonLinesBatchReader(), path, false));
        var reported = new List<BatchReadException>();
        var ids = await ReadIdsAsync(new JsonLinesBatchReader(onInvalidRecord: reported.Add), path, false);

        Assert.Equal("line 2", strict.Location);
        Assert.Contains("invalid JSON", strict.Message);
        Assert.Equal([1L, 3L], ids);
        Assert.All(reported, error => Assert.Equal("line 2", error.Location));
        Assert.NotEmpty(reported);
    }

    [Fact]
    public async Task A_type_conflict_between_lines_still_fails_the_batch_with_a_handler()
    {
        var path = Write("conflict.jsonl", "{\"id\": 1}", "{\"id\": {\"nested\": true}}");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => ReadIdsAsync(new JsonLinesBatchReader(onInvalidRecord: _ => { }), path, false));

        Assert.Equal("line 2", error.Location);
    }

    [Fact]
    public async Task Truncated_gzip_fails_even_when_cut_at_a_line_end()
    {
        var lines = Enumerable.Range(0, 5000).Select(i => $"{{\"id\": {i}, \"pad\": \"{new string('x', i % 50)}\"}}").ToArray();
        var path = _folder.Combine("cut.jsonl.gz");
        await using (var file = File.Create(path))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            await gzip.WriteAsync(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        }
        Assert.Equal(5000, (await ReadIdsAsync(new JsonLinesBatchReader(), path, true)).Count);

        var whole = await File.ReadAllBytesAsync(path);
        foreach (var cut in new[] { whole.Length - 8, whole.Length - 1, whole.Length / 2 })
        {
            await File.WriteAllBytesAsync(path, whole[..cut]);
            var error = await Assert.ThrowsAsync<BatchReadException>(() => ReadIdsAsync(new JsonLinesBatchReader(onInvalidRecord: _ => { }), path, true));
            Assert.Equal(path, error.FilePath);
            Assert.Contains("truncated", error.Message);
        }
    }

    [Fact]
    public async Task Concatenated_members_are_checked_by_the_last_member_and_a_cut_last_member_fails()
    {
        var path = _folder.Combine("members.jsonl.gz");
        await using (var file = File.Create(path))
        {
            for (var member = 0; member < 3; member++)
            {
                await using var gzip = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true);
                for (var i = 0; i < 1000; i++) await gzip.WriteAsync(Encoding.UTF8.GetBytes($"{{\"id\": {member * 1000 + i}, \"text\": \"member {member} row {i}\"}}\n"));
            }
        }
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => (long)i), await ReadIdsAsync(new JsonLinesBatchReader(), path, true));

        var whole = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, whole[..(whole.Length - 100)]);
        var error = await Assert.ThrowsAsync<BatchReadException>(() => ReadIdsAsync(new JsonLinesBatchReader(), path, true));
        Assert.Contains("truncated", error.Message);
    }
}
