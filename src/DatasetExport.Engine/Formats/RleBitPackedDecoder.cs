namespace DatasetExport.Engine.Formats;

/// <summary>Parquet's RLE / bit-packed hybrid encoding, in which definition and repetition levels and dictionary indices are written.</summary>
internal static class RleBitPackedDecoder
{
    /// <summary>Fills <paramref name="output"/> with the first values of <paramref name="data"/>, runs of <paramref name="bitWidth"/>-bit values.</summary>
    public static void Decode(ReadOnlySpan<byte> data, int bitWidth, Span<int> output)
    {
        if ((uint)bitWidth > 32) throw new InvalidDataException($"RLE/bit-packed values are {bitWidth} bits wide, more than 32.");
        var byteWidth = (bitWidth + 7) / 8;
        var position = 0;
        var filled = 0;
        while (filled < output.Length)
        {
            var header = ParquetBits.ReadUnsignedVarInt(data, ref position);
            var left = output.Length - filled;
            if ((header & 1) == 0)
            {
                // A run: one value repeated, in as many bytes as its width needs.
                if (position + byteWidth > data.Length) throw ParquetBits.Truncated("an RLE run");
                var value = 0;
                for (var i = 0; i < byteWidth; i++) value |= data[position + i] << (8 * i);
                position += byteWidth;
                if (bitWidth < 32 && (uint)value >> bitWidth != 0) throw new InvalidDataException($"an RLE run repeats {value}, wider than {bitWidth} bits.");
                var count = (int)Math.Min(header >> 1, (ulong)left);
                output.Slice(filled, count).Fill(value);
                filled += count;
            }
            else
            {
                // Groups of 8 bit-packed values; the last group may be padded past the values wanted.
                var groups = header >> 1;
                var count = groups >= (ulong)(left + 7) / 8 ? left : (int)groups * 8;
                ParquetBits.Unpack(data[position..], bitWidth, output.Slice(filled, count));
                // Whole groups when more values follow; past the last value the position no longer matters.
                position += (int)(((long)count * bitWidth + 7) / 8);
                filled += count;
            }
        }
    }
}
