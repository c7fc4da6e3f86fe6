using DatasetExport.Engine.Formats;
using Parquet.Meta;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Encoders that share their scratch (<see cref="ParquetEncoderScratch.Shelf"/>, as a writer of many leaves does) write the
/// same chunks, byte for byte, as encoders with scratch of their own, whatever the other encoders of the shelf encoded
/// before them (a large dictionary, values that made it give up, unique values); a chunk encoded keeps its bytes when
/// another encoder takes the same scratch afterwards.
/// </summary>
public sealed class SharedEncoderScratchTests
{
    private static ReadOnlyMemory<byte>[] Text(int count, Func<int, string> value) =>
        Enumerable.Range(0, count).Select(i => (ReadOnlyMemory<byte>)System.Text.Encoding.UTF8.GetBytes(value(i))).ToArray();

    [Theory]
    [InlineData(CompressionCodec.UNCOMPRESSED)]
    [InlineData(CompressionCodec.SNAPPY)]
    [InlineData(CompressionCodec.ZSTD)]
    public void Text_chunks_encoded_with_shared_scratch_are_those_encoded_alone(CompressionCodec codec)
    {
        // Each in turn: a large dictionary (slots grown), a few repeated values (cleared one by one in large slots), values
        // that stop a dictionary half-way, unique values, nulls only, then the few again.
        var columns = new (ReadOnlyMemory<byte>[] Values, int[] Definitions)[]
        {
            (Text(20_000, i => $"big-{i % 4000}"), []),
            (Text(30, i => $"few-{i % 3}"), []),
            (Text(12_000, i => i < 11_000 ? $"rep-{i % 5}" : $"late-unique-{i}"), []),
            (Text(5000, i => $"unique-{i}-{new string('u', i % 40)}"), []),
            ([], Enumerable.Repeat(0, 100).ToArray()),
            (Text(40, i => $"few-{i % 4}"), Enumerable.Range(0, 50).Select(i => i < 40 ? 1 : 0).ToArray()),
            (Text(20_000, i => $"big2-{(i * 7) % 3000}"), []),
        };
        var shelf = new ParquetEncoderScratch.Shelf();
        var shared = columns.Select((c, i) => new ParquetByteArrayColumnEncoder(codec, [$"c{i}"], c.Definitions.Length > 0 ? 1 : 0, 0, text: true, shelf)).ToArray();
        var alone = columns.Select((c, i) => new ParquetByteArrayColumnEncoder(codec, [$"c{i}"], c.Definitions.Length > 0 ? 1 : 0, 0, text: true)).ToArray();

        // Two row groups: the shelf's scratch keeps what the first one grew.
        for (var rowGroup = 0; rowGroup < 2; rowGroup++)
        {
            var encoded = new List<byte[]>();
            for (var i = 0; i < columns.Length; i++)
            {
                var (values, definitions) = columns[i];
                var sharedChunk = shared[i].Encode(values, definitions, []);
                var aloneChunk = alone[i].Encode(values, definitions, []);
                Assert.True(shared[i].Chunk.Span.SequenceEqual(alone[i].Chunk.Span), $"row group {rowGroup}, column {i}: bytes differ with shared scratch");
                Assert.Equal(aloneChunk.MetaData!.Encodings, sharedChunk.MetaData!.Encodings);
                Assert.Equal(aloneChunk.MetaData.Statistics!.MinValue, sharedChunk.MetaData.Statistics!.MinValue);
                Assert.Equal(aloneChunk.MetaData.Statistics.MaxValue, sharedChunk.MetaData.Statistics.MaxValue);
                encoded.Add(shared[i].Chunk.ToArray());
            }
            // Every chunk is still as it was encoded after the others took the same scratch.
            for (var i = 0; i < columns.Length; i++) Assert.True(shared[i].Chunk.Span.SequenceEqual(encoded[i]), $"column {i}'s chunk changed");
        }
    }
}
