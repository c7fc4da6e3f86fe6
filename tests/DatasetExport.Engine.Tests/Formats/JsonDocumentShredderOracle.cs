using System.Globalization;
using System.Text.Json;
using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The JSON Lines reader's former algorithm, kept as the oracle for the streaming one: each line parsed into a
/// <see cref="JsonDocument"/> (its parse error wins), then each field looked up in schema order with
/// <see cref="JsonElement.TryGetProperty(string, out JsonElement)"/> (the last of a name named twice) and converted
/// from its element. The reader must keep exactly these rows and report exactly these messages.
/// </summary>
internal sealed class JsonDocumentShredderOracle(DatasetSchema schema, string path)
{
    private readonly ChunkBuilder _builder = new(schema);
    private long _lineNumber;

    /// <summary>The rows the lines make and the messages of the lines refused, in line order (lines numbered from 1).</summary>
    public static (IReadOnlyList<Record> Rows, IReadOnlyList<string> Refused) Read(DatasetSchema schema, string path, IReadOnlyList<string> lines)
    {
        var oracle = new JsonDocumentShredderOracle(schema, path);
        var refused = new List<string>();
        for (var i = 0; i < lines.Count; i++)
        {
            try
            {
                oracle.AddLine(lines[i], i + 1);
            }
            catch (BatchReadException error)
            {
                refused.Add(error.Message);
            }
        }
        return (oracle._builder.Build().Records, refused);
    }

