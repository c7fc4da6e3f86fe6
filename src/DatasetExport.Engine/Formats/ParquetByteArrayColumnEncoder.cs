using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Encodes the BYTE_ARRAY column chunks of <see cref="ParquetFileWriter"/>'s row groups, text (STRING, from the UTF-8 the
/// writer buffers) and binaries alike: one v1 data page with RLE levels and the values, after a PLAIN dictionary page when
/// at most <see cref="DictionaryThreshold"/> of the values are distinct (the rule Parquet.Net documents for its dictionary
/// encoding; Parquet.Net 6.1.0 itself dictionary-encodes only columns given a hint), else PLAIN. Statistics: null count,
/// and the least and greatest values as bytes compared unsigned (the format's order; for UTF-8, code point order, where
/// Parquet.Net ordered the UTF-16 strings and put U+FFFD above U+1F600). Text has them in both the legacy and the current
/// fields, as Parquet.Net wrote them; binaries only in the current ones (readers of the legacy fields may compare signed).
/// One encoder serves one column from row group to row group and keeps its buffers.
/// </summary>
internal sealed class ParquetByteArrayColumnEncoder : ParquetColumnEncoder
{
    /// <summary>Most distinct values per value that still make a dictionary worth it.</summary>
    public const double DictionaryThreshold = 0.8;

    /// <summary>Values looked at before building a whole dictionary: a column of unique values is told apart cheaply.</summary>
    private const int DictionarySample = 10_000;

    private readonly bool _text;

    /// <param name="text">Whether the values are UTF-8 text (STRING), whose statistics also go in the legacy fields.</param>
    /// <param name="shelf">Scratch shared with the writer's other encoders (<see cref="ParquetEncoderScratch"/>); null: its own.</param>
    public ParquetByteArrayColumnEncoder(
        CompressionCodec codec, IReadOnlyList<string> path, int maxDefinition, int maxRepetition, bool text, ParquetEncoderScratch.Shelf? shelf = null)
        : base(codec, path, maxDefinition, maxRepetition, shelf)
    {
        _text = text;
    }

    /// <summary>
    /// Encodes a column chunk of <paramref name="values"/> (the non-null ones) with its levels (as many as entries; empty
    /// when the level's maximum is 0, and then one entry per value) into <see cref="ParquetColumnEncoder.Chunk"/>, and returns its metadata.
    /// </summary>
    public ColumnChunk Encode(ReadOnlySpan<ReadOnlyMemory<byte>> values, ReadOnlySpan<int> definitions, ReadOnlySpan<int> repetitions)
    {
        var entryCount = EntryCount(values.Length, definitions, repetitions);
        var metadata = StartChunk(Parquet.Meta.Type.BYTE_ARRAY, entryCount);
        long uncompressed = 0;
        var dictionary = BuildDictionary(values);
        var table = Scratch.Dictionary;
        // A dictionary holds every value once: the extremes are among fewer.
        metadata.Statistics = Statistics(dictionary ? table.Entries : values, entryCount - values.Length, _text);
        if (dictionary)
        {
            metadata.DictionaryPageOffset = 0;
            WritePlain(table.Entries);
            uncompressed += WritePage(new PageHeader
            {
                Type = PageType.DICTIONARY_PAGE,
                DictionaryPageHeader = new DictionaryPageHeader { NumValues = table.Count, Encoding = Encoding.PLAIN },
            });
            metadata.Encodings.Add(Encoding.PLAIN);
        }
        metadata.DataPageOffset = ChunkLength;
        WriteLevels(definitions, repetitions);
        if (dictionary)
        {
            var bitWidth = Math.Max(1, ParquetBits.Width(table.Count - 1));
            Page.GetSpan(1)[0] = (byte)bitWidth;
            Page.Advance(1);
            RleBitPackedEncoder.Encode(Scratch.Indices.AsSpan(0, values.Length), bitWidth, Page);
        }
        else
        {
            WritePlain(values);
        }
        uncompressed += WritePage(DataPage(entryCount, dictionary ? Encoding.RLE_DICTIONARY : Encoding.PLAIN));
        if (!dictionary) metadata.Encodings.Add(Encoding.PLAIN);
        metadata.Encodings.Add(Encoding.RLE);
        if (dictionary) metadata.Encodings.Add(Encoding.RLE_DICTIONARY);
        table.Clear();
        return FinishChunk(metadata, uncompressed);
    }

