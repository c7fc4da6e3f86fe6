namespace DatasetExport.Engine.Formats;

/// <summary>
/// Parquet's DELTA_BINARY_PACKED encoding of 32-bit integers, in which DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY
/// write their value and prefix lengths: a header (block size, miniblocks per block, value count, first value), then
/// blocks of a minimum delta and miniblocks of bit-packed deltas above it.
/// </summary>
internal static class DeltaBinaryPackedDecoder
{
    // Writers use 32 to 128 values per miniblock; larger ones are left to Parquet.Net rather than put on the stack.
    private const int MaxMiniblock = 1024;

    /// <summary>How many values the encoded data at the start of <paramref name="data"/> holds.</summary>
    public static int ValueCount(ReadOnlySpan<byte> data)
    {
        var position = 0;
        ParquetBits.ReadUnsignedVarInt(data, ref position);
        ParquetBits.ReadUnsignedVarInt(data, ref position);
        return ParquetBits.ReadCount(data, ref position, "a delta value count");
    }

    /// <summary>Decodes the <see cref="ValueCount"/> values into <paramref name="output"/>; returns the bytes the encoding took.</summary>
    public static int Decode(ReadOnlySpan<byte> data, Span<int> output)
    {
        var position = 0;
        var blockSize = ParquetBits.ReadCount(data, ref position, "a delta block size");
        var miniblocks = ParquetBits.ReadCount(data, ref position, "a delta miniblock count");
        var count = ParquetBits.ReadCount(data, ref position, "a delta value count");
        var previous = ParquetBits.ReadZigZagVarLong(data, ref position);
        if (blockSize == 0 || blockSize % 128 != 0 || miniblocks == 0 || blockSize % miniblocks != 0 || blockSize / miniblocks % 32 != 0)
        {
            throw new InvalidDataException($"a delta encoding has blocks of {blockSize} values in {miniblocks} miniblocks.");
        }
        if (count != output.Length) throw new InvalidDataException($"a delta encoding holds {count} values where {output.Length} were expected.");
        if (count == 0) return position;
        output[0] = ToInt32(previous);
        var perMiniblock = blockSize / miniblocks;
        if (perMiniblock > MaxMiniblock) throw new NotSupportedException($"delta miniblocks of {perMiniblock} values are not decoded here.");
        Span<int> deltas = stackalloc int[perMiniblock];
        var filled = 1;
        while (filled < count)
        {
            var minimum = ParquetBits.ReadZigZagVarLong(data, ref position);
            if (position + miniblocks > data.Length) throw ParquetBits.Truncated("the bit widths of a delta block");
            var widths = data.Slice(position, miniblocks);
            position += miniblocks;
            // Miniblocks past the last value are not written; their widths mean nothing.
            for (var m = 0; m < miniblocks && filled < count; m++)
            {
                var width = widths[m];
                if (width > 32) throw new NotSupportedException($"delta miniblocks of {width}-bit values are not decoded here.");
                var take = Math.Min(perMiniblock, count - filled);
                ParquetBits.Unpack(data[position..], width, deltas[..take]);
                // Every miniblock written is whole, the last one padded.
                position += perMiniblock * width / 8;
                for (var i = 0; i < take; i++)
                {
                    previous = unchecked(previous + minimum + (uint)deltas[i]);
                    output[filled++] = ToInt32(previous);
                }
            }
        }
        return position;
    }

    private static int ToInt32(long value) =>
        value is >= int.MinValue and <= int.MaxValue ? (int)value : throw new InvalidDataException($"a delta-encoded length {value} is out of range.");
}
