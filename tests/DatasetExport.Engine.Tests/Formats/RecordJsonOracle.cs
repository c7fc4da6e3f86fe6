using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The JSON Lines writer's former algorithm, kept as the oracle for the columnar one: it writes assembled
/// <see cref="Record"/>s value by value, dispatching on each boxed value's type, and formats scalars with their .NET
/// format strings. The writer must produce exactly these bytes.
/// </summary>
internal static class RecordJsonOracle
{
    public static byte[] Write(DatasetSchema schema, IEnumerable<IReadOnlyDictionary<string, object?>> records)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        foreach (var record in records)
        {
            json.WriteStartObject();
            foreach (var field in schema.Fields)
            {
                json.WritePropertyName(field.Name);
                WriteValue(json, field, record.GetValueOrDefault(field.Name));
            }
            json.WriteEndObject();
            json.Flush();
            json.Reset();
            buffer.Write("\n"u8);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter json, SchemaField field, object? value)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case bool boolean: json.WriteBooleanValue(boolean); break;
            case int int32: json.WriteNumberValue(int32); break;
            case long int64: json.WriteNumberValue(int64); break;
            case float single when float.IsFinite(single): json.WriteNumberValue(single); break;
            case double number when double.IsFinite(number): json.WriteNumberValue(number); break;
            case float or double: json.WriteNullValue(); break;
            case decimal exact: json.WriteNumberValue(exact); break;
            case string text: json.WriteStringValue(text); break;
            case byte[] bytes: json.WriteBase64StringValue(bytes); break;
            case IReadOnlyDictionary<string, object?> structValue:
                json.WriteStartObject();
                foreach (var child in field.ChildFields)
                {
                    json.WritePropertyName(child.Name);
                    WriteValue(json, child, structValue.GetValueOrDefault(child.Name));
                }
                json.WriteEndObject();
                break;
            case IReadOnlyList<KeyValuePair<object, object?>> entries:
                json.WriteStartObject();
                foreach (var (key, entry) in entries)
                {
                    json.WritePropertyName(FormatScalar(key));
                    WriteValue(json, field.ChildFields[1], entry);
                }
                json.WriteEndObject();
                break;
            case IReadOnlyList<object?> items:
                json.WriteStartArray();
                foreach (var item in items) WriteValue(json, field.ChildFields[0], item);
                json.WriteEndArray();
                break;
            default: json.WriteStringValue(FormatScalar(value)); break;
        }
    }

    private static string FormatScalar(object value) => value switch
    {
        string text => text,
        bool boolean => boolean ? "true" : "false",
        DateTime timestamp => (timestamp.Kind == DateTimeKind.Local ? timestamp.ToUniversalTime() : timestamp)
            .ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeSpan time => TimeOnly.FromTimeSpan(time).ToString("HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToBase64String(bytes),
        double number => number.ToString("R", CultureInfo.InvariantCulture),
        float number => number.ToString("R", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
