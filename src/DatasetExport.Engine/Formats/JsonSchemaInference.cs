using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Infers a schema from JSON Lines records, one line at a time:
/// integers within int64 → Int64; any other number → Double; ints mixed with other numbers → Double;
/// true/false → Boolean; strings → String (no guessing of dates or numbers); objects → Struct with fields merged across lines;
/// arrays → List with the merged element type; a field that is null or missing on some line → nullable;
/// a field that is only ever null → String nullable; an array only ever empty → list&lt;string&gt; (both marked
/// <see cref="SchemaField.OnlyNulls"/>, so another batch's kind wins the merge). Every field is marked
/// <see cref="SchemaField.JsonInferred"/>, so a Parquet batch's timestamp, date, time, binary, decimal or map column takes
/// the field of a string, number or object over in the merge.
/// Any other mix (string vs number, object vs array, ...) is a <see cref="BatchReadException"/> naming file, line and field.
/// </summary>
internal sealed class JsonSchemaInference
{
    private readonly string _path;
    private readonly InferredType _root = new("");
    private readonly LineTokens _tokens = new();
    // A property name unescaped, to look it up by its UTF-8 bytes; grows for a longer name.
    private byte[] _name = new byte[256];

    public JsonSchemaInference(string path) => _path = path;

    /// <summary>
    /// Reads one line's JSON as tokens (no document is built) into the schema. Throws <see cref="JsonException"/> when the
    /// line is not valid JSON, <see cref="BatchReadException"/> when it is not an object or conflicts with earlier lines;
    /// either may come after part of the line was observed, so a line to be left out instead must not have been observed
    /// (the reader then starts over with each line checked first by <see cref="FirstToken"/>).
    /// </summary>
    /// <remarks>
    /// A line is first split by <see cref="LineTokens"/>, which takes the common JSON it is sure of and gives up on the
    /// rest; only then, knowing the line is valid, are its tokens observed. A line it gives up on is read by a
    /// <see cref="Utf8JsonReader"/>, so errors and their messages are the parser's. Both observe the same tokens in the
    /// same order, so the schema and the conflicts found are the same either way.
    /// </remarks>
    [MethodImpl(CompileOptions.HotPath)]
    public void Observe(ReadOnlySpan<byte> line, long lineNumber)
    {
        if (_tokens.TryScan(line))
        {
            var next = 1;   // after the line's StartObject
            ObserveObject(line, ref next, _root, lineNumber);
            return;
        }
        var reader = new Utf8JsonReader(line);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject) throw NotAnObject(_path, lineNumber, ValueKind(reader.TokenType));
        ObserveObject(ref reader, _root, lineNumber);
        reader.Read();   // throws if anything but white space follows the object
    }

    /// <summary>
    /// The kind of the line's JSON value; throws <see cref="JsonException"/> when the whole line is not valid JSON, or when
    /// a string or field name escapes a lone surrogate (<c>"\ud800"</c>: JSON's grammar allows it, but it is no Unicode
    /// text, which every reader of the line must unescape it to).
    /// </summary>
    public static JsonValueKind FirstToken(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        var kind = ValueKind(reader.TokenType);
        do
        {
            if (reader.ValueIsEscaped && reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName) CheckUnescapes(ref reader);
        }
        while (reader.Read());
        return kind;
    }

    private static void CheckUnescapes(ref Utf8JsonReader reader)
    {
        try
        {
            reader.GetString();
        }
        catch (InvalidOperationException error)
        {
            throw new JsonException($"{error.Message} Byte {reader.TokenStartIndex + 1} of the line.", error);
        }
    }

    public DatasetSchema ToSchema() => new(_root.Children.Select(ToField).ToList());

    /// <summary>
    /// Paths (as <c>tags[]</c>) of list elements no line has shown yet, only empty lists: <see cref="ToSchema"/> makes them
    /// nullable strings, which a later element would change (to not nullable, or another kind), so a sample of the lines
    /// holds nothing about them.
    /// </summary>
    public IReadOnlySet<string> UnobservedElements()
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var child in _root.Children) CollectUnobserved(child, paths);
        return paths;
    }

    private static void CollectUnobserved(InferredType type, HashSet<string> paths)
    {
        foreach (var child in type.Children) CollectUnobserved(child, paths);
        if (type.Element is not { } element) return;
        if (element.Kind is null && !element.Nullable) paths.Add(element.Path);
        else CollectUnobserved(element, paths);
    }

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
    [MethodImpl(CompileOptions.HotPath)]
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
    [MethodImpl(CompileOptions.HotPath)]
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
                child = AddField(type, reader.GetString()!, lineNumber);
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

    /// <summary>The value at token <paramref name="next"/> of the line, and everything inside it; as <see cref="Observe(ref Utf8JsonReader, InferredType, long)"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void Observe(ReadOnlySpan<byte> line, ref int next, InferredType type, long lineNumber)
    {
        switch (_tokens[next++].Kind)
        {
            case JsonTokenType.Null:
                type.Nullable = true;
                break;
            case JsonTokenType.True or JsonTokenType.False:
                SetKind(type, FieldKind.Boolean, lineNumber);
                break;
            case JsonTokenType.Number:
                SetKind(type, _tokens[next - 1].IsInt64 ? FieldKind.Int64 : FieldKind.Double, lineNumber);
                break;
            case JsonTokenType.String:
                SetKind(type, FieldKind.String, lineNumber);
                break;
            case JsonTokenType.StartObject:
                SetKind(type, FieldKind.Struct, lineNumber);
                ObserveObject(line, ref next, type, lineNumber);
                break;
            case JsonTokenType.StartArray:
                SetKind(type, FieldKind.List, lineNumber);
                type.Element ??= new InferredType(type.Path + "[]");
                while (_tokens[next].Kind != JsonTokenType.EndArray) Observe(line, ref next, type.Element, lineNumber);
                next++;
                break;
        }
    }

    /// <summary>The object whose fields start at token <paramref name="next"/>, up to its EndObject; as <see cref="ObserveObject(ref Utf8JsonReader, InferredType, long)"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void ObserveObject(ReadOnlySpan<byte> line, ref int next, InferredType type, long lineNumber)
    {
        var visit = type.ObjectCount + 1;
        var nextChild = 0;
        while (_tokens[next].Kind == JsonTokenType.PropertyName)
        {
            var token = _tokens[next++];
            var name = line.Slice(token.Start, token.Length);   // no escapes: LineTokens gives up on those
            var child = FindChild(name, type, ref nextChild);
            if (child is null)
            {
                child = AddField(type, Encoding.UTF8.GetString(name), lineNumber);
                nextChild = type.Children.Count;
            }
            else if (child.SeenInObject == visit)
            {
                throw new BatchReadException(_path, $"line {lineNumber}", $"field '{child.Path}' appears twice in one object.");
            }
            child.SeenInObject = visit;
            Observe(line, ref next, child, lineNumber);
        }
        next++;   // the EndObject
        foreach (var child in type.Children)
        {
            if (child.SeenInObject != visit) child.Nullable = true;
        }
        type.ObjectCount = visit;
    }

    /// <summary>
    /// The most fields (at every level: a struct's fields count as well as the struct) one batch's lines may give.
    /// Objects whose keys are data (a map keyed by ids: <c>{"m": {"user-123": 5}}</c>) give a field per distinct key, each
    /// null on every line without it: lines × keys entries to infer, hold and write (JSON Lines write every field),
    /// growing with the square of the lines (12,000 such lines: 144 M entries, over a gigabyte of JSON). Past this many
    /// the batch fails at the line that adds one more, naming it; real wide tables (5,000 columns, tested) stay within.
    /// </summary>
    public const int MaxFields = 10_000;

    private int _fields;

    /// <summary>A field first seen on this line (missing from the parent's earlier objects, so nullable if there were any).</summary>
    private InferredType AddField(InferredType parent, string name, long lineNumber)
    {
        if (++_fields > MaxFields)
        {
            var path = parent.Path.Length == 0 ? name : parent.Path + "." + name;
            throw new BatchReadException(_path, $"line {lineNumber}",
                $"field '{path}' would be field {MaxFields + 1} of the batch: this tool infers at most {MaxFields} fields from "
                + "JSON Lines. Objects whose keys are data (ids, dates, names as keys) make a field per distinct key; store such "
                + "data as an array of objects (or as Parquet with a MAP column) instead.");
        }
        return parent.AddChild(name, nullable: parent.ObjectCount > 0);
    }

    /// <summary>The known field named <paramref name="name"/> (UTF-8, unescaped); as <see cref="FindChild(ref Utf8JsonReader, InferredType, ref int)"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private InferredType? FindChild(ReadOnlySpan<byte> name, InferredType type, ref int next)
    {
        var children = type.Children;
        if (next < children.Count && LineTokens.NameEquals(name, children[next].Utf8Name))
        {
            return children[next++];
        }
        if (_name.Length < name.Length) _name = new byte[Math.Max(name.Length, _name.Length * 2)];
        name.CopyTo(_name);
        if (!type.ChildrenByName.TryGetValue(_name.AsMemory(0, name.Length), out var child)) return null;
        next = child.Index + 1;
        return child;
    }

    /// <summary>
    /// The known field the reader's property name names, compared as UTF-8 without making a string: lines usually
    /// repeat the fields in one order, so the field after the previous one is tried first, then the name is looked up.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
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

    /// <summary>The field as the lines showed it, marked <see cref="SchemaField.JsonInferred"/> (its children too).</summary>
    private static SchemaField ToField(string name, InferredType type) => type.Kind switch
    {
        null => new SchemaField(name, FieldKind.String, Nullable: true) { OnlyNulls = true, JsonInferred = true },
        FieldKind.Struct => new SchemaField(name, FieldKind.Struct, type.Nullable, Children: type.Children.Select(ToField).ToList()) { JsonInferred = true },
        FieldKind.List => new SchemaField(name, FieldKind.List, type.Nullable, Children: [ToField("element", type.Element!)]) { JsonInferred = true },
        var kind => new SchemaField(name, kind.Value, type.Nullable) { JsonInferred = true },
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

    /// <summary>
    /// Splits a line holding one JSON object into tokens when it is sure the line is valid JSON as
    /// <see cref="Utf8JsonReader"/> (default options) reads it, and of the tokens that reader would give: objects, arrays,
    /// property names without escapes, strings (escapes checked as the reader checks them: one of <c>"\/bfnrt</c>, or
    /// <c>u</c> and four hex digits; no control characters), numbers in JSON's grammar, true, false and null, white space
    /// between them, at most <see cref="MaxDepth"/> deep. Anything else gives up (false) and leaves the line to that
    /// reader, which knows every rule and error message; so does a line that is not an object. The line must be valid
    /// UTF-8 (the line reader checks). Parses no values: for numbers it tells whether the reader's TryGetInt64 would succeed.
    /// Both passes over a batch use it: this inference, and <see cref="JsonLineShredder"/> when it reads the records.
    /// </summary>
    internal sealed class LineTokens
    {
        /// <summary>Deeper lines are left to the reader (whose limit is 64).</summary>
        private const int MaxDepth = 32;

        private Token[] _tokens = new Token[256];
        private int _count;

        public ref readonly Token this[int index] => ref _tokens[index];

        /// <summary>Tokens of the last line scanned.</summary>
        public int Count => _count;

        /// <summary>
        /// One loop over the line, no recursion: after each token it expects a value, a property name, or what may follow
        /// a value (a comma, or the end of the innermost object or array, whose kinds are bits of <c>objects</c>).
        /// </summary>
        [MethodImpl(CompileOptions.HotPath)]
        public bool TryScan(ReadOnlySpan<byte> line)
        {
            _count = 0;
            var position = SkipWhiteSpace(line, 0);
            if (position == line.Length || line[position] != (byte)'{') return false;
            ulong objects = 0;   // bit n: the container at depth n + 1 is an object
            var depth = 0;
            var expect = Expect.Value;
            while (true)
            {
                if (expect == Expect.Name)
                {
                    var nameStart = position;
                    if (position == line.Length || line[position] != (byte)'"' || !TrySkipString(line, ref position, escapesAllowed: false, out _)) return false;
                    Add(JsonTokenType.PropertyName, nameStart + 1, position - nameStart - 2);
                    position = SkipWhiteSpace(line, position);
                    if (position == line.Length || line[position] != (byte)':') return false;
                    position = SkipWhiteSpace(line, position + 1);
                    expect = Expect.Value;
                    continue;
                }
                if (expect == Expect.Value)
                {
                    if (position == line.Length) return false;
                    var start = position;
                    switch (line[position])
                    {
                        case (byte)'"':
                            if (!TrySkipString(line, ref position, escapesAllowed: true, out var escaped)) return false;
                            Add(JsonTokenType.String, start + 1, position - start - 2, isEscaped: escaped);
                            break;
                        case (byte)'{' or (byte)'[':
                            var isObject = line[position] == (byte)'{';
                            if (depth == MaxDepth) return false;
                            if (isObject) objects |= 1UL << depth;
                            else objects &= ~(1UL << depth);
                            depth++;
                            Add(isObject ? JsonTokenType.StartObject : JsonTokenType.StartArray, position, 1);
                            position = SkipWhiteSpace(line, position + 1);
                            if (position < line.Length && line[position] == (isObject ? (byte)'}' : (byte)']'))
                            {
                                depth--;
                                Add(isObject ? JsonTokenType.EndObject : JsonTokenType.EndArray, position++, 1);
                                break;
                            }
                            expect = isObject ? Expect.Name : Expect.Value;
                            continue;
                        case (byte)'t':
                            if (!TryLiteral(line, ref position, "true"u8, JsonTokenType.True)) return false;
                            break;
                        case (byte)'f':
                            if (!TryLiteral(line, ref position, "false"u8, JsonTokenType.False)) return false;
                            break;
                        case (byte)'n':
                            if (!TryLiteral(line, ref position, "null"u8, JsonTokenType.Null)) return false;
                            break;
                        default:
                            if (!TryScanNumber(line, ref position)) return false;
                            break;
                    }
                }
                // After a value: the line's end once the outermost object closed, else a comma or a closing bracket.
                position = SkipWhiteSpace(line, position);
                if (depth == 0) return position == line.Length;
                if (position == line.Length) return false;
                var inObject = (objects & (1UL << (depth - 1))) != 0;
                var next = line[position];
                if (next == (byte)',')
                {
                    position = SkipWhiteSpace(line, position + 1);
                    expect = inObject ? Expect.Name : Expect.Value;
                }
                else if (next == (inObject ? (byte)'}' : (byte)']'))
                {
                    depth--;
                    Add(inObject ? JsonTokenType.EndObject : JsonTokenType.EndArray, position++, 1);
                    expect = Expect.AfterValue;
                }
                else
                {
                    return false;
                }
            }
        }

        private enum Expect : byte
        {
            Value,
            Name,
            AfterValue,
        }

        /// <summary>A literal; what follows is checked by the caller.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryLiteral(ReadOnlySpan<byte> line, ref int position, ReadOnlySpan<byte> literal, JsonTokenType kind)
        {
            if (!line[position..].StartsWith(literal)) return false;
            Add(kind, position, literal.Length);
            position += literal.Length;
            return true;
        }

        /// <summary>-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; what follows is checked by the caller.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryScanNumber(ReadOnlySpan<byte> line, ref int position)
        {
            var start = position;
            var negative = line[position] == (byte)'-';
            if (negative) position++;
            var integerStart = position;
            if (position == line.Length || !IsDigit(line[position])) return false;
            if (line[position] == (byte)'0') position++;
            else while (position < line.Length && IsDigit(line[position])) position++;
            var integerDigits = position - integerStart;
            var isInteger = true;
            if (position < line.Length && line[position] == (byte)'.')
            {
                isInteger = false;
                if (++position == line.Length || !IsDigit(line[position])) return false;
                while (position < line.Length && IsDigit(line[position])) position++;
            }
            if (position < line.Length && (line[position] | 0x20) == (byte)'e')
            {
                isInteger = false;
                if (++position < line.Length && line[position] is (byte)'+' or (byte)'-') position++;
                if (position == line.Length || !IsDigit(line[position])) return false;
                while (position < line.Length && IsDigit(line[position])) position++;
            }
            Add(JsonTokenType.Number, start, position - start,
                isInt64: isInteger && FitsInt64(line.Slice(integerStart, integerDigits), negative));
            return true;
        }

        /// <summary>Whether digits (no leading zeros) with a sign are within long's range.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool FitsInt64(ReadOnlySpan<byte> digits, bool negative)
        {
            if (digits.Length < 19) return true;
            if (digits.Length > 19) return false;
            return digits.SequenceCompareTo(negative ? "9223372036854775808"u8 : "9223372036854775807"u8) <= 0;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool IsDigit(byte value) => (uint)(value - '0') <= 9;

        /// <summary>
        /// From the opening quote past the closing one. A string holds no byte below 0x20; a property name (no escapes
        /// allowed) gives up at a backslash, to be unescaped by the reader.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool TrySkipString(ReadOnlySpan<byte> line, ref int position, bool escapesAllowed, out bool escaped)
        {
            escaped = false;
            var i = position + 1;
            while (true)
            {
                i += PlainBytes(line[i..]);
                if (i == line.Length) return false;
                var value = line[i];
                if (value == (byte)'"')
                {
                    position = i + 1;
                    return true;
                }
                if (value != (byte)'\\' || !escapesAllowed) return false;   // a control character, or an escaped name
                escaped = true;
                if (++i == line.Length) return false;
                switch (line[i])
                {
                    case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                        i++;
                        break;
                    case (byte)'u':
                        if (i + 4 >= line.Length || !IsHex(line[i + 1]) || !IsHex(line[i + 2]) || !IsHex(line[i + 3]) || !IsHex(line[i + 4])) return false;
                        i += 5;
                        break;
                    default:
                        return false;
                }
            }
        }

        private static bool IsHex(byte value) => IsDigit(value) || (uint)((value | 0x20) - 'a') <= 'f' - 'a';

        /// <summary>Bytes before the first quote, backslash or control character (or the end).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int PlainBytes(ReadOnlySpan<byte> text)
        {
            var i = 0;
            if (Vector128.IsHardwareAccelerated)
            {
                var quote = Vector128.Create((byte)'"');
                var backslash = Vector128.Create((byte)'\\');
                var space = Vector128.Create((byte)' ');
                for (; i + Vector128<byte>.Count <= text.Length; i += Vector128<byte>.Count)
                {
                    var bytes = Vector128.Create(text.Slice(i, Vector128<byte>.Count));
                    var stops = Vector128.Equals(bytes, quote) | Vector128.Equals(bytes, backslash) | Vector128.LessThan(bytes, space);
                    if (stops != Vector128<byte>.Zero) return i + System.Numerics.BitOperations.TrailingZeroCount(stops.ExtractMostSignificantBits());
                }
            }
            for (; i < text.Length; i++)
            {
                if (text[i] is (byte)'"' or (byte)'\\' or < (byte)' ') return i;
            }
            return i;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int SkipWhiteSpace(ReadOnlySpan<byte> line, int position)
        {
            // Most JSON Lines have no white space between tokens: one comparison then.
            while (position < line.Length && line[position] <= (byte)' ' && line[position] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') position++;
            return position;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Add(JsonTokenType kind, int start, int length, bool isInt64 = false, bool isEscaped = false)
        {
            if (_count == _tokens.Length) Array.Resize(ref _tokens, _count * 2);
            _tokens[_count++] = new Token(kind, start, length, isInt64, isEscaped);
        }

        /// <summary>
        /// Whether a property name is <paramref name="known"/>, byte by byte: names are short, and this loop is compiled
        /// with its caller, where the runtime's general comparison ran instrumented for much of a cold run.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool NameEquals(ReadOnlySpan<byte> name, byte[] known)
        {
            if (name.Length != known.Length) return false;
            for (var i = 0; i < name.Length; i++)
            {
                if (name[i] != known[i]) return false;
            }
            return true;
        }

        /// <summary>The index after the value that starts at token <paramref name="index"/> (past its End token for an object or array).</summary>
        public int EndOf(int index)
        {
            var depth = 0;
            do
            {
                var kind = _tokens[index++].Kind;
                if (kind is JsonTokenType.StartObject or JsonTokenType.StartArray) depth++;
                else if (kind is JsonTokenType.EndObject or JsonTokenType.EndArray) depth--;
            }
            while (depth > 0);
            return index;
        }

        /// <summary>The bytes of the value that starts at token <paramref name="index"/> (strings with their quotes), which <see cref="Utf8JsonReader"/> reads alone.</summary>
        public Range ValueRange(int index)
        {
            var first = _tokens[index];
            var last = _tokens[EndOf(index) - 1];
            var quotes = first.Kind == JsonTokenType.String ? 1 : 0;
            return new Range(first.Start - quotes, last.Start + last.Length + quotes);
        }

        /// <summary>
        /// One token: a property name's or string's content (without quotes), or a number's text; for a number, whether the
        /// reader's TryGetInt64 would succeed; for a string, whether it holds escapes.
        /// </summary>
        internal readonly record struct Token(JsonTokenType Kind, int Start, int Length, bool IsInt64, bool IsEscaped);
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
