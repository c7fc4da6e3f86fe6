using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// One leaf column of a <see cref="RecordChunk"/>: its entries' definition and repetition levels and the values of the
/// entries at <see cref="LeafLayout.MaxDefinition"/>, in the canonical <see cref="ColumnLayout"/>. Immutable once made;
/// the memory may be shared with the reader's decoded data and with slices of the same chunk.
/// </summary>
public abstract class ColumnData
{
    private RowPosition _sliced = RowPosition.Start;

    private protected ColumnData(LeafLayout leaf, int levelCount, ReadOnlyMemory<int> definitions, ReadOnlyMemory<int> repetitions)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentOutOfRangeException.ThrowIfNegative(levelCount);
        if (leaf.MaxDefinition > 0 && definitions.Length != levelCount)
        {
            throw new ArgumentException($"Column '{leaf.Path}' has {definitions.Length} definition levels for {levelCount} entries.", nameof(definitions));
        }
        if (leaf.MaxRepetition > 0 && repetitions.Length != levelCount)
        {
            throw new ArgumentException($"Column '{leaf.Path}' has {repetitions.Length} repetition levels for {levelCount} entries.", nameof(repetitions));
        }
        Leaf = leaf;
        LevelCount = levelCount;
        Definitions = leaf.MaxDefinition > 0 ? definitions : ReadOnlyMemory<int>.Empty;
        Repetitions = leaf.MaxRepetition > 0 ? repetitions : ReadOnlyMemory<int>.Empty;
    }

    public LeafLayout Leaf { get; }

    /// <summary>Entries: one per row for a leaf outside lists, one per list element (or null/empty list) inside them.</summary>
    public int LevelCount { get; }

    /// <summary>One level per entry; empty when the leaf has no definition levels (every entry holds a value).</summary>
    public ReadOnlyMemory<int> Definitions { get; }

    /// <summary>One level per entry; empty outside lists and maps (every entry starts a row).</summary>
    public ReadOnlyMemory<int> Repetitions { get; }

    public abstract int ValueCount { get; }

    /// <summary>The value type of each field kind's columns (strings as slices of their UTF-8 bytes, always valid UTF-8; binaries as byte slices; timestamps as UTC DateTime).</summary>
    public static Type ValueType(FieldKind kind) => kind switch
    {
        FieldKind.Boolean => typeof(bool),
        FieldKind.Int32 => typeof(int),
        FieldKind.Int64 => typeof(long),
        FieldKind.Float => typeof(float),
        FieldKind.Double => typeof(double),
        FieldKind.Decimal => typeof(decimal),
        FieldKind.String => typeof(ReadOnlyMemory<byte>),
        FieldKind.Binary => typeof(ReadOnlyMemory<byte>),
        FieldKind.Date => typeof(DateOnly),
        FieldKind.Timestamp => typeof(DateTime),
        FieldKind.Time => typeof(TimeSpan),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a leaf kind."),
    };

    /// <summary>The entries of rows [<paramref name="rowStart"/>, +<paramref name="rowCount"/>) of a chunk of <paramref name="chunkRows"/> rows.</summary>
    internal ColumnData SliceRows(int chunkRows, int rowStart, int rowCount)
    {
        if (Leaf.MaxRepetition == 0 && Leaf.MaxDefinition == 0) return Slice(rowStart, rowCount, rowStart, rowCount);
        // Chunks are sliced front to back: each slice starts its walk where the previous one ended. Slices taken
        // concurrently or out of order only walk more (from the start); the position is replaced, never changed.
        var last = _sliced;
        var start = Advance(last.Row <= rowStart ? last : RowPosition.Start, rowStart, chunkRows);
        var end = Advance(start, rowStart + rowCount, chunkRows);
        _sliced = end;
        return Slice(start.Level, end.Level - start.Level, start.Value, end.Value - start.Value);
    }

    private protected abstract ColumnData Slice(int levelStart, int levelCount, int valueStart, int valueCount);

    /// <summary>Where row <paramref name="row"/>'s entries and values start, walking the levels on from <paramref name="from"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private RowPosition Advance(RowPosition from, int row, int chunkRows)
    {
        var definitions = Definitions.Span;
        var repetitions = Repetitions.Span;
        var maxDefinition = Leaf.MaxDefinition;
        var (current, entry, values) = from;
        while (current < row)
        {
            if (entry >= LevelCount) throw new InvalidOperationException($"Column '{Leaf.Path}' holds {current} rows but its chunk has {chunkRows}.");
            // A row is its first entry and the entries repeated after it.
            do
            {
                if (definitions.IsEmpty || definitions[entry] == maxDefinition) values++;
                entry++;
            }
            while (entry < LevelCount && !repetitions.IsEmpty && repetitions[entry] != 0);
            current++;
        }
        if (row == chunkRows && entry != LevelCount) throw new InvalidOperationException($"Column '{Leaf.Path}' holds more rows than its chunk ({chunkRows}).");
        return new RowPosition(current, entry, values);
    }

    /// <summary>A row's first entry and first value.</summary>
    private sealed record RowPosition(int Row, int Level, int Value)
    {
        public static readonly RowPosition Start = new(0, 0, 0);
    }
}

/// <summary>A leaf column whose values are of type <typeparamref name="T"/> (see <see cref="ColumnData.ValueType"/>).</summary>
public sealed class ColumnData<T> : ColumnData where T : struct
{
    /// <summary>
    /// Checks that the value type fits the leaf's kind and that there is one value per entry at the maximum definition level.
    /// </summary>
    public ColumnData(LeafLayout leaf, int levelCount, ReadOnlyMemory<int> definitions, ReadOnlyMemory<int> repetitions, ReadOnlyMemory<T> values)
        : base(leaf, levelCount, definitions, repetitions)
    {
        if (ValueType(leaf.Field.Kind) != typeof(T))
        {
            throw new ArgumentException($"Column '{leaf.Path}' is {leaf.Field.TypeName}, which holds {ValueType(leaf.Field.Kind).Name} values, not {typeof(T).Name}.", nameof(values));
        }
        var expected = levelCount;
        if (leaf.MaxDefinition > 0)
        {
            expected = 0;
            foreach (var definition in Definitions.Span)
            {
                if (definition == leaf.MaxDefinition) expected++;
                else if ((uint)definition > (uint)leaf.MaxDefinition) throw new ArgumentException($"Column '{leaf.Path}' has definition level {definition} above its maximum {leaf.MaxDefinition}.", nameof(definitions));
            }
        }
        if (values.Length != expected)
        {
            throw new ArgumentException($"Column '{leaf.Path}' has {values.Length} values but its levels announce {expected}.", nameof(values));
        }
        Values = values;
    }

    private ColumnData(ColumnData<T> source, int levelStart, int levelCount, int valueStart, int valueCount)
        : base(source.Leaf, levelCount,
            source.Definitions.IsEmpty ? default : source.Definitions.Slice(levelStart, levelCount),
            source.Repetitions.IsEmpty ? default : source.Repetitions.Slice(levelStart, levelCount))
    {
        Values = source.Values.Slice(valueStart, valueCount);
    }

    public ReadOnlyMemory<T> Values { get; }

    public override int ValueCount => Values.Length;

    private protected override ColumnData Slice(int levelStart, int levelCount, int valueStart, int valueCount) =>
        new ColumnData<T>(this, levelStart, levelCount, valueStart, valueCount);
}
