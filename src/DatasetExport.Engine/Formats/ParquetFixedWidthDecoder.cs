using System.Buffers;
using System.Runtime.InteropServices;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Values of a fixed-width physical type read as they are stored (INT32 as int, INT64 as long, FLOAT, DOUBLE), PLAIN
/// (little-endian, end to end) or dictionary-encoded. Other encodings (DELTA_BINARY_PACKED, BYTE_STREAM_SPLIT) throw
/// <see cref="NotSupportedException"/>.
/// </summary>
internal sealed class ParquetFixedWidthDecoder<T> : IParquetValueDecoder<T> where T : unmanaged
{
    private T[]? _dictionary;
    private int _dictionaryCount;

    public ParquetFixedWidthDecoder()
    {
        if (!BitConverter.IsLittleEndian) throw new NotSupportedException("PLAIN values are copied as they are only on little-endian machines.");
    }

    public void Dispose()
    {
        if (_dictionary is not null) ArrayPool<T>.Shared.Return(_dictionary);
    }

    public void ReadDictionary(ParquetPage page)
    {
        ParquetColumnDecoder.CheckDictionary(page, _dictionary is not null, Marshal.SizeOf<T>());
        _dictionary = ArrayPool<T>.Shared.Rent(page.EntryCount);
        _dictionaryCount = page.EntryCount;
        ReadPlain(page.Values.Span, _dictionary.AsSpan(0, page.EntryCount));
    }

    public void ReadValues(ParquetPage page, Span<T> target)
    {
        switch (page.Encoding)
        {
            case Encoding.PLAIN:
                ReadPlain(page.Values.Span, target);
                break;
            case Encoding.PLAIN_DICTIONARY or Encoding.RLE_DICTIONARY:
                var dictionary = _dictionary ?? throw new InvalidDataException("a dictionary-encoded page comes before any dictionary page.");
                ParquetColumnDecoder.ReadIndexed(page.Values.Span, dictionary.AsSpan(0, _dictionaryCount), target);
                break;
            default:
                throw new NotSupportedException($"{typeof(T).Name} values in the {page.Encoding} encoding are not decoded here.");
        }
    }

    private static void ReadPlain(ReadOnlySpan<byte> data, Span<T> target)
    {
        var length = (long)target.Length * Marshal.SizeOf<T>();
        if (data.Length < length) throw ParquetBits.Truncated("PLAIN values");
        MemoryMarshal.Cast<byte, T>(data[..(int)length]).CopyTo(target);
    }
}
