using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes a chunk's rows as JSON objects straight from its columns: one cursor per leaf column walks the definition and
/// repetition levels over the <see cref="ColumnLayout"/> (as <see cref="RecordAssembler"/> does) and writes each value
/// with a typed call, so no record, boxed value or string is made per row. The text of each kind is that of
/// <see cref="JsonLinesWriter"/>'s documentation; property names are encoded once per layout node.
/// </summary>
internal sealed class JsonRowWriter
{
    private readonly ColumnCursor[] _cursors;
    private readonly JsonNode[] _columns;

    public JsonRowWriter(ColumnLayout layout, JavaScriptEncoder encoder)
    {
        _cursors = layout.Leaves.Select(ColumnCursor.For).ToArray();
        _columns = layout.Columns.Select(column => JsonNode.For(column, encoder)).ToArray();
    }

    /// <summary>Points the cursors at the first row of <paramref name="chunk"/>, whose layout must be the one given at construction.</summary>
    public void Begin(RecordChunk chunk)
    {
        for (var i = 0; i < _cursors.Length; i++) _cursors[i].Reset(chunk.Columns[i]);
    }

    /// <summary>Writes the next row as one JSON object.</summary>
    public void WriteRow(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        foreach (var column in _columns)
        {
            json.WritePropertyName(column.Name);
            column.Write(json, _cursors);
        }
        json.WriteEndObject();
    }

    /// <summary>Checks that the rows written consumed every column entirely, then lets go of the chunk's memory.</summary>
    public void End()
    {
        foreach (var cursor in _cursors) cursor.Release();
    }

    /// <summary>A layout node with its JSON property name encoded once.</summary>
    private abstract class JsonNode(LayoutNode layout, JavaScriptEncoder encoder)
    {
        public JsonEncodedText Name { get; } = JsonEncodedText.Encode(layout.Field.Name, encoder);

        /// <summary>The cursor of the node's first leaf, which decides nullness and list boundaries.</summary>
        protected int First { get; } = layout.Leaves[0].Index;

        protected int NullLevel { get; } = layout.NullLevel;

        private readonly int[] _leaves = layout.Leaves.Select(leaf => leaf.Index).ToArray();

        public static JsonNode For(LayoutNode layout, JavaScriptEncoder encoder) => layout switch
        {
            LeafLayout leaf => new LeafNode(leaf, encoder),
            StructLayout structLayout => new StructNode(structLayout, encoder),
            ListLayout list => new ListNode(list, encoder),
            MapLayout map => new MapNode(map, encoder),
            _ => throw new InvalidOperationException($"Unknown layout node {layout.GetType().Name}."),
        };

        public abstract void Write(Utf8JsonWriter json, ColumnCursor[] cursors);

        /// <summary>Moves past one null or empty instance: each leaf below has exactly one entry for it.</summary>
        protected void Skip(ColumnCursor[] cursors)
        {
            foreach (var leaf in _leaves) cursors[leaf].Skip();
        }
    }

    private sealed class LeafNode(LeafLayout leaf, JavaScriptEncoder encoder) : JsonNode(leaf, encoder)
    {
        public override void Write(Utf8JsonWriter json, ColumnCursor[] cursors) => cursors[First].Write(json);
    }

    private sealed class StructNode(StructLayout layout, JavaScriptEncoder encoder) : JsonNode(layout, encoder)
    {
        private readonly JsonNode[] _children = layout.Children.Select(child => For(child, encoder)).ToArray();

        public override void Write(Utf8JsonWriter json, ColumnCursor[] cursors)
        {
            if (cursors[First].Definition <= NullLevel)
            {
                Skip(cursors);
                json.WriteNullValue();
                return;
            }
            json.WriteStartObject();
            foreach (var child in _children)
            {
                json.WritePropertyName(child.Name);
                child.Write(json, cursors);
            }
            json.WriteEndObject();
        }
    }

    private sealed class ListNode(ListLayout layout, JavaScriptEncoder encoder) : JsonNode(layout, encoder)
    {
        private readonly JsonNode _element = For(layout.Element, encoder);
        private readonly int _repeatedLevel = layout.RepeatedLevel;

