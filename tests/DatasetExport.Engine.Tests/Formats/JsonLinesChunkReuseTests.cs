using System.Runtime.InteropServices;
using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// JSON Lines chunks are built in arrays and text blocks that come back for later chunks once a chunk is released: a
/// released chunk's memory must really be reused, chunks released after each write must be written exactly, and chunks
/// never released must keep their values.
/// </summary>
public sealed class JsonLinesChunkReuseTests : IDisposable
{
    private const int Lines = 3000;
    private const int ChunkLines = 64;

    private readonly TempFolder _folder = new("de-jsonl-reuse");

    public void Dispose() => _folder.Dispose();

    /// <summary>Strings of many lengths (some longer than a text block), lists that outgrow a chunk's first arrays, nulls, nesting.</summary>
    private string WriteLines()
    {
        var text = new StringBuilder();
        for (var i = 0; i < Lines; i++)
        {
            var name = i % 997 == 0 ? new string('w', 40_000) : $"name-{i}-é-{new string('x', i % 50)}";
            var tags = i % 5 == 0 ? "null" : "[" + string.Join(",", Enumerable.Range(0, i % 9 == 0 ? 150 : i % 4).Select(t => $"\"t{i}-{t}\"")) + "]";
            var geo = i % 7 == 0 ? "null" : $"{{\"c\":\"C{i % 5}\",\"lat\":{i * 0.5}}}";
            text.Append($"{{\"id\":{i},\"name\":\"{name}\",\"tags\":{tags},\"geo\":{geo}}}\n");
        }
        var path = _folder.Combine("lines.jsonl");
        File.WriteAllText(path, text.ToString(), new UTF8Encoding(false));
        return path;
    }

    private static async Task<(DatasetSchema Schema, List<Record> Records)> ReadWholeAsync(string path)
    {
        var schema = await new JsonLinesBatchReader().ReadSchemaAsync(path, false, CancellationToken.None);
        var records = new List<Record>();
        await foreach (var chunk in new JsonLinesBatchReader(chunkSize: Lines).ReadAsync(path, false, schema, CancellationToken.None)) records.AddRange(chunk.Records);
        return (schema, records);
    }

    [Fact]
    public async Task Released_chunks_give_their_text_blocks_to_later_chunks_whose_values_stay_right()
    {
        var path = WriteLines();
        var (schema, expected) = await ReadWholeAsync(path);
        var nameColumn = schema.Fields.ToList().FindIndex(field => field.Name == "name");
        var released = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        var reused = 0;
        var records = new List<Record>();

        await foreach (var chunk in new JsonLinesBatchReader(chunkSize: ChunkLines).ReadAsync(path, false, schema, CancellationToken.None))
        {
            records.AddRange(chunk.Records);
            var blocks = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
            foreach (var name in ((ColumnData<ReadOnlyMemory<byte>>)chunk.Columns[nameColumn]).Values.ToArray())
            {
                Assert.True(MemoryMarshal.TryGetArray(name, out var block));
                if (released.Contains(block.Array!)) reused++;
                blocks.Add(block.Array!);
            }
            chunk.Release();
            released.UnionWith(blocks);
        }

        Assert.True(reused > Lines / 2, $"only {reused} of {Lines} names were in a block an earlier chunk gave back");
        RecordAssert.Equal(expected, records);
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    [InlineData(FileType.Json, CompressionKind.None)]
    public async Task Chunks_released_after_each_write_are_written_exactly(FileType fileType, CompressionKind compression)
    {
        var path = WriteLines();
        var (schema, expected) = await ReadWholeAsync(path);
        var output = _folder.Combine("out" + FormatCatalog.FileExtension(fileType, compression));

        await using (var stream = File.Create(output))
        await using (var writer = FormatCatalog.CreateWriter(stream, schema, fileType, compression))
        {
            await foreach (var chunk in new JsonLinesBatchReader(chunkSize: ChunkLines).ReadAsync(path, false, schema, CancellationToken.None))
            {
                await writer.WriteAsync(chunk, CancellationToken.None);
                chunk.Release();
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        var written = new List<Record>();
        IBatchReader reader = fileType == FileType.Parquet ? new ParquetBatchReader() : new JsonLinesBatchReader();
        await foreach (var chunk in reader.ReadAsync(output, false, schema, CancellationToken.None)) written.AddRange(chunk.Records);
        RecordAssert.Equal(expected, written);
    }

    [Fact]
    public async Task Chunks_never_released_keep_their_values_after_later_chunks_are_read()
    {
        var path = WriteLines();
        var (schema, expected) = await ReadWholeAsync(path);
        var chunks = new List<RecordChunk>();

        await foreach (var chunk in new JsonLinesBatchReader(chunkSize: ChunkLines).ReadAsync(path, false, schema, CancellationToken.None)) chunks.Add(chunk);

        Assert.Equal((Lines + ChunkLines - 1) / ChunkLines, chunks.Count);
        RecordAssert.Equal(expected, chunks.SelectMany(chunk => chunk.Records).ToList());
    }
}
