using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Released Parquet chunks give their row group's arrays back for later row groups. Writers must be done with a chunk
/// when WriteAsync returns: these tests release every chunk as export runs do, so a writer that kept a reference into
/// a released row group would write the values of a later one.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ChunkReleaseTests(FormatsFixture fixture)
{
    // Several chunks per row group (DuckDB wrote 2,048-row groups), and row groups reused many times over.
    private readonly ParquetBatchReader _reader = new(chunkSize: 700);

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    public async Task Chunks_released_after_each_write_are_written_exactly(FileType fileType, CompressionKind compression)
    {
        var path = fixture.NewPath("released" + FormatCatalog.FileExtension(fileType, compression));
        await using (var output = File.Create(path))
        await using (var writer = FormatCatalog.CreateWriter(output, AllTypes.Schema, fileType, compression))
        {
            await foreach (var chunk in _reader.ReadAsync(fixture.AllTypesParquet, false, AllTypes.Schema, CancellationToken.None))
            {
                await writer.WriteAsync(chunk, CancellationToken.None);
                chunk.Release();
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        var written = new List<Record>();
        if (fileType == FileType.Parquet)
        {
            await foreach (var chunk in new ParquetBatchReader().ReadAsync(path, false, AllTypes.Schema, CancellationToken.None)) written.AddRange(chunk.Records);
            RecordAssert.Equal(AllTypes.ExpectedAfterParquetWrite(FormatsFixture.Rows), written);
        }
        else
        {
            // The JSON text is compared with the same export when no chunk is released (each row group in arrays of its own).
            var expected = fixture.NewPath("kept.json.gz");
            await using (var output = File.Create(expected))
            await using (var writer = FormatCatalog.CreateWriter(output, AllTypes.Schema, fileType, compression))
            {
                await foreach (var chunk in _reader.ReadAsync(fixture.AllTypesParquet, false, AllTypes.Schema, CancellationToken.None))
                {
                    await writer.WriteAsync(chunk, CancellationToken.None);
                }
                await writer.CompleteAsync(CancellationToken.None);
            }
            Assert.Equal(await GunzipAsync(expected), await GunzipAsync(path));
        }
    }

    [Fact]
    public async Task Records_taken_before_release_keep_their_values_while_later_row_groups_reuse_the_arrays()
    {
        var taken = new List<Record>();
        var chunks = 0;
        await foreach (var chunk in _reader.ReadAsync(fixture.AllTypesParquet, false, AllTypes.Schema, CancellationToken.None))
        {
            taken.AddRange(chunk.Records);
            chunk.Release();
            chunk.Release(); // a second release does nothing
            chunks++;
        }

        Assert.True(chunks > FormatsFixture.Rows / AllTypes.RowGroupRows, $"expected several chunks per row group, got {chunks}");
        RecordAssert.Equal(AllTypes.ExpectedRecords(FormatsFixture.Rows), taken);
    }

    [Fact]
    public async Task An_exports_reader_decodes_a_row_group_once_every_chunk_of_the_one_before_is_released()
    {
        long firstRows;
        await using (var file = await Parquet.ParquetReader.CreateAsync(fixture.AllTypesParquet))
        {
            Assert.True(file.RowGroupCount > 2);
            firstRows = file.RowGroups[0].RowCount;
        }
        var reader = new ParquetBatchReader(new RowGroupPools(oneRowGroupAtATime: true), chunkSize: 700);
        await using var chunks = reader.ReadAsync(fixture.AllTypesParquet, false, AllTypes.Schema, CancellationToken.None).GetAsyncEnumerator();
        var first = new List<RecordChunk>();
        while (first.Sum(chunk => chunk.RowCount) < firstRows)
        {
            Assert.True(await chunks.MoveNextAsync());
            first.Add(chunks.Current);
        }
        Assert.True(first.Count > 1, "several chunks per row group");
        Assert.Equal(firstRows, first.Sum(chunk => chunk.RowCount));

        // Nothing else releases the first row group's chunks: the second waits for them.
        var next = chunks.MoveNextAsync();
        Assert.False(next.IsCompleted);
        foreach (var chunk in first) chunk.Release();

        Assert.True(await next);
        var rest = new List<Record>();
        do
        {
            rest.AddRange(chunks.Current.Records);
            chunks.Current.Release();
        }
        while (await chunks.MoveNextAsync());
        RecordAssert.Equal(AllTypes.ExpectedRecords(FormatsFixture.Rows).Skip((int)firstRows).ToList(), rest);
    }

    [Fact]
    public async Task Text_decoded_into_blocks_reused_across_row_groups_reads_as_without_reuse()
    {
        var reused = new List<Record>();
        await foreach (var chunk in new ParquetBatchReader(new RowGroupPools(oneRowGroupAtATime: true), chunkSize: 700)
            .ReadAsync(fixture.AllTypesParquet, false, AllTypes.Schema, CancellationToken.None))
        {
            reused.AddRange(chunk.Records);
            chunk.Release();
        }
        var kept = new List<Record>();
        await foreach (var chunk in new ParquetBatchReader().ReadAsync(fixture.AllTypesParquet, false, AllTypes.Schema, CancellationToken.None))
        {
            kept.AddRange(chunk.Records);
        }

        RecordAssert.Equal(kept, reused);
        RecordAssert.Equal(AllTypes.ExpectedRecords(FormatsFixture.Rows), reused);
    }

    private static async Task<string> GunzipAsync(string path)
    {
        await using var file = File.OpenRead(path);
        await using var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        return await reader.ReadToEndAsync();
    }
}