        public override void Write(Utf8JsonWriter json, ColumnCursor[] cursors)
        {
            var first = cursors[First];
            var definition = first.Definition;
            if (definition <= NullLevel + 1)
            {
                Skip(cursors);
                if (definition <= NullLevel)
                {
                    json.WriteNullValue();
                }
                else
                {
                    json.WriteStartArray();
                    json.WriteEndArray();
                }
                return;
            }
            json.WriteStartArray();
            do
            {
                _element.Write(json, cursors);
            }
            while (first.HasMore && first.Repetition == _repeatedLevel);
            json.WriteEndArray();
        }
    }

    /// <summary>A map as a JSON object; keys are scalars written as property names (<see cref="ColumnCursor.WriteKey"/>).</summary>
    private sealed class MapNode(MapLayout layout, JavaScriptEncoder encoder) : JsonNode(layout, encoder)
    {
        private readonly int _key = layout.Key is LeafLayout key
            ? key.Index
            : throw new ArgumentException($"Map field '{layout.Path}' has {layout.Key.Field.TypeName} keys; JSON object keys can only be written from scalar keys.");

        private readonly JsonNode _value = For(layout.Value, encoder);
        private readonly int _repeatedLevel = layout.RepeatedLevel;

        public override void Write(Utf8JsonWriter json, ColumnCursor[] cursors)
        {
            var first = cursors[First];
            var definition = first.Definition;
            if (definition <= NullLevel + 1)
            {
                Skip(cursors);
                if (definition <= NullLevel)
                {
                    json.WriteNullValue();
                }
                else
                {
                    json.WriteStartObject();
                    json.WriteEndObject();
                }
                return;
            }
            json.WriteStartObject();
            do
            {
                cursors[_key].WriteKey(json);
                _value.Write(json, cursors);
            }
            while (first.HasMore && first.Repetition == _repeatedLevel);
            json.WriteEndObject();
        }
    }

    /// <summary>A position in one leaf column: the entry (definition and repetition level) and the next value.</summary>
    private abstract class ColumnCursor(LeafLayout leaf)
    {
        private ReadOnlyMemory<int> _definitions;
        private ReadOnlyMemory<int> _repetitions;
        private int _levelCount;
        private int _position;
        private int _valueIndex;

        protected LeafLayout Leaf { get; } = leaf;

        public bool HasMore => _position < _levelCount;
        public int Definition => _definitions.IsEmpty ? Leaf.MaxDefinition : _definitions.Span[_position];
        public int Repetition => _repetitions.IsEmpty ? 0 : _repetitions.Span[_position];

        public static ColumnCursor For(LeafLayout leaf) => leaf.Field.Kind switch
        {
            FieldKind.Boolean => new BooleanCursor(leaf),
            FieldKind.Int32 => new Int32Cursor(leaf),
            FieldKind.Int64 => new Int64Cursor(leaf),
            FieldKind.Float => new FloatCursor(leaf),
            FieldKind.Double => new DoubleCursor(leaf),
            FieldKind.Decimal => new DecimalCursor(leaf),
            FieldKind.String => new StringCursor(leaf),
            FieldKind.Binary => new BinaryCursor(leaf),
            FieldKind.Date => new TextCursor<DateOnly>(leaf, ScalarText.Date),
            FieldKind.Timestamp => new TextCursor<DateTime>(leaf, ScalarText.Timestamp),
            FieldKind.Time => new TextCursor<TimeSpan>(leaf, ScalarText.Time),
            _ => throw new InvalidOperationException($"Column '{leaf.Path}' has the non-leaf kind {leaf.Field.Kind}."),
        };

        public void Reset(ColumnData column)
        {
            _definitions = column.Definitions;
            _repetitions = column.Repetitions;
            _levelCount = column.LevelCount;
            _position = 0;
            _valueIndex = 0;
            SetValues(column);
        }

        public void Release()
        {
            if (HasMore) throw new InvalidDataException($"Column '{Leaf.Path}' has more entries than its rows hold.");
            _definitions = default;
            _repetitions = default;
            _levelCount = 0;
            SetValues(null);
        }

        /// <summary>Writes the entry's value (null below the maximum definition level), then advances.</summary>
        public void Write(Utf8JsonWriter json)
        {
            if (Advance()) WriteValue(json, _valueIndex++);
            else json.WriteNullValue();
        }

