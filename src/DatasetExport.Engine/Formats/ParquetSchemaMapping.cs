using System.Numerics;
using Parquet;
using Parquet.Data;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>Maps Parquet.Net schemas to <see cref="DatasetSchema"/> and back (see docs/formats.md for the table).</summary>
internal static class ParquetSchemaMapping
{
    /// <summary>Reader options: decimals as <see cref="BigDecimal"/> so precision &gt; 28 is detected instead of overflowing; dates as DateOnly.</summary>
    public static ParquetOptions ReadOptions() => new()
    {
        UseBigDecimal = true,
        UseDateOnlyTypeForDates = true,
        TreatByteArrayAsString = false,
        TreatBigIntegersAsDates = true,
    };

    public static DatasetSchema ToDatasetSchema(ParquetSchema schema) => new(schema.Fields.Select(ToSchemaField).ToList());

    /// <summary>
    /// The deepest nesting of a Parquet schema this tool reads: groups within groups counted from the top-level fields
    /// (1): a struct adds one level, a list or map two (its group and the repeated group), a value one (100 lists within
    /// lists, as DuckDB writes them, are 201 levels).
    /// Parquet.Net builds a file's schema by recursion, which overflowed the stack (ending the whole process, a
    /// PowerShell host with it) at about 8,000 levels, and took time and memory growing with the cube of the depth
    /// (1,000 levels: 3 s and 5 GB allocated for a file of no rows; 3,000: 170 s and 139 GB). At this depth a file of
    /// 3 rows exports in under a second; JSON Lines, read up to 64 levels deep, never come near it.
    /// </summary>
    public const int MaxSchemaDepth = 256;

    /// <summary>
    /// How deep the schema elements of a file's footer nest (its top-level fields are 1), walked without recursion so a
    /// file of any depth is measured before Parquet.Net builds its schema; <see cref="MaxSchemaDepth"/> + 1 as soon as it is passed.
    /// </summary>
    public static int SchemaDepth(IReadOnlyList<Parquet.Meta.SchemaElement> elements)
    {
        if (elements.Count == 0) return 0;
        // Children still to come of each open group, the root's first.
        var open = new Stack<int>();
        open.Push(elements[0].NumChildren ?? 0);
        var deepest = 0;
        for (var index = 1; index < elements.Count && open.Count > 0; index++)
        {
            while (open.Count > 0 && open.Peek() == 0) open.Pop();
            if (open.Count == 0) break;
            open.Push(open.Pop() - 1);
            deepest = Math.Max(deepest, open.Count);
            if (deepest > MaxSchemaDepth) return deepest;
            if (elements[index].NumChildren is > 0 and var children) open.Push(children);
        }
        return deepest;
    }

    /// <summary>Why the file's schema is not read (nested deeper than <see cref="MaxSchemaDepth"/>), or null.</summary>
    public static string? SchemaDepthProblem(Parquet.Meta.FileMetaData? metadata) =>
        metadata?.Schema is { } elements && SchemaDepth(elements) > MaxSchemaDepth
            ? $"the schema nests more than {MaxSchemaDepth} levels deep (groups within groups: a struct adds one level, a list or map two, a value one), which this tool does not read."
            : null;

    public static SchemaField ToSchemaField(Field field) => field switch
    {
        StructField structField => new SchemaField(field.Name, FieldKind.Struct, field.IsNullable,
            Children: structField.Fields.Select(ToSchemaField).ToList()),
        ListField listField => new SchemaField(field.Name, FieldKind.List, field.IsNullable,
            Children: [ToSchemaField(listField.Item)]),
        MapField mapField => new SchemaField(field.Name, FieldKind.Map, field.IsNullable,
            Children: [ToSchemaField(mapField.Key), ToSchemaField(mapField.Value)]),
        DataField { IsArray: true } dataField => new SchemaField(field.Name, FieldKind.List, Nullable: false,
            Children: [ScalarField(dataField, "element") with { Nullable = false }]),
        DataField dataField => ScalarField(dataField, field.Name),
        _ => throw new NotSupportedException($"Parquet field '{field.Path}' of schema type {field.SchemaType} is not supported."),
    };

    private static SchemaField ScalarField(DataField field, string name)
    {
        // UNKNOWN ("always null", pyarrow's column of Arrow's null type) holds no value: its physical type's kind, which
        // another batch's kind replaces in the merge.
        if (field.SchemaElement?.LogicalType?.UNKNOWN is not null) return KnownScalarField(field, name) with { OnlyNulls = true };
        return KnownScalarField(field, name);
    }

