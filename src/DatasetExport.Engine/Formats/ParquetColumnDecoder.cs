using System.Buffers;
using System.Runtime.CompilerServices;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// How the values of one column chunk's pages are decoded, by physical type: PLAIN and dictionary-encoded pages here
/// (a dictionary page is PLAIN), other encodings by the type's own decoder where it has them.
/// </summary>
internal abstract class ParquetValueDecoder<T> : IDisposable
{
    private T[]? _dictionary;
    private int _dictionaryCount;

    /// <summary>
    /// Where the decoder's working arrays are rented: a reader's row group pools, so they are reused whatever thread the
    /// reading continues on (the shared pool, the default, keeps them per thread).
    /// </summary>
    public RowGroupPools? Pools { get; init; }

    protected ArrayPool<TItem> PoolOf<TItem>() => Pools?.Of<TItem>() ?? ArrayPool<TItem>.Shared;

    /// <summary>The fewest bytes a PLAIN value takes, to refuse a dictionary that announces more values than it can hold.</summary>
    protected abstract int SmallestPlainValue { get; }

    /// <summary>What the values are, for messages.</summary>
    protected abstract string ValueName { get; }

    /// <summary>Keeps the chunk's dictionary for the dictionary-encoded pages after it.</summary>
    public void ReadDictionary(ParquetPage page)
    {
        ParquetColumnDecoder.CheckDictionary(page, _dictionary is not null, SmallestPlainValue);
        _dictionary = PoolOf<T>().Rent(page.EntryCount);
        _dictionaryCount = page.EntryCount;
        ReadPlain(page.Values.Span, _dictionary.AsSpan(0, page.EntryCount));
    }

    /// <summary>Fills <paramref name="target"/> with the data page's values (one per entry at the maximum definition level).</summary>
    public void ReadValues(ParquetPage page, Span<T> target)
    {
        switch (page.Encoding)
        {
            case Encoding.PLAIN:
                ReadPlain(page.Values.Span, target);
                break;
            case Encoding.PLAIN_DICTIONARY or Encoding.RLE_DICTIONARY:
                var dictionary = _dictionary ?? throw new InvalidDataException("a dictionary-encoded page comes before any dictionary page.");
                ParquetColumnDecoder.ReadIndexed(page.Values.Span, dictionary.AsSpan(0, _dictionaryCount), target, PoolOf<int>());
                break;
            default:
                if (!TryReadOther(page, target)) throw new NotSupportedException($"{ValueName} in the {page.Encoding} encoding are not decoded here.");
                break;
        }
    }

    public virtual void Dispose()
    {
        if (_dictionary is not null) PoolOf<T>().Return(_dictionary, clearArray: RuntimeHelpers.IsReferenceOrContainsReferences<T>());
        _dictionary = null;
    }

    protected abstract void ReadPlain(ReadOnlySpan<byte> data, Span<T> target);

    /// <summary>Values in an encoding other than PLAIN and dictionary; false when this type has no decoder for it.</summary>
    protected virtual bool TryReadOther(ParquetPage page, Span<T> target) => false;
}

/// <summary>
/// Decodes a column chunk page by page (<see cref="ParquetPageReader"/>) into its definition and repetition levels
/// (RLE/bit-packed hybrid) and its values (<see cref="ParquetValueDecoder{T}"/>), into arrays the caller owns.
/// Anything not decoded here throws <see cref="NotSupportedException"/>, damaged data <see cref="InvalidDataException"/>.
/// </summary>
internal static class ParquetColumnDecoder
{
    /// <summary>
    /// Decodes every page of <paramref name="pages"/>, a chunk of <paramref name="entryCount"/> level entries: its levels
    /// into <paramref name="definitions"/> and <paramref name="repetitions"/> (empty when the column has none), its values
    /// into <paramref name="values"/>.
    /// </summary>
    public static void Decode<T>(
        ParquetPageReader pages, int entryCount, int maxDefinition, int maxRepetition,
        Span<int> definitions, Span<int> repetitions, Span<T> values, ParquetValueDecoder<T> decoder)
    {
        var entries = 0;
        var valueCount = 0;
        while (pages.TryRead(out var page))
        {
            if (page.Type == PageType.DICTIONARY_PAGE)
            {
                decoder.ReadDictionary(page);
                continue;
            }
            var count = page.EntryCount;
            if (count < 0 || count > entryCount - entries)
            {
                throw new InvalidDataException($"a data page holds {count} entries, more than the {entryCount - entries} left of its column chunk.");
            }
            if (maxRepetition > 0) RleBitPackedDecoder.Decode(page.RepetitionLevels.Span, ParquetBits.Width(maxRepetition), repetitions.Slice(entries, count));
            var pageValues = count;
            if (maxDefinition > 0)
            {
                var pageDefinitions = definitions.Slice(entries, count);
                RleBitPackedDecoder.Decode(page.DefinitionLevels.Span, ParquetBits.Width(maxDefinition), pageDefinitions);
                pageValues = pageDefinitions.Count(maxDefinition);
            }
            if (pageValues > 0) decoder.ReadValues(page, values.Slice(valueCount, pageValues));
            entries += count;
            valueCount += pageValues;
        }
        if (entries != entryCount) throw new InvalidDataException($"the column chunk's pages hold {entries} entries but its metadata announces {entryCount}.");
    }

    /// <summary>Dictionary-encoded values: the indices' bit width in one byte, then RLE/bit-packed runs of indices into <paramref name="dictionary"/>.</summary>
    public static void ReadIndexed<T>(ReadOnlySpan<byte> data, ReadOnlySpan<T> dictionary, Span<T> target, ArrayPool<int> scratch)
    {
        if (data.IsEmpty) throw ParquetBits.Truncated("the bit width of dictionary indices");
        var indices = scratch.Rent(target.Length);
        try
        {
            RleBitPackedDecoder.Decode(data[1..], data[0], indices.AsSpan(0, target.Length));
            for (var i = 0; i < target.Length; i++)
            {
                var index = indices[i];
                if ((uint)index >= (uint)dictionary.Length) throw new InvalidDataException($"dictionary index {index} is past the dictionary's {dictionary.Length} entries.");
                target[i] = dictionary[index];
            }
        }
        finally
        {
            scratch.Return(indices);
        }
    }

    /// <summary>
    /// Checks that a dictionary page is its chunk's only one and holds PLAIN values of at least
    /// <paramref name="smallestValue"/> bytes each, so that no dictionary is made larger than its page.
    /// </summary>
    public static void CheckDictionary(ParquetPage page, bool hadOne, int smallestValue)
    {
        if (hadOne) throw new InvalidDataException("the column chunk has a second dictionary page.");
        if (page.Encoding is not (Encoding.PLAIN or Encoding.PLAIN_DICTIONARY)) throw new NotSupportedException($"dictionary pages in the {page.Encoding} encoding are not decoded here.");
        if (page.EntryCount < 0 || (long)page.EntryCount * smallestValue > page.Values.Length)
        {
            throw new InvalidDataException($"a dictionary page announces {page.EntryCount} values in {page.Values.Length} bytes.");
        }
    }
}
