using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Encodes the fixed-width column chunks of <see cref="ParquetFileWriter"/>'s row groups from their physical values: BOOLEAN
/// (<see cref="bool"/>, bit-packed), INT32 (<see cref="int"/>: integers, dates, small decimals), INT64 (<see cref="long"/>:
/// integers, timestamps and times in microseconds, decimals), FLOAT, DOUBLE, and FIXED_LEN_BYTE_ARRAY decimals
/// (<see cref="Int128"/> unscaled values, big-endian two's complement in the column's width). One PLAIN v1 data page per
/// chunk with RLE levels. Statistics: null count, and min/max in the type's order, legacy and current fields alike (the
/// orders agree for these types); for floating point as the format asks: NaN left out of min and max (none when every value
/// is NaN), a zero min written -0.0 and a zero max +0.0. No min/max for FIXED_LEN_BYTE_ARRAY decimals (their order is
/// signed, the legacy fields' readers compare bytes unsigned).
/// </summary>
internal sealed class ParquetValueColumnEncoder<T> : ParquetColumnEncoder where T : unmanaged
{
    private readonly Parquet.Meta.Type _type;
    private readonly int _fixedLength;

    /// <param name="shelf">Scratch shared with the writer's other encoders (<see cref="ParquetEncoderScratch"/>); null: its own.</param>
    public ParquetValueColumnEncoder(
        CompressionCodec codec, IReadOnlyList<string> path, int maxDefinition, int maxRepetition, int fixedLength = 0, ParquetEncoderScratch.Shelf? shelf = null)
        : base(codec, path, maxDefinition, maxRepetition, shelf)
    {
        _type = default(T) switch
        {
            bool => Parquet.Meta.Type.BOOLEAN,
            int => Parquet.Meta.Type.INT32,
            long => Parquet.Meta.Type.INT64,
            float => Parquet.Meta.Type.FLOAT,
            double => Parquet.Meta.Type.DOUBLE,
            Int128 => Parquet.Meta.Type.FIXED_LEN_BYTE_ARRAY,
            _ => throw new NotSupportedException($"{typeof(T).Name} is not a physical type of Parquet."),
        };
        if (typeof(T) == typeof(Int128) && fixedLength is < 1 or > 16)
        {
            throw new ArgumentOutOfRangeException(nameof(fixedLength), fixedLength, "A FIXED_LEN_BYTE_ARRAY decimal is 1 to 16 bytes wide here.");
        }
        _fixedLength = fixedLength;
    }

    /// <summary>
    /// Encodes a column chunk of <paramref name="values"/> (the non-null ones) with its levels (as many as entries; empty
    /// when the level's maximum is 0, and then one entry per value) into <see cref="ParquetColumnEncoder.Chunk"/>, and returns its metadata.
    /// </summary>
    public ColumnChunk Encode(ReadOnlySpan<T> values, ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions)
    {
        var entryCount = EntryCount(values.Length, definitions, repetitions);
        var metadata = StartChunk(_type, entryCount);
        if (_type == Parquet.Meta.Type.FIXED_LEN_BYTE_ARRAY) metadata.Statistics = new Statistics { NullCount = entryCount - values.Length };
        else metadata.Statistics = Statistics(values, entryCount - values.Length);
        metadata.DataPageOffset = 0;
        WriteLevels(definitions, repetitions);
        WritePlain(values);
        var uncompressed = WritePage(DataPage(entryCount, Encoding.PLAIN));
        metadata.Encodings.Add(Encoding.PLAIN);
        metadata.Encodings.Add(Encoding.RLE);
        return FinishChunk(metadata, uncompressed);
    }

    [MethodImpl(CompileOptions.HotPath)]
    private void WritePlain(ReadOnlySpan<T> values)
    {
        if (typeof(T) == typeof(bool))
        {
            // Bit-packed, the first value in the lowest bit.
            var bools = MemoryMarshal.Cast<T, bool>(values);
            var length = (bools.Length + 7) / 8;
            var packed = Page.GetSpan(length)[..length];
            packed.Clear();
            for (var i = 0; i < bools.Length; i++)
            {
                if (bools[i]) packed[i >> 3] |= (byte)(1 << (i & 7));
            }
            Page.Advance(length);
        }
        else if (typeof(T) == typeof(Int128))
        {
            var unscaled = MemoryMarshal.Cast<T, Int128>(values);
            var span = Page.GetSpan(unscaled.Length * _fixedLength);
            Span<byte> bigEndian = stackalloc byte[16];
            for (var i = 0; i < unscaled.Length; i++)
            {
                BinaryPrimitives.WriteInt128BigEndian(bigEndian, unscaled[i]);
                bigEndian[(16 - _fixedLength)..].CopyTo(span.Slice(i * _fixedLength, _fixedLength));
            }
            Page.Advance(unscaled.Length * _fixedLength);
        }
        else if (BitConverter.IsLittleEndian)
        {
            Page.Write(MemoryMarshal.AsBytes(values));
        }
        else
        {
            throw new PlatformNotSupportedException("Parquet values are written from little-endian memory only.");
        }
    }

    /// <summary>Null count, and the least and greatest values (see the class's remarks); no min/max when no value counts.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private static Statistics Statistics(ReadOnlySpan<T> values, long nullCount)
    {
        var statistics = new Statistics { NullCount = nullCount };
        T min = default, max = default;
        var found = false;
        foreach (var value in values)
        {
            if (IsNaN(value)) continue;
            if (!found)
            {
                min = max = value;
                found = true;
            }
            else if (Less(value, min))
            {
                min = value;
            }
            else if (Less(max, value))
            {
                max = value;
            }
        }
        if (!found) return statistics;
        if (typeof(T) == typeof(double))
        {
            if ((double)(object)min == 0) min = (T)(object)-0.0;
            if ((double)(object)max == 0) max = (T)(object)0.0;
        }
        else if (typeof(T) == typeof(float))
        {
            if ((float)(object)min == 0) min = (T)(object)-0f;
            if ((float)(object)max == 0) max = (T)(object)0f;
        }
        statistics.Min = statistics.MinValue = Plain(min);
        statistics.Max = statistics.MaxValue = Plain(max);
        return statistics;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsNaN(T value) =>
        (typeof(T) == typeof(double) && double.IsNaN((double)(object)value)) || (typeof(T) == typeof(float) && float.IsNaN((float)(object)value));

    /// <summary>The type's order: false before true, numbers by value (-0.0 and +0.0 equal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Less(T left, T right)
    {
        if (typeof(T) == typeof(bool)) return !(bool)(object)left && (bool)(object)right;
        if (typeof(T) == typeof(int)) return (int)(object)left < (int)(object)right;
        if (typeof(T) == typeof(long)) return (long)(object)left < (long)(object)right;
        if (typeof(T) == typeof(float)) return (float)(object)left < (float)(object)right;
        if (typeof(T) == typeof(double)) return (double)(object)left < (double)(object)right;
        throw new NotSupportedException($"{typeof(T).Name} has no statistics here.");
    }

    /// <summary>A statistic's value: the PLAIN encoding of one value (a boolean as one byte).</summary>
    private static byte[] Plain(T value) =>
        typeof(T) == typeof(bool) ? [(bool)(object)value ? (byte)1 : (byte)0] : MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();
}
