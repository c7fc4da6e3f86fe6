namespace DatasetExport.Engine.Formats;

/// <summary>Raised when two schemas cannot be merged. Names the column and both types.</summary>
public sealed class SchemaConflictException : Exception
{
    public SchemaConflictException(string columnPath, string leftType, string rightType)
        : base($"Column '{columnPath}' is {leftType} in one schema and {rightType} in another; these types cannot be merged.")
    {
        ColumnPath = columnPath;
        LeftType = leftType;
        RightType = rightType;
    }

    /// <summary>Dotted path of the conflicting column, e.g. <c>address.zip</c> or <c>tags[]</c>.</summary>
    public string ColumnPath { get; }
    public string LeftType { get; }
    public string RightType { get; }
}

/// <summary>
/// Merges schemas of the batches of one dataset with the widening rules of docs/formats.md:
/// equal kinds stay; Int32+Int64 → Int64; Float+Double → Double; any int or float with Float/Double → Double;
/// Int32/Int64 with Decimal → Decimal wide enough for both; Decimal precision/scale widen (max 38);
/// columns missing on one side become nullable; structs, lists and maps merge recursively; a field whose batch only holds
/// nulls there (<see cref="SchemaField.OnlyNulls"/>: JSON only ever null, Parquet UNKNOWN) takes the other side's kind;
/// a field JSON inference gave (<see cref="SchemaField.JsonInferred"/>) takes a declared field's kind where JSON holds that
/// kind as text: string with Timestamp, Date, Time or Binary, number with a fraction (Double) with Decimal (widened as
/// integers widen it when the double was merged from another batch's integers, <see cref="SchemaField.IntegerDigits"/>),
/// object (Struct) with a Map of scalar keys (its fields' names read as keys, its fields' kinds merged into the map's value kind),
/// a JSON-inferred map (string keys) with a declared Map of scalar keys (its key kind, the values merged); two JSON batches'
/// object and map (an object whose keys are data, inferred as a map where it had many) give the map, the object's fields
/// its entries. Everything else is a <see cref="SchemaConflictException"/>.
/// </summary>
public static class SchemaMerger
{
    /// <summary>Largest decimal precision Parquet readers agree on.</summary>
    public const int MaxDecimalPrecision = 38;

    /// <summary>Merges two schemas. Column order: <paramref name="first"/>'s columns, then columns only in <paramref name="second"/>.</summary>
    public static DatasetSchema Merge(DatasetSchema first, DatasetSchema second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return new DatasetSchema(MergeFields(first.Fields, second.Fields, parentPath: ""));
    }

    /// <summary>Merges every schema in order; throws <see cref="ArgumentException"/> when the list is empty.</summary>
    public static DatasetSchema Merge(IEnumerable<DatasetSchema> schemas)
    {
        ArgumentNullException.ThrowIfNull(schemas);
        DatasetSchema? merged = null;
        foreach (var schema in schemas) merged = merged is null ? schema : Merge(merged, schema);
        return merged ?? throw new ArgumentException("At least one schema is needed to merge.", nameof(schemas));
    }

    /// <summary>Merges two fields of the same name (used for nested fields and by the readers).</summary>
    public static SchemaField MergeField(SchemaField first, SchemaField second) => MergeField(first, second, first.Name);

