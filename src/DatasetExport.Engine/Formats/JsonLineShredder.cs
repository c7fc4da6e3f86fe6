using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Shreds JSON Lines records straight from a <see cref="Utf8JsonReader"/> over each line's UTF-8 bytes into a
/// <see cref="ChunkBuilder"/>'s typed columns, with no document, no record object and no boxing. Values convert as
/// docs/formats.md says: numbers into any numeric kind that holds them (decimals exactly from their text), booleans,
/// strings, base64 binaries, dates, timestamps (ISO-8601, UTC unless an offset is given) and times from strings in the
/// forms <see cref="JsonScalarText"/> reads, objects into maps, map keys from
/// property names (any scalar key kind, in the text our JSON writer writes it); missing fields and nulls are null; unknown fields are skipped; a field
/// named twice in one object takes its last value. Strings are copied, unescaped, as UTF-8 into a <see cref="Utf8Arena"/>. A line that is
/// not JSON, not an object, or does not fit the schema throws a <see cref="BatchReadException"/> naming the field, and
/// leaves no entries behind.
/// </summary>
/// <remarks>
/// A line is read once, fields in the order they come: from the tokens of <see cref="JsonSchemaInference.LineTokens"/>
/// when that scanner takes the line (common values converted straight from their bytes, any other value by a
/// <see cref="Utf8JsonReader"/> over that value alone, with the same code as below), else from a reader over the line.
/// When that fails, or meets a field named twice, the line is read again the careful way: checked whole as JSON first, then each object's fields in schema order from their last
/// occurrence, so a line with several faults reports the one the schema order meets first.
/// </remarks>
internal sealed class JsonLineShredder
{
    // Dates, timestamps, times and integer map keys are parsed from this when their text fits, to spare a string per value.
    private const int ShortTextLength = 128;

    private readonly RowGroupPools _pools;
    private readonly ChunkBuilder _builder;
    private readonly FieldPlan[] _fields;
    private readonly Utf8Arena _text;
    private readonly char[] _shortText = new char[ShortTextLength];
    private readonly string _path;
    private readonly JsonSchemaInference.LineTokens _tokens = new();
    private long _lineNumber;
    private ReadOnlyMemory<byte> _line;
    // Numbers the objects read in streaming order, to tell a field's second occurrence in one object.
    private long _objectCount;
    // Read in schema order (after the streaming read failed), and where in the line the current reader starts (for the
    // fields of a line read in schema order, and the positions of map keys, FieldPlan.KeyStart).
    private bool _inSchemaOrder;
    private int _readerStart;
    // Lines are checked against a schema inferred from a sample of the batch (JsonSchemaSample): any line the inference
    // would have taken the schema further for throws SchemaSampleMisfitException instead of being converted.
    private readonly bool _checksSample;

