using System.Buffers;
using Microsoft.Win32.SafeHandles;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Walks the pages of one column chunk read from the file into a rented buffer, decompressing each page into a second
/// rented buffer reused page after page: a page handed out is valid until the next one is read.
/// Data pages v1 and v2 come out alike, their levels as RLE/bit-packed hybrid data without a length prefix.
/// Codecs other than none, Snappy, gzip, zstd, LZ4_RAW and Brotli, encrypted chunks and levels in the deprecated BIT_PACKED encoding
/// throw <see cref="NotSupportedException"/>; damaged pages throw <see cref="InvalidDataException"/>.
/// </summary>
internal sealed class ParquetPageReader : IDisposable
{
    private readonly ArrayPool<byte> _pool;
    private readonly byte[] _chunk;
    private readonly MemoryStream _stream;
    private readonly CompressionCodec _codec;
    private readonly bool _hasRepetitions;
    private readonly bool _hasDefinitions;
    private byte[] _page = [];

    private ParquetPageReader(ArrayPool<byte> pool, byte[] chunk, int length, CompressionCodec codec, bool hasRepetitions, bool hasDefinitions)
    {
        _pool = pool;
        _chunk = chunk;
        _stream = new MemoryStream(chunk, 0, length, writable: false);
        _codec = codec;
        _hasRepetitions = hasRepetitions;
        _hasDefinitions = hasDefinitions;
    }

    /// <summary>Reads the bytes of <paramref name="column"/> from <paramref name="file"/>, into buffers from <paramref name="pool"/> (the shared one when null).</summary>
    public static ParquetPageReader Open(SafeFileHandle file, ColumnChunk column, bool hasRepetitions, bool hasDefinitions, ArrayPool<byte>? pool = null)
    {
        pool ??= ArrayPool<byte>.Shared;
        var metadata = column.MetaData ?? throw new InvalidDataException("the column chunk has no metadata.");
        if (column.CryptoMetadata is not null || column.EncryptedColumnMetadata is not null) throw new NotSupportedException("the column chunk is encrypted.");
        if (column.FilePath is not null) throw new NotSupportedException("the column chunk is in another file.");
        if (!ParquetPageCodec.Decompresses(metadata.Codec))
        {
            throw new NotSupportedException($"{metadata.Codec} pages are not decompressed here.");
        }
        var chunk = ParquetColumnChunk.Read(file, metadata, pool, out var length);
        return new ParquetPageReader(pool, chunk, length, metadata.Codec, hasRepetitions, hasDefinitions);
    }

    /// <summary>The next dictionary or data page, false at the end of the chunk. Index pages are skipped.</summary>
    public bool TryRead(out ParquetPage page)
    {
        while (_stream.Position < _stream.Length)
        {
            var header = ParquetColumnChunk.NextPage(_stream, out var start);
            var stored = _chunk.AsMemory(start, header.CompressedPageSize);
            switch (header.Type)
            {
                case PageType.DICTIONARY_PAGE:
                    var dictionary = header.DictionaryPageHeader ?? throw MissingHeader(header);
                    page = new ParquetPage(header.Type, dictionary.NumValues, dictionary.Encoding, default, default, Decompress(stored, header.UncompressedPageSize));
                    return true;
                case PageType.DATA_PAGE:
                    page = DataPage(header, header.DataPageHeader ?? throw MissingHeader(header), stored);
                    return true;
                case PageType.DATA_PAGE_V2:
                    page = DataPage(header, header.DataPageHeaderV2 ?? throw MissingHeader(header), stored);
                    return true;
                case PageType.INDEX_PAGE:
                    continue;
                default:
                    throw new NotSupportedException($"{header.Type} pages are not read here.");
            }
        }
        page = default;
        return false;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _pool.Return(_chunk);
        if (_page.Length > 0) _pool.Return(_page);
    }

