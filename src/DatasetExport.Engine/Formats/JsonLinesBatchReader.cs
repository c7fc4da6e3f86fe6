using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Reads JSON Lines batches (<c>.json</c>, <c>.jsonl</c>, <c>.ndjson</c>, optionally gzipped): one JSON object per line,
/// empty lines skipped. The schema is inferred from every line (rules in docs/formats.md and <see cref="JsonSchemaInference"/>);
/// records stream in chunks of <see cref="ChunkSize"/> lines. Strict by default: an invalid line fails the read. With an
/// invalid-record handler, a line that is not JSON, not a JSON object, or does not fit the schema is passed to the handler
/// and left out instead; a file that cannot be decoded (corrupt gzip, invalid UTF-8) or whose lines conflict in type
/// still fails as a whole.
/// </summary>
public sealed class JsonLinesBatchReader : IBatchReader
{
    public const int DefaultChunkSize = 10_000;

    private readonly Action<BatchReadException>? _onInvalidRecord;

    public JsonLinesBatchReader(int chunkSize = DefaultChunkSize, Action<BatchReadException>? onInvalidRecord = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ChunkSize = chunkSize;
        _onInvalidRecord = onInvalidRecord;
    }

    public int ChunkSize { get; }

    public BatchFormat Format => BatchFormat.JsonLines;

