using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Infers a schema from JSON Lines records, one line at a time:
/// integers within int64 → Int64; any other number → Double; ints mixed with other numbers → Double;
/// true/false → Boolean; strings → String (no guessing of dates or numbers); objects → Struct with fields merged across lines,
/// or Map&lt;String, V&gt; when their keys are data (many, sparse, of one kind: <see cref="MapMinKeys"/>);
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
    private readonly InferredType _root = new("") { JudgeAt = int.MaxValue };   // a line's keys are columns, never a map
    private readonly LineTokens _tokens = new();
    // Field names and map keys by their UTF-8 bytes, so a name read from a line needs no string to be looked up.
    private static readonly IEqualityComparer<ReadOnlyMemory<byte>> NameComparer = KeyEquality<ReadOnlyMemory<byte>>.Comparer;
    private readonly IReadOnlySet<string> _structPaths;
    private readonly IReadOnlySet<string> _mapPaths;
    // A property name unescaped, to look it up by its UTF-8 bytes; grows for a longer name.
    private byte[] _name = new byte[256];

    /// <param name="structPaths">
    /// Paths (<c>m</c>, <c>a.m.value</c>) of objects judged maps on the way that the whole batch showed are none (see
    /// <see cref="MapJudgementRevokedException"/>): they stay structs.
    /// </param>
    /// <param name="mapPaths">
    /// Paths of objects whose keys as a struct's fields took the batch past <see cref="MaxFields"/> (see
    /// <see cref="StructPastFieldLimitException"/>): maps from their first object, whatever the density of their keys
    /// (unless also among <paramref name="structPaths"/>: their values do not merge).
    /// </param>
    public JsonSchemaInference(string path, IReadOnlySet<string>? structPaths = null, IReadOnlySet<string>? mapPaths = null)
    {
        _path = path;
        _structPaths = structPaths ?? new HashSet<string>();
        _mapPaths = mapPaths ?? new HashSet<string>();
    }

    /// <summary>
    /// The version of these rules, kept with each batch schema the state store holds (<see cref="DatasetSchemaJson"/>): an
    /// entry inferred by other rules is a miss, its batch inferred again. 2: objects whose keys are data infer a map. 3: a
    /// line left out as invalid JSON no longer disproves a map, nor makes one of an object its keys took past the field
    /// limit (under SkipInvalidRecords, rules 2 made such a map a struct, and such a struct a map).
    /// </summary>
    public const int RulesVersion = 3;

    /// <summary>
    /// An object (never a line's root: a line's keys are its columns) is inferred as a <c>Map&lt;String, V&gt;</c> when, over
    /// the batch, it has more than this many distinct keys, they are sparse (a key appears on average in fewer than
    /// 1/<see cref="MapSparseRatio"/> of the objects at its path) and the values of all its keys merge into one kind by
    /// these rules (V). The judgement is made when an object's distinct keys first exceed this (at the end of the object
    /// that adds them), again each time they double, and at the end of the batch; an object judged a map that the whole
    /// batch shows is none (its keys dense, or their values of kinds that do not merge) starts the inference over with it a
    /// struct (<see cref="MapJudgementRevokedException"/>), so the schema does not depend on the order of the lines.
    /// </summary>
    public const int MapMinKeys = 200;

    /// <summary>See <see cref="MapMinKeys"/>: keys appear on average in fewer than one in this many objects.</summary>
    public const int MapSparseRatio = 10;

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

    /// <summary>The batch's schema; judges its objects at the end first (<see cref="Finish"/>, whose result the reader acts on).</summary>
    public DatasetSchema ToSchema()
    {
        Finish();
        return new(_root.Children.Select(ToField).ToList());
    }

    /// <summary>
    /// Paths (as <c>tags[]</c>) of list elements no line has shown yet, only empty lists: <see cref="ToSchema"/> makes them
    /// nullable strings, which a later element would change (to not nullable, or another kind), so a sample of the lines
    /// holds nothing about them.
    /// </summary>
    /// <summary>
    /// After <see cref="ToSchema"/>: paths of the objects judged maps (but those kept maps for the field limit), and of the structs of more than
    /// <see cref="MapMinKeys"/> fields whose values would merge into one kind (maps but for their keys being dense), with
    /// their fields. A sample's (<see cref="JsonSchemaSample"/>): the export checks the whole batch judges them the same.
    /// </summary>
    public (IReadOnlySet<string> Maps, IReadOnlyDictionary<string, int> DenseObjects) Judgements()
    {
        var maps = new HashSet<string>(StringComparer.Ordinal);
        var dense = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var child in _root.Children) CollectJudgements(child, maps, dense);
        return (maps, dense);
    }

    private void CollectJudgements(InferredType type, HashSet<string> maps, Dictionary<string, int> dense)
    {
        if (type.MapValue is { } value)
        {
            // One kept a map for the field limit (past MaxFields keys, or a struct past the batch's fields) stays one over
            // any lines after the sample too: nothing to check.
            if (!type.MapKeysPastFieldLimit && !_mapPaths.Contains(type.Path)) maps.Add(type.Path);
            CollectJudgements(value, maps, dense);
            return;
        }
        if (type.Kind == FieldKind.Struct && type.Children.Count > MapMinKeys)
        {
            var merged = new InferredType(type.Path + ".value", "value");
            if (type.Children.All(child => MergeInto(merged, child))) dense.Add(type.Path, type.Children.Count);
        }
        foreach (var child in type.Children) CollectJudgements(child, maps, dense);
        if (type.Element is { } element) CollectJudgements(element, maps, dense);
    }

    public IReadOnlySet<string> UnobservedElements()
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var child in _root.Children) CollectUnobserved(child, paths);
        return paths;
    }

    private static void CollectUnobserved(InferredType type, HashSet<string> paths)
    {
        foreach (var child in type.Children) CollectUnobserved(child, paths);
        if (type.MapValue is { } value) CollectUnobserved(value, paths);
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
                if (!IsMap(type)) ObserveObject(ref reader, type, lineNumber);
                else ObserveMap(ref reader, type, lineNumber);
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
        var keys = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            keys++;
            var child = FindChild(ref reader, type, ref next);
            if (child is null)
            {
                // A field first seen after earlier objects was missing from them.
                child = AddField(type, reader.GetString()!, lineNumber);
                next = type.Children.Count;
            }
            else if (child.SeenInObject == visit)
            {
                throw NamedTwice(child.Path, lineNumber);
            }
            child.SeenInObject = visit;
            reader.Read();
            Observe(ref reader, child, lineNumber);
        }
        EndObject(type, visit, keys);
    }

    /// <summary>
    /// After an object's keys: fields it lacks are nullable; once its path has more distinct keys than the last judgement
    /// saw doubled (<see cref="MapMinKeys"/> the first time), whether it is a map is judged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndObject(InferredType type, int visit, int keys)
    {
        foreach (var child in type.Children)
        {
            if (child.SeenInObject != visit) child.Nullable = true;
        }
        type.ObjectCount = visit;
        type.KeyOccurrences += keys;
        if (type.Children.Count >= type.JudgeAt) Judge(type);
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
                if (!IsMap(type)) ObserveObject(line, ref next, type, lineNumber);
                else ObserveMap(line, ref next, type, lineNumber);
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
        var keys = 0;
        while (_tokens[next].Kind == JsonTokenType.PropertyName)
        {
            keys++;
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
                throw NamedTwice(child.Path, lineNumber);
            }
            child.SeenInObject = visit;
            Observe(line, ref next, child, lineNumber);
        }
        next++;   // the EndObject
        EndObject(type, visit, keys);
    }

    /// <summary>
    /// An object at a path judged a map (its StartObject read), up to its EndObject: each key an entry, each value observed
    /// into the map's value. A value that does not fit it (another kind) shows the map is none: the inference starts over
    /// with it a struct (<see cref="MapJudgementRevokedException"/>), where the error, if any, is the struct's.
    /// </summary>
    private void ObserveMap(ref Utf8JsonReader reader, InferredType map, long lineNumber)
    {
        var visit = map.ObjectCount + 1;
        var keys = 0;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                keys++;
                if (_name.Length < reader.ValueSpan.Length) _name = new byte[Math.Max(reader.ValueSpan.Length, _name.Length * 2)];
                var length = reader.CopyString(_name);
                NoteKey(map, length, visit, lineNumber);
                reader.Read();
                Observe(ref reader, map.MapValue!, lineNumber);
            }
        }
        catch (BatchReadException) when (!_namedTwice)
        {
            throw new MapJudgementRevokedException(map.Path);
        }
        map.ObjectCount = visit;
        map.KeyOccurrences += keys;
    }

    /// <summary>As <see cref="ObserveMap(ref Utf8JsonReader, InferredType, long)"/>, from token <paramref name="next"/>.</summary>
    private void ObserveMap(ReadOnlySpan<byte> line, ref int next, InferredType map, long lineNumber)
    {
        var visit = map.ObjectCount + 1;
        var keys = 0;
        try
        {
            while (_tokens[next].Kind == JsonTokenType.PropertyName)
            {
                keys++;
                var token = _tokens[next++];
                var name = line.Slice(token.Start, token.Length);   // no escapes: LineTokens gives up on those
                if (_name.Length < name.Length) _name = new byte[Math.Max(name.Length, _name.Length * 2)];
                name.CopyTo(_name);
                NoteKey(map, name.Length, visit, lineNumber);
                Observe(line, ref next, map.MapValue!, lineNumber);
            }
        }
        catch (BatchReadException) when (!_namedTwice)
        {
            throw new MapJudgementRevokedException(map.Path);
        }
        next++;   // the EndObject
        map.ObjectCount = visit;
        map.KeyOccurrences += keys;
    }

    /// <summary>
    /// Whether objects at <paramref name="type"/> are observed as a map's: it was judged one, or its path is among those
    /// that are maps from their first object (<see cref="StructPastFieldLimitException"/>), which makes it one now.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsMap(InferredType type)
    {
        if (type.MapValue is not null) return true;
        if (_mapPaths.Count == 0 || type.ObjectCount > 0 || !_mapPaths.Contains(type.Path) || _structPaths.Contains(type.Path)) return false;
        type.MapKeys = new Dictionary<ReadOnlyMemory<byte>, int>(NameComparer);
        type.MapValue = new InferredType(type.Path + ".value", "value");
        return true;
    }

    // A name given twice in one object fails the batch whatever its objects are (a struct's field or a map's key): no
    // evidence against a map, so ObserveMap lets it through as it is (it made the map a struct, and the inference start
    // over, to fail at the same line, or at the field limit before it with a message that did not name the fault).
    private bool _namedTwice;

    private BatchReadException NamedTwice(string path, long lineNumber)
    {
        _namedTwice = true;
        return new BatchReadException(_path, $"line {lineNumber}", $"field '{path}' appears twice in one object.");
    }

    /// <summary>The key in <see cref="_name"/>'s first <paramref name="length"/> bytes, met in object <paramref name="visit"/> of the map's path.</summary>
    private void NoteKey(InferredType map, int length, int visit, long lineNumber)
    {
        var keys = map.MapKeys!;
        if (keys.TryGetValue(_name.AsMemory(0, length), out var seenIn))
        {
            if (seenIn == visit)
            {
                throw NamedTwice($"{map.Path}.{Encoding.UTF8.GetString(_name, 0, length)}", lineNumber);
            }
            keys[_name.AsMemory(0, length)] = visit;   // the key kept is the one added
        }
        else if (keys.Count < MaxFields)
        {
            keys.Add(_name.AsSpan(0, length).ToArray(), visit);
        }
        else
        {
            map.MapKeysPastFieldLimit = true;
        }
    }

    /// <summary>Adds <paramref name="key"/> (owned, not the name buffer) to the map's distinct keys, as <see cref="NoteKey"/> keeps them.</summary>
    private static void AddMapKey(InferredType map, ReadOnlyMemory<byte> key)
    {
        if (map.MapKeys!.Count < MaxFields) map.MapKeys.TryAdd(key, 0);
        else if (!map.MapKeys.ContainsKey(key)) map.MapKeysPastFieldLimit = true;
    }

    /// <summary>Whether keys met this often in this many objects are sparse (<see cref="MapSparseRatio"/>).</summary>
    internal static bool Sparse(int distinctKeys, long occurrences, long objects) =>
        distinctKeys > MapMinKeys && occurrences * MapSparseRatio < (long)distinctKeys * objects;

    /// <summary>
    /// Makes <paramref name="type"/> (a struct) a map when its keys are data (<see cref="MapMinKeys"/>): its fields merged
    /// into the value; else leaves it a struct, to be judged again when its fields have doubled.
    /// </summary>
    private void Judge(InferredType type)
    {
        type.JudgeAt = (int)Math.Min(int.MaxValue, Math.Max((long)type.JudgeAt, type.Children.Count * 2L));
        if (_structPaths.Contains(type.Path) || !Sparse(type.Children.Count, type.KeyOccurrences, type.ObjectCount)) return;
        var fieldsAsStruct = CountFields(type);
        if (!ToMap(type)) return;
        JudgeWithin(type.MapValue!);
        _fields += CountFields(type) - fieldsAsStruct;
    }

    /// <summary>Judges the objects within <paramref name="type"/> (deepest first), then <paramref name="type"/> itself.</summary>
    private void JudgeWithin(InferredType type)
    {
        foreach (var child in type.Children.ToList()) JudgeWithin(child);
        if (type.Element is { } element) JudgeWithin(element);
        if (type.MapValue is { } value) JudgeWithin(value);
        if (type.MapValue is null && type.Kind == FieldKind.Struct && type.Children.Count > MapMinKeys && type.JudgeAt != int.MaxValue) Judge(type);
    }

    /// <summary>
    /// The end of the batch's lines: every object with more than <see cref="MapMinKeys"/> distinct keys is judged as the
    /// whole batch shows it. Returns the path of an object judged a map on the way that the whole batch shows is none (its
    /// keys not sparse), for the inference to start over with it a struct; else null.
    /// </summary>
    public string? Finish()
    {
        JudgeWithin(_root);
        return RevokedMap(_root);
    }

    private string? RevokedMap(InferredType type)
    {
        if (type.MapValue is { } value)
        {
            // A map for the field limit (past its number of keys, or as a struct past the batch's fields) stays one however
            // dense its keys: as a struct it would fail the batch.
            if (!type.MapKeysPastFieldLimit && !_mapPaths.Contains(type.Path) && !Sparse(type.MapKeys!.Count, type.KeyOccurrences, type.ObjectCount))
            {
                return type.Path;
            }
            return RevokedMap(value);
        }
        foreach (var child in type.Children)
        {
            if (RevokedMap(child) is { } path) return path;
        }
        return type.Element is { } element ? RevokedMap(element) : null;
    }

    /// <summary>Fields (struct children, at every level) that count against <see cref="MaxFields"/> within <paramref name="type"/>.</summary>
    private static int CountFields(InferredType type)
    {
        var count = 0;
        foreach (var child in type.Children) count += 1 + CountFields(child);
        if (type.Element is { } element) count += CountFields(element);
        if (type.MapValue is { } value) count += CountFields(value);
        return count;
    }

    /// <summary>
    /// Merges what <paramref name="source"/> (left as it is) showed into <paramref name="target"/> by these rules (a map's
    /// value, made of its keys' fields): false when their kinds do not merge. Structs merge their fields (one that either
    /// lacks is nullable), a struct with a map gives the map (the struct's fields its entries), lists their elements.
    /// </summary>
    private bool MergeInto(InferredType target, InferredType source)
    {
        target.Nullable |= source.Nullable;
        if (source.Kind is null) return true;
        if (target.Kind is null)
        {
            CopyInto(target, source);
            return true;
        }
        if (target.Kind != source.Kind)
        {
            if (target.Kind is not (FieldKind.Int64 or FieldKind.Double) || source.Kind is not (FieldKind.Int64 or FieldKind.Double)) return false;
            target.Kind = FieldKind.Double;
            return true;
        }
        switch (target.Kind)
        {
            case FieldKind.List:
                if (source.Element is { } sourceElement)
                {
                    target.Element ??= new InferredType(target.Path + "[]");
                    if (!MergeInto(target.Element, sourceElement)) return false;
                }
                return true;
            case FieldKind.Struct when target.MapValue is null && source.MapValue is null:
                foreach (var sourceChild in source.Children)
                {
                    if (target.ChildrenByName.TryGetValue(sourceChild.Utf8Name, out var targetChild))
                    {
                        if (!MergeInto(targetChild, sourceChild)) return false;
                    }
                    else
                    {
                        var added = target.AddChild(sourceChild.Name, nullable: target.ObjectCount > 0);
                        CopyInto(added, sourceChild);
                        added.Nullable |= target.ObjectCount > 0;
                    }
                }
                foreach (var targetChild in target.Children)
                {
                    if (source.ObjectCount > 0 && !source.ChildrenByName.ContainsKey(targetChild.Utf8Name)) targetChild.Nullable = true;
                }
                break;
            case FieldKind.Struct:
                // A struct that stays one (its path among _structPaths) takes no map: the kinds do not merge.
                if (target.MapValue is null && (_structPaths.Contains(target.Path) || !ToMap(target))) return false;
                if (source.MapValue is { } sourceValue)
                {
                    if (!MergeInto(target.MapValue!, sourceValue)) return false;
                    foreach (var key in source.MapKeys!.Keys) AddMapKey(target, key);
                    target.MapKeysPastFieldLimit |= source.MapKeysPastFieldLimit;
                }
                else
                {
                    foreach (var sourceChild in source.Children)
                    {
                        if (!MergeInto(target.MapValue!, sourceChild)) return false;
                        AddMapKey(target, sourceChild.Utf8Name);
                    }
                }
                break;
        }
        target.ObjectCount += source.ObjectCount;
        target.KeyOccurrences += source.KeyOccurrences;
        return true;
    }

    /// <summary>A struct (of merged values) made a map of its fields, as it meets a map; false when their kinds do not merge.</summary>
    private bool ToMap(InferredType type)
    {
        var value = new InferredType(type.Path + ".value", "value");
        foreach (var child in type.Children)
        {
            if (!MergeInto(value, child)) return false;
        }
        type.MapKeys = new Dictionary<ReadOnlyMemory<byte>, int>(type.Children.Count, NameComparer);
        foreach (var child in type.Children) type.MapKeys.Add(child.Utf8Name, 0);
        type.MapValue = value;
        type.Children.Clear();
        type.ChildrenByName.Clear();
        return true;
    }

    /// <summary>What <paramref name="source"/> showed, copied into <paramref name="target"/>, which has seen nothing, under its own path.</summary>
    private static void CopyInto(InferredType target, InferredType source)
    {
        target.Kind = source.Kind;
        target.Nullable |= source.Nullable;
        target.ObjectCount = source.ObjectCount;
        target.KeyOccurrences = source.KeyOccurrences;
        target.JudgeAt = source.JudgeAt;
        foreach (var sourceChild in source.Children) CopyInto(target.AddChild(sourceChild.Name, sourceChild.Nullable), sourceChild);
        if (source.Element is { } element)
        {
            target.Element = new InferredType(target.Path + "[]");
            CopyInto(target.Element, element);
        }
        if (source.MapValue is { } value)
        {
            target.MapValue = new InferredType(target.Path + ".value", "value");
            CopyInto(target.MapValue, value);
            target.MapKeys = new Dictionary<ReadOnlyMemory<byte>, int>(source.MapKeys!.Count, NameComparer);
            foreach (var key in source.MapKeys.Keys) target.MapKeys.Add(key, 0);
            target.MapKeysPastFieldLimit = source.MapKeysPastFieldLimit;
        }
    }

    /// <summary>
    /// The most fields (at every level: a struct's fields count as well as the struct) one batch's lines may give.
    /// Objects whose keys are data (a map keyed by ids: <c>{"m": {"user-123": 5}}</c>) become maps (<see cref="MapMinKeys"/>)
    /// long before; a struct gives a field per distinct key, each null on every line without it: lines × keys entries to
    /// infer, hold and write (JSON Lines write every field). Past this many the batch fails at the line that adds one more,
    /// naming it: dense objects of that many keys, or objects whose keys' values are of kinds that do not merge into one;
    /// real wide tables (5,000 columns, tested) stay within.
    /// </summary>
    public const int MaxFields = 10_000;

    private int _fields;

    /// <summary>A field first seen on this line (missing from the parent's earlier objects, so nullable if there were any).</summary>
    private InferredType AddField(InferredType parent, string name, long lineNumber)
    {
        if (++_fields > MaxFields)
        {
            // An object of many keys is a map rather than fail the batch: the inference starts over with it one.
            if (parent != _root && parent.Children.Count > MapMinKeys && !_mapPaths.Contains(parent.Path) && !_structPaths.Contains(parent.Path))
            {
                throw new StructPastFieldLimitException(parent.Path);
            }
            var path = parent.Path.Length == 0 ? name : parent.Path + "." + name;
            throw new BatchReadException(_path, $"line {lineNumber}",
                $"field '{path}' would be field {MaxFields + 1} of the batch: this tool infers at most {MaxFields} fields from "
                + $"JSON Lines. An object of more than {MapMinKeys} keys becomes a map rather than pass this when its keys' values are "
                + "of one kind; these fields are a line's own keys, objects of fewer keys, or keys whose values are of kinds that do "
                + "not merge (a string and a number, an object and an array). Store such data as an array of objects (or as Parquet "
                + "with a MAP column) instead.");
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
        // A key some objects lack is no entry, not a null one: JSON tells the two apart no more here than where a map
        // takes an object over in the merge (SchemaMerger), so the value is nullable.
        FieldKind.Struct when type.MapValue is { } value => new SchemaField(name, FieldKind.Map, type.Nullable, Children:
        [
            new SchemaField("key", FieldKind.String, Nullable: false) { JsonInferred = true },
            ToField("value", value) with { Nullable = true },
        ]) { JsonInferred = true },
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
        /// <summary>Keys met in all <see cref="ObjectCount"/> objects (a key in n objects counts n times).</summary>
        public long KeyOccurrences { get; set; }
        /// <summary>Whether the object is a map is judged when it has this many distinct keys (<see cref="MapMinKeys"/>).</summary>
        public int JudgeAt { get; set; } = MapMinKeys + 1;
        /// <summary>An object judged a map: what its values showed (then it has no <see cref="Children"/>).</summary>
        public InferredType? MapValue { get; set; }
        /// <summary>
        /// A map's distinct keys, each with the last object it was met in (to catch a key named twice in one), up to
        /// <see cref="MaxFields"/> of them: memory must not grow with a batch of a new key per line (ids as keys).
        /// </summary>
        public Dictionary<ReadOnlyMemory<byte>, int>? MapKeys { get; set; }
        /// <summary>
        /// The map had more distinct keys than <see cref="MapKeys"/> keeps: it stays a map (a struct of them would pass the
        /// field limit), and a key repeated in one object among those not kept is left to the batch's read to refuse.
        /// </summary>
        public bool MapKeysPastFieldLimit { get; set; }
        public List<InferredType> Children { get; } = [];
        public Dictionary<ReadOnlyMemory<byte>, InferredType> ChildrenByName { get; } = new(NameComparer);
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
}

/// <summary>
/// An object the inference judged a map on the way that later lines (or the end of the batch) showed is none: a value of a
/// kind that does not merge with the others, or keys no longer sparse. The reader starts the inference over with the
/// object's path among those that stay structs (<see cref="JsonSchemaInference"/>'s structPaths).
/// </summary>
internal sealed class MapJudgementRevokedException(string path)
    : Exception($"The object at '{path}' is no map: its keys are not sparse or their values are of kinds that do not merge.")
{
    public string ObjectPath { get; } = path;
}

/// <summary>
/// An object of more than <see cref="JsonSchemaInference.MapMinKeys"/> keys whose fields, as a struct's, would take the batch
/// past <see cref="JsonSchemaInference.MaxFields"/> (dense keys, or keys that only turn sparse after a judgement): the reader
/// starts the inference over with it a map from its first object (JsonSchemaInference's mapPaths), which is revoked as any
/// map is when its values do not merge (the batch then fails at the field limit).
/// </summary>
internal sealed class StructPastFieldLimitException(string path)
    : Exception($"The object at '{path}' has more keys than a struct may have fields in a batch: it is read as a map.")
{
    public string ObjectPath { get; } = path;
}
