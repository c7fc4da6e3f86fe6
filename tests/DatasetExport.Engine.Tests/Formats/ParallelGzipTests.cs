using System.IO.Compression;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Gzip compressed in blocks on other threads (<see cref="ParallelGzipWriter"/>): one gzip member that every reader
/// takes as the plain text, the same bytes whatever the timing, and no valid end unless completed.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParallelGzipTests(FormatsFixture fixture)
{
    private static readonly DatasetSchema Schema = new([new SchemaField("id", FieldKind.Int64), new SchemaField("text", FieldKind.String)]);

    /// <summary>About 3.5 blocks of JSON, so several blocks compress at once and the last one is partial.</summary>
    private static List<Record> ManyBlocksOfRecords() =>
        Enumerable.Range(0, (int)(3.5 * ParallelGzipWriter.DefaultBlockBytes / 40))
            .Select(i => new Record { ["id"] = (long)i, ["text"] = $"row {i} {(i * 7919L % 100_003):D6} ü" }).ToList();

    private static async Task<byte[]> WriteJsonAsync(IReadOnlyList<Record> records, CompressionKind compression)
    {
        await using var output = new MemoryStream();
        await using (var writer = FormatCatalog.CreateWriter(output, Schema, FileType.Json, compression))
        {
            foreach (var chunk in records.Chunk(1000)) await writer.WriteAsync(new RecordChunk(Schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(output.Length, writer.BytesWritten);
        }
        return output.ToArray();
    }

    private static byte[] Gunzip(byte[] gzipped)
    {
        using var decompressed = new MemoryStream();
        using (var gzip = new GZipStream(new MemoryStream(gzipped), CompressionMode.Decompress)) gzip.CopyTo(decompressed);
        return decompressed.ToArray();
    }

    [Fact]
    public async Task Files_sharing_a_shelf_of_blocks_are_written_as_files_with_their_own()
    {
        var records = ManyBlocksOfRecords();
        var expected = await WriteJsonAsync(records, CompressionKind.Gzip);
        var shelf = new WriterShelf();

        // One after the other as an export's parts, the second file in the blocks the first gave back, the third in blocks
        // that a file abandoned half-way gave back (still compressing when it was disposed).
        var files = new List<byte[]>();
        for (var file = 0; file < 3; file++)
        {
            await using var output = new MemoryStream();
            await using (var writer = FormatCatalog.CreateWriter(output, Schema, FileType.Json, CompressionKind.Gzip, long.MaxValue, shelf))
            {
                foreach (var chunk in records.Chunk(1000)) await writer.WriteAsync(new RecordChunk(Schema, chunk), CancellationToken.None);
                if (file == 1) continue;
                await writer.CompleteAsync(CancellationToken.None);
            }
            if (file != 1) files.Add(output.ToArray());
        }

        Assert.All(files, written => Assert.Equal(expected, written));
    }

    [Fact]
    public void A_shelf_hands_a_block_back_once_and_only_for_its_size()
    {
        var shelf = new ParallelGzipWriter.BlockShelf();
        var block = shelf.Take(1000);

        shelf.Put(block);

        Assert.Same(block, shelf.Take(1000));
        Assert.NotSame(block, shelf.Take(1000));
        shelf.Put(block);
        Assert.Equal(2000, shelf.Take(2000).Size);
        Assert.NotSame(block, shelf.Take(1000));
    }

    [Fact]
    public async Task Several_blocks_read_back_as_the_plain_text_with_DuckDB_NET_and_the_engine()
    {
        var records = ManyBlocksOfRecords();

        var plain = await WriteJsonAsync(records, CompressionKind.None);
        var gzipped = await WriteJsonAsync(records, CompressionKind.Gzip);

        Assert.True(plain.Length > 3 * ParallelGzipWriter.DefaultBlockBytes);
        Assert.True(gzipped.Length < plain.Length / 2);
        Assert.Equal(plain, Gunzip(gzipped));
        var path = fixture.NewPath("blocks.jsonl.gz");
        await File.WriteAllBytesAsync(path, gzipped);
        var read = $"read_json({DuckDb.Quote(path)}, format = 'newline_delimited', compression = 'gzip')";
        Assert.Equal(records.Count, fixture.Duck.Count($"SELECT count(*) FROM {read}"));
        Assert.Equal((long)records.Count * (records.Count - 1) / 2, fixture.Duck.Count($"SELECT sum(id)::BIGINT FROM {read}"));
        Assert.Equal(records.Count, fixture.Duck.Count($"SELECT count(*) FROM {read} WHERE text = 'row ' || id || ' ' || lpad((id * 7919 % 100003)::VARCHAR, 6, '0') || ' ü'"));
        long engineRows = 0;
        await foreach (var chunk in FormatCatalog.GetReader(BatchFormat.JsonLines).ReadAsync(path, gzipped: true, Schema, CancellationToken.None))
        {
            engineRows += chunk.RowCount;
        }
        Assert.Equal(records.Count, engineRows);
    }

    [Fact]
    public async Task The_bytes_do_not_depend_on_how_many_blocks_compress_at_once_or_how_the_data_arrives()
    {
        var data = new byte[(int)(2.3 * ParallelGzipWriter.DefaultBlockBytes)];
        new Random(7).NextBytes(data.AsSpan(0, data.Length / 3));
        for (var i = data.Length / 3; i < data.Length; i++) data[i] = (byte)"abcabd\n"[i % 7];

        async Task<byte[]> CompressAsync(int maxInFlight, int piece)
        {
            await using var output = new MemoryStream();
            await using var gzip = new ParallelGzipWriter(output, maxInFlight);
            for (var offset = 0; offset < data.Length; offset += piece)
            {
                await gzip.WriteAsync(data.AsMemory(offset, Math.Min(piece, data.Length - offset)), CancellationToken.None);
            }
            await gzip.CompleteAsync(CancellationToken.None);
            return output.ToArray();
        }

        var one = await CompressAsync(maxInFlight: 1, piece: data.Length);
        var four = await CompressAsync(maxInFlight: 4, piece: 65_537);

        Assert.Equal(one, four);
        Assert.Equal(data, Gunzip(one));
    }

    [Fact]
    public async Task Nothing_written_is_an_empty_gzip_file()
    {
        await using var output = new MemoryStream();
        await using (var gzip = new ParallelGzipWriter(output, maxInFlight: 2)) await gzip.CompleteAsync(CancellationToken.None);

        Assert.Empty(Gunzip(output.ToArray()));
        var path = fixture.NewPath("empty.jsonl.gz");
        await File.WriteAllBytesAsync(path, output.ToArray());
        Assert.Equal(0, fixture.Duck.Count($"SELECT count(*) FROM read_csv({DuckDb.Quote(path)}, compression = 'gzip', header = false, columns = {{'line': 'VARCHAR'}})"));
    }

    [Fact]
    public async Task Blocks_written_before_an_abandoned_end_do_not_read_as_a_complete_file()
    {
        var plain = await WriteJsonAsync(ManyBlocksOfRecords(), CompressionKind.None);
        await using var output = new MemoryStream();
        await using (var gzip = new ParallelGzipWriter(output, maxInFlight: 1))
        {
            // One block at a time: filling the third block waits for the first two, so they are in the output.
            await gzip.WriteAsync(plain, CancellationToken.None);
        }
        var aborted = output.ToArray();

        Assert.True(aborted.Length > ParallelGzipWriter.DefaultBlockBytes / 20, $"whole blocks reached the output before the writer was disposed ({aborted.Length} bytes)");
        var path = fixture.NewPath("aborted.jsonl.gz");
        await File.WriteAllBytesAsync(path, aborted);
        Assert.ThrowsAny<Exception>(() => fixture.Duck.Count($"SELECT count(*) FROM read_json({DuckDb.Quote(path)}, format = 'newline_delimited', compression = 'gzip')"));
        await Assert.ThrowsAsync<BatchReadException>(async () =>
        {
            await foreach (var _ in FormatCatalog.GetReader(BatchFormat.JsonLines).ReadAsync(path, gzipped: true, Schema, CancellationToken.None)) { }
        });
    }
}
