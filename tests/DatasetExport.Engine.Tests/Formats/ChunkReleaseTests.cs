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

    private static async Task<string> GunzipAsync(string path)
    {
        await using var file = File.OpenRead(path);
        await using var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        return await reader.ReadToEndAsync();
    }
}
