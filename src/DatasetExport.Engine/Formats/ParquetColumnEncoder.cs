using System.Buffers;
using System.Buffers.Binary;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// What the engine's column chunk encoders (<see cref="ParquetByteArrayColumnEncoder"/>, <see cref="ParquetValueColumnEncoder{T}"/>)
/// share: a chunk is an optional dictionary page and one v1 data page, levels RLE/bit-packed, each page compressed with the
/// file's codec. One encoder serves one leaf column from row group to row group and keeps its buffers; encoders of different
/// columns are independent, so a row group's columns can be encoded at once on several threads.
/// </summary>
internal abstract class ParquetColumnEncoder
{
    private readonly CompressionCodec _codec;
    private readonly List<string> _path;
    private readonly MemoryStream _chunk = new();
    // Page buffers start small and grow to the largest page (kept from row group to row group): 64 KiB each up front
    // took a 5,000-column schema's writer 660 MB before its first row.
    private readonly ArrayBufferWriter<byte> _scratch = new();

    protected ParquetColumnEncoder(CompressionCodec codec, IReadOnlyList<string> path, int maxDefinition, int maxRepetition)
    {
        _codec = codec;
        _path = path.ToList();
        MaxDefinition = maxDefinition;
        MaxRepetition = maxRepetition;
    }

    protected int MaxDefinition { get; }
    protected int MaxRepetition { get; }

    /// <summary>The body of the page being written, before compression.</summary>
    protected ArrayBufferWriter<byte> Page { get; } = new();

    /// <summary>The bytes of the last chunk encoded; its metadata's offsets count from their start.</summary>
    public ReadOnlyMemory<byte> Chunk => _chunk.GetBuffer().AsMemory(0, (int)_chunk.Length);

    /// <summary>Entries of a chunk: one per level when the column has levels, else one per value.</summary>
    protected int EntryCount(int valueCount, ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions) =>
        MaxDefinition > 0 ? definitions.Length : MaxRepetition > 0 ? repetitions.Length : valueCount;

    /// <summary>Starts a new chunk of <paramref name="entryCount"/> entries; its metadata, for the caller to complete.</summary>
    protected ColumnMetaData StartChunk(Parquet.Meta.Type type, int entryCount)
    {
        _chunk.SetLength(0);
        Page.ResetWrittenCount();
        return new ColumnMetaData
        {
            Type = type,
            PathInSchema = _path,
            Codec = _codec,
            NumValues = entryCount,
            Encodings = [],
        };
    }

    /// <summary>Where the next page starts in the chunk.</summary>
    protected long ChunkLength => _chunk.Length;

    /// <summary>v1 data page levels into <see cref="Page"/>: repetitions then definitions, each its encoded length (4 bytes, little-endian) then the runs.</summary>
    protected void WriteLevels(ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions)
    {
        if (MaxRepetition > 0) WriteLevels(repetitions, MaxRepetition);
        if (MaxDefinition > 0) WriteLevels(definitions, MaxDefinition);
    }

    private void WriteLevels(ReadOnlySpan<int> levels, int maxLevel)
    {
        _scratch.ResetWrittenCount();
        var length = RleBitPackedEncoder.Encode(levels, ParquetBits.Width(maxLevel), _scratch);
        BinaryPrimitives.WriteInt32LittleEndian(Page.GetSpan(4), length);
        Page.Advance(4);
        Page.Write(_scratch.WrittenSpan);
    }

    /// <summary>A v1 data page header of <paramref name="entryCount"/> entries, levels RLE.</summary>
    protected static PageHeader DataPage(int entryCount, Encoding encoding) => new()
    {
        Type = PageType.DATA_PAGE,
        DataPageHeader = new DataPageHeader
        {
            NumValues = entryCount,
            Encoding = encoding,
            DefinitionLevelEncoding = Encoding.RLE,
            RepetitionLevelEncoding = Encoding.RLE,
        },
    };

    /// <summary>
    /// Compresses <see cref="Page"/> and appends it to the chunk after <paramref name="header"/>, then empties the page;
    /// returns its uncompressed size with the header.
    /// </summary>
    protected long WritePage(PageHeader header)
    {
        var body = Page.WrittenSpan;
        ReadOnlySpan<byte> compressed = body;
        if (_codec != CompressionCodec.UNCOMPRESSED)
        {
            _scratch.ResetWrittenCount();
            ParquetPageCodec.Compress(_codec, body, _scratch);
            compressed = _scratch.WrittenSpan;
        }
        header.UncompressedPageSize = body.Length;
        header.CompressedPageSize = compressed.Length;
        var start = _chunk.Length;
        ParquetThrift.Write(header, _chunk);
        var headerLength = _chunk.Length - start;
        _chunk.Write(compressed);
        Page.ResetWrittenCount();
        return headerLength + body.Length;
    }

    /// <summary>Completes <paramref name="metadata"/> with the chunk's sizes; the chunk's offsets count from its start.</summary>
    protected ColumnChunk FinishChunk(ColumnMetaData metadata, long uncompressedSize)
    {
        metadata.TotalCompressedSize = _chunk.Length;
        metadata.TotalUncompressedSize = uncompressedSize;
        return new ColumnChunk { FileOffset = 0, MetaData = metadata };
    }
}
