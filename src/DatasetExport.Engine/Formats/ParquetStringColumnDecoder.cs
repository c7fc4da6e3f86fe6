using System.Buffers;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Decodes a column chunk of UTF-8 text (BYTE_ARRAY) page by page into its definition and repetition levels and its
/// values as slices of a <see cref="CharArena"/>'s blocks: no array per value, and a dictionary's entries are decoded
/// once, their values sharing the entry's slice. Values may be PLAIN, dictionary (PLAIN_DICTIONARY / RLE_DICTIONARY),
/// DELTA_LENGTH_BYTE_ARRAY or DELTA_BYTE_ARRAY; another encoding throws <see cref="NotSupportedException"/>.
/// </summary>
internal sealed class ParquetStringColumnDecoder : IDisposable
{
    private readonly CharArena _chars;
    private ReadOnlyMemory<char>[]? _dictionary;
    private int _dictionaryCount;
    // DELTA_BYTE_ARRAY: the UTF-8 bytes of the last value, whose prefix the next one shares.
    private byte[] _last = [];
    private int _lastLength;

    private ParquetStringColumnDecoder(CharArena chars) => _chars = chars;

    /// <summary>
    /// Decodes every page of <paramref name="pages"/>, a chunk of <paramref name="entryCount"/> level entries: its levels
    /// into <paramref name="definitions"/> and <paramref name="repetitions"/> (empty when the column has none), its values
    /// into <paramref name="values"/>.
    /// </summary>
    public static void Decode(
        ParquetPageReader pages, int entryCount, int maxDefinition, int maxRepetition,
        Span<int> definitions, Span<int> repetitions, Span<ReadOnlyMemory<char>> values, CharArena chars)
    {
        using var decoder = new ParquetStringColumnDecoder(chars);
        var entries = 0;
        var valueCount = 0;
        while (pages.TryRead(out var page))
        {
            if (page.Type == PageType.DICTIONARY_PAGE)
            {
                decoder.ReadDictionary(page);
                continue;
            }
            var count = page.EntryCount;
            if (count < 0 || count > entryCount - entries)
            {
                throw new InvalidDataException($"a data page holds {count} entries, more than the {entryCount - entries} left of its column chunk.");
            }
            if (maxRepetition > 0) RleBitPackedDecoder.Decode(page.RepetitionLevels.Span, ParquetBits.Width(maxRepetition), repetitions.Slice(entries, count));
            var pageValues = count;
            if (maxDefinition > 0)
            {
                var pageDefinitions = definitions.Slice(entries, count);
                RleBitPackedDecoder.Decode(page.DefinitionLevels.Span, ParquetBits.Width(maxDefinition), pageDefinitions);
                pageValues = pageDefinitions.Count(maxDefinition);
            }
            if (pageValues > 0) decoder.ReadValues(page, values.Slice(valueCount, pageValues));
            entries += count;
            valueCount += pageValues;
        }
        if (entries != entryCount) throw new InvalidDataException($"the column chunk's pages hold {entries} entries but its metadata announces {entryCount}.");
    }

    public void Dispose()
    {
        if (_dictionary is not null) ArrayPool<ReadOnlyMemory<char>>.Shared.Return(_dictionary, clearArray: true);
        if (_last.Length > 0) ArrayPool<byte>.Shared.Return(_last);
    }

    /// <summary>UTF-8 bytes as chars in the arena; invalid bytes become U+FFFD, as Parquet.Net decodes them.</summary>
    private ReadOnlyMemory<char> Text(ReadOnlySpan<byte> utf8)
    {
        // UTF-8 never takes fewer bytes than UTF-16 takes chars, an invalid byte included: its bytes are room enough.
        var length = System.Text.Encoding.UTF8.GetChars(utf8, _chars.Reserve(utf8.Length));
        return _chars.Commit(length);
    }

    private void ReadDictionary(ParquetPage page)
    {
        if (_dictionary is not null) throw new InvalidDataException("the column chunk has a second dictionary page.");
        if (page.Encoding is not (Encoding.PLAIN or Encoding.PLAIN_DICTIONARY)) throw new NotSupportedException($"dictionary pages in the {page.Encoding} encoding are not decoded here.");
        if (page.EntryCount < 0) throw new InvalidDataException($"a dictionary page announces {page.EntryCount} values.");
        _dictionary = ArrayPool<ReadOnlyMemory<char>>.Shared.Rent(page.EntryCount);
        _dictionaryCount = page.EntryCount;
        ReadPlain(page.Values.Span, _dictionary.AsSpan(0, page.EntryCount));
    }

