namespace DatasetExport.Engine.Formats;

/// <summary>
/// Parquet's DELTA_BINARY_PACKED encoding of integers: INT32 and INT64 column values (DuckDB's and parquet-mr's version 2
/// files), and the value and prefix lengths of DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY. A header (block size,
/// miniblocks per block, value count, first value), then blocks of a minimum delta and miniblocks of bit-packed deltas
/// above it.
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

    /// <summary>
    /// Decodes the <see cref="ValueCount"/> lengths (of DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY) into
    /// <paramref name="output"/>; returns the bytes the encoding took. A length beyond an int is damaged data.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> data, Span<int> output) => Decode<int, Lengths>(data, output);

    /// <summary>An INT32 column's values, with 32-bit arithmetic wrapping as the writers' does; returns the bytes the encoding took.</summary>
    public static int DecodeInt32(ReadOnlySpan<byte> data, Span<int> output) => Decode<int, Int32Values>(data, output);

    /// <summary>An INT64 column's values (deltas up to 64 bits wide); returns the bytes the encoding took.</summary>
    public static int DecodeInt64(ReadOnlySpan<byte> data, Span<long> output) => Decode<long, Int64Values>(data, output);

    private static int Decode<T, TValues>(ReadOnlySpan<byte> data, Span<T> output) where TValues : IValues<T>
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
        output[0] = TValues.From(previous);
        var perMiniblock = blockSize / miniblocks;
        if (perMiniblock > MaxMiniblock) throw new NotSupportedException($"delta miniblocks of {perMiniblock} values are not decoded here.");
        Span<ulong> deltas = stackalloc ulong[perMiniblock];
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
                if (width > 64) throw new InvalidDataException($"a delta miniblock has {width}-bit values.");
                var take = Math.Min(perMiniblock, count - filled);
                ParquetBits.Unpack(data[position..], width, deltas[..take]);
                // Every miniblock written is whole, the last one padded.
                position += perMiniblock * width / 8;
                for (var i = 0; i < take; i++)
                {
                    // Deltas wrap around as the writer's subtraction did (two's complement, 64 bits; INT32 columns truncate to 32).
                    previous = unchecked(previous + minimum + (long)deltas[i]);
                    output[filled++] = TValues.From(previous);
                }
            }
        }
        return position;
    }

    private interface IValues<T>
    {
        static abstract T From(long value);
    }

    private readonly struct Lengths : IValues<int>
    {
        public static int From(long value) =>
            value is >= int.MinValue and <= int.MaxValue ? (int)value : throw new InvalidDataException($"a delta-encoded length {value} is out of range.");
    }

    private readonly struct Int32Values : IValues<int>
    {
        public static int From(long value) => unchecked((int)value);
    }

    private readonly struct Int64Values : IValues<long>
    {
        public static long From(long value) => value;
    }
}
