using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>Small Parquet lake batches written by DuckDB, and a way to damage one so that only reading its rows fails.</summary>
internal static class ParquetBatches
{
    /// <summary>Parquet with <paramref name="rows"/> rows of id (from <paramref name="firstId"/>) and user, row groups of 5000.</summary>
    public static void Write(DuckDb duck, string path, int firstId, int rows, string idType = "BIGINT")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        duck.Execute($"COPY (SELECT (i + {firstId})::{idType} AS id, 'user-' || i AS \"user\" FROM range({rows}) r(i)) " +
                     $"TO {DuckDb.Quote(path)} (FORMAT parquet, ROW_GROUP_SIZE 5000, COMPRESSION uncompressed)");
    }

    /// <summary>Overwrites the page header of row group 1's user column: the footer (and row group 0) stay readable.</summary>
    public static void CorruptSecondRowGroup(DuckDb duck, string path)
    {
        var offset = Convert.ToInt64(duck.Scalar(
            $"SELECT min(data_page_offset) FROM parquet_metadata({DuckDb.Quote(path)}) WHERE row_group_id = 1 AND path_in_schema = 'user'"));
        var bytes = File.ReadAllBytes(path);
        for (var i = 0; i < 64; i++) bytes[offset + i] = 0xFF;
        File.WriteAllBytes(path, bytes);
    }
}