    private void ReadValues(ParquetPage page, Span<ReadOnlyMemory<char>> target)
    {
        switch (page.Encoding)
        {
            case Encoding.PLAIN:
                ReadPlain(page.Values.Span, target);
                break;
            case Encoding.PLAIN_DICTIONARY or Encoding.RLE_DICTIONARY:
                ReadDictionaryIndices(page.Values.Span, target);
                break;
            case Encoding.DELTA_LENGTH_BYTE_ARRAY:
                ReadDeltaLength(page.Values.Span, target);
                break;
            case Encoding.DELTA_BYTE_ARRAY:
                ReadDeltaStrings(page.Values.Span, target);
                break;
            default:
                throw new NotSupportedException($"text in the {page.Encoding} encoding is not decoded here.");
        }
    }

    /// <summary>PLAIN: each value's byte length (4 bytes, little-endian), then its bytes.</summary>
    private void ReadPlain(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<char>> target)
    {
        var position = 0;
        for (var i = 0; i < target.Length; i++)
        {
            if (data.Length - position < 4) throw ParquetBits.Truncated("the length of a PLAIN value");
            var length = BitConverter.ToInt32(data.Slice(position, 4));
            position += 4;
            if (length < 0 || length > data.Length - position) throw new InvalidDataException($"a PLAIN value of {length} bytes does not fit in its page.");
            target[i] = Text(data.Slice(position, length));
            position += length;
        }
    }

    /// <summary>Dictionary indices: their bit width in one byte, then RLE/bit-packed runs.</summary>
    private void ReadDictionaryIndices(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<char>> target)
    {
        var dictionary = _dictionary ?? throw new InvalidDataException("a dictionary-encoded page comes before any dictionary page.");
        if (data.IsEmpty) throw ParquetBits.Truncated("the bit width of dictionary indices");
        var indices = ArrayPool<int>.Shared.Rent(target.Length);
        try
        {
            RleBitPackedDecoder.Decode(data[1..], data[0], indices.AsSpan(0, target.Length));
            for (var i = 0; i < target.Length; i++)
            {
                var index = indices[i];
                if ((uint)index >= (uint)_dictionaryCount) throw new InvalidDataException($"dictionary index {index} is past the dictionary's {_dictionaryCount} entries.");
                target[i] = dictionary[index];
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(indices);
        }
    }

    /// <summary>DELTA_LENGTH_BYTE_ARRAY: every value's length (DELTA_BINARY_PACKED), then their bytes end to end.</summary>
    private void ReadDeltaLength(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<char>> target)
    {
        var lengths = ArrayPool<int>.Shared.Rent(target.Length);
        try
        {
            var position = DeltaBinaryPackedDecoder.Decode(data, lengths.AsSpan(0, target.Length));
            for (var i = 0; i < target.Length; i++)
            {
                var length = lengths[i];
                if (length < 0 || length > data.Length - position) throw new InvalidDataException($"a DELTA_LENGTH_BYTE_ARRAY value of {length} bytes does not fit in its page.");
                target[i] = Text(data.Slice(position, length));
                position += length;
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>
    /// DELTA_BYTE_ARRAY: the length of the prefix each value shares with the one before (DELTA_BINARY_PACKED), then the
    /// rest of each value as DELTA_LENGTH_BYTE_ARRAY.
    /// </summary>
    private void ReadDeltaStrings(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<char>> target)
    {
        var prefixes = ArrayPool<int>.Shared.Rent(target.Length);
        var suffixes = ArrayPool<int>.Shared.Rent(target.Length);
        try
        {
            var position = DeltaBinaryPackedDecoder.Decode(data, prefixes.AsSpan(0, target.Length));
            position += DeltaBinaryPackedDecoder.Decode(data[position..], suffixes.AsSpan(0, target.Length));
            for (var i = 0; i < target.Length; i++)
            {
                var prefix = prefixes[i];
                var suffix = suffixes[i];
                if (prefix < 0 || prefix > _lastLength) throw new InvalidDataException($"a DELTA_BYTE_ARRAY value shares {prefix} bytes with a value of {_lastLength}.");
                if (suffix < 0 || suffix > data.Length - position) throw new InvalidDataException($"a DELTA_BYTE_ARRAY suffix of {suffix} bytes does not fit in its page.");
                var length = prefix + suffix;
                if (_last.Length < length)
                {
                    var shorter = _last;
                    _last = ArrayPool<byte>.Shared.Rent(length);
                    shorter.AsSpan(0, prefix).CopyTo(_last);
                    if (shorter.Length > 0) ArrayPool<byte>.Shared.Return(shorter);
                }
                data.Slice(position, suffix).CopyTo(_last.AsSpan(prefix));
                position += suffix;
                _lastLength = length;
                target[i] = Text(_last.AsSpan(0, length));
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(prefixes);
            ArrayPool<int>.Shared.Return(suffixes);
        }
    }
}
