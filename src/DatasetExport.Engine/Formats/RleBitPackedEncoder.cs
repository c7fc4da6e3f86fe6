using System.Buffers;
using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes Parquet's RLE / bit-packed hybrid encoding (what <see cref="RleBitPackedDecoder"/> reads): a value repeated at
/// least <see cref="MinRun"/> times becomes a run, the rest groups of 8 bit-packed values.
/// </summary>
internal static class RleBitPackedEncoder
{
    /// <summary>Repeats shorter than a bit-packed group cost more as runs than packed.</summary>
    private const int MinRun = 8;

    /// <summary>Appends <paramref name="values"/> (each below 2^<paramref name="bitWidth"/>) to <paramref name="output"/>; returns the bytes written.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    public static int Encode(ReadOnlySpan<int> values, int bitWidth, IBufferWriter<byte> output)
    {
        if ((uint)bitWidth > 32) throw new ArgumentOutOfRangeException(nameof(bitWidth), bitWidth, "RLE/bit-packed values are at most 32 bits wide.");
        var written = 0;
        var position = 0;
        while (position < values.Length)
        {
            if (WorthARun(values, position))
            {
                var run = RunLength(values, position);
                written += WriteRun(values[position], run, bitWidth, output);
                position += run;
                continue;
            }
            // Whole groups of 8 until a run worth its own header starts at a group boundary (or the values end).
            var end = position + 8;
            while (end < values.Length && !WorthARun(values, end)) end += 8;
            written += WritePacked(values[position..Math.Min(end, values.Length)], bitWidth, output);
            position = end;
        }
        return written;
    }

    /// <summary>A run of at least <see cref="MinRun"/> starts at <paramref name="start"/>, or the last values are all equal (a run costs less than packing them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool WorthARun(ReadOnlySpan<int> values, int start)
    {
        var run = RunLength(values, start);
        return run >= MinRun || start + run == values.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RunLength(ReadOnlySpan<int> values, int start)
    {
        var value = values[start];
        var end = start + 1;
        while (end < values.Length && values[end] == value) end++;
        return end - start;
    }

    private static int WriteRun(int value, int count, int bitWidth, IBufferWriter<byte> output)
    {
        var byteWidth = (bitWidth + 7) / 8;
        var span = output.GetSpan(5 + byteWidth);
        var length = WriteVarInt(span, (uint)count << 1);
        for (var i = 0; i < byteWidth; i++) span[length++] = (byte)(value >> (8 * i));
        output.Advance(length);
        return length;
    }

    /// <summary>Packs <paramref name="values"/> in groups of 8, the last one padded with zeros.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private static int WritePacked(ReadOnlySpan<int> values, int bitWidth, IBufferWriter<byte> output)
    {
        var groups = (values.Length + 7) / 8;
        var packedLength = groups * bitWidth;
        var span = output.GetSpan(5 + packedLength);
        var length = WriteVarInt(span, ((uint)groups << 1) | 1);
        var packed = span.Slice(length, packedLength);
        ulong buffer = 0;
        var buffered = 0;
        var position = 0;
        for (var i = 0; i < groups * 8; i++)
        {
            var value = i < values.Length ? (uint)values[i] : 0u;
            buffer |= (ulong)value << buffered;
            buffered += bitWidth;
            while (buffered >= 8)
            {
                packed[position++] = (byte)buffer;
                buffer >>= 8;
                buffered -= 8;
            }
        }
        output.Advance(length + packedLength);
        return length + packedLength;
    }

    private static int WriteVarInt(Span<byte> target, uint value)
    {
        var length = 0;
        while (value >= 0x80)
        {
            target[length++] = (byte)(value | 0x80);
            value >>= 7;
        }
        target[length++] = (byte)value;
        return length;
    }
}
