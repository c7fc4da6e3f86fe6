using DatasetExport.Engine.Formats;
using DuckDB.NET.Data;

namespace DatasetExport.Bench;

/// <summary>Record count and non-null count of the nullable column, as an independent reader sees them.</summary>
public sealed record RecordCounts(long Records, long NonNullReferrers)
{
    public override string ToString() => $"{Records:N0} records, {NonNullReferrers:N0} referrers";
}

/// <summary>Reads exported files back with DuckDB, whichever tool wrote them, and counts what they hold.</summary>
public static class OutputCheck
{
    /// <summary>What the lake holds: the Parquet batches are the reference.</summary>
    public static RecordCounts Source(string lake) =>
        Count(Directory.EnumerateFiles(Path.Combine(lake, SyntheticLake.DatasetId(BatchFormat.Parquet)), "*.parquet").ToList(), FileType.Parquet);

    public static RecordCounts Count(IReadOnlyList<string> files, FileType fileType)
    {
        if (files.Count == 0) return new RecordCounts(0, 0);
        var list = "[" + string.Join(", ", files.Select(Sql.Quote)) + "]";
        var source = fileType == FileType.Parquet ? $"read_parquet({list})" : $"read_json({list}, format = 'newline_delimited')";
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*), count(referrer) FROM {source}";
        using var reader = command.ExecuteReader();
        reader.Read();
        return new RecordCounts(Convert.ToInt64(reader.GetValue(0)), Convert.ToInt64(reader.GetValue(1)));
    }
}
