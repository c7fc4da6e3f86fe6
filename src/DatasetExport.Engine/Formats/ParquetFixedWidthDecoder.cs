using System.Runtime.InteropServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Values of a fixed-width physical type read as they are stored (INT32 as int, INT64 as long, FLOAT, DOUBLE), PLAIN
/// (little-endian, end to end) or dictionary-encoded. Other encodings (DELTA_BINARY_PACKED, BYTE_STREAM_SPLIT) throw
/// <see cref="NotSupportedException"/>.
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
}