    internal static List<SchemaField> MergeFields(IReadOnlyList<SchemaField> first, IReadOnlyList<SchemaField> second, string parentPath)
    {
        var secondByName = new Dictionary<string, SchemaField>(StringComparer.Ordinal);
        foreach (var field in second) secondByName[field.Name] = field;
        var merged = new List<SchemaField>(first.Count + second.Count);
        var firstNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in first)
        {
            firstNames.Add(field.Name);
            merged.Add(secondByName.TryGetValue(field.Name, out var other)
                ? MergeField(field, other, Join(parentPath, field.Name))
                : field with { Nullable = true });
        }
        foreach (var field in second)
        {
            if (!firstNames.Contains(field.Name)) merged.Add(field with { Nullable = true });
        }
        return merged;
    }

    private static SchemaField MergeField(SchemaField first, SchemaField second, string path)
    {
        // A field its batch only holds as null (JSON only ever null, a list element only seen in empty lists, Parquet UNKNOWN)
        // tells nothing of its kind: the other side's, nullable (its batch holds nulls there).
        if (first.OnlyNulls != second.OnlyNulls)
        {
            return (first.OnlyNulls ? second : first) with { Name = first.Name, Nullable = true };
        }
        // Neither tells a kind (a JSON field only ever null is a string, pyarrow's UNKNOWN column an int32): the first's stays,
        // still only nulls, for a batch that has values to give it one.
        if (first.OnlyNulls && first.Kind != second.Kind) return first with { Nullable = true };
        var nullable = first.Nullable || second.Nullable;
        // A JSON map (an object whose keys are data, JsonSchemaInference.MapMinKeys) with another JSON batch's object at the
        // same path (it had fewer keys there): the map, the object's fields its entries.
        if (first.JsonInferred && second.JsonInferred && (first.Kind, second.Kind) is (FieldKind.Map, FieldKind.Struct) or (FieldKind.Struct, FieldKind.Map))
        {
            var (map, entries) = first.Kind == FieldKind.Map ? (first, second) : (second, first);
            return map with { Name = first.Name, Nullable = nullable, Children = [map.ChildFields[0], WithEntries(map.ChildFields[1], entries, path)] };
        }
        // A JSON map with a declared map of scalar keys: the declared map, its key kind (the JSON keys are read as it, as
        // an object's names are below), the values merged.
        if (first.JsonInferred != second.JsonInferred && first.Kind == FieldKind.Map && second.Kind == FieldKind.Map)
        {
            var (json, declared) = first.JsonInferred ? (first, second) : (second, first);
            if (declared.ChildFields[0].Kind is not (FieldKind.Struct or FieldKind.List or FieldKind.Map))
            {
                var value = MergeField(declared.ChildFields[1], json.ChildFields[1], path + ".value") with { Name = declared.ChildFields[1].Name, Nullable = true };
                return declared with { Name = first.Name, Nullable = nullable, Children = [declared.ChildFields[0], value] };
            }
        }
        // A JSON string, number or object where a declared field (a Parquet column) has a kind JSON holds as such: the
        // declared kind, which the JSON batch is read converted to. Two declared kinds are never reconciled this way.
        if (first.JsonInferred != second.JsonInferred && first.Kind != second.Kind)
        {
            var (json, declared) = first.JsonInferred ? (first, second) : (second, first);
            if (TakeDeclared(json, declared, path) is { } conformed) return conformed with { Name = first.Name, Nullable = nullable };
        }
        // The merge of a JSON field with a declared one is a declared field (a Parquet string column stays one), but for a
        // JSON double that widened a declared integer column (below).
        var jsonInferred = first.JsonInferred && second.JsonInferred;
        if (first.Kind == second.Kind)
        {
            return first.Kind switch
            {
                FieldKind.Decimal => WidenDecimal(first, second, path) with { Nullable = nullable, JsonInferred = jsonInferred },
                FieldKind.Struct => first with
                {
                    Nullable = nullable, JsonInferred = jsonInferred, Children = MergeFields(first.ChildFields, second.ChildFields, path),
                },
                FieldKind.List => first with
                {
                    Nullable = nullable,
                    JsonInferred = jsonInferred,
                    Children = [MergeField(first.ChildFields[0], second.ChildFields[0], path + "[]")],
                },
                FieldKind.Map => first with
                {
                    Nullable = nullable,
                    JsonInferred = jsonInferred,
                    Children =
                    [
                        MergeField(first.ChildFields[0], second.ChildFields[0], path + ".key"),
                        MergeField(first.ChildFields[1], second.ChildFields[1], path + ".value"),
                    ],
                },
                _ => first with
                {
                    Nullable = nullable, JsonInferred = jsonInferred, IntegerDigits = jsonInferred ? Math.Max(first.IntegerDigits, second.IntegerDigits) : 0,
                },
            };
        }

        var widened = WidenScalar(first, second) ?? WidenScalar(second, first)
            ?? throw new SchemaConflictException(path, first.TypeName, second.TypeName);
        if (widened.Kind == FieldKind.Decimal && widened.Precision > MaxDecimalPrecision)
        {
            throw new SchemaConflictException(path, first.TypeName, second.TypeName);
        }
        // A JSON double with integers (another JSON batch's, or a declared integer column): still the JSON double, which takes
        // a declared decimal met later, remembering the digits the integers need so that decimal widens as they would have
        // widened it (the merged kind is the same in any order).
        var (integers, jsonDouble) = first.Kind is FieldKind.Int32 or FieldKind.Int64 ? (first, second) : (second, first);
        if (widened.Kind == FieldKind.Double && jsonDouble is { Kind: FieldKind.Double, JsonInferred: true } && integers.Kind is FieldKind.Int32 or FieldKind.Int64)
        {
            var digits = Math.Max(jsonDouble.IntegerDigits, integers.Kind == FieldKind.Int64 ? 19 : 10);
            return widened with { Name = first.Name, Nullable = nullable, JsonInferred = true, IntegerDigits = digits };
        }
        return widened with { Name = first.Name, Nullable = nullable, JsonInferred = jsonInferred, IntegerDigits = 0 };
    }

    /// <summary>
    /// <paramref name="declared"/>'s kind for the JSON-inferred field <paramref name="json"/> when JSON holds that kind as
    /// the text inference saw (the JSON batch is then read converted, <see cref="JsonLineShredder"/>), else null. A map of
    /// scalar keys takes an object's fields as entries: their kinds merge into its value's (conflicts named by the field's
    /// path); their names are read as keys of the map's key kind when the batch is read (one that does not convert makes
    /// its line invalid, as a value that does not convert does), so the merge does not judge them.
    /// </summary>
    private static SchemaField? TakeDeclared(SchemaField json, SchemaField declared, string path) => (json.Kind, declared.Kind) switch
    {
        (FieldKind.String, FieldKind.Timestamp or FieldKind.Date or FieldKind.Time or FieldKind.Binary) => declared,
        (FieldKind.Double, FieldKind.Decimal) when json.IntegerDigits == 0 => declared,
        // A double merged from integers: widened as those integers widen a decimal.
        (FieldKind.Double, FieldKind.Decimal) => WidenDecimalDigits(declared, json.IntegerDigits) is { Precision: <= MaxDecimalPrecision } wider
            ? wider
            : throw new SchemaConflictException(path, json.TypeName, declared.TypeName),
        // The value is nullable: JSON inference tells a key some objects lack (no entry) from a null value no more than the
        // merge of two batches' objects does (a field one side lacks is nullable), so the value's nullability would otherwise
        // depend on whether the JSON batches met each other before the map.
        (FieldKind.Struct, FieldKind.Map) when declared.ChildFields[0].Kind is not (FieldKind.Struct or FieldKind.List or FieldKind.Map) => declared with
        {
            Children = [declared.ChildFields[0], WithEntries(declared.ChildFields[1], json, path)],
        },
        _ => null,
    };

    /// <summary>A map's value with a JSON object's fields merged into it as entries (conflicts named by the field's path), nullable.</summary>
    private static SchemaField WithEntries(SchemaField value, SchemaField jsonObject, string path) =>
        jsonObject.ChildFields.Aggregate(value, (merged, entry) => MergeField(merged, entry, Join(path, entry.Name)) with { Name = merged.Name })
            with { Nullable = true };

    /// <summary>The wider of two scalar kinds when <paramref name="narrow"/> widens to <paramref name="wide"/>'s family, else null.</summary>
    private static SchemaField? WidenScalar(SchemaField narrow, SchemaField wide) => (narrow.Kind, wide.Kind) switch
    {
        (FieldKind.Int32, FieldKind.Int64) => wide,
        (FieldKind.Float, FieldKind.Double) => wide,
        (FieldKind.Int32 or FieldKind.Int64, FieldKind.Float or FieldKind.Double) => wide with { Kind = FieldKind.Double },
        (FieldKind.Int32, FieldKind.Decimal) => WidenDecimalDigits(wide, integerDigits: 10),
        (FieldKind.Int64, FieldKind.Decimal) => WidenDecimalDigits(wide, integerDigits: 19),
        _ => null,
    };

    private static SchemaField WidenDecimal(SchemaField first, SchemaField second, string path)
    {
        var scale = Math.Max(first.Scale, second.Scale);
        var integerDigits = Math.Max(first.Precision - first.Scale, second.Precision - second.Scale);
        if (integerDigits + scale > MaxDecimalPrecision) throw new SchemaConflictException(path, first.TypeName, second.TypeName);
        return first with { Precision = integerDigits + scale, Scale = scale };
    }

    private static SchemaField WidenDecimalDigits(SchemaField decimalField, int integerDigits)
    {
        var digits = Math.Max(decimalField.Precision - decimalField.Scale, integerDigits);
        return decimalField with { Precision = digits + decimalField.Scale };
    }

    private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "." + name;
}
