using System.Buffers;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Values of UTF-8 text (BYTE_ARRAY) copied as they are into a <see cref="Utf8Arena"/>'s blocks (checked to be UTF-8,
/// invalid bytes replaced): no array per value, and a dictionary's entries are copied once, their values sharing the
/// entry's slice. Values may be PLAIN, dictionary (PLAIN_DICTIONARY / RLE_DICTIONARY), DELTA_LENGTH_BYTE_ARRAY or
/// DELTA_BYTE_ARRAY.
/// </summary>
internal sealed class ParquetTextDecoder(Utf8Arena text) : ParquetValueDecoder<ReadOnlyMemory<byte>>
{
    // DELTA_BYTE_ARRAY: the UTF-8 bytes of the last value, whose prefix the next one shares.
    private byte[] _last = [];
    private int _lastLength;

    // Each value takes at least its 4-byte length.
    protected override int SmallestPlainValue => 4;

    protected override string ValueName => "text values";

    public override void Dispose()
    {
        base.Dispose();
        if (_last.Length > 0) PoolOf<byte>().Return(_last);
        _last = [];
    }

    protected override bool TryReadOther(ParquetPage page, Span<ReadOnlyMemory<byte>> target)
    {
        switch (page.Encoding)
        {
            case Encoding.DELTA_LENGTH_BYTE_ARRAY:
                ReadDeltaLength(page.Values.Span, target);
                return true;
            case Encoding.DELTA_BYTE_ARRAY:
                ReadDeltaStrings(page.Values.Span, target);
                return true;
            default:
                return false;
        }
    }

    /// <summary>UTF-8 bytes copied into the arena; invalid bytes become U+FFFD, as Parquet.Net decodes them.</summary>
    private ReadOnlyMemory<byte> Text(ReadOnlySpan<byte> utf8) => text.CopyValid(utf8);

    /// <summary>PLAIN: each value's byte length (4 bytes, little-endian), then its bytes.</summary>
    protected override void ReadPlain(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<byte>> target)
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

    /// <summary>DELTA_LENGTH_BYTE_ARRAY: every value's length (DELTA_BINARY_PACKED), then their bytes end to end.</summary>
    private void ReadDeltaLength(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<byte>> target)
    {
        var lengths = PoolOf<int>().Rent(target.Length);
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
            PoolOf<int>().Return(lengths);
        }
    }

    /// <summary>
    /// DELTA_BYTE_ARRAY: the length of the prefix each value shares with the one before (DELTA_BINARY_PACKED), then the
    /// rest of each value as DELTA_LENGTH_BYTE_ARRAY.
    /// </summary>
    private void ReadDeltaStrings(ReadOnlySpan<byte> data, Span<ReadOnlyMemory<byte>> target)
    {
        var prefixes = PoolOf<int>().Rent(target.Length);
        var suffixes = PoolOf<int>().Rent(target.Length);
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
                    _last = PoolOf<byte>().Rent(length);
                    shorter.AsSpan(0, prefix).CopyTo(_last);
                    if (shorter.Length > 0) PoolOf<byte>().Return(shorter);
                }
                data.Slice(position, suffix).CopyTo(_last.AsSpan(prefix));
                position += suffix;
                _lastLength = length;
                target[i] = Text(_last.AsSpan(0, length));
            }
        }
        finally
        {
            PoolOf<int>().Return(prefixes);
            PoolOf<int>().Return(suffixes);
        }
    }
}
