using System.Runtime.InteropServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Values of a fixed-width physical type read as they are stored (INT32 as int, INT64 as long, FLOAT, DOUBLE), PLAIN
/// (little-endian, end to end), dictionary-encoded, or (integers) DELTA_BINARY_PACKED. Other encodings (BYTE_STREAM_SPLIT)
/// throw <see cref="NotSupportedException"/>.
/// </summary>
internal sealed class ParquetFixedWidthDecoder<T> : ParquetValueDecoder<T> where T : unmanaged
{
    public ParquetFixedWidthDecoder()
    {
        if (!BitConverter.IsLittleEndian) throw new NotSupportedException("PLAIN values are copied as they are only on little-endian machines.");
    }

    protected override int SmallestPlainValue => Marshal.SizeOf<T>();

    protected override string ValueName => typeof(T).Name + " values";

    protected override void ReadPlain(ReadOnlySpan<byte> data, Span<T> target)
    {
        var length = (long)target.Length * Marshal.SizeOf<T>();
        if (data.Length < length) throw ParquetBits.Truncated("PLAIN values");
        MemoryMarshal.Cast<byte, T>(data[..(int)length]).CopyTo(target);
    }

    protected override bool TryReadOther(ParquetPage page, Span<T> target)
    {
        if (page.Encoding != Parquet.Meta.Encoding.DELTA_BINARY_PACKED) return false;
        if (typeof(T) == typeof(int)) DeltaBinaryPackedDecoder.DecodeInt32(page.Values.Span, MemoryMarshal.Cast<T, int>(target));
        else if (typeof(T) == typeof(long)) DeltaBinaryPackedDecoder.DecodeInt64(page.Values.Span, MemoryMarshal.Cast<T, long>(target));
        else return false;
        return true;
    }
}
