using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// A dataset schema as JSON text, for the state store's record of batch schemas: an array of fields, each
/// <c>{"name", "kind", "nullable", "precision", "scale", "onlyNulls", "jsonInferred", "children"}</c> (kinds by
/// <see cref="FieldKind"/> name; <c>onlyNulls</c>, <see cref="SchemaField.OnlyNulls"/>, on every nullable string and int32
/// and wherever true; <c>jsonInferred</c>, <see cref="SchemaField.JsonInferred"/>, on every string, int64, double and struct
/// and wherever true: an entry kept before fields said so is a miss, its batch read again once). A schema JSON inference gave
/// (any field <see cref="SchemaField.JsonInferred"/>) is kept as <c>{"jsonInference": N, "fields": [...]}</c>, N the
/// version of the inference's rules (<see cref="JsonSchemaInference.RulesVersion"/>): one kept by other rules, or before
/// schemas said which (an array holding JSON-inferred fields), is a miss, its batch inferred again by the rules of now.
/// </summary>
internal static class DatasetSchemaJson
{
    /// <summary>
    /// How deep the JSON may nest, written and read: two levels per field level (its object, its children's array), so
    /// schemas nested up to 499 levels (Parquet's limit here is 256) round-trip. The default of 64 that
    /// <see cref="JsonDocument"/> reads with lost every schema nested more than 31 levels (JSON lines may nest 63): the
    /// state store kept it but never gave it back, and every new process inferred such a batch again.
    /// </summary>
    private const int MaxDepth = 1000;

    public static string Write(DatasetSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { MaxDepth = MaxDepth }))
        {
            if (schema.Fields.Any(HasJsonInferred))
            {
                writer.WriteStartObject();
                writer.WriteNumber("jsonInference", JsonSchemaInference.RulesVersion);
                writer.WritePropertyName("fields");
                WriteFields(writer, schema.Fields);
                writer.WriteEndObject();
            }
            else
            {
                WriteFields(writer, schema.Fields);
            }
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The schema <paramref name="json"/> holds; throws <see cref="FormatException"/> when it holds none.</summary>
    public static DatasetSchema Read(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxDepth });
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                var rules = root.GetProperty("jsonInference").GetInt32();
                if (rules != JsonSchemaInference.RulesVersion)
                {
                    throw new FormatException($"The schema was inferred by rules {rules} of JSON inference, not {JsonSchemaInference.RulesVersion}.");
                }
                return new DatasetSchema(ReadFields(root.GetProperty("fields")));
            }
            var fields = ReadFields(root);
            if (fields.Any(HasJsonInferred))
            {
                throw new FormatException("The schema was inferred by earlier rules of JSON inference (it names no version).");
            }
            return new DatasetSchema(fields);
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            throw new FormatException($"Not a dataset schema: {error.Message}", error);
        }
    }

    private static void WriteFields(Utf8JsonWriter writer, IReadOnlyList<SchemaField> fields)
    {
        writer.WriteStartArray();
        foreach (var field in fields)
        {
            writer.WriteStartObject();
            writer.WriteString("name", field.Name);
            writer.WriteString("kind", field.Kind.ToString());
            writer.WriteBoolean("nullable", field.Nullable);
            if (field.Kind == FieldKind.Decimal)
            {
                writer.WriteNumber("precision", field.Precision);
                writer.WriteNumber("scale", field.Scale);
            }
            if (TellsOnlyNulls(field) || field.OnlyNulls) writer.WriteBoolean("onlyNulls", field.OnlyNulls);
            if (TellsJsonInferred(field.Kind) || field.JsonInferred) writer.WriteBoolean("jsonInferred", field.JsonInferred);
            if (field.Children is { } children)
            {
                writer.WritePropertyName("children");
                WriteFields(writer, children);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }

    private static bool HasJsonInferred(SchemaField field) => field.JsonInferred || field.ChildFields.Any(HasJsonInferred);

    private static bool TellsOnlyNulls(SchemaField field) => TellsOnlyNulls(field.Kind, field.Nullable);

    private static bool TellsOnlyNulls(FieldKind kind, bool nullable) => nullable && kind is FieldKind.String or FieldKind.Int32;

    /// <summary>
    /// The kinds whose JSON-inferred fields take a declared field's kind (SchemaMerger), or widen to one that does (an int64
    /// with a JSON double is a double, which takes a decimal, where a declared int64 made a declared double that conflicts
    /// with it): every such field says whether it is one.
    /// </summary>
    private static bool TellsJsonInferred(FieldKind kind) => kind is FieldKind.String or FieldKind.Int64 or FieldKind.Double or FieldKind.Struct;

    private static List<SchemaField> ReadFields(JsonElement array)
    {
        var fields = new List<SchemaField>(array.GetArrayLength());
        foreach (var field in array.EnumerateArray())
        {
            var kind = Enum.Parse<FieldKind>(field.GetProperty("kind").GetString()!);
            var nullable = field.GetProperty("nullable").GetBoolean();
            // A nullable string or int32 (the kinds JSON inference and pyarrow give a column only ever null) always says
            // whether it is one: an entry kept before fields said so is a miss (KeyNotFoundException), its batch read again once.
            var onlyNulls = TellsOnlyNulls(kind, nullable)
                ? field.GetProperty("onlyNulls").GetBoolean()
                : field.TryGetProperty("onlyNulls", out var only) && only.GetBoolean();
            fields.Add(new SchemaField(
                field.GetProperty("name").GetString()!,
                kind,
                nullable,
                field.TryGetProperty("precision", out var precision) ? precision.GetInt32() : 0,
                field.TryGetProperty("scale", out var scale) ? scale.GetInt32() : 0,
                field.TryGetProperty("children", out var children) ? ReadFields(children) : null)
            {
                OnlyNulls = onlyNulls,
                // Likewise a string, int64, double or struct says whether JSON inference gave it: an entry kept before is a miss.
                JsonInferred = TellsJsonInferred(kind)
                    ? field.GetProperty("jsonInferred").GetBoolean()
                    : field.TryGetProperty("jsonInferred", out var jsonInferred) && jsonInferred.GetBoolean(),
            });
        }
        return fields;
    }
}
