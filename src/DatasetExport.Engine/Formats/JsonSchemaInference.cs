using System.Runtime.CompilerServices;
using System.Text;
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
    private readonly InferredType _root = new("");
    // A property name unescaped, to look it up by its UTF-8 bytes; grows for a longer name.
    private byte[] _name = new byte[256];

    public JsonSchemaInference(string path) => _path = path;

    /// <summary>
    /// Reads one line's JSON as tokens (no document is built) into the schema. Throws <see cref="JsonException"/> when the
    /// line is not valid JSON, <see cref="BatchReadException"/> when it is not an object or conflicts with earlier lines;
    /// either may come after part of the line was observed, so a line to be left out instead must not have been observed
    /// (the reader then starts over with each line checked first by <see cref="FirstToken"/>).
    /// </summary>
    public void Observe(ReadOnlySpan<byte> line, long lineNumber)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject) throw NotAnObject(_path, lineNumber, ValueKind(reader.TokenType));
        ObserveObject(ref reader, _root, lineNumber);
        reader.Read();   // throws if anything but white space follows the object
    }

    /// <summary>The kind of the line's JSON value; throws <see cref="JsonException"/> when the whole line is not valid JSON.</summary>
    public static JsonValueKind FirstToken(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        var kind = ValueKind(reader.TokenType);
        while (reader.Read()) { }
        return kind;
    }

    public DatasetSchema ToSchema() => new(_root.Children.Select(ToField).ToList());

    internal static BatchReadException NotAnObject(string path, long lineNumber, JsonValueKind kind) =>
        new(path, $"line {lineNumber}", $"expected a JSON object but found {Describe(kind)}.");

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

    internal static JsonValueKind ValueKind(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => JsonValueKind.Object,
        JsonTokenType.StartArray => JsonValueKind.Array,
        JsonTokenType.String => JsonValueKind.String,
        JsonTokenType.Number => JsonValueKind.Number,
        JsonTokenType.True => JsonValueKind.True,
        JsonTokenType.False => JsonValueKind.False,
        JsonTokenType.Null => JsonValueKind.Null,
        _ => JsonValueKind.Undefined,
    };

    /// <summary>The value the reader is on, and everything inside it.</summary>
    private void Observe(ref Utf8JsonReader reader, InferredType type, long lineNumber)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                type.Nullable = true;
                break;
            case JsonTokenType.True or JsonTokenType.False:
                SetKind(type, FieldKind.Boolean, lineNumber);
                break;
            case JsonTokenType.Number:
                SetKind(type, reader.TryGetInt64(out _) ? FieldKind.Int64 : FieldKind.Double, lineNumber);
                break;
            case JsonTokenType.String:
                SetKind(type, FieldKind.String, lineNumber);
                break;
            case JsonTokenType.StartObject:
                SetKind(type, FieldKind.Struct, lineNumber);
                ObserveObject(ref reader, type, lineNumber);
                break;
            case JsonTokenType.StartArray:
                SetKind(type, FieldKind.List, lineNumber);
                type.Element ??= new InferredType(type.Path + "[]");
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) Observe(ref reader, type.Element, lineNumber);
                break;
        }
    }

    /// <summary>The object the reader is on (its StartObject), up to its EndObject.</summary>
    private void ObserveObject(ref Utf8JsonReader reader, InferredType type, long lineNumber)
    {
        // Fields seen in this object are stamped with its number, which catches a field that appears twice and
        // leaves the unstamped ones to be marked nullable, with no set per object.
        var visit = type.ObjectCount + 1;
        var next = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var child = FindChild(ref reader, type, ref next);
            if (child is null)
            {
                // A field first seen after earlier objects was missing from them.
                child = type.AddChild(reader.GetString()!, nullable: type.ObjectCount > 0);
                next = type.Children.Count;
            }
            else if (child.SeenInObject == visit)
            {
                throw new BatchReadException(_path, $"line {lineNumber}", $"field '{child.Path}' appears twice in one object.");
            }
            child.SeenInObject = visit;
            reader.Read();
            Observe(ref reader, child, lineNumber);
        }
        foreach (var child in type.Children)
        {
            if (child.SeenInObject != visit) child.Nullable = true;
        }
        type.ObjectCount = visit;
    }

    /// <summary>
    /// The known field the reader's property name names, compared as UTF-8 without making a string: lines usually
    /// repeat the fields in one order, so the field after the previous one is tried first, then the name is looked up.
    /// </summary>
    private InferredType? FindChild(ref Utf8JsonReader reader, InferredType type, ref int next)
    {
        var children = type.Children;
        if (next < children.Count && reader.ValueTextEquals(children[next].Utf8Name))
        {
            return children[next++];
        }
        if (_name.Length < reader.ValueSpan.Length) _name = new byte[Math.Max(reader.ValueSpan.Length, _name.Length * 2)];
        var length = reader.CopyString(_name);
        if (!type.ChildrenByName.TryGetValue(_name.AsMemory(0, length), out var child)) return null;
        next = child.Index + 1;
        return child;
    }

    /// <summary>The kind the value the field holds on this line takes the field to; most values repeat its kind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetKind(InferredType type, FieldKind kind, long lineNumber)
    {
        if (type.Kind != kind) MergeKind(type, kind, lineNumber);
    }

    private void MergeKind(InferredType type, FieldKind kind, long lineNumber)
    {
        if (type.Kind is null)
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
                $"field '{type.Path}' is {Name(kind)} here but {Name(type.Kind.Value)} on earlier lines.");
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

    private static SchemaField ToField(InferredType type) => ToField(type.Name, type);

    private static SchemaField ToField(string name, InferredType type) => type.Kind switch
    {
        null => new SchemaField(name, FieldKind.String, Nullable: true),
        FieldKind.Struct => new SchemaField(name, FieldKind.Struct, type.Nullable, Children: type.Children.Select(ToField).ToList()),
        FieldKind.List => new SchemaField(name, FieldKind.List, type.Nullable, Children: [ToField("element", type.Element!)]),
        var kind => new SchemaField(name, kind.Value, type.Nullable),
    };

    /// <summary>What is known of one field (or list element) so far; its path names it in errors.</summary>
    private sealed class InferredType(string path, string name = "")
    {
        public string Path { get; } = path;
        public string Name { get; } = name;
        public byte[] Utf8Name { get; } = Encoding.UTF8.GetBytes(name);
        /// <summary>Where the field is among its parent's <see cref="Children"/>.</summary>
        public int Index { get; private init; }
        public FieldKind? Kind { get; set; }
        public bool Nullable { get; set; }
        public int ObjectCount { get; set; }
        public int SeenInObject { get; set; }
        public List<InferredType> Children { get; } = [];
        public Dictionary<ReadOnlyMemory<byte>, InferredType> ChildrenByName { get; } = new(Utf8NameComparer.Instance);
        public InferredType? Element { get; set; }

        public InferredType AddChild(string childName, bool nullable)
        {
            var child = new InferredType(Path.Length == 0 ? childName : Path + "." + childName, childName) { Nullable = nullable, Index = Children.Count };
            Children.Add(child);
            ChildrenByName.Add(child.Utf8Name, child);
            return child;
        }
    }

    /// <summary>Compares field names by their UTF-8 bytes, so a name read from a line needs no string to be looked up.</summary>
    private sealed class Utf8NameComparer : IEqualityComparer<ReadOnlyMemory<byte>>
    {
        public static readonly Utf8NameComparer Instance = new();

        public bool Equals(ReadOnlyMemory<byte> x, ReadOnlyMemory<byte> y) => x.Span.SequenceEqual(y.Span);

        public int GetHashCode(ReadOnlyMemory<byte> name)
        {
            var hash = new HashCode();
            hash.AddBytes(name.Span);
            return hash.ToHashCode();
        }
    }
}
