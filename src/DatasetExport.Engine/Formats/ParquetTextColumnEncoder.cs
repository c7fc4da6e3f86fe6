using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Encodes the text column chunks of <see cref="ParquetFileWriter"/>'s row groups (BYTE_ARRAY, STRING): one v1 data page
/// with RLE levels and UTF-8 values written straight from the chars, after a PLAIN dictionary page when at most
/// <see cref="DictionaryThreshold"/> of the values are distinct (the rule Parquet.Net documents for its dictionary
/// encoding; Parquet.Net 6.1.0 itself dictionary-encodes only columns given a hint), else PLAIN. Statistics are the fields
/// Parquet.Net writes for text: null count, and the least and greatest values in both the legacy and the current fields,
/// as UTF-8 bytes compared unsigned (the format's order; Parquet.Net orders the UTF-16 strings, which puts U+FFFD above
/// U+1F600). One encoder serves one column from row group to row group and keeps its buffers.
/// </summary>
internal sealed class ParquetTextColumnEncoder : ParquetColumnEncoder
{
    /// <summary>Most distinct values per value that still make a dictionary worth it.</summary>
    public const double DictionaryThreshold = 0.8;

    /// <summary>Values looked at before building a whole dictionary: a column of unique values is told apart cheaply.</summary>
    private const int DictionarySample = 10_000;

    private readonly Dictionary<ReadOnlyMemory<char>, int> _dictionary = new(TextComparer.Instance);
    private readonly List<ReadOnlyMemory<char>> _entries = [];
    private int[] _indices = [];

    public ParquetTextColumnEncoder(CompressionCodec codec, IReadOnlyList<string> path, int maxDefinition, int maxRepetition)
        : base(codec, path, maxDefinition, maxRepetition)
    {
    }

    /// <summary>
    /// Encodes a column chunk of <paramref name="values"/> (the non-null ones) with its levels (as many as entries; empty
    /// when the level's maximum is 0, and then one entry per value) into <see cref="ParquetColumnEncoder.Chunk"/>, and returns its metadata.
    /// </summary>
    public ColumnChunk Encode(ReadOnlySpan<ReadOnlyMemory<char>> values, ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions)
    {
        var entryCount = EntryCount(values.Length, definitions, repetitions);
        var metadata = StartChunk(Parquet.Meta.Type.BYTE_ARRAY, entryCount);
        long uncompressed = 0;
        var dictionary = BuildDictionary(values);
        // A dictionary holds every value once: the extremes are among fewer.
        metadata.Statistics = Statistics(dictionary ? CollectionsMarshal.AsSpan(_entries) : values, entryCount - values.Length);
        if (dictionary)
        {
            metadata.DictionaryPageOffset = 0;
            foreach (var entry in _entries) WritePlain(entry.Span);
            uncompressed += WritePage(new PageHeader
            {
                Type = PageType.DICTIONARY_PAGE,
                DictionaryPageHeader = new DictionaryPageHeader { NumValues = _entries.Count, Encoding = Encoding.PLAIN },
            });
            metadata.Encodings.Add(Encoding.PLAIN);
        }
        metadata.DataPageOffset = ChunkLength;
        WriteLevels(definitions, repetitions);
        if (dictionary)
        {
            var bitWidth = Math.Max(1, ParquetBits.Width(_entries.Count - 1));
            Page.GetSpan(1)[0] = (byte)bitWidth;
            Page.Advance(1);
            RleBitPackedEncoder.Encode(_indices.AsSpan(0, values.Length), bitWidth, Page);
        }
        else
        {
            foreach (var value in values) WritePlain(value.Span);
        }
        uncompressed += WritePage(DataPage(entryCount, dictionary ? Encoding.RLE_DICTIONARY : Encoding.PLAIN));
        if (!dictionary) metadata.Encodings.Add(Encoding.PLAIN);
        metadata.Encodings.Add(Encoding.RLE);
        if (dictionary) metadata.Encodings.Add(Encoding.RLE_DICTIONARY);
        _dictionary.Clear();
        _entries.Clear();
        return FinishChunk(metadata, uncompressed);
    }

    /// <summary>
    /// Fills <see cref="_entries"/> and <see cref="_indices"/> when a dictionary pays: a sample first, then every value,
    /// giving up as soon as too many are distinct.
    /// </summary>
    private bool BuildDictionary(ReadOnlySpan<ReadOnlyMemory<char>> values)
    {
        _dictionary.Clear();
        _entries.Clear();
        if (values.IsEmpty) return false;
        if (_indices.Length < values.Length) _indices = new int[Math.Max(values.Length, _indices.Length * 2)];
        var sample = Math.Min(values.Length, DictionarySample);
        var limit = (int)(DictionaryThreshold * values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_dictionary, values[i], out var exists);
            if (!exists)
            {
                index = _entries.Count;
                _entries.Add(values[i]);
                if (_entries.Count > limit || (i < sample && _entries.Count > DictionaryThreshold * sample)) return false;
            }
            _indices[i] = index;
        }
        return true;
    }

    /// <summary>Null count, and the least and greatest values in UTF-8 byte order (code point order); none when all are null.</summary>
    private Statistics Statistics(ReadOnlySpan<ReadOnlyMemory<char>> values, long nullCount)
    {
        var statistics = new Statistics { NullCount = nullCount };
        if (values.IsEmpty) return statistics;
        var min = values[0].Span;
        var max = min;
        foreach (var value in values[1..])
        {
            var span = value.Span;
            if (CompareCodePoints(span, min) < 0) min = span;
            else if (CompareCodePoints(span, max) > 0) max = span;
        }
        statistics.Min = statistics.MinValue = System.Text.Encoding.UTF8.GetBytes(min.ToArray());
        statistics.Max = statistics.MaxValue = System.Text.Encoding.UTF8.GetBytes(max.ToArray());
        return statistics;
    }

    /// <summary>
    /// Orders UTF-16 text as its UTF-8 bytes compare: by code point. Ordinal order differs only where a surrogate (a code
    /// point above U+FFFF) meets a char from U+E000 up, which it must follow.
    /// </summary>
    internal static int CompareCodePoints(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        var common = left.CommonPrefixLength(right);
        if (common == left.Length || common == right.Length) return left.Length.CompareTo(right.Length);
        return CodePointRank(left[common]).CompareTo(CodePointRank(right[common]));
    }

    private static int CodePointRank(char c) => c < 0xD800 ? c : c < 0xE000 ? c + 0x2000 : c - 0x800;

    /// <summary>A PLAIN BYTE_ARRAY value: its UTF-8 length (4 bytes, little-endian) then its UTF-8 bytes.</summary>
    private void WritePlain(ReadOnlySpan<char> value)
    {
        var span = Page.GetSpan(4 + System.Text.Encoding.UTF8.GetMaxByteCount(value.Length));
        var length = System.Text.Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, length);
        Page.Advance(4 + length);
    }

    /// <summary>Text values compared by their chars, without making strings.</summary>
    private sealed class TextComparer : IEqualityComparer<ReadOnlyMemory<char>>
    {
        public static readonly TextComparer Instance = new();

        public bool Equals(ReadOnlyMemory<char> x, ReadOnlyMemory<char> y) => x.Span.SequenceEqual(y.Span);

        public int GetHashCode(ReadOnlyMemory<char> value) => string.GetHashCode(value.Span);
    }
}
