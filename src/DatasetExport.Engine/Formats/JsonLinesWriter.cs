using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes records as JSON Lines: UTF-8 without BOM, one object per line ending in '\n', optionally gzipped.
/// Values map as in docs/formats.md: timestamps ISO-8601 UTC with 'Z', dates yyyy-MM-dd, times HH:mm:ss[.fffffff],
/// decimals as exact JSON numbers, binary as base64, NaN and infinities as null, maps as objects with string keys.
/// </summary>
public sealed class JsonLinesWriter : IFormatWriter
{
    /// <summary>Buffered JSON is handed to the output once it reaches this size.</summary>
    private const int FlushThresholdBytes = 1 << 20;

    private readonly DatasetSchema _schema;
    private readonly CountingStream _counter;
    private readonly GZipStream? _gzip;
    private readonly Stream _target;
    private readonly ArrayBufferWriter<byte> _buffer = new(FlushThresholdBytes + (1 << 16));
    private readonly Utf8JsonWriter _json;
    private bool _completed;

    public JsonLinesWriter(Stream output, DatasetSchema schema, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(schema);
        _schema = schema;
        _counter = new CountingStream(output);
        _gzip = gzip ? new GZipStream(_counter, CompressionLevel.Optimal, leaveOpen: true) : null;
        _target = (Stream?)_gzip ?? _counter;
        // Relaxed escaping keeps non-ASCII text as UTF-8 instead of \u escapes; quotes and control characters are still escaped.
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public long BytesWritten => _counter.BytesWritten;
    public long RecordsWritten { get; private set; }

    public async Task WriteAsync(RecordChunk chunk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ObjectDisposedException.ThrowIf(_completed, this);
        foreach (var record in chunk.Records)
        {
            _json.WriteStartObject();
            foreach (var field in _schema.Fields)
            {
                _json.WritePropertyName(field.Name);
                WriteValue(field, record.GetValueOrDefault(field.Name));
            }
            _json.WriteEndObject();
            _json.Flush();
            _json.Reset();
            _buffer.Write("\n"u8);
            RecordsWritten++;
            if (_buffer.WrittenCount >= FlushThresholdBytes) await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
        }
        await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed) return;
        await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
        if (_gzip is not null) await _gzip.DisposeAsync().ConfigureAwait(false);
        await _counter.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    /// <summary>Releases the encoder; without <see cref="CompleteAsync"/> nothing more reaches the output (no gzip trailer).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_completed) _counter.Abandon();
        await _json.DisposeAsync().ConfigureAwait(false);
        if (_gzip is not null) await _gzip.DisposeAsync().ConfigureAwait(false);
        _completed = true;
    }

    private async Task FlushBufferAsync(CancellationToken cancellationToken)
    {
        if (_buffer.WrittenCount == 0) return;
        await _target.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        _buffer.ResetWrittenCount();
    }

    private void WriteValue(SchemaField field, object? value)
    {
        switch (value)
        {
            case null:
                _json.WriteNullValue();
                break;
            case bool boolean:
                _json.WriteBooleanValue(boolean);
                break;
            case int int32:
                _json.WriteNumberValue(int32);
                break;
            case long int64:
                _json.WriteNumberValue(int64);
                break;
            case float single when float.IsFinite(single):
                _json.WriteNumberValue(single);
                break;
            case double number when double.IsFinite(number):
                _json.WriteNumberValue(number);
                break;
            case float or double:
                // JSON has no NaN or infinity; null keeps the column numeric for every JSON reader.
                _json.WriteNullValue();
                break;
            case decimal exact:
                _json.WriteNumberValue(exact);
                break;
            case string text:
                _json.WriteStringValue(text);
                break;
            case byte[] bytes:
                _json.WriteBase64StringValue(bytes);
                break;
            case IReadOnlyDictionary<string, object?> structValue:
                WriteStruct(field, structValue);
                break;
            case IReadOnlyList<KeyValuePair<object, object?>> entries:
                WriteMap(field, entries);
                break;
            case IReadOnlyList<object?> items:
                _json.WriteStartArray();
                var element = field.ChildFields.Count > 0 ? field.ChildFields[0] : field;
                foreach (var item in items) WriteValue(element, item);
                _json.WriteEndArray();
                break;
            default:
                _json.WriteStringValue(FormatScalar(value));
                break;
        }
    }

    private void WriteStruct(SchemaField field, IReadOnlyDictionary<string, object?> value)
    {
        _json.WriteStartObject();
        if (field.Kind == FieldKind.Struct)
        {
            foreach (var child in field.ChildFields)
            {
                _json.WritePropertyName(child.Name);
                WriteValue(child, value.GetValueOrDefault(child.Name));
            }
        }
        else
        {
            foreach (var (name, child) in value)
            {
                _json.WritePropertyName(name);
                WriteValue(field, child);
            }
        }
        _json.WriteEndObject();
    }

    private void WriteMap(SchemaField field, IReadOnlyList<KeyValuePair<object, object?>> entries)
    {
        var valueField = field.ChildFields.Count > 1 ? field.ChildFields[1] : field;
        _json.WriteStartObject();
        foreach (var (key, value) in entries)
        {
            _json.WritePropertyName(FormatScalar(key));
            WriteValue(valueField, value);
        }
        _json.WriteEndObject();
    }

    /// <summary>The text of a scalar as it appears in JSON strings and map keys.</summary>
    internal static string FormatScalar(object value) => value switch
    {
        string text => text,
        bool boolean => boolean ? "true" : "false",
        DateTime timestamp => FormatTimestamp(timestamp),
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeSpan time => TimeOnly.FromTimeSpan(time).ToString("HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToBase64String(bytes),
        double number => number.ToString("R", CultureInfo.InvariantCulture),
        float number => number.ToString("R", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>ISO-8601 in UTC with 'Z' and only the sub-second digits needed (none for whole seconds).</summary>
    private static string FormatTimestamp(DateTime timestamp)
    {
        var utc = timestamp.Kind == DateTimeKind.Local ? timestamp.ToUniversalTime() : timestamp;
        return utc.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
    }
}