    private static SchemaField KnownScalarField(DataField field, string name)
    {
        if (field is DecimalDataField decimalField)
        {
            return new SchemaField(name, FieldKind.Decimal, field.IsNullable, decimalField.Precision, decimalField.Scale);
        }
        if (field is TimeDataField) return new SchemaField(name, FieldKind.Time, field.IsNullable);
        if (field is DateTimeDataField { DateTimeFormat: DateTimeFormat.Date }) return new SchemaField(name, FieldKind.Date, field.IsNullable);

        var type = field.ClrType;
        // JSON-annotated byte arrays are UTF-8 text; Parquet.Net hands them over as bytes.
        if (field.SchemaElement?.LogicalType?.JSON is not null || field.SchemaElement?.ConvertedType == Parquet.Meta.ConvertedType.JSON)
        {
            return new SchemaField(name, FieldKind.String, field.IsNullable);
        }
        FieldKind kind;
        if (type == typeof(bool)) kind = FieldKind.Boolean;
        else if (type == typeof(int) || type == typeof(short) || type == typeof(sbyte) || type == typeof(ushort) || type == typeof(byte)) kind = FieldKind.Int32;
        else if (type == typeof(long) || type == typeof(uint)) kind = FieldKind.Int64;
        // UINT64 does not fit Int64; decimal(20,0) holds every value exactly.
        else if (type == typeof(ulong)) return new SchemaField(name, FieldKind.Decimal, field.IsNullable, 20, 0);
        else if (type == typeof(float) || type == typeof(Half)) kind = FieldKind.Float;
        else if (type == typeof(double)) kind = FieldKind.Double;
        else if (type == typeof(decimal) || type == typeof(BigDecimal))
        {
            return new SchemaField(name, FieldKind.Decimal, field.IsNullable, field.SchemaElement?.Precision ?? SchemaMerger.MaxDecimalPrecision, field.SchemaElement?.Scale ?? 0);
        }
        else if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>) || type == typeof(Guid)) kind = FieldKind.String;
        else if (type == typeof(byte[]) || type == typeof(ReadOnlyMemory<byte>)) kind = FieldKind.Binary;
        else if (type == typeof(DateOnly)) kind = FieldKind.Date;
        else if (type == typeof(DateTime) || type == typeof(DateTimeOffset)) kind = FieldKind.Timestamp;
        else if (type == typeof(TimeSpan) || type == typeof(TimeOnly)) kind = FieldKind.Time;
        else throw new NotSupportedException($"Parquet column '{field.Path}' has type {type.Name} ({field.SchemaElement?.Type}), which this tool does not read.");
        return new SchemaField(name, kind, field.IsNullable);
    }

    /// <summary>
    /// The Parquet schema written for a dataset schema. Timestamps are INT64 micros adjusted to UTC, times INT64 micros,
    /// dates INT32 DATE, decimals DECIMAL(p,s). Structs, lists and maps are always written as optional groups
    /// (Parquet.Net offers no required groups); their leaves keep the declared nullability.
    /// </summary>
    public static ParquetSchema ToParquetSchema(DatasetSchema schema) => new(schema.Fields.Select(ToParquetField).ToArray());

    private static Field ToParquetField(SchemaField field) => ToParquetField(field, field.Name);

    private static Field ToParquetField(SchemaField field, string name) => field.Kind switch
    {
        FieldKind.Boolean => new DataField(name, typeof(bool), field.Nullable),
        FieldKind.Int32 => new DataField(name, typeof(int), field.Nullable),
        FieldKind.Int64 => new DataField(name, typeof(long), field.Nullable),
        FieldKind.Float => new DataField(name, typeof(float), field.Nullable),
        FieldKind.Double => new DataField(name, typeof(double), field.Nullable),
        FieldKind.Decimal => new DecimalDataField(name, field.Precision, field.Scale, isNullable: field.Nullable),
        FieldKind.String => new DataField(name, typeof(string), field.Nullable),
        FieldKind.Binary => new DataField(name, typeof(byte[]), field.Nullable),
        FieldKind.Date => new DataField(name, typeof(DateOnly), field.Nullable),
        FieldKind.Timestamp => new DateTimeDataField(name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, DateTimeTimeUnit.Micros, field.Nullable),
        FieldKind.Time => new TimeDataField(name, TimeUnitPrecision.Micros, field.Nullable) { IsAdjustedToUtc = false },
        FieldKind.Struct => new StructField(name, field.ChildFields.Select(ToParquetField).ToArray()),
        FieldKind.List => new ListField(name, ToParquetField(field.ChildFields[0], ListField.ElementName)),
        FieldKind.Map => new MapField(name, ToParquetField(field.ChildFields[0] with { Nullable = false }, "key"), ToParquetField(field.ChildFields[1], "value")),
        _ => throw new ArgumentOutOfRangeException(nameof(field), field.Kind, $"Unknown kind of column '{field.Name}'."),
    };

    /// <summary>The exact decimal of an unscaled integer and scale, or null when it does not fit <see cref="decimal"/>.</summary>
    public static decimal? ToDecimal(BigInteger unscaled, int scale)
    {
        var magnitude = BigInteger.Abs(unscaled);
        // Trailing zeros beyond decimal's scale limit can be dropped without changing the value.
        while (scale > 28 && !magnitude.IsZero && magnitude % 10 == 0)
        {
            magnitude /= 10;
            scale--;
        }
        // Zero keeps its scale (0.0 for a DECIMAL(4,1)), as every other value does.
        if (magnitude.IsZero) return scale is >= 0 and <= 28 ? new decimal(0, 0, 0, false, (byte)scale) : 0m;
        if (scale > 28 || scale < 0 || magnitude.GetBitLength() > 96) return null;
        Span<byte> bytes = stackalloc byte[12];
        bytes.Clear();
        magnitude.TryWriteBytes(bytes, out _, isUnsigned: true, isBigEndian: false);
        return new decimal(
            BitConverter.ToInt32(bytes[..4]), BitConverter.ToInt32(bytes[4..8]), BitConverter.ToInt32(bytes[8..12]),
            unscaled.Sign < 0, (byte)scale);
    }
}