    private void AddLine(string line, long lineNumber)
    {
        _lineNumber = lineNumber;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException error)
        {
            throw new BatchReadException(path, $"line {lineNumber}", $"invalid JSON: {error.Message}", error);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new BatchReadException(path, $"line {lineNumber}", $"expected a JSON object but found {Describe(root.ValueKind)}.");
            }
            _builder.BeginRow();
            try
            {
                AddFields(_builder.Layout.Columns, root, repetition: 0, parent: null);
            }
            catch
            {
                _builder.Rollback();
                throw;
            }
            _builder.EndRow();
        }
    }

    // "at" is the field's path in the line, as messages name it: a map's value by the key of its entry (mp["k"].when).
    private void AddFields(IReadOnlyList<LayoutNode> fields, JsonElement element, int repetition, string? parent)
    {
        foreach (var field in fields)
        {
            var at = parent is null ? field.Field.Name : parent + "." + field.Field.Name;
            if (element.TryGetProperty(field.Field.Name, out var value)) Add(field, value, repetition, at);
            else AddNull(field, repetition, "lacks it", at);
        }
    }

    private void Add(LayoutNode node, JsonElement element, int repetition, string at)
    {
        var kind = element.ValueKind;
        if (kind == JsonValueKind.Null)
        {
            AddNull(node, repetition, "holds null", at);
            return;
        }
        var added = node switch
        {
            LeafLayout leaf => TryAddValue(_builder.Columns[leaf.Index], element, repetition),
            StructLayout structNode when kind == JsonValueKind.Object => AddStruct(structNode, element, repetition, at),
            ListLayout list when kind == JsonValueKind.Array => AddList(list, element, repetition, at),
            MapLayout map when kind == JsonValueKind.Object => AddMap(map, element, repetition, at),
            _ => false,
        };
        if (!added)
        {
            var found = kind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False ? $"{Describe(kind)} ({element.GetRawText()})" : Describe(kind);
            var whyNot = (node, node.Field.Kind, kind) switch
            {
                (LeafLayout, FieldKind.Timestamp, JsonValueKind.String) => ", not " + JsonScalarText.TimestampForms,
                (LeafLayout, FieldKind.Date, JsonValueKind.String) => ", not " + JsonScalarText.DateForms,
                (LeafLayout, FieldKind.Time, JsonValueKind.String) => ", not " + JsonScalarText.TimeForms,
                (LeafLayout, FieldKind.Binary, JsonValueKind.String) => ", not " + JsonScalarText.Base64Forms,
                (LeafLayout, FieldKind.Decimal, JsonValueKind.Number) => ", which it does not hold exactly (too many digits after the point or before it)",
                _ => "",
            };
            throw new BatchReadException(path, $"line {_lineNumber}", $"field '{at}' is {node.Field.TypeName} in the dataset schema but this line holds {found}{whyNot}.");
        }
    }

    private bool AddStruct(StructLayout node, JsonElement element, int repetition, string at)
    {
        AddFields(node.Children, element, repetition, at);
        return true;
    }

    private bool AddList(ListLayout list, JsonElement element, int repetition, string at)
    {
        var empty = true;
        foreach (var item in element.EnumerateArray())
        {
            Add(list.Element, item, empty ? repetition : list.RepeatedLevel, at + "[]");
            empty = false;
        }
        if (empty) AddLevels(list, list.NullLevel + 1, repetition);
        return true;
    }

    private const NumberStyles FloatKey = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;

    // DuckDB writes infinite keys "inf" / "-inf": .NET's text of them is "Infinity" / "-Infinity" (read in any case).
    private static string DuckDbInfinity(string name) =>
        name.TrimStart('-', '+').Equals("inf", StringComparison.OrdinalIgnoreCase) && name.Length - name.TrimStart('-', '+').Length <= 1
            ? name[..(name.Length - 3)] + "Infinity"
            : name;

    private bool AddMap(MapLayout map, JsonElement element, int repetition, string at)
    {
        var empty = true;
        var keys = _builder.Columns[((LeafLayout)map.Key).Index];
        // Keys as values compared by .NET's equality: floating-point ones by their bits (one NaN), bytes as hex text.
        var seen = new HashSet<object>();
        foreach (var property in element.EnumerateObject())
        {
            var entryRepetition = empty ? repetition : map.RepeatedLevel;
            var name = property.Name;
            var key = map.Key.Field;
            object identity;
            switch (key.Kind)
            {
                case FieldKind.String:
                    ((ColumnBuilder<ReadOnlyMemory<byte>>)keys).Add(Encoding.UTF8.GetBytes(name), entryRepetition);
                    identity = name;
                    break;
                case FieldKind.Int32 when !name.EndsWith('\0') && int.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var int32):
                    ((ColumnBuilder<int>)keys).Add(int32, entryRepetition);
                    identity = int32;
                    break;
                case FieldKind.Int64 when !name.EndsWith('\0') && long.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var int64):
                    ((ColumnBuilder<long>)keys).Add(int64, entryRepetition);
                    identity = int64;
                    break;
                case FieldKind.Boolean when name is "true" or "false":
                    ((ColumnBuilder<bool>)keys).Add(name == "true", entryRepetition);
                    identity = name == "true";
                    break;
                case FieldKind.Float when !name.EndsWith('\0') && float.TryParse(DuckDbInfinity(name), FloatKey, CultureInfo.InvariantCulture, out var single):
                    ((ColumnBuilder<float>)keys).Add(single, entryRepetition);
                    identity = BitConverter.SingleToInt32Bits(float.IsNaN(single) ? float.NaN : single);
                    break;
                case FieldKind.Double when !name.EndsWith('\0') && double.TryParse(DuckDbInfinity(name), FloatKey, CultureInfo.InvariantCulture, out var number):
                    ((ColumnBuilder<double>)keys).Add(number, entryRepetition);
                    identity = BitConverter.DoubleToInt64Bits(double.IsNaN(number) ? double.NaN : number);
                    break;
                case FieldKind.Decimal when JsonScalarText.TryParseDecimal(Encoding.UTF8.GetBytes(name), key.Precision, key.Scale, out var exact):
                    ((ColumnBuilder<decimal>)keys).Add(exact, entryRepetition);
                    identity = exact;
                    break;
                case FieldKind.Binary when JsonScalarText.TryDecodeBase64(Encoding.UTF8.GetBytes(name), out var bytes):
                    ((ColumnBuilder<ReadOnlyMemory<byte>>)keys).Add(bytes, entryRepetition);
                    identity = Convert.ToHexString(bytes);
                    break;
                case FieldKind.Date when JsonScalarText.TryParseDate(name, out var date):
                    ((ColumnBuilder<DateOnly>)keys).Add(date, entryRepetition);
                    identity = date;
                    break;
                case FieldKind.Timestamp when JsonScalarText.TryParseTimestamp(name, out var timestamp):
                    ((ColumnBuilder<DateTime>)keys).Add(timestamp, entryRepetition);
                    identity = timestamp;
                    break;
                case FieldKind.Time when JsonScalarText.TryParseTime(name, out var time):
                    ((ColumnBuilder<TimeSpan>)keys).Add(time, entryRepetition);
                    identity = time;
                    break;
                default:
                    throw new BatchReadException(path, $"line {_lineNumber}",
                        $"map field '{at}' has {key.TypeName} keys in the dataset schema but this line has key {JsonScalarText.QuoteKey(name)}, not {JsonScalarText.KeyForms(key)}.");
            }
            if (!seen.Add(identity))
            {
                var sameKey = key.Kind == FieldKind.String ? "repeats an earlier key of this object" : $"is the same {key.TypeName} key as an earlier key of this object";
                throw new BatchReadException(path, $"line {_lineNumber}", $"map field '{at}' has key {JsonScalarText.QuoteKey(name)}, which {sameKey}: a map holds each key once.");
            }
            Add(map.Value, property.Value, entryRepetition, $"{at}[{JsonScalarText.QuoteKey(name)}]");
            empty = false;
        }
        if (empty) AddLevels(map, map.NullLevel + 1, repetition);
        return true;
    }

    private void AddNull(LayoutNode node, int repetition, string what, string at)
    {
        if (node is LeafLayout leaf && leaf.NullLevel == leaf.MaxDefinition)
        {
            throw new BatchReadException(path, $"line {_lineNumber}",
                $"field '{at}' is {node.Field.TypeName} and not nullable in the dataset schema but this line {what}.");
        }
        AddLevels(node, node.NullLevel, repetition);
    }

    private void AddLevels(LayoutNode node, int definition, int repetition)
    {
        foreach (var leaf in node.Leaves) _builder.Columns[leaf.Index].AddNull(definition, repetition);
    }

    private static bool TryAddValue(ColumnBuilder column, JsonElement element, int repetition)
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
            case FieldKind.Decimal when kind == JsonValueKind.Number
                && JsonScalarText.TryParseDecimal(Encoding.UTF8.GetBytes(element.GetRawText()), column.Leaf.Field.Precision, column.Leaf.Field.Scale, out var number):
                ((ColumnBuilder<decimal>)column).Add(number, repetition);
                return true;
            case FieldKind.String when kind == JsonValueKind.String:
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(Encoding.UTF8.GetBytes(element.GetString()!), repetition);
                return true;
            case FieldKind.Binary when kind == JsonValueKind.String && JsonScalarText.TryDecodeBase64(Encoding.UTF8.GetBytes(element.GetString()!), out var bytes):
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(bytes, repetition);
                return true;
            // Text of the kinds JSON has no type for: the rules of docs/formats.md (JsonScalarText, tested on its own).
            case FieldKind.Date when kind == JsonValueKind.String && JsonScalarText.TryParseDate(element.GetString(), out var date):
                ((ColumnBuilder<DateOnly>)column).Add(date, repetition);
                return true;
            case FieldKind.Timestamp when kind == JsonValueKind.String && JsonScalarText.TryParseTimestamp(element.GetString(), out var timestamp):
                ((ColumnBuilder<DateTime>)column).Add(timestamp, repetition);
                return true;
            case FieldKind.Time when kind == JsonValueKind.String && JsonScalarText.TryParseTime(element.GetString(), out var time):
                ((ColumnBuilder<TimeSpan>)column).Add(time, repetition);
                return true;
            default:
                return false;
        }
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