    /// <summary>
    /// Fills the scratch's dictionary and indices when a dictionary pays: a sample first, then every value, giving up as
    /// soon as too many are distinct.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
    private bool BuildDictionary(ReadOnlySpan<ReadOnlyMemory<byte>> values)
    {
        var table = Scratch.Dictionary;
        table.Clear();
        if (values.IsEmpty) return false;
        if (Scratch.Indices.Length < values.Length) Scratch.Indices = new int[Math.Max(values.Length, Scratch.Indices.Length * 2)];
        var indices = Scratch.Indices;
        var sample = Math.Min(values.Length, DictionarySample);
        var limit = (int)(DictionaryThreshold * values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            indices[i] = table.IndexOf(values[i], out var added);
            if (added && (table.Count > limit || (i < sample && table.Count > DictionaryThreshold * sample))) return false;
        }
        return true;
    }

    /// <summary>
    /// The longest least or greatest value kept in statistics, as parquet-mr and Arrow do: statistics are written to the
    /// footer whole (twice, in the current and the legacy fields), so a 20 MB string made a 40 MB footer, 43 MB files
    /// for 1 MB of compressed data, and every reader of the footer read it all.
    /// </summary>
    internal const int MaxStatisticsValueBytes = 4096;

    /// <summary>
    /// Null count, and the least and greatest values in byte order (for UTF-8, code point order); no min/max when all are
    /// null or either is longer than <see cref="MaxStatisticsValueBytes"/>.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
    private static Statistics Statistics(ReadOnlySpan<ReadOnlyMemory<byte>> values, long nullCount, bool legacyFields)
    {
        var statistics = new Statistics { NullCount = nullCount };
        if (values.IsEmpty) return statistics;
        var min = values[0].Span;
        var max = min;
        foreach (var value in values[1..])
        {
            var span = value.Span;
            if (Compare(span, min) < 0) min = span;
            else if (Compare(span, max) > 0) max = span;
        }
        if (min.Length > MaxStatisticsValueBytes || max.Length > MaxStatisticsValueBytes) return statistics;
        statistics.MinValue = min.ToArray();
        statistics.MaxValue = max.ToArray();
        if (legacyFields)
        {
            statistics.Min = statistics.MinValue;
            statistics.Max = statistics.MaxValue;
        }
        return statistics;
    }

