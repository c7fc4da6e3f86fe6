using System.Globalization;
using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Wide data (more leaves than <c>ParquetFileWriter.SharedScratchAboveLeaves</c>, so the encoders share their page,
/// compression and dictionary scratch while a row group's columns are encoded at once): every value written is read back
/// exactly, by DuckDB against the values computed in SQL and by our reader against the records written. Mixed kinds:
/// repetitive text (dictionary), unique text (plain), text that is repetitive in the first row group and unique later
/// (dictionary then plain), nullable int64, double, lists, maps, structs; several row groups of large pages.
/// The same wide rows as JSON Lines read in chunks (the first one's arrays growing from 64 entries, list levels past the
/// chunk's capacity) with one export's pools, chunks released or kept: kept chunks' values stay exact; wide parts sharing a
/// <see cref="WriterShelf"/> are the files written alone.
/// </summary>
public sealed class WideDataRoundTripTests : IDisposable
{
    private const int Groups = 16;
    private const int Rows = 3000;
    private const int RowGroupRows = 1000;

    private readonly TempFolder _folder = new("de-wide");
    private readonly DuckDb _duck = new();

    public void Dispose()
    {
        _duck.Dispose();
        _folder.Dispose();
    }

    private static DatasetSchema Schema(bool maps)
    {
        var fields = new List<SchemaField> { new("id", FieldKind.Int64, Nullable: false) };
        for (var g = 0; g < Groups; g++)
        {
            fields.Add(new($"r{g}", FieldKind.String));
            fields.Add(new($"u{g}", FieldKind.String));
            fields.Add(new($"h{g}", FieldKind.String));
            fields.Add(new($"n{g}", FieldKind.Int64));
            fields.Add(new($"d{g}", FieldKind.Double));
            fields.Add(new($"l{g}", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)]));
            fields.Add(new($"s{g}", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int64), new SchemaField("b", FieldKind.String)]));
            if (maps)
            {
                fields.Add(new($"m{g}", FieldKind.Map, Children:
                    [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]));
            }
        }
        return new DatasetSchema(fields);
    }

    private static Record Expected(long i, bool maps)
    {
        var record = new Record { ["id"] = i };
        for (var g = 0; g < Groups; g++)
        {
            record[$"r{g}"] = (i + g) % 7 == 0 ? null : $"rep-{(i * 3 + g) % 17}";
            record[$"u{g}"] = $"uniq-{g}-{i}-{new string('x', (int)(i % 50))}";
            record[$"h{g}"] = i < RowGroupRows ? $"h{i % 10}" : $"h-{i}-{g}";
            record[$"n{g}"] = (i + g) % 5 == 0 ? null : i * 1000 + g;
            record[$"d{g}"] = i / 8.0 + g + 0.125;
            record[$"l{g}"] = (i + g) % 9 == 0 ? null : Enumerable.Range(0, (int)((i + g) % 4)).Select(k => (object?)(i + k)).ToList();
            record[$"s{g}"] = (i + g) % 11 == 0 ? null : new Dictionary<string, object?> { ["a"] = i + g, ["b"] = $"b{(i + g) % 5}" };
            if (maps)
            {
                record[$"m{g}"] = Enumerable.Range(0, (int)((i + g) % 3) + 1)
                    .Select(k => new KeyValuePair<object, object?>($"k{k}", i * k)).ToList();
            }
        }
        return record;
    }

    /// <summary>Per column, a condition on row <c>id</c> (DuckDB SQL) that holds when its value is the one <see cref="Expected"/> gave.</summary>
    private static IEnumerable<(string Column, string Condition)> SqlConditions(bool maps)
    {
        for (var g = 0; g < Groups; g++)
        {
            yield return ($"r{g}", $"r{g} IS NOT DISTINCT FROM (CASE WHEN (id + {g}) % 7 = 0 THEN NULL ELSE 'rep-' || ((id * 3 + {g}) % 17) END)");
            yield return ($"u{g}", $"u{g} = 'uniq-{g}-' || id || '-' || repeat('x', (id % 50)::INTEGER)");
            yield return ($"h{g}", $"h{g} = (CASE WHEN id < {RowGroupRows} THEN 'h' || (id % 10) ELSE 'h-' || id || '-{g}' END)");
            yield return ($"n{g}", $"n{g} IS NOT DISTINCT FROM (CASE WHEN (id + {g}) % 5 = 0 THEN NULL ELSE id * 1000 + {g} END)");
            yield return ($"d{g}", $"d{g} = id::DOUBLE / 8 + {g} + 0.125::DOUBLE");
            yield return ($"l{g}", $"l{g} IS NOT DISTINCT FROM (CASE WHEN (id + {g}) % 9 = 0 THEN NULL ELSE list_transform(range((id + {g}) % 4), k -> id + k) END)");
            yield return ($"s{g}", $"s{g} IS NOT DISTINCT FROM (CASE WHEN (id + {g}) % 11 = 0 THEN NULL ELSE {{'a': id + {g}, 'b': 'b' || ((id + {g}) % 5)}} END)");
            if (maps)
            {
                yield return ($"m{g}", $"map_keys(m{g}) = list_transform(range((id + {g}) % 3 + 1), k -> 'k' || k)"
                    + $" AND map_values(m{g}) = list_transform(range((id + {g}) % 3 + 1), k -> id * k)");
            }
        }
    }

    /// <summary>Asserts with DuckDB that the file has every id once and every column's value as computed in SQL.</summary>
    private void AssertDuckDbReadsExpected(string path, bool maps)
    {
        var file = $"read_parquet({DuckDb.Quote(path)})";
        Assert.Equal(Rows, _duck.Count($"SELECT count(DISTINCT id) FROM {file} WHERE id BETWEEN 0 AND {Rows - 1}"));
        Assert.Equal(Rows, _duck.Count($"SELECT count(*) FROM {file}"));
        var conditions = SqlConditions(maps).ToList();
        var sql = "SELECT " + string.Join(", ", conditions.Select(c => $"count(*) FILTER (WHERE ({c.Condition}) IS NOT TRUE)")) + $" FROM {file}";
        var failing = new List<string>();
        using (var command = new DuckDB.NET.Data.DuckDBConnection("DataSource=:memory:"))
        {
            command.Open();
            using var query = command.CreateCommand();
            query.CommandText = sql;
            using var reader = query.ExecuteReader();
            Assert.True(reader.Read());
            for (var i = 0; i < conditions.Count; i++)
            {
                var wrong = Convert.ToInt64(reader.GetValue(i), CultureInfo.InvariantCulture);
                if (wrong != 0) failing.Add($"{conditions[i].Column}: {wrong} rows");
            }
        }
        Assert.True(failing.Count == 0, "values DuckDB reads differ from those written: " + string.Join("; ", failing));
    }

    // A guard against hangs only (a dictionary table shared by two columns at once can probe forever), not a timing check.
    [Theory(Timeout = 120_000)]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    public async Task A_wide_file_of_several_row_groups_reads_back_exactly(CompressionKind compression)
    {
        var schema = Schema(maps: true);
        Assert.True(ColumnLayout.For(schema).Leaves.Count > ParquetFileWriter.SharedScratchAboveLeaves);
        var records = Enumerable.Range(0, Rows).Select(i => Expected(i, maps: true)).ToList();
        var path = _folder.Combine($"wide-{compression}.parquet");

        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, compression, rowGroupRecords: RowGroupRows))
        {
            foreach (var chunk in records.Chunk(500)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        Assert.Equal(Rows / RowGroupRows, _duck.Count($"SELECT count(DISTINCT row_group_id) FROM parquet_metadata({DuckDb.Quote(path)})"));
        // Repetitive text is dictionary-encoded in every row group, unique text never, h* in the first row group only.
        Assert.Equal(Rows / RowGroupRows * Groups, _duck.Count(
            $"SELECT count(*) FROM parquet_metadata({DuckDb.Quote(path)}) WHERE path_in_schema LIKE 'r%' AND dictionary_page_offset IS NOT NULL"));
        Assert.Equal(0, _duck.Count(
            $"SELECT count(*) FROM parquet_metadata({DuckDb.Quote(path)}) WHERE path_in_schema LIKE 'u%' AND dictionary_page_offset IS NOT NULL"));
        Assert.Equal(Groups, _duck.Count(
            $"SELECT count(*) FROM parquet_metadata({DuckDb.Quote(path)}) WHERE path_in_schema LIKE 'h%' AND dictionary_page_offset IS NOT NULL"));
        AssertDuckDbReadsExpected(path, maps: true);
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
    }

    /// <summary>JSON text of <see cref="Expected"/> (no maps: JSON objects are inferred as structs here).</summary>
    private static string JsonLine(Record record)
    {
        var text = new StringBuilder("{");
        var first = true;
        foreach (var (name, value) in record)
        {
            if (!first) text.Append(',');
            first = false;
            text.Append('"').Append(name).Append("\":");
            Json(text, value);
        }
        return text.Append('}').ToString();
    }

    private static void Json(StringBuilder text, object? value)
    {
        switch (value)
        {
            case null: text.Append("null"); break;
            case string s: text.Append('"').Append(s).Append('"'); break;
            case long l: text.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: text.Append(d.ToString("R", CultureInfo.InvariantCulture)); break;
            case IReadOnlyDictionary<string, object?> fields:
                text.Append('{');
                var first = true;
                foreach (var (name, field) in fields)
                {
                    if (!first) text.Append(',');
                    first = false;
                    text.Append('"').Append(name).Append("\":");
                    Json(text, field);
                }
                text.Append('}');
                break;
            case IReadOnlyList<object?> items:
                text.Append('[');
                for (var i = 0; i < items.Count; i++)
                {
                    if (i > 0) text.Append(',');
                    Json(text, items[i]);
                }
                text.Append(']');
                break;
            default: throw new ArgumentException($"no JSON for {value.GetType()}");
        }
    }

    // A guard against hangs only (a dictionary table shared by two columns at once can probe forever), not a timing check.
    [Theory(Timeout = 120_000)]
    [InlineData(1024)]
    [InlineData(100)]
    [InlineData(10)]
    public async Task Wide_JSON_lines_few_then_many_are_read_and_written_to_Parquet_exactly(int chunkLines)
    {
        // The first chunk's arrays start small and double; list columns grow past the chunk's capacity chunk after chunk;
        // chunks are released after each write, so their arrays and text blocks serve later chunks.
        var records = Enumerable.Range(0, Rows).Select(i => Expected(i, maps: false)).ToList();
        var path = _folder.Combine($"wide-{chunkLines}.jsonl");
        File.WriteAllText(path, string.Join("\n", records.Select(JsonLine)) + "\n", new UTF8Encoding(false));
        var schema = Schema(maps: false);
        var output = _folder.Combine($"wide-{chunkLines}.parquet");

        var read = new List<Record>();
        await using (var stream = File.Create(output))
        await using (var writer = new ParquetFileWriter(stream, schema, CompressionKind.Snappy, rowGroupRecords: RowGroupRows))
        {
            await foreach (var chunk in new JsonLinesBatchReader(chunkSize: chunkLines).ReadAsync(path, false, schema, CancellationToken.None))
            {
                read.AddRange(chunk.Records);
                await writer.WriteAsync(chunk, CancellationToken.None);
                chunk.Release();
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        RecordAssert.Equal(records, read);
        AssertDuckDbReadsExpected(output, maps: false);
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), output, false, schema));
    }
    [Fact(Timeout = 120_000)]
    public async Task Wide_JSON_batches_of_a_few_lines_then_many_sharing_pools_keep_the_values_of_chunks_never_released()
    {
        // One export's pools serve a batch of a few lines (its arrays of 64 entries), then one of many in chunks whose first
        // arrays grow from 64 and whose list levels outgrow the chunk's capacity every chunk; every third chunk is kept
        // unreleased while the others go back: a kept chunk's arrays must never be handed to a later chunk.
        const int few = 5, chunkLines = 256;
        var records = Enumerable.Range(0, Rows).Select(i => Expected(i, maps: false)).ToList();
        var fewPath = _folder.Combine("few.jsonl");
        var manyPath = _folder.Combine("many.jsonl");
        File.WriteAllText(fewPath, string.Join("\n", records.Take(few).Select(JsonLine)) + "\n", new UTF8Encoding(false));
        File.WriteAllText(manyPath, string.Join("\n", records.Skip(few).Select(JsonLine)) + "\n", new UTF8Encoding(false));
        var schema = Schema(maps: false);
        var pools = new RowGroupPools();
        var reader = new JsonLinesBatchReader(chunkLines, onInvalidRecord: null, pools);

        var (read, chunks) = await ReadKeepingEveryThirdChunkAsync(reader, [fewPath, manyPath], schema, records);

        Assert.Equal(Rows, read);
        Assert.True(chunks > 9);
    }

    /// <summary>
    /// Reads <paramref name="paths"/> in order, keeping every third chunk unreleased and releasing the others once checked
    /// against <paramref name="records"/>; the kept chunks are checked at the end, when later chunks had the pools' arrays.
    /// </summary>
    private static async Task<(int Rows, int Chunks)> ReadKeepingEveryThirdChunkAsync(
        JsonLinesBatchReader reader, string[] paths, DatasetSchema schema, List<Record> records)
    {
        var kept = new List<(int First, RecordChunk Chunk)>();
        var read = 0;
        var chunks = 0;
        foreach (var path in paths)
        {
            await foreach (var chunk in reader.ReadAsync(path, false, schema, CancellationToken.None))
            {
                if (chunks++ % 3 == 0) kept.Add((read, chunk));
                else
                {
                    RecordAssert.Equal(records.Skip(read).Take(chunk.RowCount).ToList(), chunk.Records.ToList());
                    chunk.Release();
                }
                read += chunk.RowCount;
            }
        }
        foreach (var (first, chunk) in kept) RecordAssert.Equal(records.Skip(first).Take(chunk.RowCount).ToList(), chunk.Records.ToList());
        return (read, chunks);
    }

    /// <summary>
    /// 1,000 text columns: 700 lines of 8-byte values (28,000 bytes a line in a chunk: 1,000 × a 16-byte slice, a 4-byte
    /// level and the 8 bytes), then 3,000 lines of nulls (4,000 bytes a line: the levels).
    /// </summary>
    private static (DatasetSchema Schema, List<Record> Records, string Path) WideTextLines(TempFolder folder, string name)
    {
        const int columns = 1000;
        var schema = new DatasetSchema(Enumerable.Range(0, columns).Select(c => new SchemaField($"c{c:D4}", FieldKind.String)).ToList());
        var records = new List<Record>();
        var text = new StringBuilder();
        for (var line = 0; line < 3700; line++)
        {
            var record = new Record();
            text.Append('{');
            for (var c = 0; c < columns; c++)
            {
                var value = line < 700 ? $"{line:D4}{c:D4}" : null;
                record[$"c{c:D4}"] = value;
                if (value is not null) text.Append(c == 0 ? "" : ",").Append($"\"c{c:D4}\":\"{value}\"");
            }
            text.Append("}\n");
            records.Add(record);
        }
        var path = folder.Combine(name);
        File.WriteAllText(path, text.ToString(), new UTF8Encoding(false));
        return (schema, records, path);
    }

    [Fact]
    public async Task Wide_JSON_lines_close_chunks_on_the_bytes_they_hold()
    {
        // A chunk closes at 8 MiB held (JsonLinesBatchReader.DefaultChunkBytes) before its 4,096 lines: the 300th line
        // of 28,000 bytes reaches it (299 hold 8,372,000). Later chunks close at 300 lines, the rows the first held, their
        // arrays made for them; chunks of 300 lines holding under half of it (lines of nulls) double it: 600, then 1,200.
        // All 3,700 lines were one chunk of 271 MB held for 2,000 lines of 5,000 text columns, 28 MB here.
        var (schema, records, path) = WideTextLines(_folder, "wide-text.jsonl");

        var rows = new List<int>();
        var read = new List<Record>();
        await foreach (var chunk in new JsonLinesBatchReader().ReadAsync(path, false, schema, CancellationToken.None))
        {
            rows.Add(chunk.RowCount);
            read.AddRange(chunk.Records);
            chunk.Release();
        }

        Assert.Equal([300, 300, 300, 600, 1200, 1000], rows);
        RecordAssert.Equal(records, read);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(1_000_000)]
    public async Task Wide_JSON_chunks_closed_on_their_bytes_with_pools_keep_the_values_of_chunks_never_released(long chunkBytes)
    {
        // Chunks closing on their bytes change the rows later chunks' arrays are made for (down, then up as lines of nulls
        // come) while one export's pools serve them; every third chunk is kept unreleased, the others go back.
        var (schema, records, path) = WideTextLines(_folder, $"wide-text-{chunkBytes}.jsonl");
        var reader = new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, onInvalidRecord: null, new RowGroupPools(), chunkBytes: chunkBytes);

        var (read, chunks) = await ReadKeepingEveryThirdChunkAsync(reader, [path], schema, records);

        Assert.Equal(records.Count, read);
        Assert.True(chunks > 6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(100)]
    public void Chunks_of_a_small_capacity_built_with_pools_keep_their_values(int capacity)
    {
        // Capacities below and at the first arrays' 64 entries; chunks of 0 rows, fewer and many more rows than the
        // capacity (list and map levels past it); every other chunk released so its arrays serve the next ones.
        var schema = Schema(maps: true);
        var records = Enumerable.Range(0, 600).Select(i => Expected(i, maps: true)).ToList();
        var pools = new RowGroupPools();
        var builder = new ChunkBuilder(schema, capacity, pools);
        var kept = new List<(int First, RecordChunk Chunk)>();
        var next = 0;
        foreach (var rows in new[] { 0, 1, 2, 70, 0, 5, 130, 1, 64, 65, 200, 62 })
        {
            foreach (var record in records.Skip(next).Take(rows)) builder.AddRecord(record);
            var lease = new RowGroupLease(pools, released: null);
            var chunk = builder.Build(lease).HeldBy(lease);
            lease.Release();
            Assert.Equal(rows, chunk.RowCount);
            if (kept.Count % 2 == 0 || rows == 0) kept.Add((next, chunk));
            else
            {
                RecordAssert.Equal(records.Skip(next).Take(rows).ToList(), chunk.Records.ToList());
                chunk.Release();
                kept.Add((-1, chunk));
            }
            next += rows;
        }
        foreach (var (first, chunk) in kept.Where(k => k.First >= 0))
        {
            RecordAssert.Equal(records.Skip(first).Take(chunk.RowCount).ToList(), chunk.Records.ToList());
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Wide_parts_sharing_a_shelf_are_the_files_written_alone()
    {
        // An export's parts one after the other: a wide part takes the column buffers, encoders and their shared scratch
        // the part before it left (grown by other rows), and must come out byte for byte as the file written alone.
        var schema = Schema(maps: true);
        var all = Enumerable.Range(0, Rows).Select(i => Expected(i, maps: true)).ToList();
        var parts = new[] { all, all.Skip(1000).Take(300).ToList(), all.AsEnumerable().Reverse().Take(2500).ToList(), all.Take(7).ToList() };
        var shelf = new WriterShelf();
        for (var i = 0; i < parts.Length; i++)
        {
            var alone = await WritePartAsync(schema, parts[i], shelf: null);
            var shelved = await WritePartAsync(schema, parts[i], shelf);
            Assert.True(alone.SequenceEqual(shelved), $"part {i} differs when written with the shelf's buffers");
        }

        static async Task<byte[]> WritePartAsync(DatasetSchema schema, IReadOnlyList<Record> records, WriterShelf? shelf)
        {
            using var output = new MemoryStream();
            await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Parquet, CompressionKind.Snappy, long.MaxValue, shelf))
            {
                foreach (var chunk in records.Chunk(700)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
                await writer.CompleteAsync(CancellationToken.None);
            }
            return output.ToArray();
        }
    }
}
