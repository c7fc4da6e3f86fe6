using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Shreds JSON Lines records straight into a <see cref="ChunkBuilder"/>'s typed columns, with no record object and no
/// boxing. Values convert as docs/formats.md says: numbers into any numeric kind that holds them, booleans, strings,
/// base64 binaries, dates (<c>yyyy-MM-dd</c>), timestamps (ISO-8601, UTC unless an offset is given) and times from
/// strings, map keys from property names (string, int32 or int64); missing fields and nulls are null. Strings are
/// decoded into a <see cref="CharArena"/>. A line that does not fit the schema throws a <see cref="BatchReadException"/>
/// naming the field, and leaves no entries behind.
/// </summary>
internal sealed class JsonLineShredder
{
    // Dates, timestamps and times are parsed from this when their text fits, to spare a string per value.
    private const int ShortTextLength = 128;

    private readonly ChunkBuilder _builder;
    private readonly ColumnBuilder[] _columns;
    private readonly FieldPlan[] _fields;
    private readonly CharArena _chars = new();
    private readonly char[] _shortText = new char[ShortTextLength];
    private readonly string _path;
    private long _lineNumber;

    /// <param name="chunkRows">Rows per chunk, which the columns make room for up front.</param>
    public JsonLineShredder(DatasetSchema schema, string path, int chunkRows)
    {
        _builder = new ChunkBuilder(schema, chunkRows);
        _columns = _builder.Columns.ToArray();
        _fields = _builder.Layout.Columns.Select(node => new FieldPlan(node)).ToArray();
        _path = path;
    }

    /// <summary>Rows added since the last <see cref="Build"/>.</summary>
    public int RowCount => _builder.RowCount;

    /// <summary>The rows so far as a chunk; the shredder starts over empty. Earlier chunks stay valid.</summary>
    public RecordChunk Build() => _builder.Build();

    /// <summary>Adds <paramref name="line"/>, a JSON object, as one row, or throws and adds nothing.</summary>
    public void AddRow(JsonElement line, long lineNumber)
    {
        _lineNumber = lineNumber;
        _builder.BeginRow();
        try
        {
            AddFields(_fields, line, repetition: 0);
        }
        catch
        {
            _builder.Rollback();
            throw;
        }
        _builder.EndRow();
    }

    private void AddFields(FieldPlan[] fields, JsonElement element, int repetition)
    {
        foreach (var field in fields)
        {
            if (element.TryGetProperty(field.Utf8Name, out var value)) Add(field, value, repetition);
            else AddNull(field, repetition, "lacks it");
        }
    }

    private void Add(FieldPlan field, JsonElement element, int repetition)
    {
        var kind = element.ValueKind;
        if (kind == JsonValueKind.Null)
        {
            AddNull(field, repetition, "holds null");
            return;
        }
        var added = field.Node switch
        {
            LeafLayout leaf => TryAddValue(_columns[leaf.Index], element, repetition),
            StructLayout when kind == JsonValueKind.Object => AddFieldsOf(field, element, repetition),
            ListLayout list when kind == JsonValueKind.Array => AddList(field, list, element, repetition),
            MapLayout map when kind == JsonValueKind.Object => AddMap(field, map, element, repetition),
            _ => false,
        };
        if (!added)
        {
            throw new BatchReadException(_path, $"line {_lineNumber}",
                $"field '{field.Node.Path}' is {field.Node.Field.TypeName} in the dataset schema but this line holds {JsonSchemaInference.Describe(element)}.");
        }
    }

    private bool AddFieldsOf(FieldPlan structField, JsonElement element, int repetition)
    {
        AddFields(structField.Children, element, repetition);
        return true;
    }

    private bool AddList(FieldPlan field, ListLayout list, JsonElement element, int repetition)
    {
        var empty = true;
        foreach (var item in element.EnumerateArray())
        {
            Add(field.Children[0], item, empty ? repetition : list.RepeatedLevel);
            empty = false;
        }
        if (empty) AddLevels(list, list.NullLevel + 1, repetition);
        return true;
    }

    private bool AddMap(FieldPlan field, MapLayout map, JsonElement element, int repetition)
    {
        var empty = true;
        var keyColumn = _columns[((LeafLayout)map.Key).Index];
        foreach (var property in element.EnumerateObject())
        {
            var entryRepetition = empty ? repetition : map.RepeatedLevel;
            AddMapKey(map, keyColumn, property.Name, entryRepetition);
            Add(field.Children[1], property.Value, entryRepetition);
            empty = false;
        }
        if (empty) AddLevels(map, map.NullLevel + 1, repetition);
        return true;
    }

