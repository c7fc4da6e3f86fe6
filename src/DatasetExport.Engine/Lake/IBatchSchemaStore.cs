using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Lake;

/// <summary>
/// A batch file's schema and record count as read from it, with the file's identity then (full path, size, last
/// write time): valid while the file keeps that identity (<see cref="BatchSchemaCache"/>).
/// </summary>
public sealed record KnownBatchSchema(
    string FullPath, bool SkipInvalidRecords, long SizeBytes, DateTimeOffset LastWriteUtc, DatasetSchema Schema, long? RecordCount)
{
    /// <summary>What <paramref name="batch"/> holds as read with <paramref name="skipInvalidRecords"/>, its file's identity now.</summary>
    public static KnownBatchSchema Of(BatchInfo batch, bool skipInvalidRecords, DatasetSchema schema, long? recordCount) =>
        new(batch.FullPath, skipInvalidRecords, batch.SizeBytes, batch.LastWriteUtc, schema, recordCount);

    /// <summary>Whether this still describes <paramref name="batch"/>: same file, same size, same last-write time.</summary>
    public bool Describes(BatchInfo batch) =>
        FullPath == batch.FullPath && SizeBytes == batch.SizeBytes && LastWriteUtc == batch.LastWriteUtc;
}

/// <summary>
/// Where a <see cref="FolderLake"/> keeps the batch schemas it read beyond its process (the state store): a scheduled run
/// in a new process then reads an unchanged JSON Lines batch's schema from there instead of parsing the whole file.
/// </summary>
public interface IBatchSchemaStore
{
    /// <summary>
    /// The schemas kept for any of <paramref name="fullPaths"/> read with <paramref name="skipInvalidRecords"/>, and those
    /// read strictly (a strict read is also the lenient one). Entries that cannot be read back are left out.
    /// </summary>
    IReadOnlyList<KnownBatchSchema> GetBatchSchemas(IReadOnlyCollection<string> fullPaths, bool skipInvalidRecords);

    /// <summary>Keeps <paramref name="schemas"/> (replacing any for the same path and options) and forgets entries kept long ago.</summary>
    void SaveBatchSchemas(IReadOnlyCollection<KnownBatchSchema> schemas);
}
