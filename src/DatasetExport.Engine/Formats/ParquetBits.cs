namespace DatasetExport.Engine.Formats;

/// <summary>The variable-length integers and bit-packed runs Parquet's level, dictionary-index and delta encodings are made of.</summary>
internal static class ParquetBits
{
    /// <summary>Bits needed for values up to <paramref name="maxValue"/>: the width of a column's level runs.</summary>
    public static int Width(int maxValue) => 32 - int.LeadingZeroCount(maxValue);

    /// <summary>An unsigned LEB128 integer at <paramref name="position"/>, which moves past it.</summary>
    public static ulong ReadUnsignedVarInt(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= data.Length) throw Truncated("a variable-length integer");
            var next = data[position++];
            value |= (ulong)(next & 0x7F) << shift;
            if (next < 0x80) return value;
        }
        throw new InvalidDataException("a variable-length integer is longer than 64 bits.");
    }

    /// <summary>A zigzag-encoded signed LEB128 integer at <paramref name="position"/>, which moves past it.</summary>
    public static long ReadZigZagVarLong(ReadOnlySpan<byte> data, ref int position)
    {
        var raw = ReadUnsignedVarInt(data, ref position);
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    /// <summary>An unsigned count at <paramref name="position"/> that must fit an int.</summary>
    public static int ReadCount(ReadOnlySpan<byte> data, ref int position, string what)
    {
        var value = ReadUnsignedVarInt(data, ref position);
        return value <= int.MaxValue ? (int)value : throw new InvalidDataException($"{what} {value} is out of range.");
    }

    /// <summary>
    /// Fills <paramref name="output"/> with values of <paramref name="bitWidth"/> (0 to 32) bits packed least significant
    /// bit first from <paramref name="data"/>, which must hold them all.
    /// </summary>
    public static void Unpack(ReadOnlySpan<byte> data, int bitWidth, Span<int> output)
    {
        if (((long)output.Length * bitWidth + 7) / 8 > data.Length) throw Truncated("bit-packed values");
        var mask = bitWidth == 32 ? uint.MaxValue : (1u << bitWidth) - 1;
        ulong buffer = 0;
        var buffered = 0;
        var position = 0;
        for (var i = 0; i < output.Length; i++)
        {
            while (buffered < bitWidth)
            {
                buffer |= (ulong)data[position++] << buffered;
                buffered += 8;
            }
            output[i] = (int)((uint)buffer & mask);
            buffer >>= bitWidth;
            buffered -= bitWidth;
        }
    }

    /// <summary>Bit-packed values of up to 64 bits each, least significant bit first.</summary>
    public static void Unpack(ReadOnlySpan<byte> data, int bitWidth, Span<ulong> output)
    {
        if (((long)output.Length * bitWidth + 7) / 8 > data.Length) throw Truncated("bit-packed values");
        var mask = bitWidth == 64 ? ulong.MaxValue : (1UL << bitWidth) - 1;
        long bit = 0;
        for (var i = 0; i < output.Length; i++, bit += bitWidth)
        {
            var first = (int)(bit >> 3);
            var shift = (int)(bit & 7);
            var value = ReadUInt64Padded(data, first) >> shift;
            // A value that starts within a byte and is wider than 56 bits reaches into a ninth byte.
            if (shift + bitWidth > 64) value |= (ulong)data[first + 8] << (64 - shift);
            output[i] = value & mask;
        }
    }

    /// <summary>The eight bytes at <paramref name="at"/> as a little-endian number, zeros for those past the end.</summary>
    private static ulong ReadUInt64Padded(ReadOnlySpan<byte> data, int at)
    {
        if (at + 8 <= data.Length) return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(data[at..]);
        ulong value = 0;
        for (var i = data.Length - 1; i >= at; i--) value = (value << 8) | data[i];
        return value;
    }

    public static InvalidDataException Truncated(string what) => new($"the page ends inside {what}.");
}
