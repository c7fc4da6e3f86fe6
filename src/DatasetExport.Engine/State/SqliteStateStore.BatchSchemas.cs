using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;

namespace DatasetExport.Engine.State;

public sealed partial class SqliteStateStore
{
    /// <summary>
    /// Entries stored this long ago are dropped: most are of files gone. A lake scan writes only what it had to read, so an
    /// entry still in use is dropped too, and its file read (and its entry stored) once more.
    /// </summary>
    internal static readonly TimeSpan BatchSchemaRetention = TimeSpan.FromDays(30);

    /// <summary>Paths per lookup statement, well below SQLite's limit of bound parameters.</summary>
    private const int PathsPerLookup = 500;

    public IReadOnlyList<KnownBatchSchema> GetBatchSchemas(IReadOnlyCollection<string> fullPaths, bool skipInvalidRecords)
    {
        ArgumentNullException.ThrowIfNull(fullPaths);
        var found = new List<KnownBatchSchema>();
        foreach (var paths in fullPaths.Distinct(StringComparer.Ordinal).Chunk(PathsPerLookup))
        {
            var names = paths.Select((_, i) => "$p" + i).ToArray();
            var parameters = paths.Select((path, i) => (names[i], (object?)path)).Append(("$skip", skipInvalidRecords ? 1L : 0L)).ToArray();
            var rows = Read(() => ReadAll($"""
                SELECT full_path, skip_invalid_records, size_bytes, last_write_ticks, schema_json, record_count FROM batch_schemas
                WHERE full_path IN ({string.Join(", ", names)}) AND (skip_invalid_records = $skip OR skip_invalid_records = 0)
                """, row => (
                    Path: row.Text("full_path"), Skip: row.Flag("skip_invalid_records"), Size: row.Int64("size_bytes"),
                    Ticks: row.Int64("last_write_ticks"), Json: row.Text("schema_json"), Count: row.NullableInt64("record_count")),
                parameters));
            foreach (var row in rows)
            {
                // A cache entry that no longer reads (written by a later version, damaged) is a miss, not a broken store.
                DatasetSchema schema;
                try
                {
                    schema = DatasetSchemaJson.Read(row.Json);
                }
                catch (FormatException)
                {
                    continue;
                }
                found.Add(new KnownBatchSchema(row.Path, row.Skip, row.Size, new DateTimeOffset(row.Ticks, TimeSpan.Zero), schema, row.Count));
            }
        }
        return found;
    }

    public void SaveBatchSchemas(IReadOnlyCollection<KnownBatchSchema> schemas)
    {
        ArgumentNullException.ThrowIfNull(schemas);
        if (schemas.Count == 0) return;
        var now = DateTimeOffset.UtcNow;
        Write(() =>
        {
            foreach (var known in schemas)
            {
                Execute("""
                    INSERT INTO batch_schemas (full_path, skip_invalid_records, size_bytes, last_write_ticks, schema_json, record_count, stored_at)
                    VALUES ($full_path, $skip, $size, $ticks, $schema, $count, $stored_at)
                    ON CONFLICT (full_path, skip_invalid_records) DO UPDATE SET
                        size_bytes = excluded.size_bytes, last_write_ticks = excluded.last_write_ticks, schema_json = excluded.schema_json,
                        record_count = excluded.record_count, stored_at = excluded.stored_at
                    """,
                    ("$full_path", known.FullPath), ("$skip", known.SkipInvalidRecords ? 1L : 0L), ("$size", known.SizeBytes),
                    ("$ticks", known.LastWriteUtc.UtcTicks), ("$schema", DatasetSchemaJson.Write(known.Schema)),
                    ("$count", known.RecordCount), ("$stored_at", DateText(now)));
            }
            Execute("DELETE FROM batch_schemas WHERE stored_at < $cutoff", ("$cutoff", DateText(now - BatchSchemaRetention)));
        });
    }
}
