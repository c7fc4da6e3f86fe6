using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Infers a schema from JSON Lines records, one line at a time:
/// integers within int64 → Int64; any other number → Double; ints mixed with other numbers → Double;
/// true/false → Boolean; strings → String (no guessing of dates or numbers); objects → Struct with fields merged across lines;
/// arrays → List with the merged element type; a field that is null or missing on some line → nullable;
/// a field that is only ever null → String nullable; an array only ever empty → list&lt;string&gt;.
/// Any other mix (string vs number, object vs array, ...) is a <see cref="BatchReadException"/> naming file, line and field.
/// </summary>
internal sealed class JsonSchemaInference
{
    private readonly string _path;
    private readonly InferredType _root = new();

    public JsonSchemaInference(string path) => _path = path;

    public void Observe(JsonElement line, long lineNumber)
    {
        if (line.ValueKind != JsonValueKind.Object)
        {
            throw new BatchReadException(_path, $"line {lineNumber}", $"expected a JSON object but found {Describe(line.ValueKind)}.");
        }
        ObserveObject(line, _root, "", lineNumber);
    }

    public DatasetSchema ToSchema() => new(_root.FieldOrder.Select(name => ToField(name, _root.Fields[name])).ToList());

    internal static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    internal static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => $"{Describe(element.ValueKind)} ({element.GetRawText()})",
        _ => Describe(element.ValueKind),
    };

    private void Observe(JsonElement element, InferredType type, string fieldPath, long lineNumber)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Null:
                type.Nullable = true;
                break;
            case JsonValueKind.True or JsonValueKind.False:
                SetKind(type, FieldKind.Boolean, fieldPath, lineNumber);
                break;
            case JsonValueKind.Number:
                SetKind(type, element.TryGetInt64(out _) ? FieldKind.Int64 : FieldKind.Double, fieldPath, lineNumber);
                break;
            case JsonValueKind.String:
                SetKind(type, FieldKind.String, fieldPath, lineNumber);
                break;
            case JsonValueKind.Object:
                SetKind(type, FieldKind.Struct, fieldPath, lineNumber);
                ObserveObject(element, type, fieldPath, lineNumber);
                break;
            case JsonValueKind.Array:
                SetKind(type, FieldKind.List, fieldPath, lineNumber);
                type.Element ??= new InferredType();
                foreach (var item in element.EnumerateArray()) Observe(item, type.Element, fieldPath + "[]", lineNumber);
                break;
        }
    }

    private void ObserveObject(JsonElement element, InferredType type, string parentPath, long lineNumber)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw new BatchReadException(_path, $"line {lineNumber}", $"field '{Join(parentPath, property.Name)}' appears twice in one object.");
            }
            if (!type.Fields.TryGetValue(property.Name, out var child))
            {
                // A field first seen after earlier objects was missing from them.
                child = new InferredType { Nullable = type.ObjectCount > 0 };
                type.Fields.Add(property.Name, child);
                type.FieldOrder.Add(property.Name);
            }
            Observe(property.Value, child, Join(parentPath, property.Name), lineNumber);
        }
        foreach (var (name, child) in type.Fields)
        {
            if (!seen.Contains(name)) child.Nullable = true;
        }
        type.ObjectCount++;
    }

    private void SetKind(InferredType type, FieldKind kind, string fieldPath, long lineNumber)
    {
        if (type.Kind is null || type.Kind == kind)
        {
            type.Kind = kind;
        }
        else if (type.Kind is FieldKind.Int64 or FieldKind.Double && kind is FieldKind.Int64 or FieldKind.Double)
        {
            type.Kind = FieldKind.Double;
        }
        else
        {
            throw new BatchReadException(_path, $"line {lineNumber}",
                $"field '{fieldPath}' is {Name(kind)} here but {Name(type.Kind.Value)} on earlier lines.");
        }
    }

    private static string Name(FieldKind kind) => kind switch
    {
        FieldKind.Struct => "an object",
        FieldKind.List => "an array",
        FieldKind.String => "a string",
        FieldKind.Boolean => "a boolean",
        FieldKind.Int64 => "an integer",
        FieldKind.Double => "a number",
        _ => kind.ToString(),
    };

    private static SchemaField ToField(string name, InferredType type) => type.Kind switch
    {
        null => new SchemaField(name, FieldKind.String, Nullable: true),
        FieldKind.Struct => new SchemaField(name, FieldKind.Struct, type.Nullable,
            Children: type.FieldOrder.Select(child => ToField(child, type.Fields[child])).ToList()),
        FieldKind.List => new SchemaField(name, FieldKind.List, type.Nullable,
            Children: [ToField("element", type.Element!)]),
        var kind => new SchemaField(name, kind.Value, type.Nullable),
    };

    private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "." + name;

    private sealed class InferredType
    {
        public FieldKind? Kind { get; set; }
        public bool Nullable { get; set; }
        public int ObjectCount { get; set; }
        public List<string> FieldOrder { get; } = [];
        public Dictionary<string, InferredType> Fields { get; } = new(StringComparer.Ordinal);
        public InferredType? Element { get; set; }
    }
}