    public async Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        var inference = new JsonSchemaInference(path);
        await foreach (var (lineNumber, document) in ReadLinesAsync(path, gzipped, cancellationToken).ConfigureAwait(false))
        {
            using (document)
            {
                // Checked before Observe, which must not see (and half-record) a line that is then left out.
                if (_onInvalidRecord is not null && document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    _onInvalidRecord(NotAnObject(document.RootElement, path, lineNumber));
                    continue;
                }
                inference.Observe(document.RootElement, lineNumber);
            }
        }
        return inference.ToSchema();
    }

    public Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken) => Task.FromResult<long?>(null);

    public async IAsyncEnumerable<RecordChunk> ReadAsync(
        string path, bool gzipped, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var records = new List<Record>(ChunkSize);
        await foreach (var (lineNumber, document) in ReadLinesAsync(path, gzipped, cancellationToken).ConfigureAwait(false))
        {
            using (document)
            {
                try
                {
                    records.Add(ToRecord(document.RootElement, schema, path, lineNumber));
                }
                catch (BatchReadException invalid) when (_onInvalidRecord is not null)
                {
                    _onInvalidRecord(invalid);
                }
            }
            if (records.Count == ChunkSize)
            {
                yield return new RecordChunk(schema, records);
                records = new List<Record>(ChunkSize);
            }
        }
        if (records.Count > 0) yield return new RecordChunk(schema, records);
    }

    /// <summary>Every non-empty line parsed, with its 1-based line number.</summary>
    private async IAsyncEnumerable<(long LineNumber, JsonDocument Document)> ReadLinesAsync(
        string path, bool gzipped, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BatchReadException(path, "", "the batch file does not exist.", error);
        }
        await using var fileScope = file.ConfigureAwait(false);
        Stream input = gzipped ? new CheckedGzipStream(file) : file;
        using var reader = new StreamReader(input, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true, 1 << 16);
        long lineNumber = 0;
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (error is InvalidDataException or DecoderFallbackException)
            {
                throw new BatchReadException(path, $"line {lineNumber + 1}", $"the file cannot be decoded: {error.Message}", error);
            }
            if (line is null) yield break;
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException error)
            {
                var invalid = new BatchReadException(path, $"line {lineNumber}", $"invalid JSON: {error.Message}", error);
                if (_onInvalidRecord is null) throw invalid;
                _onInvalidRecord(invalid);
                continue;
            }
            yield return (lineNumber, document);
        }
    }

    private static Record ToRecord(JsonElement line, DatasetSchema schema, string path, long lineNumber)
    {
        if (line.ValueKind != JsonValueKind.Object) throw NotAnObject(line, path, lineNumber);
        var record = new Record(schema.Fields.Count);
        foreach (var field in schema.Fields)
        {
            record[field.Name] = line.TryGetProperty(field.Name, out var value) ? ToValue(value, field, field.Name, path, lineNumber) : null;
        }
        return record;
    }

    private static BatchReadException NotAnObject(JsonElement line, string path, long lineNumber) =>
        new(path, $"line {lineNumber}", $"expected a JSON object but found {JsonSchemaInference.Describe(line.ValueKind)}.");

    private static object? ToValue(JsonElement element, SchemaField field, string fieldPath, string path, long lineNumber)
    {
        if (element.ValueKind == JsonValueKind.Null) return null;
        object? value = field.Kind switch
        {
            FieldKind.Boolean when element.ValueKind is JsonValueKind.True or JsonValueKind.False => element.GetBoolean(),
            FieldKind.Int32 when element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var int32) => int32,
            FieldKind.Int64 when element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var int64) => int64,
            FieldKind.Float when element.ValueKind == JsonValueKind.Number => element.GetSingle(),
            FieldKind.Double when element.ValueKind == JsonValueKind.Number => element.GetDouble(),
            FieldKind.Decimal when element.ValueKind == JsonValueKind.Number && element.TryGetDecimal(out var number) => number,
            FieldKind.String when element.ValueKind == JsonValueKind.String => element.GetString(),
            FieldKind.Binary when element.ValueKind == JsonValueKind.String && element.TryGetBytesFromBase64(out var bytes) => bytes,
            FieldKind.Date when element.ValueKind == JsonValueKind.String
                && DateOnly.TryParseExact(element.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date) => date,
            FieldKind.Timestamp when element.ValueKind == JsonValueKind.String
                && DateTime.TryParse(element.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var timestamp) => timestamp,
            FieldKind.Time when element.ValueKind == JsonValueKind.String
                && TimeOnly.TryParse(element.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var time) => time.ToTimeSpan(),
            FieldKind.Struct when element.ValueKind == JsonValueKind.Object => ToStruct(element, field, fieldPath, path, lineNumber),
            FieldKind.List when element.ValueKind == JsonValueKind.Array => ToList(element, field.ChildFields[0], fieldPath, path, lineNumber),
            FieldKind.Map when element.ValueKind == JsonValueKind.Object => ToMap(element, field, fieldPath, path, lineNumber),
            _ => null,
        };
        return value ?? throw new BatchReadException(path, $"line {lineNumber}",
            $"field '{fieldPath}' is {field.TypeName} in the dataset schema but this line holds {JsonSchemaInference.Describe(element)}.");
    }

    private static Dictionary<string, object?> ToStruct(JsonElement element, SchemaField field, string fieldPath, string path, long lineNumber)
    {
        var value = new Dictionary<string, object?>(field.ChildFields.Count, StringComparer.Ordinal);
        foreach (var child in field.ChildFields)
        {
            value[child.Name] = element.TryGetProperty(child.Name, out var childElement)
                ? ToValue(childElement, child, fieldPath + "." + child.Name, path, lineNumber)
                : null;
        }
        return value;
    }

    private static List<object?> ToList(JsonElement element, SchemaField elementField, string fieldPath, string path, long lineNumber)
    {
        var items = new List<object?>(element.GetArrayLength());
        foreach (var item in element.EnumerateArray()) items.Add(ToValue(item, elementField, fieldPath + "[]", path, lineNumber));
        return items;
    }

    private static List<KeyValuePair<object, object?>> ToMap(JsonElement element, SchemaField field, string fieldPath, string path, long lineNumber)
    {
        var keyField = field.ChildFields[0];
        var entries = new List<KeyValuePair<object, object?>>();
        foreach (var property in element.EnumerateObject())
        {
            var key = ToMapKey(property.Name, keyField, fieldPath, path, lineNumber);
            entries.Add(new KeyValuePair<object, object?>(key, ToValue(property.Value, field.ChildFields[1], fieldPath + ".value", path, lineNumber)));
        }
        return entries;
    }

    /// <summary>Map keys are JSON property names: string keys stay, integer keys are parsed back.</summary>
    private static object ToMapKey(string name, SchemaField keyField, string fieldPath, string path, long lineNumber) => keyField.Kind switch
    {
        FieldKind.String => name,
        FieldKind.Int32 when int.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var int32) => int32,
        FieldKind.Int64 when long.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var int64) => int64,
        _ => throw new BatchReadException(path, $"line {lineNumber}",
            $"map field '{fieldPath}' has key \"{name}\", which is not a {keyField.TypeName}; JSON map keys can be read as string, int32 or int64."),
    };
}