        /// <summary>Passes an entry of a null or empty parent.</summary>
        public void Skip()
        {
            if (Advance()) _valueIndex++;
        }

        /// <summary>Writes the entry's value as a property name, in the text it has as a JSON string.</summary>
        public void WriteKey(Utf8JsonWriter json)
        {
            if (!Advance()) throw new InvalidDataException($"Map column '{Leaf.Path}' has a null key.");
            WriteName(json, _valueIndex++);
        }

        /// <summary>Moves to the next entry; true when the entry holds a value.</summary>
        private bool Advance()
        {
            if (_position >= _levelCount) throw new InvalidDataException($"Column '{Leaf.Path}' has fewer entries than its rows need.");
            var present = _definitions.IsEmpty || _definitions.Span[_position] == Leaf.MaxDefinition;
            _position++;
            return present;
        }

        protected abstract void SetValues(ColumnData? column);
        protected abstract void WriteValue(Utf8JsonWriter json, int index);
        protected abstract void WriteName(Utf8JsonWriter json, int index);
    }

    private abstract class ColumnCursor<T>(LeafLayout leaf) : ColumnCursor(leaf) where T : struct
    {
        protected ReadOnlyMemory<T> Values { get; private set; }

        protected override void SetValues(ColumnData? column) => Values = column is null ? default : ((ColumnData<T>)column).Values;
    }

