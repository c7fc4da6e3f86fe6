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

    public static InvalidDataException Truncated(string what) => new($"the page ends inside {what}.");
}