    /// <summary>A v1 data page: repetition then definition levels (each after its 4-byte length) and values, all compressed together.</summary>
    private ParquetPage DataPage(PageHeader header, DataPageHeader data, ReadOnlyMemory<byte> stored)
    {
        var body = Decompress(stored, header.UncompressedPageSize);
        var position = 0;
        var repetitions = _hasRepetitions ? Levels(body, ref position, data.RepetitionLevelEncoding) : default;
        var definitions = _hasDefinitions ? Levels(body, ref position, data.DefinitionLevelEncoding) : default;
        return new ParquetPage(header.Type, data.NumValues, data.Encoding, repetitions, definitions, body[position..]);
    }

    /// <summary>A v2 data page: repetition and definition levels uncompressed (lengths in the header), then the values, compressed unless flagged otherwise.</summary>
    private ParquetPage DataPage(PageHeader header, DataPageHeaderV2 data, ReadOnlyMemory<byte> stored)
    {
        var levelsLength = (long)data.RepetitionLevelsByteLength + data.DefinitionLevelsByteLength;
        if (data.RepetitionLevelsByteLength < 0 || data.DefinitionLevelsByteLength < 0 || levelsLength > stored.Length || levelsLength > header.UncompressedPageSize)
        {
            throw new InvalidDataException($"the levels of a v2 page ({levelsLength} bytes) do not fit in it.");
        }
        var repetitions = stored[..data.RepetitionLevelsByteLength];
        var definitions = stored.Slice(data.RepetitionLevelsByteLength, data.DefinitionLevelsByteLength);
        var values = stored[(int)levelsLength..];
        var valuesLength = header.UncompressedPageSize - (int)levelsLength;
        // No values (a page of nulls): writers store nothing or an empty compressed block.
        if (valuesLength == 0) values = default;
        else if (data.IsCompressed != false) values = Decompress(values, valuesLength);
        else if (values.Length != valuesLength) throw new InvalidDataException($"an uncompressed v2 page holds {values.Length} value bytes but announces {valuesLength}.");
        return new ParquetPage(header.Type, data.NumValues, data.Encoding, repetitions, definitions, values);
    }

    private static ReadOnlyMemory<byte> Levels(ReadOnlyMemory<byte> body, ref int position, Encoding encoding)
    {
        if (encoding != Encoding.RLE) throw new NotSupportedException($"levels in the {encoding} encoding are not decoded here.");
        if (body.Length - position < 4) throw ParquetBits.Truncated("the length of a page's levels");
        var length = BitConverter.ToInt32(body.Span.Slice(position, 4));
        position += 4;
        if (length < 0 || length > body.Length - position) throw new InvalidDataException($"a page's levels ({length} bytes) do not fit in it.");
        var levels = body.Slice(position, length);
        position += length;
        return levels;
    }

    /// <summary><paramref name="stored"/> decompressed to exactly <paramref name="length"/> bytes.</summary>
    private ReadOnlyMemory<byte> Decompress(ReadOnlyMemory<byte> stored, int length)
    {
        if (_codec == CompressionCodec.UNCOMPRESSED)
        {
            return stored.Length == length ? stored : throw new InvalidDataException($"an uncompressed page holds {stored.Length} bytes but announces {length}.");
        }
        if (_page.Length < length)
        {
            var smaller = _page;
            _page = _pool.Rent(length);
            if (smaller.Length > 0) _pool.Return(smaller);
        }
        ParquetPageCodec.Decompress(_codec, stored, _page.AsMemory(0, length));
        return _page.AsMemory(0, length);
    }

    private static InvalidDataException MissingHeader(PageHeader header) => new($"a {header.Type} page has no header of its kind.");
}

/// <summary>
/// A page of a column chunk, decompressed. <see cref="EntryCount"/> counts a data page's level entries (nulls and empty
/// lists included) or a dictionary page's values; levels are empty when the column has none.
/// </summary>
internal readonly record struct ParquetPage(
    PageType Type, int EntryCount, Encoding Encoding, ReadOnlyMemory<byte> RepetitionLevels, ReadOnlyMemory<byte> DefinitionLevels, ReadOnlyMemory<byte> Values);