    private sealed class BooleanCursor(LeafLayout leaf) : ColumnCursor<bool>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index) => json.WriteBooleanValue(Values.Span[index]);
        protected override void WriteName(Utf8JsonWriter json, int index) => json.WritePropertyName(Values.Span[index] ? "true"u8 : "false"u8);
    }

    private sealed class Int32Cursor(LeafLayout leaf) : ColumnCursor<int>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index) => json.WriteNumberValue(Values.Span[index]);
        protected override void WriteName(Utf8JsonWriter json, int index) => ScalarText.WriteName(json, Values.Span[index], default);
    }

    private sealed class Int64Cursor(LeafLayout leaf) : ColumnCursor<long>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index) => json.WriteNumberValue(Values.Span[index]);
        protected override void WriteName(Utf8JsonWriter json, int index) => ScalarText.WriteName(json, Values.Span[index], default);
    }

    /// <summary>JSON has no NaN or infinity: they are written as null, which keeps the column numeric for every JSON reader.</summary>
    private sealed class FloatCursor(LeafLayout leaf) : ColumnCursor<float>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index)
        {
            var value = Values.Span[index];
            if (float.IsFinite(value)) json.WriteNumberValue(value);
            else json.WriteNullValue();
        }

        protected override void WriteName(Utf8JsonWriter json, int index) => ScalarText.WriteName(json, Values.Span[index], "R");
    }

    private sealed class DoubleCursor(LeafLayout leaf) : ColumnCursor<double>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index)
        {
            var value = Values.Span[index];
            if (double.IsFinite(value)) json.WriteNumberValue(value);
            else json.WriteNullValue();
        }

        protected override void WriteName(Utf8JsonWriter json, int index) => ScalarText.WriteName(json, Values.Span[index], "R");
    }

    private sealed class DecimalCursor(LeafLayout leaf) : ColumnCursor<decimal>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index) => json.WriteNumberValue(Values.Span[index]);
        protected override void WriteName(Utf8JsonWriter json, int index) => ScalarText.WriteName(json, Values.Span[index], default);
    }

    /// <summary>Strings are held as UTF-8, which the writer takes as it is (escaping what its encoder says).</summary>
    private sealed class StringCursor(LeafLayout leaf) : ColumnCursor<ReadOnlyMemory<byte>>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index) => json.WriteStringValue(Values.Span[index].Span);
        protected override void WriteName(Utf8JsonWriter json, int index) => json.WritePropertyName(Values.Span[index].Span);
    }

    private sealed class BinaryCursor(LeafLayout leaf) : ColumnCursor<ReadOnlyMemory<byte>>(leaf)
    {
        protected override void WriteValue(Utf8JsonWriter json, int index) => json.WriteBase64StringValue(Values.Span[index].Span);

        protected override void WriteName(Utf8JsonWriter json, int index)
        {
            var bytes = Values.Span[index].Span;
            var rented = ArrayPool<byte>.Shared.Rent(Base64.GetMaxEncodedToUtf8Length(bytes.Length));
            Base64.EncodeToUtf8(bytes, rented, out _, out var written);
            json.WritePropertyName(rented.AsSpan(0, written));
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Formats a value as UTF-8 text into <c>buffer</c> (at least <see cref="ScalarText.MaxLength"/> bytes) and returns the text.</summary>
    private delegate ReadOnlySpan<byte> TextFormat<T>(T value, Span<byte> buffer);

    /// <summary>Dates, timestamps and times: JSON strings (and map keys) of their <see cref="ScalarText"/> text.</summary>
    private sealed class TextCursor<T>(LeafLayout leaf, TextFormat<T> format) : ColumnCursor<T>(leaf) where T : struct
    {
        protected override void WriteValue(Utf8JsonWriter json, int index)
        {
            Span<byte> text = stackalloc byte[ScalarText.MaxLength];
            json.WriteStringValue(format(Values.Span[index], text));
        }

        protected override void WriteName(Utf8JsonWriter json, int index)
        {
            Span<byte> text = stackalloc byte[ScalarText.MaxLength];
            json.WritePropertyName(format(Values.Span[index], text));
        }
    }

    /// <summary>
    /// The UTF-8 text of scalars in JSON strings and map keys: timestamps ISO-8601 in UTC with 'Z' and only the
    /// sub-second digits needed (none for whole seconds), dates yyyy-MM-dd, times HH:mm:ss[.FFFFFFF], numbers in the
    /// invariant culture (floating point round-trippable).
    /// </summary>
    private static class ScalarText
    {
        /// <summary>Room for any text made here (a decimal takes at most 31 bytes, a timestamp 28).</summary>
        public const int MaxLength = 64;

        public static void WriteName<T>(Utf8JsonWriter json, T value, ReadOnlySpan<char> format) where T : IUtf8SpanFormattable
        {
            Span<byte> text = stackalloc byte[MaxLength];
            if (!value.TryFormat(text, out var written, format, CultureInfo.InvariantCulture)) throw new InvalidOperationException($"{value} does not fit {MaxLength} bytes.");
            json.WritePropertyName(text[..written]);
        }

        public static ReadOnlySpan<byte> Date(DateOnly date, Span<byte> text)
        {
            date.TryFormat(text, out var written, "O", CultureInfo.InvariantCulture);
            return text[..written];
        }

        public static ReadOnlySpan<byte> Timestamp(DateTime timestamp, Span<byte> text)
        {
            var utc = timestamp.Kind == DateTimeKind.Local ? timestamp.ToUniversalTime() : timestamp;
            // "O" of an unspecified kind is yyyy-MM-ddTHH:mm:ss.fffffff without an offset; the fraction is then trimmed and 'Z' added.
            DateTime.SpecifyKind(utc, DateTimeKind.Unspecified).TryFormat(text, out var written, "O", CultureInfo.InvariantCulture);
            written = TrimFraction(text, written);
            text[written] = (byte)'Z';
            return text[..(written + 1)];
        }

        public static ReadOnlySpan<byte> Time(TimeSpan time, Span<byte> text)
        {
            // A Parquet TIME may be the end of the day, 24:00:00 (DuckDB and PostgreSQL write it), which TimeOnly cannot hold.
            if (time.Ticks == TimeSpan.TicksPerDay) return EndOfDay;
            TimeOnly.FromTimeSpan(time).TryFormat(text, out var written, "O", CultureInfo.InvariantCulture);
            return text[..TrimFraction(text, written)];
        }

        private static ReadOnlySpan<byte> EndOfDay => "24:00:00"u8;

        /// <summary>Drops the trailing zeros of a 7-digit fraction that ends the text, and its point when nothing is left.</summary>
        private static int TrimFraction(Span<byte> text, int length)
        {
            var point = length - 8;
            while (length > point + 1 && text[length - 1] == (byte)'0') length--;
            return length == point + 1 ? point : length;
        }
    }
}