    /// <summary>Map keys are JSON property names: string keys stay, integer keys are parsed back.</summary>
    private void AddMapKey(MapLayout map, ColumnBuilder column, string name, int repetition)
    {
        switch (column)
        {
            case ColumnBuilder<ReadOnlyMemory<char>> strings:
                strings.Add(name.AsMemory(), repetition);
                break;
            case ColumnBuilder<int> int32s when int.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var int32):
                int32s.Add(int32, repetition);
                break;
            case ColumnBuilder<long> int64s when long.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var int64):
                int64s.Add(int64, repetition);
                break;
            default:
                throw new BatchReadException(_path, $"line {_lineNumber}",
                    $"map field '{map.Path}' has key \"{name}\", which is not a {map.Key.Field.TypeName}; JSON map keys can be read as string, int32 or int64.");
        }
    }

    /// <summary>A null or missing field: an entry at its null level in each of its leaves, unless a leaf cannot be null.</summary>
    private void AddNull(FieldPlan field, int repetition, string what)
    {
        var node = field.Node;
        if (node is LeafLayout leaf && leaf.NullLevel == leaf.MaxDefinition)
        {
            throw new BatchReadException(_path, $"line {_lineNumber}",
                $"field '{node.Path}' is {node.Field.TypeName} and not nullable in the dataset schema but this line {what}.");
        }
        AddLevels(node, node.NullLevel, repetition);
    }

    private void AddLevels(LayoutNode node, int definition, int repetition)
    {
        foreach (var leaf in node.Leaves) _columns[leaf.Index].AddNull(definition, repetition);
    }

    private bool TryAddValue(ColumnBuilder column, JsonElement element, int repetition)
    {
        var kind = element.ValueKind;
        switch (column.Leaf.Field.Kind)
        {
            case FieldKind.Boolean when kind is JsonValueKind.True or JsonValueKind.False:
                ((ColumnBuilder<bool>)column).Add(kind == JsonValueKind.True, repetition);
                return true;
            case FieldKind.Int32 when kind == JsonValueKind.Number && element.TryGetInt32(out var int32):
                ((ColumnBuilder<int>)column).Add(int32, repetition);
                return true;
            case FieldKind.Int64 when kind == JsonValueKind.Number && element.TryGetInt64(out var int64):
                ((ColumnBuilder<long>)column).Add(int64, repetition);
                return true;
            case FieldKind.Float when kind == JsonValueKind.Number:
                ((ColumnBuilder<float>)column).Add(element.GetSingle(), repetition);
                return true;
            case FieldKind.Double when kind == JsonValueKind.Number:
                ((ColumnBuilder<double>)column).Add(element.GetDouble(), repetition);
                return true;
            case FieldKind.Decimal when kind == JsonValueKind.Number && element.TryGetDecimal(out var number):
                ((ColumnBuilder<decimal>)column).Add(number, repetition);
                return true;
            case FieldKind.String when kind == JsonValueKind.String:
                ((ColumnBuilder<ReadOnlyMemory<char>>)column).Add(ReadString(element), repetition);
                return true;
            case FieldKind.Binary when kind == JsonValueKind.String && element.TryGetBytesFromBase64(out var bytes):
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(bytes, repetition);
                return true;
            case FieldKind.Date when kind == JsonValueKind.String
                && DateOnly.TryParseExact(ReadShortText(element), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date):
                ((ColumnBuilder<DateOnly>)column).Add(date, repetition);
                return true;
            case FieldKind.Timestamp when kind == JsonValueKind.String
                && DateTime.TryParse(ReadShortText(element), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var timestamp):
                ((ColumnBuilder<DateTime>)column).Add(timestamp, repetition);
                return true;
            case FieldKind.Time when kind == JsonValueKind.String
                && TimeOnly.TryParse(ReadShortText(element), CultureInfo.InvariantCulture, DateTimeStyles.None, out var time):
                ((ColumnBuilder<TimeSpan>)column).Add(time.ToTimeSpan(), repetition);
                return true;
            default:
                return false;
        }
    }

    /// <summary>A string value decoded into the arena.</summary>
    private ReadOnlyMemory<char> ReadString(JsonElement element)
    {
        var raw = JsonMarshal.GetRawUtf8Value(element);
        // A string never decodes to more chars than it has UTF-8 bytes (escapes only shrink), quotes excluded.
        var length = Decode(raw, _chars.Reserve(raw.Length - 2));
        return length >= 0 ? _chars.Commit(length) : element.GetString().AsMemory();
    }

    /// <summary>A string value's text for parsing: in a reused buffer when it fits, else as a string.</summary>
    private ReadOnlySpan<char> ReadShortText(JsonElement element)
    {
        var raw = JsonMarshal.GetRawUtf8Value(element);
        var length = raw.Length - 2 <= _shortText.Length ? Decode(raw, _shortText) : -1;
        return length >= 0 ? _shortText.AsSpan(0, length) : element.GetString()!;
    }

    /// <summary>
    /// Decodes a JSON string token (quotes included) into <paramref name="destination"/>, which holds at least its UTF-8
    /// length, and returns the chars written; -1 for invalid UTF-8, which the caller leaves to <see cref="JsonElement.GetString"/>
    /// to fail as it always did.
    /// </summary>
    private static int Decode(ReadOnlySpan<byte> token, Span<char> destination)
    {
        var text = token[1..^1];
        if (text.IndexOf((byte)'\\') < 0)
        {
            return Utf8.ToUtf16(text, destination, out _, out var written, replaceInvalidSequences: false) == OperationStatus.Done ? written : -1;
        }
        var reader = new Utf8JsonReader(token);
        reader.Read();
        return reader.CopyString(destination);
    }

    /// <summary>A layout node with what matching it against JSON needs: its UTF-8 name and its children's plans.</summary>
    private sealed class FieldPlan
    {
        public FieldPlan(LayoutNode node)
        {
            Node = node;
            Utf8Name = Encoding.UTF8.GetBytes(node.Field.Name);
            Children = node switch
            {
                StructLayout structNode => structNode.Children.Select(child => new FieldPlan(child)).ToArray(),
                ListLayout list => [new FieldPlan(list.Element)],
                MapLayout map => [new FieldPlan(map.Key), new FieldPlan(map.Value)],
                _ => [],
            };
        }

        public LayoutNode Node { get; }
        public byte[] Utf8Name { get; }
        public FieldPlan[] Children { get; }
    }
}
