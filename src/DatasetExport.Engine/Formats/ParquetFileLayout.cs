using System.Collections.Concurrent;
using System.Reflection;
using Parquet;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// The physical layout of the Parquet files written for a dataset schema: the footer Parquet.Net writes for the schema
/// with no row group (its schema elements, the template of every footer <see cref="ParquetFileWriter"/> assembles, which
/// gives them the engine's own <see cref="CreatedBy"/>), and the signature of its leaf columns, which decides whether another file's column chunks can be copied
/// into ours unchanged.
/// </summary>
internal static class ParquetFileLayout
{
    private static readonly ConcurrentDictionary<DatasetSchema, byte[]> EmptyFiles = new();

    /// <summary>
    /// The created_by of the files the engine writes (the spec's "name version x.y.z (build hash)"), in place of the
    /// template's Parquet.Net one: readers, the row group copier among them, judge a file's statistics by its writer, and
    /// the engine encodes every column chunk itself.
    /// </summary>
    public static readonly string CreatedBy = EngineCreatedBy();

    /// <summary>A new copy of the footer of an empty file of <paramref name="schema"/>, for the caller to fill in.</summary>
    public static FileMetaData Template(DatasetSchema schema) => ParquetThrift.ReadFooter(EmptyFiles.GetOrAdd(schema, WriteEmptyFile));

    /// <summary>
    /// One entry per leaf column, in file order: its path and what its bytes mean. Two files whose signatures are equal store
    /// the same values in the same bytes (names of list and map groups may differ; they are taken from our own schema).
    /// </summary>
    public static IReadOnlyList<LeafColumn> Leaves(IReadOnlyList<SchemaElement> elements)
    {
        var leaves = new List<LeafColumn>();
        var index = 1;
        for (var child = 0; child < (elements[0].NumChildren ?? 0); child++) AddLeaves(elements, ref index, [], 0, 0, leaves);
        if (index != elements.Count) throw new InvalidDataException($"the schema has {elements.Count} elements but its tree covers {index}.");
        return leaves;
    }

    private static void AddLeaves(
        IReadOnlyList<SchemaElement> elements, ref int index, IReadOnlyList<string> parent, int definition, int repetition, List<LeafColumn> leaves)
    {
        if (index >= elements.Count) throw new InvalidDataException("the schema's tree has more children than elements.");
        var element = elements[index++];
        var path = parent.Append(element.Name).ToList();
        if (element.RepetitionType is FieldRepetitionType.OPTIONAL or FieldRepetitionType.REPEATED) definition++;
        if (element.RepetitionType is FieldRepetitionType.REPEATED) repetition++;
        if (element.NumChildren is > 0)
        {
            for (var child = 0; child < element.NumChildren; child++) AddLeaves(elements, ref index, path, definition, repetition, leaves);
            return;
        }
        leaves.Add(new LeafColumn(path, new LeafSignature(
            element.Type ?? throw new InvalidDataException($"the leaf column '{element.Name}' has no physical type."),
            element.Type == Parquet.Meta.Type.FIXED_LEN_BYTE_ARRAY ? element.TypeLength : null,
            definition, repetition, Unit(element), element.Precision, element.Scale)));
    }

    /// <summary>The unit of a timestamp or time column (the same INT64 is micro- or milliseconds); null for other columns.</summary>
    private static string? Unit(SchemaElement element)
    {
        var unit = element.LogicalType?.TIMESTAMP?.Unit ?? element.LogicalType?.TIME?.Unit;
        if (unit is not null) return unit.MILLIS is not null ? "ms" : unit.MICROS is not null ? "us" : "ns";
        return element.ConvertedType switch
        {
            ConvertedType.TIMESTAMP_MILLIS or ConvertedType.TIME_MILLIS => "ms",
            ConvertedType.TIMESTAMP_MICROS or ConvertedType.TIME_MICROS => "us",
            _ => null,
        };
    }

    private static string EngineCreatedBy()
    {
        var version = typeof(ParquetFileLayout).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var build = version.IndexOf('+', StringComparison.Ordinal);
        return build < 0 ? $"DatasetExport version {version}" : $"DatasetExport version {version[..build]} (build {version[(build + 1)..]})";
    }

    private static byte[] WriteEmptyFile(DatasetSchema schema)
    {
        using var file = new MemoryStream();
        // In memory, so nothing waits on I/O.
        ParquetWriter.CreateAsync(ParquetSchemaMapping.ToParquetSchema(schema), file).GetAwaiter().GetResult().DisposeAsync().AsTask().GetAwaiter().GetResult();
        return file.ToArray();
    }
}

/// <summary>A leaf column: its path in the schema and what its bytes mean.</summary>
internal sealed record LeafColumn(IReadOnlyList<string> Path, LeafSignature Signature);

/// <summary>What a leaf column's bytes mean: physical type (and width), level ranges, time unit, decimal precision and scale.</summary>
internal readonly record struct LeafSignature(Parquet.Meta.Type Type, int? TypeLength, int MaxDefinition, int MaxRepetition, string? Unit, int? Precision, int? Scale);
