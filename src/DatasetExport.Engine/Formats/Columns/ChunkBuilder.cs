using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Builds <see cref="RecordChunk"/>s row by row: one <see cref="ColumnBuilder"/> per leaf of the schema's layout.
/// Readers add values to the builders directly; <see cref="AddRecord"/> shreds a <see cref="Record"/>. A row that fails
/// half-way is taken back with <see cref="Rollback"/>, so the columns never misalign.
/// </summary>
public sealed class ChunkBuilder
{
    private readonly (int Levels, int Values)[] _rowStart;
    // Columns as an array: the per-row loops then make no interface calls.
    private readonly ColumnBuilder[] _columns;

    /// <param name="rowCapacity">
    /// Rows the columns make room for after each <see cref="Build()"/> (<see cref="ColumnBuilder.Capacity"/>); the first
    /// chunk's columns start small and grow with the rows.
    /// </param>
    public ChunkBuilder(DatasetSchema schema, int rowCapacity = ColumnBuilder.DefaultCapacity) : this(schema, rowCapacity, pools: null)
    {
    }

    /// <param name="pools">Where the columns' arrays come from, and go back to when a chunk of <see cref="Build(RowGroupLease)"/> is released.</param>
    internal ChunkBuilder(DatasetSchema schema, int rowCapacity, RowGroupPools? pools)
    {
        Layout = ColumnLayout.For(schema);
        _columns = Layout.Leaves.Select(leaf => ColumnBuilder.Create(leaf, rowCapacity, pools)).ToArray();
        Columns = _columns;
        _rowStart = new (int, int)[Columns.Count];
    }

    public ColumnLayout Layout { get; }

    /// <summary>One builder per leaf, in <see cref="ColumnLayout.Leaves"/> order.</summary>
    public IReadOnlyList<ColumnBuilder> Columns { get; }

    /// <summary>Rows completed with <see cref="EndRow"/>.</summary>
    public int RowCount { get; private set; }

    /// <summary>Marks where a row starts, for <see cref="Rollback"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    public void BeginRow()
    {
        for (var i = 0; i < _columns.Length; i++) _rowStart[i] = _columns[i].Position;
    }

    public void EndRow() => RowCount++;

    /// <summary>Drops what was added since <see cref="BeginRow"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    public void Rollback()
    {
        for (var i = 0; i < _columns.Length; i++) _columns[i].Truncate(_rowStart[i]);
    }

    /// <summary>Bytes the entries so far take in the columns' arrays (<see cref="ColumnBuilder.EntryBytes"/>); a look at every column.</summary>
    internal long EntryBytes()
    {
        long bytes = 0;
        for (var i = 0; i < _columns.Length; i++) bytes += _columns[i].EntryBytes;
        return bytes;
    }

    /// <summary>Rows the columns make room for after the next <see cref="Build()"/> (<see cref="ColumnBuilder.StartLaterChunksAt"/>).</summary>
    internal void StartLaterChunksAt(int rows)
    {
        for (var i = 0; i < _columns.Length; i++) _columns[i].StartLaterChunksAt(rows);
    }

    /// <summary>The rows so far as a chunk; the builder starts over empty.</summary>
    public RecordChunk Build() => Build(lease: null);

    /// <summary>As <see cref="Build()"/>; the columns' pooled arrays go back when <paramref name="lease"/> is released (the caller makes the chunk its holder).</summary>
    internal RecordChunk Build(RowGroupLease? lease)
    {
        var columns = new ColumnData[Columns.Count];
        for (var i = 0; i < columns.Length; i++) columns[i] = Columns[i].Build(lease);
        var chunk = new RecordChunk(Layout.Schema, RowCount, columns);
        RowCount = 0;
        return chunk;
    }

    /// <summary>
    /// Shreds one record (values as documented on <see cref="Record"/>; missing names are null). Throws
    /// <see cref="ArgumentException"/> naming the column for a value that does not fit, leaving the builder as before.
    /// </summary>
    public void AddRecord(IReadOnlyDictionary<string, object?> record)
    {
        ArgumentNullException.ThrowIfNull(record);
        BeginRow();
        try
        {
            foreach (var column in Layout.Columns) Shred(column, record.GetValueOrDefault(column.Field.Name), repetition: 0);
        }
        catch
        {
            Rollback();
            throw;
        }
        EndRow();
    }

