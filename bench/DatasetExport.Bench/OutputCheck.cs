using DatasetExport.Engine.Formats;
using DuckDB.NET.Data;

namespace DatasetExport.Bench;

/// <summary>
/// Record count, non-null count of the nullable column and, for the dataset with maps, the map entries, as an
/// independent reader sees them.
/// </summary>
public sealed record RecordCounts(long Records, long NonNullReferrers, long? MapEntries = null)
{
    public override string ToString() =>
        $"{Records:N0} records, {NonNullReferrers:N0} referrers" + (MapEntries is { } entries ? $", {entries:N0} map entries" : "");
}

/// <summary>Reads exported files back with DuckDB, whichever tool wrote them, and counts what they hold.</summary>
public static class OutputCheck
{
    /// <summary>What the lake holds: the Parquet batches are the reference.</summary>
    public static RecordCounts Source(string lake) =>
        Count(Directory.EnumerateFiles(Path.Combine(lake, SyntheticLake.DatasetId(BatchFormat.Parquet)), "*.parquet").ToList(), FileType.Parquet);

    /// <summary>What the lake's batches with maps that <paramref name="conversion"/> reads hold, their map entries counted.</summary>
    public static RecordCounts SourceWithMaps(string lake, Conversion conversion) =>
        Count(Directory.EnumerateFiles(Path.Combine(lake, conversion.DatasetId), "*" + SyntheticLake.BatchExtension(conversion.Source)).ToList(),
            conversion.Source == BatchFormat.Parquet ? FileType.Parquet : FileType.Json, maps: true);

    /// <summary>Counts the records in <paramref name="files"/>; with <paramref name="maps"/>, the entries of their attributes maps too.</summary>
    public static RecordCounts Count(IReadOnlyList<string> files, FileType fileType, bool maps = false)
    {
        if (files.Count == 0) return new RecordCounts(0, 0, maps ? 0 : null);
        var list = "[" + string.Join(", ", files.Select(Sql.Quote)) + "]";
        var source = fileType == FileType.Parquet ? $"read_parquet({list})" : $"read_json({list}, format = 'newline_delimited')";
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        // cardinality() takes only a MAP: a reader that made the attributes a struct fails the check.
        command.CommandText = $"SELECT count(*), count(referrer){(maps ? ", sum(cardinality(attributes))::BIGINT" : "")} FROM {source}";
        using var reader = command.ExecuteReader();
        reader.Read();
        return new RecordCounts(Convert.ToInt64(reader.GetValue(0)), Convert.ToInt64(reader.GetValue(1)), maps ? Convert.ToInt64(reader.GetValue(2)) : null);
    }
}
