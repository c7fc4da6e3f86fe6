using DatasetExport.Engine.Formats;

namespace DatasetExport.Bench;

/// <summary>
/// One measured conversion: a lake dataset read in one format, written in another, by the engine (a Local
/// destination with <see cref="FileType"/> and <see cref="Compression"/>) and by DuckDB (a COPY statement).
/// </summary>
public sealed record Conversion(
    string Name,
    BatchFormat Source,
    FileType FileType,
    CompressionKind Compression,
    string DuckDbCopyOptions,
    string DuckDbExtension,
    string? Dataset = null)
{
    public static readonly IReadOnlyList<Conversion> All =
    [
        new("parquet-jsonl-gzip", BatchFormat.Parquet, FileType.Json, CompressionKind.Gzip, "FORMAT json, COMPRESSION gzip", ".json.gz"),
        new("parquet-parquet-snappy", BatchFormat.Parquet, FileType.Parquet, CompressionKind.Snappy, "FORMAT parquet, COMPRESSION snappy", ".parquet"),
        new("parquet-parquet-zstd", BatchFormat.Parquet, FileType.Parquet, CompressionKind.Zstd, "FORMAT parquet, COMPRESSION zstd", ".parquet"),
        new("jsonl-parquet-snappy", BatchFormat.JsonLines, FileType.Parquet, CompressionKind.Snappy, "FORMAT parquet, COMPRESSION snappy", ".parquet"),
    ];

    /// <summary>
    /// Conversions run only when named in --conversions, of the events with a map: as JSON Lines an object whose keys are
    /// data (<see cref="SyntheticLake.JsonEventsWithMaps"/>), which the engine and DuckDB both infer as a map, and as
    /// Parquet a MAP column (<see cref="SyntheticLake.ParquetEventsWithMaps"/>), written to JSON as such objects.
    /// </summary>
    public static readonly IReadOnlyList<Conversion> Optional =
    [
        new("jsonl-maps-parquet-snappy", BatchFormat.JsonLines, FileType.Parquet, CompressionKind.Snappy, "FORMAT parquet, COMPRESSION snappy", ".parquet",
            SyntheticLake.JsonEventsWithMaps),
        new("parquet-maps-jsonl-gzip", BatchFormat.Parquet, FileType.Json, CompressionKind.Gzip, "FORMAT json, COMPRESSION gzip", ".json.gz",
            SyntheticLake.ParquetEventsWithMaps),
    ];

    /// <summary>The lake dataset this conversion reads.</summary>
    public string DatasetId => Dataset ?? SyntheticLake.DatasetId(Source);

    /// <summary>Whether the dataset has the map column, which the output check counts the entries of.</summary>
    public bool HasMaps => SyntheticLake.HasMaps(DatasetId);

    public static Conversion Find(string name) =>
        All.Concat(Optional).FirstOrDefault(c => c.Name == name)
        ?? throw new FormatException($"Unknown conversion '{name}'; known: {string.Join(", ", All.Concat(Optional).Select(c => c.Name))}.");

    /// <summary>DuckDB's table function reading every batch of the source dataset.</summary>
    public string DuckDbSource(string lakePath)
    {
        var glob = Sql.Quote(Path.Combine(lakePath, DatasetId, "*" + SyntheticLake.BatchExtension(Source)));
        return Source == BatchFormat.Parquet ? $"read_parquet({glob})" : $"read_json({glob}, format = 'newline_delimited')";
    }
}

/// <summary>SQL text helpers for the DuckDB statements.</summary>
public static class Sql
{
    public static string Quote(string text) => "'" + text.Replace("'", "''") + "'";
}