    /// <summary>Bytes compared unsigned, a prefix first: a plain loop compiled with its caller (the runtime's ran instrumented).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Compare(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var length = Math.Min(left.Length, right.Length);
        var common = 0;
        while (common < length && left[common] == right[common]) common++;
        return common == length ? left.Length.CompareTo(right.Length) : left[common].CompareTo(right[common]);
    }

    /// <summary>PLAIN BYTE_ARRAY values: each one's length (4 bytes, little-endian) then its bytes.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void WritePlain(ReadOnlySpan<ReadOnlyMemory<byte>> values)
    {
        foreach (var value in values)
        {
            var span = Page.GetSpan(4 + value.Length);
            BinaryPrimitives.WriteInt32LittleEndian(span, value.Length);
            value.Span.CopyTo(span[4..]);
            Page.Advance(4 + value.Length);
        }
    }

    /// <summary>
    /// Distinct values (their UTF-8 bytes) numbered in order of appearance: an open-addressing table of our own instead of a
    /// <see cref="Dictionary{TKey, TValue}"/>, whose lookups (with a comparer and Marvin hashing of every value) ran in the
    /// runtime's instrumented tiers for much of an export and cost about 4% of its CPU. The hash is seeded per process, so
    /// crafted values cannot be chosen to collide.
    /// </summary>
    internal sealed class TextDictionary
    {
        private static readonly ulong Seed = (ulong)Random.Shared.NextInt64();

        // Small at first and doubled as values come (kept from row group to row group): 512 entries up front took a
        // writer of 5,000 text columns 80 MB before a row came.
        private int[] _slots = new int[64];
        private ulong[] _hashes = new ulong[32];
        private ReadOnlyMemory<byte>[] _entries = new ReadOnlyMemory<byte>[32];

        public int Count { get; private set; }

        public ReadOnlySpan<ReadOnlyMemory<byte>> Entries => _entries.AsSpan(0, Count);

        public void Clear()
        {
            if (Count == 0) return;
            // Shared by the columns of a writer: a few entries in slots grown by a large column are cleared one by one.
            if (Count * 8 < _slots.Length) ClearSlotsOfEntries();
            else Array.Clear(_slots);
            // Entries are slices of the writer's blocks: keep none alive.
            Array.Clear(_entries, 0, Count);
            Count = 0;
        }

        /// <summary>Empties the slots of the entries only: each is found where <see cref="IndexOf"/> probed for it.</summary>
        private void ClearSlotsOfEntries()
        {
            var mask = _slots.Length - 1;
            for (var entry = 0; entry < Count; entry++)
            {
                var slot = (int)_hashes[entry] & mask;
                while (_slots[slot] != entry + 1) slot = (slot + 1) & mask;
                _slots[slot] = 0;
            }
        }

        /// <summary>The number of <paramref name="value"/>, added as the next one when it is new.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int IndexOf(ReadOnlyMemory<byte> value, out bool added)
        {
            var span = value.Span;
            var hash = Hash(span);
            var mask = _slots.Length - 1;
            for (var slot = (int)hash & mask; ; slot = (slot + 1) & mask)
            {
                var entry = _slots[slot] - 1;
                if (entry < 0)
                {
                    added = true;
                    return Add(value, hash, slot);
                }
                if (_hashes[entry] == hash && _entries[entry].Span.SequenceEqual(span))
                {
                    added = false;
                    return entry;
                }
            }
        }

        private int Add(ReadOnlyMemory<byte> value, ulong hash, int slot)
        {
            var entry = Count++;
            if (entry == _entries.Length)
            {
                Array.Resize(ref _entries, entry * 2);
                Array.Resize(ref _hashes, entry * 2);
            }
            _entries[entry] = value;
            _hashes[entry] = hash;
            _slots[slot] = entry + 1;
            // At most half full, so probes stay short.
            if (Count * 2 > _slots.Length) Grow();
            return entry;
        }

        private void Grow()
        {
            _slots = new int[_slots.Length * 2];
            var mask = _slots.Length - 1;
            for (var entry = 0; entry < Count; entry++)
            {
                var slot = (int)_hashes[entry] & mask;
                while (_slots[slot] != 0) slot = (slot + 1) & mask;
                _slots[slot] = entry + 1;
            }
        }

        /// <summary>A 64-bit multiply-rotate hash of the bytes, 8 at a time, mixed at the end so the low bits spread.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static ulong Hash(ReadOnlySpan<byte> bytes)
        {
            var hash = Seed ^ ((ulong)bytes.Length * 0x9E3779B97F4A7C15);
            var i = 0;
            for (; i + 8 <= bytes.Length; i += 8) hash = Mix(hash, MemoryMarshal.Read<ulong>(bytes[i..]));
            if (i < bytes.Length)
            {
                ulong tail = 0;
                for (var j = bytes.Length - 1; j >= i; j--) tail = (tail << 8) | bytes[j];
                hash = Mix(hash, tail);
            }
            hash ^= hash >> 33;
            hash *= 0xFF51AFD7ED558CCD;
            return hash ^ (hash >> 33);
        }

        private static ulong Mix(ulong hash, ulong data) => BitOperations.RotateLeft(hash ^ (data * 0xC2B2AE3D27D4EB4F), 31) * 0x9E3779B97F4A7C15;
    }
}
