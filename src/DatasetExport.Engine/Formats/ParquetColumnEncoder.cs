using System.Buffers;
using System.Buffers.Binary;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// What the engine's column chunk encoders (<see cref="ParquetByteArrayColumnEncoder"/>, <see cref="ParquetValueColumnEncoder{T}"/>)
/// share: a chunk is an optional dictionary page and one v1 data page, levels RLE/bit-packed, each page compressed with the
/// file's codec. One encoder serves one leaf column from row group to row group and keeps its chunk's bytes; what it needs
/// only while encoding (<see cref="ParquetEncoderScratch"/>) is its own, or taken from a shelf the encoders of one writer
/// share. Encoders of different columns are independent, so a row group's columns can be encoded at once on several threads.
/// </summary>
internal abstract class ParquetColumnEncoder
{
    private readonly CompressionCodec _codec;
    private readonly List<string> _path;
    private readonly MemoryStream _chunk = new();
    private readonly ParquetEncoderScratch.Shelf? _shelf;
    private ParquetEncoderScratch? _own;
    private ParquetEncoderScratch? _scratch;

    /// <param name="shelf">Where the encoder takes its scratch for a chunk and puts it back; null: a scratch of its own.</param>
    protected ParquetColumnEncoder(CompressionCodec codec, IReadOnlyList<string> path, int maxDefinition, int maxRepetition, ParquetEncoderScratch.Shelf? shelf)
    {
        _codec = codec;
        _path = path.ToList();
        _shelf = shelf;
        MaxDefinition = maxDefinition;
        MaxRepetition = maxRepetition;
    }

    protected int MaxDefinition { get; }
    protected int MaxRepetition { get; }

    /// <summary>The scratch of the chunk being encoded (from <see cref="StartChunk"/> to <see cref="FinishChunk"/>).</summary>
    protected ParquetEncoderScratch Scratch => _scratch ?? throw new InvalidOperationException("No column chunk is being encoded.");

    /// <summary>The body of the page being written, before compression.</summary>
    protected ArrayBufferWriter<byte> Page => Scratch.Page;

    /// <summary>The bytes of the last chunk encoded; its metadata's offsets count from their start.</summary>
    public ReadOnlyMemory<byte> Chunk => _chunk.GetBuffer().AsMemory(0, (int)_chunk.Length);

    /// <summary>Entries of a chunk: one per level when the column has levels, else one per value.</summary>
    protected int EntryCount(int valueCount, ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions) =>
        MaxDefinition > 0 ? definitions.Length : MaxRepetition > 0 ? repetitions.Length : valueCount;

    /// <summary>Starts a new chunk of <paramref name="entryCount"/> entries; its metadata, for the caller to complete.</summary>
    protected ColumnMetaData StartChunk(Parquet.Meta.Type type, int entryCount)
    {
        _chunk.SetLength(0);
        _scratch = _shelf?.Take() ?? (_own ??= new ParquetEncoderScratch());
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
        var work = Scratch.Work;
        work.ResetWrittenCount();
        var length = RleBitPackedEncoder.Encode(levels, ParquetBits.Width(maxLevel), work);
        BinaryPrimitives.WriteInt32LittleEndian(Page.GetSpan(4), length);
        Page.Advance(4);
        Page.Write(work.WrittenSpan);
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
            var work = Scratch.Work;
            work.ResetWrittenCount();
            ParquetPageCodec.Compress(_codec, body, work);
            compressed = work.WrittenSpan;
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

    /// <summary>
    /// Completes <paramref name="metadata"/> with the chunk's sizes (its offsets count from its start) and puts the scratch
    /// back (a scratch of a chunk that failed half-way is not put back: left to the GC).
    /// </summary>
    protected ColumnChunk FinishChunk(ColumnMetaData metadata, long uncompressedSize)
    {
        metadata.TotalCompressedSize = _chunk.Length;
        metadata.TotalUncompressedSize = uncompressedSize;
        if (_shelf is not null && _scratch is not null) _shelf.Put(_scratch);
        _scratch = null;
        return new ColumnChunk { FileOffset = 0, MetaData = metadata };
    }
}

/// <summary>
/// What a column encoder needs only while it encodes a chunk: the page being written, a buffer for levels and compression,
/// and for text the dictionary and its indices. All start small and grow to the largest page they served (64 KiB page
/// buffers up front took a 5,000-column schema's writer 660 MB before its first row). The encoders of a writer of many
/// leaves share them (<see cref="Shelf"/>, past <see cref="ParquetFileWriter.SharedScratchAboveLeaves"/>: one per column
/// being encoded at once, so about one per core): kept per column, 2,000 rows of 5,000 text columns held 5,000 of each,
/// sized for the column's page, from row group to row group.
/// </summary>
internal sealed class ParquetEncoderScratch
{
    /// <summary>The body of the page being written, before compression.</summary>
    public ArrayBufferWriter<byte> Page { get; } = new();

    /// <summary>Encoded levels, then the compressed page.</summary>
    public ArrayBufferWriter<byte> Work { get; } = new();

    /// <summary>Distinct text values of the chunk (<see cref="ParquetByteArrayColumnEncoder"/>), made on first use.</summary>
    public ParquetByteArrayColumnEncoder.TextDictionary Dictionary => _dictionary ??= new();

    private ParquetByteArrayColumnEncoder.TextDictionary? _dictionary;

    /// <summary>Each text value's number in <see cref="Dictionary"/>.</summary>
    public int[] Indices { get; set; } = [];

    /// <summary>Scratches the encoders of one writer take for a chunk and put back; they are made as more are taken at once.</summary>
    internal sealed class Shelf
    {
        private readonly Stack<ParquetEncoderScratch> _free = new();

        public ParquetEncoderScratch Take()
        {
            lock (_free) return _free.TryPop(out var scratch) ? scratch : new ParquetEncoderScratch();
        }

        public void Put(ParquetEncoderScratch scratch)
        {
            lock (_free) _free.Push(scratch);
        }
    }
}