    private void Shred(LayoutNode node, object? value, int repetition)
    {
        if (value is null)
        {
            AddAbsent(node, node.NullLevel, repetition);
            return;
        }
        switch (node)
        {
            case LeafLayout leaf:
                AddValue(Columns[leaf.Index], value, repetition);
                break;
            case StructLayout structNode when value is IReadOnlyDictionary<string, object?> fields:
                foreach (var child in structNode.Children) Shred(child, fields.GetValueOrDefault(child.Field.Name), repetition);
                break;
            case ListLayout list when value is IReadOnlyList<object?> items:
                if (items.Count == 0) AddAbsent(node, list.NullLevel + 1, repetition);
                for (var i = 0; i < items.Count; i++) Shred(list.Element, items[i], i == 0 ? repetition : list.RepeatedLevel);
                break;
            case MapLayout map when value is IReadOnlyList<KeyValuePair<object, object?>> entries:
                if (entries.Count == 0) AddAbsent(node, map.NullLevel + 1, repetition);
                for (var i = 0; i < entries.Count; i++)
                {
                    var entryRepetition = i == 0 ? repetition : map.RepeatedLevel;
                    Shred(map.Key, entries[i].Key, entryRepetition);
                    Shred(map.Value, entries[i].Value, entryRepetition);
                }
                break;
            default:
                throw new ArgumentException($"Column '{node.Path}' is {node.Field.TypeName} but a record holds {value.GetType().Name}.");
        }
    }

    private void AddAbsent(LayoutNode node, int definition, int repetition)
    {
        foreach (var leaf in node.Leaves) Columns[leaf.Index].AddNull(definition, repetition);
    }

    private static void AddValue(ColumnBuilder column, object value, int repetition)
    {
        try
        {
            switch (column)
            {
                case ColumnBuilder<bool> b: b.Add(Convert.ToBoolean(value, CultureInfo.InvariantCulture), repetition); break;
                case ColumnBuilder<int> b: b.Add(Convert.ToInt32(value, CultureInfo.InvariantCulture), repetition); break;
                case ColumnBuilder<long> b: b.Add(Convert.ToInt64(value, CultureInfo.InvariantCulture), repetition); break;
                case ColumnBuilder<float> b: b.Add(Convert.ToSingle(value, CultureInfo.InvariantCulture), repetition); break;
                case ColumnBuilder<double> b: b.Add(value is float f ? FieldValues.FloatToDouble(f) : Convert.ToDouble(value, CultureInfo.InvariantCulture), repetition); break;
                case ColumnBuilder<decimal> b: b.Add(Convert.ToDecimal(value, CultureInfo.InvariantCulture), repetition); break;
                // Encoding.UTF8 turns a lone surrogate into U+FFFD.
                case ColumnBuilder<ReadOnlyMemory<byte>> b when column.Leaf.Field.Kind == FieldKind.String:
                    b.Add(Encoding.UTF8.GetBytes(value as string ?? Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""), repetition);
                    break;
                case ColumnBuilder<ReadOnlyMemory<byte>> b: b.Add((byte[])value, repetition); break;
                case ColumnBuilder<DateOnly> b: b.Add(value is DateTime d ? DateOnly.FromDateTime(d) : (DateOnly)value, repetition); break;
                case ColumnBuilder<DateTime> b: b.Add(ToUtc((DateTime)value), repetition); break;
                case ColumnBuilder<TimeSpan> b: b.Add((TimeSpan)value, repetition); break;
                default: throw new InvalidOperationException($"Column '{column.Leaf.Path}' has no value conversion.");
            }
        }
        catch (Exception error) when (error is InvalidCastException or FormatException or OverflowException)
        {
            throw new ArgumentException($"Column '{column.Leaf.Path}' cannot hold the value {value} ({value.GetType().Name}).", error);
        }
    }

    private static DateTime ToUtc(DateTime value) => value.Kind switch
    {
        DateTimeKind.Local => value.ToUniversalTime(),
        DateTimeKind.Unspecified => DateTime.SpecifyKind(value, DateTimeKind.Utc),
        _ => value,
    };
}
