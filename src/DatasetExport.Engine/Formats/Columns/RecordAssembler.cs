using System.Text;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Turns a chunk's columns back into <see cref="Record"/>s (the values documented on <see cref="Record"/>). Export runs
/// never do this (they go from columns to columns); it serves inspection and tests.
/// </summary>
internal static class RecordAssembler
{
    public static List<Record> Assemble(RecordChunk chunk)
    {
        var cursors = chunk.Columns.Select(Cursor.For).ToArray();
        var columns = chunk.Layout.Columns;
        var records = new List<Record>(chunk.RowCount);
        for (var row = 0; row < chunk.RowCount; row++)
        {
            var record = new Record(columns.Count);
            foreach (var column in columns) record[column.Field.Name] = Read(column, cursors);
            records.Add(record);
        }
        foreach (var cursor in cursors) cursor.VerifyConsumed();
        return records;
    }

    private static object? Read(LayoutNode node, Cursor[] cursors)
    {
        var first = cursors[node.Leaves[0].Index];
        switch (node)
        {
            case LeafLayout:
                return first.Take();
            case StructLayout structNode:
            {
                if (first.Definition <= structNode.NullLevel)
                {
                    Skip(node, cursors);
                    return null;
                }
                var value = new Dictionary<string, object?>(structNode.Children.Count, StringComparer.Ordinal);
                foreach (var child in structNode.Children) value[child.Field.Name] = Read(child, cursors);
                return value;
            }
            case ListLayout list:
            {
                var definition = first.Definition;
                if (definition <= list.NullLevel + 1)
                {
                    Skip(node, cursors);
                    return definition <= list.NullLevel ? null : new List<object?>(0);
                }
                var items = new List<object?>();
                do
                {
                    items.Add(Read(list.Element, cursors));
                }
                while (first.HasMore && first.Repetition == list.RepeatedLevel);
                return items;
            }
            case MapLayout map:
            {
                var definition = first.Definition;
                if (definition <= map.NullLevel + 1)
                {
                    Skip(node, cursors);
                    return definition <= map.NullLevel ? null : new List<KeyValuePair<object, object?>>(0);
                }
                var entries = new List<KeyValuePair<object, object?>>();
                do
                {
                    var key = Read(map.Key, cursors) ?? throw new InvalidDataException($"Map column '{map.Path}' has a null key.");
                    entries.Add(new KeyValuePair<object, object?>(key, Read(map.Value, cursors)));
                }
                while (first.HasMore && first.Repetition == map.RepeatedLevel);
                return entries;
            }
            default:
                throw new InvalidOperationException($"Unknown layout node {node.GetType().Name}.");
        }
    }

    /// <summary>Moves past one null or empty instance: each leaf below has exactly one entry for it.</summary>
    private static void Skip(LayoutNode node, Cursor[] cursors)
    {
        foreach (var leaf in node.Leaves) cursors[leaf.Index].Take();
    }

    private abstract class Cursor(ColumnData column)
    {
        private int _position;
        protected int ValueIndex { get; set; }

        public bool HasMore => _position < column.LevelCount;
        public int Definition => column.Definitions.IsEmpty ? column.Leaf.MaxDefinition : column.Definitions.Span[_position];
        public int Repetition => column.Repetitions.IsEmpty ? 0 : column.Repetitions.Span[_position];

        public static Cursor For(ColumnData column) => column switch
        {
            ColumnData<bool> c => new Cursor<bool>(c, static v => v),
            ColumnData<int> c => new Cursor<int>(c, static v => v),
            ColumnData<long> c => new Cursor<long>(c, static v => v),
            ColumnData<float> c => new Cursor<float>(c, static v => v),
            ColumnData<double> c => new Cursor<double>(c, static v => v),
            ColumnData<decimal> c => new Cursor<decimal>(c, static v => v),
            ColumnData<ReadOnlyMemory<byte>> c when c.Leaf.Field.Kind == FieldKind.String => new Cursor<ReadOnlyMemory<byte>>(c, static v => Encoding.UTF8.GetString(v.Span)),
            ColumnData<ReadOnlyMemory<byte>> c => new Cursor<ReadOnlyMemory<byte>>(c, static v => v.ToArray()),
            ColumnData<DateOnly> c => new Cursor<DateOnly>(c, static v => v),
            ColumnData<DateTime> c => new Cursor<DateTime>(c, static v => v),
            ColumnData<TimeSpan> c => new Cursor<TimeSpan>(c, static v => v),
            _ => throw new InvalidOperationException($"Column '{column.Leaf.Path}' has an unknown value type."),
        };

        /// <summary>The value at the cursor (null below the maximum definition level), then advances.</summary>
        public object? Take()
        {
            if (!HasMore) throw new InvalidDataException($"Column '{column.Leaf.Path}' has fewer entries than its rows need.");
            var value = Definition == column.Leaf.MaxDefinition ? NextValue() : null;
            _position++;
            return value;
        }

        public void VerifyConsumed()
        {
            if (HasMore) throw new InvalidDataException($"Column '{column.Leaf.Path}' has more entries than its rows hold.");
        }

        protected abstract object NextValue();
    }

    private sealed class Cursor<T>(ColumnData<T> column, Func<T, object> box) : Cursor(column) where T : struct
    {
        protected override object NextValue() => box(column.Values.Span[ValueIndex++]);
    }
}