    /// <param name="chunkRows">Most rows per chunk: the first chunk's columns start small and grow with the rows, later ones start at it (<see cref="ColumnBuilder.Capacity"/>).</param>
    /// <param name="chunkBytes">Bytes that close a chunk before its rows (<see cref="ChunkFull"/>; wide lines).</param>
    /// <param name="pools">Where the chunks' arrays and text blocks come from; they are reused once the chunks are released.</param>
    /// <param name="sample">
    /// When <paramref name="schema"/> was inferred from a sample of the batch's lines (merged with other batches'): every
    /// line is then checked to fit it as the inference would see it (<see cref="JsonSchemaSample"/>). Null for a schema
    /// that holds every line already.
    /// </param>
    public JsonLineShredder(
        DatasetSchema schema, string path, int chunkRows, RowGroupPools pools, JsonSchemaSample? sample = null, long chunkBytes = JsonLinesBatchReader.DefaultChunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 1);
        _chunkRows = _rowLimit = chunkRows;
        _chunkBytes = chunkBytes;
        _pools = pools;
        _builder = new ChunkBuilder(schema, chunkRows, _pools);
        _text = new Utf8Arena(_pools);
        var columns = _builder.Columns.ToArray();
        _checksSample = sample is not null;
        _fields = _builder.Layout.Columns.Select(node => new FieldPlan(node, columns, sample, parent: null)).ToArray();
        _path = path;
    }

    private readonly int _chunkRows;
    private readonly long _chunkBytes;
    // Rows that close the chunk being built: the chunk size, or after a chunk closed on its bytes the rows it held (so
    // later chunks' arrays are made for them), doubled again while chunks close on it at under half the bytes.
    private int _rowLimit;
    // Rows at which ChunkFull next adds up the chunk's bytes (a look at every column), and whether the chunk closed on them.
    private int _nextLook = 1;
    private bool _closedOnBytes;

    /// <summary>Rows added since the last <see cref="Build"/>.</summary>
    public int RowCount => _builder.RowCount;

    // Bytes of the binary values decoded since the last Build (each an array of its own, not in the text arena).
    private long _binaryBytes;

    /// <summary>
    /// Bytes the rows added since the last <see cref="Build"/> hold: their entries in the columns' arrays (4 bytes a level
    /// of each kind, each value its size, 16 a text or binary slice: <see cref="ColumnBuilder.EntryBytes"/>), their text
    /// and their binary values' bytes.
    /// </summary>
    public long HeldBytes => _builder.EntryBytes() + _text.BytesSinceHandOver + _binaryBytes;

    /// <summary>
    /// Whether the chunk is to be built now: it has the most rows, or holds <c>chunkBytes</c> (<see cref="HeldBytes"/>).
    /// The bytes are added up only at its first row and then when the rows reach those that fill the rest at the size
    /// of the rows so far, but at most twice the rows of the last look: a few looks per chunk, which stays one
    /// row past its bytes at most when its rows are alike.
    /// </summary>
    public bool ChunkFull()
    {
        var rows = RowCount;
        if (rows >= _rowLimit) return true;
        if (rows < _nextLook) return false;
        var held = HeldBytes;
        if (held >= _chunkBytes) return _closedOnBytes = true;
        var fit = Math.Ceiling((_chunkBytes - held) / Math.Max(1.0, (double)held / rows));
        _nextLook = rows + (int)Math.Clamp(fit, 1, rows);
        return false;
    }

    /// <summary>
    /// The rows so far as a chunk; the shredder starts over empty. Earlier chunks stay valid until released
    /// (<see cref="RecordChunk.Release"/>), when their arrays go back to be reused for later chunks, and
    /// <paramref name="released"/> runs.
    /// </summary>
    public RecordChunk Build(Action? released = null)
    {
        // Closed on its bytes: later chunks are made for its rows. Closed on a row limit below the chunk size at under half
        // the bytes: for twice as many.
        var rows = RowCount;
        var limit = _rowLimit;
        if (_closedOnBytes) limit = rows;
        else if (rows == _rowLimit && rows < _chunkRows && HeldBytes * 2 < _chunkBytes) limit = Math.Min(_chunkRows, 2 * rows);
        var lease = new RowGroupLease(_pools, released);
        var chunk = _builder.Build(lease).HeldBy(lease);
        _text.HandOver(lease);
        lease.Release();   // the shredder's own hold: the chunk's release gives the arrays back
        if (limit != _rowLimit)
        {
            _rowLimit = limit;
            _builder.StartLaterChunksAt(limit);
        }
        _closedOnBytes = false;
        _nextLook = 1;
        _binaryBytes = 0;
        return chunk;
    }

    /// <summary>Adds <paramref name="line"/> (UTF-8 JSON, an object) as one row, or throws and adds nothing.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    public void AddRow(ReadOnlyMemory<byte> line, long lineNumber)
    {
        _lineNumber = lineNumber;
        _line = line;
        _builder.BeginRow();
        try
        {
            if (_tokens.TryScan(line.Span))
            {
                _inSchemaOrder = false;   // for values read by a reader of their own
                var next = 1;   // after the line's StartObject
                AddFields(_fields, ref next, repetition: 0);
            }
            else
            {
                // The scanner leaves few lines (escaped names, deep nesting): one past a sample goes to the full inference.
                if (_checksSample) throw Misfit("the line is not one the schema sample's checks read.");
                AddLine(inSchemaOrder: false);
            }
        }
        catch (Exception streamingFailure) when (streamingFailure is not OutOfMemoryException)
        {
            // Whatever went wrong, the careful read judges the line: it throws what a line's first fault in schema order
            // gives, or adds the line when the only trouble was a field named twice.
            _builder.Rollback();
            if (JsonLinesBatchReader.Refusal(line.Span, _path, lineNumber) is { } refused) throw refused;
            // Valid JSON that the streaming read could not take does not fit the sample's schema as it is.
            if (_checksSample)
            {
                throw streamingFailure as SchemaSampleMisfitException
                    ?? Misfit(streamingFailure is FieldNamedTwiceException ? "it names a field twice." : streamingFailure.Message);
            }
            try
            {
                AddLine(inSchemaOrder: true);
            }
            catch
            {
                _builder.Rollback();
                throw;
            }
        }
        _builder.EndRow();
    }

    [MethodImpl(CompileOptions.HotPath)]
    private void AddLine(bool inSchemaOrder)
    {
        _inSchemaOrder = inSchemaOrder;
        _readerStart = 0;
        var reader = new Utf8JsonReader(_line.Span);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject) throw JsonSchemaInference.NotAnObject(_path, _lineNumber, JsonSchemaInference.ValueKind(reader.TokenType));
        AddFields(_fields, ref reader, repetition: 0);
        reader.Read();   // throws if anything but white space follows the object
    }

    /// <summary>The value the reader is on, as an error message names it: numbers and booleans with their text.</summary>
    private static string Describe(ref Utf8JsonReader reader)
    {
        var kind = JsonSchemaInference.ValueKind(reader.TokenType);
        return kind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False
            ? $"{JsonSchemaInference.Describe(kind)} ({Encoding.UTF8.GetString(reader.ValueSpan)})"
            : JsonSchemaInference.Describe(kind);
    }

    /// <summary>The object the reader is on (its StartObject), up to its EndObject, as <paramref name="fields"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void AddFields(FieldPlan[] fields, ref Utf8JsonReader reader, int repetition)
    {
        if (_inSchemaOrder) AddFieldsInSchemaOrder(fields, ref reader, repetition);
        else AddFieldsAsTheyCome(fields, ref reader, repetition);
    }

    [MethodImpl(CompileOptions.HotPath)]
    private void AddFieldsAsTheyCome(FieldPlan[] fields, ref Utf8JsonReader reader, int repetition)
    {
        // Fields met are stamped with the object's number: that catches a field named twice, and leaves the unstamped
        // ones to be added as missing.
        var visit = ++_objectCount;
        var next = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = FindField(fields, ref reader, ref next);
            if (field is null && _checksSample) throw Misfit($"it has a field '{reader.GetString()}' the schema lacks.");
            reader.Read();
            if (field is null)
            {
                reader.Skip();
                continue;
            }
            if (field.SeenInObject == visit) throw new FieldNamedTwiceException();
            if (field.OutsideSample) throw Misfit($"it has a field '{field.Node.Path}' the sample of its batch lacks.");
            field.SeenInObject = visit;
            Add(field, ref reader, repetition);
        }
        foreach (var field in fields)
        {
            if (field.SeenInObject != visit) AddNull(field, repetition, "lacks it");
        }
    }

    /// <summary>The object whose fields start at token <paramref name="next"/>, up to its EndObject; as <see cref="AddFieldsAsTheyCome"/>.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void AddFields(FieldPlan[] fields, ref int next, int repetition)
    {
        var visit = ++_objectCount;
        var nextField = 0;
        var line = _line.Span;
        while (_tokens[next].Kind == JsonTokenType.PropertyName)
        {
            var name = _tokens[next++];
            var field = FindField(fields, line.Slice(name.Start, name.Length), ref nextField);
            if (field is null)
            {
                if (_checksSample) throw Misfit($"it has a field '{Encoding.UTF8.GetString(line.Slice(name.Start, name.Length))}' the schema lacks.");
                next = _tokens.EndOf(next);
                continue;
            }
            if (field.SeenInObject == visit) throw new FieldNamedTwiceException();
            if (field.OutsideSample) throw Misfit($"it has a field '{field.Node.Path}' the sample of its batch lacks.");
            field.SeenInObject = visit;
            Add(field, ref next, repetition);
        }
        next++;   // the EndObject
        foreach (var field in fields)
        {
            if (field.SeenInObject != visit) AddNull(field, repetition, "lacks it");
        }
    }

    /// <summary>
    /// The value at token <paramref name="next"/>, and everything inside it: nulls, structs, lists, maps and the common leaf
    /// values here, the rest (and every value that does not fit) by <see cref="Add(FieldPlan, ref Utf8JsonReader, int)"/>
    /// on a reader over the value alone, which gives the same entries, or the same error.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void Add(FieldPlan field, ref int next, int repetition)
    {
        var token = _tokens[next];
        var line = _line.Span;
        switch (field.Node)
        {
            case var _ when token.Kind == JsonTokenType.Null:
                next++;
                AddNull(field, repetition, "holds null");
                return;
            case StructLayout when token.Kind == JsonTokenType.StartObject:
                next++;
                if (field.Judged is null) AddFields(field.Children, ref next, repetition);
                else AddJudgedStruct(field, ref next, repetition);
                return;
            case ListLayout list when token.Kind == JsonTokenType.StartArray:
                next++;
                if (field.Children[0].Unobserved && _tokens[next].Kind != JsonTokenType.EndArray)
                {
                    throw Misfit($"list '{field.Node.Path}' has an element, where the sample had only empty lists.");
                }
                var empty = true;
                while (_tokens[next].Kind != JsonTokenType.EndArray)
                {
                    Add(field.Children[0], ref next, empty ? repetition : list.RepeatedLevel);
                    empty = false;
                }
                next++;
                if (empty) AddLevels(field, list.NullLevel + 1, repetition);
                return;
            case MapLayout map when token.Kind == JsonTokenType.StartObject && !field.Children[1].OutsideSample:
                next++;
                AddMap(field, map, ref next, repetition);
                return;
            case LeafLayout when TryAddValue(field, token, line.Slice(token.Start, token.Length), repetition):
                next++;
                return;
        }
        if (_checksSample && !FitsInferredKind(field, token))
        {
            throw Misfit($"field '{PathOf(field)}' is {field.Node.Field.TypeName} in the schema but this line holds {JsonSchemaInference.Describe(JsonSchemaInference.ValueKind(token.Kind))}.");
        }
        var (start, length) = _tokens.ValueRange(next).GetOffsetAndLength(_line.Length);
        var reader = new Utf8JsonReader(_line.Span.Slice(start, length));
        reader.Read();
        _readerStart = start;   // where map keys are found again for messages (a line read in schema order sets its own)
        Add(field, ref reader, repetition);
        next = _tokens.EndOf(next);
    }

    /// <summary>
    /// Whether a leaf value the token path did not convert leaves the inferred kind as it is (the rules of
    /// <see cref="JsonSchemaInference"/>): a string with escapes, any number for a double, an integer within int64. An object
    /// for a map the sample inferred (an object whose keys are data) is read on: any key is an entry, and each value is
    /// checked as it is read (one of a wider kind, a field or list element the sample lacks, does not fit).
    /// </summary>
    private static bool FitsInferredKind(FieldPlan field, in JsonSchemaInference.LineTokens.Token token) =>
        field.Node is MapLayout
            ? token.Kind == JsonTokenType.StartObject && !field.Children[1].OutsideSample
            : field.Node is LeafLayout && (field.Kind, token.Kind) switch
        {
            (FieldKind.String, JsonTokenType.String) => true,
            (FieldKind.Double, JsonTokenType.Number) => true,
            (FieldKind.Int64, JsonTokenType.Number) => token.IsInt64,
            (FieldKind.Boolean, JsonTokenType.True or JsonTokenType.False) => true,
            _ => false,
        };

    private SchemaSampleMisfitException Misfit(string reason) => new(_path, _lineNumber, reason);

    /// <summary>A leaf value of the common kinds converted from its token as <see cref="TryAddValue(FieldPlan, ref Utf8JsonReader, int)"/> does; false for any other.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private bool TryAddValue(FieldPlan leaf, in JsonSchemaInference.LineTokens.Token token, ReadOnlySpan<byte> text, int repetition)
    {
        var column = leaf.Column!;
        switch (leaf.Kind)
        {
            case FieldKind.String when token.Kind == JsonTokenType.String && !token.IsEscaped:
                // Valid UTF-8 (the line reader checks) without escapes: what the reader's CopyString gives.
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(_text.Copy(text), repetition);
                return true;
            case FieldKind.Int64 when token.Kind == JsonTokenType.Number && token.IsInt64 && Utf8Parser.TryParse(text, out long int64, out _):
                ((ColumnBuilder<long>)column).Add(int64, repetition);
                return true;
            case FieldKind.Double when token.Kind == JsonTokenType.Number && TryParseShortDecimal(text, out var shortDecimal):
                ((ColumnBuilder<double>)column).Add(shortDecimal, repetition);
                return true;
            case FieldKind.Boolean when token.Kind is JsonTokenType.True or JsonTokenType.False:
                ((ColumnBuilder<bool>)column).Add(token.Kind == JsonTokenType.True, repetition);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Each field from its last occurrence in the object, or as missing, in schema order. A field's value is read by a
    /// reader of its own from where it starts in the line, which is valid JSON by now.
    /// </summary>
    private void AddFieldsInSchemaOrder(FieldPlan[] fields, ref Utf8JsonReader reader, int repetition)
    {
        var starts = new int[fields.Length];
        Array.Fill(starts, -1);
        var readerStart = _readerStart;
        var next = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = FindField(fields, ref reader, ref next);
            reader.Read();
            if (field is not null) starts[Array.IndexOf(fields, field)] = readerStart + (int)reader.TokenStartIndex;
            reader.Skip();
        }
        for (var i = 0; i < fields.Length; i++)
        {
            if (starts[i] < 0)
            {
                AddNull(fields[i], repetition, "lacks it");
                continue;
            }
            _readerStart = starts[i];
            var value = new Utf8JsonReader(_line.Span[starts[i]..]);
            value.Read();
            Add(fields[i], ref value, repetition);
        }
        _readerStart = readerStart;
    }

    /// <summary>
    /// The field the reader's property name names, compared as UTF-8 without making a string: lines usually repeat the
    /// fields in schema order, so the field after the previous one is tried first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FieldPlan? FindField(FieldPlan[] fields, ReadOnlySpan<byte> name, ref int next)
    {
        if (next < fields.Length && JsonSchemaInference.LineTokens.NameEquals(name, fields[next].Utf8Name)) return fields[next++];
        for (var i = 0; i < fields.Length; i++)
        {
            if (JsonSchemaInference.LineTokens.NameEquals(name, fields[i].Utf8Name))
            {
                next = i + 1;
                return fields[i];
            }
        }
        return null;
    }

    [MethodImpl(CompileOptions.HotPath)]
    private static FieldPlan? FindField(FieldPlan[] fields, ref Utf8JsonReader reader, ref int next)
    {
        if (next < fields.Length && reader.ValueTextEquals(fields[next].Utf8Name)) return fields[next++];
        for (var i = 0; i < fields.Length; i++)
        {
            if (reader.ValueTextEquals(fields[i].Utf8Name))
            {
                next = i + 1;
                return fields[i];
            }
        }
        return null;
    }

    /// <summary>The value the reader is on, and everything inside it.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void Add(FieldPlan field, ref Utf8JsonReader reader, int repetition)
    {
        var token = reader.TokenType;
        if (token == JsonTokenType.Null)
        {
            AddNull(field, repetition, "holds null");
            return;
        }
        var added = field.Node switch
        {
            LeafLayout => TryAddValue(field, ref reader, repetition),
            StructLayout when token == JsonTokenType.StartObject => AddStruct(field, ref reader, repetition),
            ListLayout list when token == JsonTokenType.StartArray => AddList(field, list, ref reader, repetition),
            MapLayout map when token == JsonTokenType.StartObject => AddMap(field, map, ref reader, repetition),
            _ => false,
        };
        if (!added)
        {
            throw new BatchReadException(_path, $"line {_lineNumber}",
                $"field '{PathOf(field)}' is {field.Node.Field.TypeName} in the dataset schema but this line holds {Describe(ref reader)}{WhyNot(field, ref reader)}.");
        }
    }

    /// <summary>For a JSON string or number of the kind a field's text is read from, what it is not (empty otherwise).</summary>
    private static string WhyNot(FieldPlan field, ref Utf8JsonReader reader) => (field.Node, field.Kind, reader.TokenType) switch
    {
        (LeafLayout, FieldKind.Timestamp, JsonTokenType.String)
            when JsonScalarText.ParseTimestamp(reader.GetString(), out _) == JsonScalarText.TimestampText.OutsideRange
            => ", " + JsonScalarText.TimestampOutsideRange,
        (LeafLayout, FieldKind.Timestamp, JsonTokenType.String) => ", not " + JsonScalarText.TimestampForms,
        (LeafLayout, FieldKind.Date, JsonTokenType.String) => ", not " + JsonScalarText.DateForms,
        (LeafLayout, FieldKind.Time, JsonTokenType.String) => ", not " + JsonScalarText.TimeForms,
        (LeafLayout, FieldKind.Binary, JsonTokenType.String) => ", not " + JsonScalarText.Base64Forms,
        (LeafLayout, FieldKind.Decimal, JsonTokenType.Number)
            when JsonScalarText.ParseDecimal(reader.ValueSpan, field.Node.Field.Precision, field.Node.Field.Scale, out _) == JsonScalarText.DecimalText.BeyondDotNetDecimal
            => ", which this tool cannot hold exactly (.NET decimal holds 28 to 29 significant digits, at most 28 of them after the point)",
        (LeafLayout, FieldKind.Decimal, JsonTokenType.Number) => ", which it does not hold exactly (too many digits after the point or before it)",
        _ => "",
    };

    [MethodImpl(CompileOptions.HotPath)]
    private bool AddStruct(FieldPlan field, ref Utf8JsonReader reader, int repetition)
    {
        var visit = _objectCount + 1;   // the number AddFieldsAsTheyCome gives the object
        AddFields(field.Children, ref reader, repetition);
        if (field.Judged is { } judged) judged.Count(field.Children, visit);
        return true;
    }

    /// <summary>A struct the sample judged (<see cref="JsonSchemaSample.DenseObjects"/>) at token <paramref name="next"/>: its keys counted.</summary>
    private void AddJudgedStruct(FieldPlan field, ref int next, int repetition)
    {
        var visit = _objectCount + 1;   // the number AddFields gives the object
        AddFields(field.Children, ref next, repetition);
        field.Judged!.Count(field.Children, visit);
    }

    /// <summary>
    /// At the end of a batch read against its sample: an object the sample judged a map whose keys are not sparse over the
    /// whole batch, or one it left a struct of many dense keys whose keys are sparse over it, does not fit
    /// (<see cref="JsonSchemaSample.Maps"/>): the full inference would judge it the other way.
    /// </summary>
    public void CheckSampleJudgements()
    {
        if (!_checksSample) return;
        foreach (var field in _fields) CheckJudgements(field);
    }

    private void CheckJudgements(FieldPlan field)
    {
        if (field.Judged is { } judged)
        {
            var sparse = JsonSchemaInference.Sparse(judged.DistinctKeys, judged.KeyOccurrences, judged.Objects);
            if (judged.IsMap && !sparse && !judged.PastFieldLimit)
            {
                throw Misfit($"the object '{field.Node.Path}', which the sample judged a map, has keys that are not sparse over the batch "
                    + $"({judged.DistinctKeys} distinct, {judged.KeyOccurrences} in {judged.Objects} objects): every line judges it a struct.");
            }
            if (!judged.IsMap && sparse)
            {
                throw Misfit($"the object '{field.Node.Path}', which the sample judged a struct (its keys dense), has keys that are sparse over the batch "
                    + $"({judged.DistinctKeys} distinct, {judged.KeyOccurrences} in {judged.Objects} objects): every line judges it a map.");
            }
        }
        foreach (var child in field.Children) CheckJudgements(child);
    }

    [MethodImpl(CompileOptions.HotPath)]
    private bool AddList(FieldPlan field, ListLayout list, ref Utf8JsonReader reader, int repetition)
    {
        var empty = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (empty && _checksSample && field.Children[0].Unobserved)
            {
                throw Misfit($"list '{field.Node.Path}' has an element, where the sample had only empty lists.");
            }
            Add(field.Children[0], ref reader, empty ? repetition : list.RepeatedLevel);
            empty = false;
        }
        if (empty) AddLevels(field, list.NullLevel + 1, repetition);
        return true;
    }

    [MethodImpl(CompileOptions.HotPath)]
    private bool AddMap(FieldPlan field, MapLayout map, ref Utf8JsonReader reader, int repetition)
    {
        var empty = true;
        var keyColumn = field.Children[0].Column!;
        var keysStart = keyColumn.ValueCount;
        field.Judged?.CountObject();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            field.Judged?.CountKey(UnescapedUtf8(ref reader));
            var entryRepetition = empty ? repetition : map.RepeatedLevel;
            field.KeyStart = _readerStart + (int)reader.TokenStartIndex;
            AddMapKey(field, map, keyColumn, ref reader, entryRepetition);
            if (keyColumn.LastValueRepeats(keysStart)) throw RepeatedKey(field, map);
            reader.Read();
            Add(field.Children[1], ref reader, entryRepetition);
            empty = false;
        }
        if (empty) AddLevels(field, map.NullLevel + 1, repetition);
        return true;
    }

    /// <summary>
    /// The map whose entries start at token <paramref name="next"/>, up to its EndObject; as
    /// <see cref="AddMap(FieldPlan, MapLayout, ref Utf8JsonReader, int)"/>, string keys straight from the line (the scanner
    /// takes no name with escapes), keys of other kinds from a reader over the key alone.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void AddMap(FieldPlan field, MapLayout map, ref int next, int repetition)
    {
        var empty = true;
        var keyColumn = field.Children[0].Column!;
        var keysStart = keyColumn.ValueCount;
        var stringKeys = map.Key.Field.Kind == FieldKind.String;
        var line = _line.Span;
        field.Judged?.CountObject();
        while (_tokens[next].Kind == JsonTokenType.PropertyName)
        {
            var name = _tokens[next++];
            var entryRepetition = empty ? repetition : map.RepeatedLevel;
            field.KeyStart = name.Start - 1;   // the name's opening quote
            field.Judged?.CountKey(_line.Slice(name.Start, name.Length));
            if (stringKeys)
            {
                ((ColumnBuilder<ReadOnlyMemory<byte>>)keyColumn).Add(_text.Copy(line.Slice(name.Start, name.Length)), entryRepetition);
            }
            else
            {
                var reader = new Utf8JsonReader(line[field.KeyStart..]);
                reader.Read();
                AddMapKey(field, map, keyColumn, ref reader, entryRepetition);
            }
            if (keyColumn.LastValueRepeats(keysStart)) throw RepeatedKey(field, map);
            Add(field.Children[1], ref next, entryRepetition);
            empty = false;
        }
        next++;   // the EndObject
        if (empty) AddLevels(field, map.NullLevel + 1, repetition);
    }

    /// <summary>
    /// Map keys are JSON property names, read back as the map's key kind from the text <see cref="JsonRowWriter"/> writes
    /// them in (<see cref="JsonScalarText.KeyForms"/>): string keys stay, others are parsed as that kind's JSON value is.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void AddMapKey(FieldPlan field, MapLayout map, ColumnBuilder column, ref Utf8JsonReader reader, int repetition)
    {
        var key = map.Key.Field;
        switch (key.Kind)
        {
            case FieldKind.String:
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(ReadString(ref reader), repetition);
                return;
            case FieldKind.Int32 when JsonScalarText.TryParseInt32Key(ReadShortText(ref reader), out var int32):
                ((ColumnBuilder<int>)column).Add(int32, repetition);
                return;
            case FieldKind.Int64 when JsonScalarText.TryParseInt64Key(ReadShortText(ref reader), out var int64):
                ((ColumnBuilder<long>)column).Add(int64, repetition);
                return;
            case FieldKind.Boolean when reader.ValueTextEquals("true"u8) || reader.ValueTextEquals("false"u8):
                ((ColumnBuilder<bool>)column).Add(reader.ValueTextEquals("true"u8), repetition);
                return;
            case FieldKind.Float when JsonScalarText.TryParseFloatingPointKey<float>(ReadShortText(ref reader), out var single):
                ((ColumnBuilder<float>)column).Add(single, repetition);
                return;
            case FieldKind.Double when JsonScalarText.TryParseFloatingPointKey<double>(ReadShortText(ref reader), out var number):
                ((ColumnBuilder<double>)column).Add(number, repetition);
                return;
            case FieldKind.Decimal when JsonScalarText.TryParseDecimal(UnescapedUtf8(ref reader), key.Precision, key.Scale, out var exact):
                ((ColumnBuilder<decimal>)column).Add(exact, repetition);
                return;
            case FieldKind.Binary when TryReadBase64(ref reader, out var bytes):
                _binaryBytes += bytes.Length;
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(bytes, repetition);
                return;
            case FieldKind.Date when JsonScalarText.TryParseDate(ReadShortText(ref reader), out var date):
                ((ColumnBuilder<DateOnly>)column).Add(date, repetition);
                return;
            case FieldKind.Timestamp when JsonScalarText.TryParseTimestamp(ReadShortText(ref reader), out var timestamp):
                ((ColumnBuilder<DateTime>)column).Add(timestamp, repetition);
                return;
            case FieldKind.Time when JsonScalarText.TryParseTime(ReadShortText(ref reader), out var time):
                ((ColumnBuilder<TimeSpan>)column).Add(time, repetition);
                return;
            default:
                throw new BatchReadException(_path, $"line {_lineNumber}",
                    $"map field '{PathOf(field)}' has {key.TypeName} keys in the dataset schema but this line has key {JsonScalarText.QuoteKey(reader.GetString()!)}, " +
                    $"not {JsonScalarText.KeyForms(key)}.");
        }
    }

    /// <summary>A map holds each key once: a JSON name repeated in its object, or two names that read as one key.</summary>
    private BatchReadException RepeatedKey(FieldPlan field, MapLayout map)
    {
        var key = map.Key.Field;
        var sameKey = key.Kind == FieldKind.String ? "repeats an earlier key of this object" : $"is the same {key.TypeName} key as an earlier key of this object";
        return new BatchReadException(_path, $"line {_lineNumber}", $"map field '{PathOf(field)}' has key {MapKeyAt(field.KeyStart)}, which {sameKey}: a map holds each key once.");
    }

    /// <summary>
    /// The field's path in the line, for messages: its layout path (<c>geo.city</c>, <c>items[].k</c>), but a map's value
    /// named by the key of the entry it is in, quoted as a JSON string (<c>mp["k"]</c>, <c>mp["k"].when</c>), where the
    /// layout path says only <c>mp.value</c>.
    /// </summary>
    private string PathOf(FieldPlan field) => field.Parent switch
    {
        null => field.Node.Field.Name,
        { Node: ListLayout } list => PathOf(list) + "[]",
        { Node: MapLayout } map when field == map.Children[1] => $"{PathOf(map)}[{MapKeyAt(map.KeyStart)}]",
        { Node: MapLayout } map => PathOf(map) + ".key",
        var parent => PathOf(parent) + "." + field.Node.Field.Name,
    };

    /// <summary>The map key (a property name) at <paramref name="start"/> in the line, quoted as a JSON string.</summary>
    private string MapKeyAt(int start)
    {
        var reader = new Utf8JsonReader(_line.Span[start..]);
        reader.Read();
        return JsonScalarText.QuoteKey(reader.GetString()!);
    }

    /// <summary>A null or missing field: an entry at its null level in each of its leaves, unless a leaf cannot be null.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private void AddNull(FieldPlan field, int repetition, string what)
    {
        var node = field.Node;
        if (_checksSample && !node.Field.Nullable) throw Misfit($"field '{node.Path}' is not nullable in the schema but this line {what}.");
        if (node is LeafLayout leaf && leaf.NullLevel == leaf.MaxDefinition)
        {
            throw new BatchReadException(_path, $"line {_lineNumber}",
                $"field '{PathOf(field)}' is {node.Field.TypeName} and not nullable in the dataset schema but this line {what}.");
        }
        AddLevels(field, node.NullLevel, repetition);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLevels(FieldPlan field, int definition, int repetition)
    {
        foreach (var column in field.LeafColumns) column.AddNull(definition, repetition);
    }

    [MethodImpl(CompileOptions.HotPath)]
    private bool TryAddValue(FieldPlan leaf, ref Utf8JsonReader reader, int repetition)
    {
        var token = reader.TokenType;
        var column = leaf.Column!;
        switch (leaf.Kind)
        {
            case FieldKind.Boolean when token is JsonTokenType.True or JsonTokenType.False:
                ((ColumnBuilder<bool>)column).Add(token == JsonTokenType.True, repetition);
                return true;
            case FieldKind.Int32 when token == JsonTokenType.Number && reader.TryGetInt32(out var int32):
                ((ColumnBuilder<int>)column).Add(int32, repetition);
                return true;
            case FieldKind.Int64 when token == JsonTokenType.Number && reader.TryGetInt64(out var int64):
                ((ColumnBuilder<long>)column).Add(int64, repetition);
                return true;
            case FieldKind.Float when token == JsonTokenType.Number:
                ((ColumnBuilder<float>)column).Add(reader.GetSingle(), repetition);
                return true;
            case FieldKind.Double when token == JsonTokenType.Number:
                ((ColumnBuilder<double>)column).Add(TryParseShortDecimal(reader.ValueSpan, out var shortDecimal) ? shortDecimal : reader.GetDouble(), repetition);
                return true;
            case FieldKind.Decimal when token == JsonTokenType.Number
                && JsonScalarText.TryParseDecimal(reader.ValueSpan, leaf.Node.Field.Precision, leaf.Node.Field.Scale, out var number):
                ((ColumnBuilder<decimal>)column).Add(number, repetition);
                return true;
            case FieldKind.String when token == JsonTokenType.String:
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(ReadString(ref reader), repetition);
                return true;
            case FieldKind.Binary when token == JsonTokenType.String && TryReadBase64(ref reader, out var bytes):
                _binaryBytes += bytes.Length;
                ((ColumnBuilder<ReadOnlyMemory<byte>>)column).Add(bytes, repetition);
                return true;
            case FieldKind.Date when token == JsonTokenType.String && JsonScalarText.TryParseDate(ReadShortText(ref reader), out var date):
                ((ColumnBuilder<DateOnly>)column).Add(date, repetition);
                return true;
            case FieldKind.Timestamp when token == JsonTokenType.String && JsonScalarText.TryParseTimestamp(ReadShortText(ref reader), out var timestamp):
                ((ColumnBuilder<DateTime>)column).Add(timestamp, repetition);
                return true;
            case FieldKind.Time when token == JsonTokenType.String && JsonScalarText.TryParseTime(ReadShortText(ref reader), out var time):
                ((ColumnBuilder<TimeSpan>)column).Add(time, repetition);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The string the reader is on as base64 (<see cref="JsonScalarText.TryDecodeBase64"/>).</summary>
    private static bool TryReadBase64(ref Utf8JsonReader reader, out byte[] bytes) =>
        JsonScalarText.TryDecodeBase64(UnescapedUtf8(ref reader), out bytes);

    /// <summary>The UTF-8 of the string or property name the reader is on, unescaped (copied only when it has escapes).</summary>
    private static ReadOnlySpan<byte> UnescapedUtf8(ref Utf8JsonReader reader) =>
        reader.ValueIsEscaped ? Encoding.UTF8.GetBytes(reader.GetString()!) : reader.ValueSpan;

    private static readonly double[] PowersOfTen = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

    /// <summary>
    /// A JSON number of at most 15 digits and no exponent (<c>-12.34</c>), which most are, as the double nearest to it:
    /// its digits and the power of ten dividing them are both exact doubles, so one division rounds as a full parse
    /// does (Clinger's fast path) at a fraction of its cost. False for any other number, to be parsed in full.
    /// </summary>
    [MethodImpl(CompileOptions.HotPath)]
    internal static bool TryParseShortDecimal(ReadOnlySpan<byte> number, out double value)
    {
        value = 0;
        var negative = number[0] == (byte)'-';
        long digits = 0;
        int digitCount = 0, fractionDigits = 0;
        var inFraction = false;
        for (var i = negative ? 1 : 0; i < number.Length; i++)
        {
            var digit = (uint)(number[i] - '0');
            if (digit <= 9)
            {
                if (++digitCount > 15) return false;
                digits = digits * 10 + digit;
                if (inFraction) fractionDigits++;
            }
            else if (number[i] == (byte)'.')
            {
                inFraction = true;
            }
            else
            {
                return false;   // an exponent
            }
        }
        value = digits / PowersOfTen[fractionDigits];
        if (negative) value = -value;
        return true;
    }

    /// <summary>The string or property name the reader is on, unescaped as UTF-8 into the arena.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlyMemory<byte> ReadString(ref Utf8JsonReader reader)
    {
        // Unescaping never lengthens a string: each escape's UTF-8 is shorter than the escape.
        var length = reader.CopyString(_text.Reserve(reader.ValueSpan.Length));
        return _text.Commit(length);
    }

    /// <summary>The string or property name the reader is on, for parsing: in a reused buffer when it fits, else as a string.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    private ReadOnlySpan<char> ReadShortText(ref Utf8JsonReader reader) =>
        reader.ValueSpan.Length <= _shortText.Length ? _shortText.AsSpan(0, reader.CopyString(_shortText)) : reader.GetString();

    /// <summary>A layout node with what matching it against JSON needs: its UTF-8 name and its children's plans.</summary>
    private sealed class FieldPlan
    {
        public FieldPlan(LayoutNode node, ColumnBuilder[] columns, JsonSchemaSample? sample, FieldPlan? parent)
        {
            Node = node;
            Parent = parent;
            Unobserved = sample?.UnobservedElements.Contains(node.Path) == true;
            OutsideSample = sample?.FieldPaths.Contains(node.Path) == false;
            if (node is MapLayout && sample?.Maps?.Contains(node.Path) == true) Judged = new JudgedObject(isMap: true, distinctKeys: 0);
            else if (node is StructLayout && sample?.DenseObjects?.TryGetValue(node.Path, out var keys) == true) Judged = new JudgedObject(isMap: false, keys);
            Kind = node.Field.Kind;
            Column = node is LeafLayout leaf ? columns[leaf.Index] : null;
            LeafColumns = node.Leaves.Select(leaf => columns[leaf.Index]).ToArray();
            Utf8Name = Encoding.UTF8.GetBytes(node.Field.Name);
            Children = node switch
            {
                StructLayout structNode => structNode.Children.Select(child => new FieldPlan(child, columns, sample, this)).ToArray(),
                ListLayout list => [new FieldPlan(list.Element, columns, sample, this)],
                MapLayout map => [new FieldPlan(map.Key, columns, sample, this), new FieldPlan(map.Value, columns, sample, this)],
                _ => [],
            };
        }

        public LayoutNode Node { get; }
        /// <summary>The struct, list or map this field is in; null for a top-level field.</summary>
        public FieldPlan? Parent { get; }
        public FieldKind Kind { get; }
        /// <summary>The leaf's column builder; null for a struct, list or map.</summary>
        public ColumnBuilder? Column { get; }
        /// <summary>The column builders of every leaf under the node, which a null or empty value adds an entry to.</summary>
        public ColumnBuilder[] LeafColumns { get; }
        public byte[] Utf8Name { get; }
        public FieldPlan[] Children { get; }
        /// <summary>A list element the schema sample saw none of: any element is beyond the sample.</summary>
        public bool Unobserved { get; }
        /// <summary>A field of the dataset schema the batch's sample lacks (another batch has it): any value is beyond the sample.</summary>
        public bool OutsideSample { get; }

        /// <summary>An object the sample judged a map, or a struct of many dense keys: what the batch's lines show of its keys.</summary>
        public JudgedObject? Judged { get; }

        /// <summary>The number of the last streamed object this field was met in.</summary>
        public long SeenInObject { get; set; }

        /// <summary>For a map: where in the line the key of the entry being read starts, to name it in messages.</summary>
        public int KeyStart { get; set; }
    }

    /// <summary>The objects at a path the sample judged, and their keys, over the batch's lines (<see cref="CheckSampleJudgements"/>).</summary>
    private sealed class JudgedObject(bool isMap, int distinctKeys)
    {
        private readonly HashSet<ReadOnlyMemory<byte>>? _keys = isMap ? new(KeyEquality<ReadOnlyMemory<byte>>.Comparer) : null;

        public bool IsMap { get; } = isMap;
        public long Objects { get; private set; }
        public long KeyOccurrences { get; private set; }
        /// <summary>A map's distinct keys so far; a struct's fields in the sample (a key beyond them does not fit anyway).</summary>
        public int DistinctKeys => _keys?.Count ?? distinctKeys;

        public void CountObject() => Objects++;

        private byte[] _name = new byte[64];

        /// <summary>
        /// More distinct keys than <see cref="JsonSchemaInference.MaxFields"/>: the inference keeps such a map one however
        /// dense (as it keeps no more of its keys), so there is nothing to check, and no more keys are kept here either.
        /// </summary>
        public bool PastFieldLimit { get; private set; }

        /// <summary>A key the line holds unescaped: looked up where it is, copied only when it is new.</summary>
        public void CountKey(ReadOnlyMemory<byte> name)
        {
            KeyOccurrences++;
            if (PastFieldLimit || _keys!.Contains(name)) return;
            if (_keys.Count < JsonSchemaInference.MaxFields) _keys.Add(name.ToArray());
            else PastFieldLimit = true;
        }

        /// <summary>A key unescaped out of the line: looked up in a reused buffer.</summary>
        public void CountKey(ReadOnlySpan<byte> name)
        {
            if (_name.Length < name.Length) _name = new byte[Math.Max(name.Length, _name.Length * 2)];
            name.CopyTo(_name);
            CountKey(_name.AsMemory(0, name.Length));
        }

        /// <summary>A struct's object: its fields met in it (stamped with <paramref name="visit"/>; a read against a sample never reads in schema order).</summary>
        public void Count(FieldPlan[] fields, long visit)
        {
            Objects++;
            foreach (var field in fields)
            {
                if (field.SeenInObject == visit) KeyOccurrences++;
            }
        }
    }

    /// <summary>Stops the streaming read of a line whose object names a field twice: the careful read takes the last value.</summary>
    private sealed class FieldNamedTwiceException : Exception;
}
