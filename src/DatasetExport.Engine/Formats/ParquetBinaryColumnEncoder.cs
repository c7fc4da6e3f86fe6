using System.Buffers.Binary;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Encodes the binary column chunks of <see cref="ParquetFileWriter"/>'s row groups (BYTE_ARRAY without annotation): one
/// PLAIN v1 data page with RLE levels. Statistics: null count, and the least and greatest values compared as unsigned bytes
/// (the format's order) in the current fields only: readers of the legacy fields may compare them signed.
/// </summary>
internal sealed class ParquetBinaryColumnEncoder(CompressionCodec codec, IReadOnlyList<string> path, int maxDefinition, int maxRepetition)
    : ParquetColumnEncoder(codec, path, maxDefinition, maxRepetition)
{
    /// <summary>As <see cref="ParquetValueColumnEncoder{T}.Encode"/>, for byte strings.</summary>
    public ColumnChunk Encode(ReadOnlySpan<ReadOnlyMemory<byte>> values, ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions)
    {
        var entryCount = EntryCount(values.Length, definitions, repetitions);
        var metadata = StartChunk(Parquet.Meta.Type.BYTE_ARRAY, entryCount);
        var statistics = new Statistics { NullCount = entryCount - values.Length };
        if (!values.IsEmpty)
        {
            var min = values[0].Span;
            var max = min;
            foreach (var value in values[1..])
            {
                var span = value.Span;
                if (span.SequenceCompareTo(min) < 0) min = span;
                else if (span.SequenceCompareTo(max) > 0) max = span;
            }
            statistics.MinValue = min.ToArray();
            statistics.MaxValue = max.ToArray();
        }
        metadata.Statistics = statistics;
        metadata.DataPageOffset = 0;
        WriteLevels(definitions, repetitions);
        foreach (var value in values)
        {
            var span = Page.GetSpan(4 + value.Length);
            BinaryPrimitives.WriteInt32LittleEndian(span, value.Length);
            value.Span.CopyTo(span[4..]);
            Page.Advance(4 + value.Length);
        }
        var uncompressed = WritePage(DataPage(entryCount, Encoding.PLAIN));
        metadata.Encodings.Add(Encoding.PLAIN);
        metadata.Encodings.Add(Encoding.RLE);
        return FinishChunk(metadata, uncompressed);
    }
}
