using System.IO.Compression;
using System.Runtime.InteropServices;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;
using Parquet.Meta;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// Data of extreme shapes (deep nesting, many columns, huge values, many or empty batches, odd names) exported through the
/// engine to a local folder: each either exports what other tools read back as the lake held it, or fails the run naming
/// the batch, never crashing the process.
/// </summary>
public sealed class ExtremeShapeTests : IDisposable
{
    private readonly TempFolder _root = new("de-shapes");
    private readonly ExportEngine _engine;

    public ExtremeShapeTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");
    private string Batch(string file) => Path.Combine(Lake, "web", file);

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    private async Task<RunRecord> ExportAsync(FileType fileType, CompressionKind compression = CompressionKind.None, int maxFileSizeMB = 256)
    {
        var destination = new DestinationSettings
        {
            Name = $"local-{Guid.NewGuid():N}",
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = compression,
            MaxFileSizeMB = maxFileSizeMB,
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = $"f-{Guid.NewGuid():N}", DestinationId = destination.Id, DatasetIds = ["web"], Mode = ExportMode.Full };
        _engine.AddFlow(flow);
        return Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
    }

    /// <summary>
    /// A Parquet file of no rows whose footer nests <paramref name="depth"/> optional groups <c>d.a.a...</c> around a leaf
    /// <c>a</c>, next to a top-level <c>id</c>: written by hand, as no writer at hand makes such depths in reasonable time.
    /// </summary>
    private static void WriteNestedFooter(string path, int depth)
    {
        var elements = new List<SchemaElement>
        {
            new() { Name = "schema", NumChildren = 2 },
            new() { Name = "id", Type = Parquet.Meta.Type.INT64, RepetitionType = FieldRepetitionType.OPTIONAL },
        };
        for (var level = 0; level < depth; level++)
        {
            elements.Add(new() { Name = level == 0 ? "d" : "a", NumChildren = 1, RepetitionType = FieldRepetitionType.OPTIONAL });
        }
        elements.Add(new() { Name = "a", Type = Parquet.Meta.Type.INT64, RepetitionType = FieldRepetitionType.OPTIONAL });
        using var footer = new MemoryStream();
        ParquetThrift.Write(new FileMetaData { Version = 1, Schema = elements, NumRows = 0, RowGroups = [], CreatedBy = "hand" }, footer);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        file.Write(ParquetThrift.Magic);
        file.Write(footer.ToArray());
        file.Write(BitConverter.GetBytes((int)footer.Length));
        file.Write(ParquetThrift.Magic);
    }

    [Fact]
    public async Task A_parquet_batch_nested_ten_thousand_levels_deep_fails_the_run_naming_it_and_the_process_lives()
    {
        // Parquet.Net builds a schema by recursion: at this depth it overflowed the stack, which ends the process.
        WriteNestedFooter(Batch("deep.parquet"), 10_000);

        var run = await ExportAsync(FileType.Json);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("deep.parquet", run.Error);
        Assert.Contains("(schema)", run.Error);
        Assert.Contains($"more than {ParquetSchemaMapping.MaxSchemaDepth} levels deep", run.Error);
        var dataset = Assert.Single(_engine.GetDatasets(Lake, includeIneligible: true, default));
        Assert.False(dataset.IsEligible);
        Assert.Contains("deep.parquet", dataset.Reason);
    }

    [Theory]
    [InlineData(ParquetSchemaMapping.MaxSchemaDepth - 1, true)]   // the leaf at the limit
    [InlineData(ParquetSchemaMapping.MaxSchemaDepth, false)]
    public async Task Parquet_schemas_are_read_up_to_the_depth_limit(int groups, bool readable)
    {
        WriteNestedFooter(Batch("deep.parquet"), groups);

        var run = await ExportAsync(FileType.Json);

        Assert.True(readable == (run.Status == RunStatus.Succeeded), run.Error);
        if (!readable) Assert.Contains("deep.parquet (schema)", run.Error);
    }

    /// <summary><paramref name="lines"/> lines of <paramref name="columns"/> int64 columns c0..cN (value column × line) after an id, and a string s.</summary>
    private void WriteWideBatch(int columns, int lines = 20)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Batch("wide.jsonl"))!);
        using var writer = new StreamWriter(Batch("wide.jsonl"));
        for (var line = 0; line < lines; line++)
        {
            writer.Write($"{{\"id\":{line}");
            for (var column = 0; column < columns; column++) writer.Write($",\"c{column}\":{(long)column * line}");
            writer.Write($",\"s\":\"line {line}\"}}\n");
        }
    }

    [Fact]
    public async Task A_parquet_writer_for_five_thousand_columns_starts_small()
    {
        var schema = new DatasetSchema(Enumerable.Range(0, 5000).Select(c => new SchemaField($"c{c}", FieldKind.Int64, Nullable: true)).ToList());
        _ = ParquetFileLayout.Template(schema);   // the footer template, made once per schema, is not the writer's
        using var output = new MemoryStream();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var writer = FormatCatalog.CreateWriter(output, schema, FileType.Parquet, CompressionKind.Snappy);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await writer.DisposeAsync();

        // Each column's encoder allocated two 64 KiB page buffers up front: 660 MB before a row arrived.
        Assert.InRange(allocated, 0, 5000 * 32 * 1024);
    }

    /// <summary>The length of the array under <paramref name="memory"/> (0 when it holds nothing).</summary>
    private static int ArrayLength<T>(ReadOnlyMemory<T> memory)
    {
        if (memory.IsEmpty) return 0;
        Assert.True(MemoryMarshal.TryGetArray(memory, out var segment));
        return segment.Array!.Length;
    }

    /// <summary>Entries a column's first arrays hold (<c>ColumnBuilder.FirstLength</c>, the smallest size of an export's pools).</summary>
    private const int FirstArrayLength = 64;

    [Fact]
    public async Task A_chunk_of_twenty_lines_of_five_thousand_columns_holds_arrays_for_its_rows_not_for_a_full_chunk()
    {
        WriteWideBatch(5000);
        var reader = new JsonLinesBatchReader();
        var schema = await reader.ReadSchemaAsync(Batch("wide.jsonl"), false, default);

        var chunks = 0;
        await foreach (var chunk in reader.ReadAsync(Batch("wide.jsonl"), false, schema, default))
        {
            chunks++;
            Assert.Equal(20, chunk.RowCount);
            Assert.Equal(5002, chunk.Columns.Count);
            foreach (var column in chunk.Columns)
            {
                // Sized for the chunk's 4,096 lines up front, every array held 4,096 entries: 245 MB for 1.3 MB of JSON.
                Assert.InRange(ArrayLength(column.Definitions), 0, FirstArrayLength);
                var values = column switch
                {
                    ColumnData<long> int64 => ArrayLength(int64.Values),
                    ColumnData<ReadOnlyMemory<byte>> text => ArrayLength(text.Values),
                    _ => throw new InvalidOperationException(column.GetType().Name),
                };
                Assert.InRange(values, 20, FirstArrayLength);
            }
            chunk.Release();
        }
        Assert.Equal(1, chunks);
    }

    [Fact]
    public void Building_a_chunk_of_twenty_rows_of_five_thousand_columns_takes_no_arrays_for_rows_that_may_never_come()
    {
        var schema = new DatasetSchema(Enumerable.Range(0, 5000).Select(c => new SchemaField($"c{c}", FieldKind.Int64, Nullable: true)).ToList());
        var builder = new ChunkBuilder(schema, rowCapacity: 4096);
        for (var row = 0; row < 20; row++) builder.AddRecord(Enumerable.Range(0, 5000).ToDictionary(c => $"c{c}", c => (object?)((long)c * row)));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var chunk = builder.Build();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(20, chunk.RowCount);
        // The builder took arrays of 4,096 entries for its next chunk in every column at once, 245 MB, though a batch's
        // last chunk has none after it: arrays are taken when the next chunk's first entry comes.
        Assert.InRange(allocated, 0, 5000 * 1024);
    }

    [Fact]
    public async Task Columns_growing_together_through_two_thousand_wide_lines_leave_no_outgrown_arrays_in_the_pools()
    {
        // Every column grows from 64 to 2,048 entries at the same lines; the arrays it outgrew went back to the pools,
        // where no column wanted them again: an export kept them all (2,000 lines of 5,000 text columns: 200 MB).
        WriteWideBatch(500, lines: 2000);
        var pools = new RowGroupPools();
        var reader = new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, null, pools);
        var schema = await reader.ReadSchemaAsync(Batch("wide.jsonl"), false, default);
        var int64Pool = (StepPool<long>)pools.Of<long>();
        var levelPool = (StepPool<int>)pools.Of<int>();

        var chunks = 0;
        await foreach (var chunk in reader.ReadAsync(Batch("wide.jsonl"), false, schema, default))
        {
            chunks++;
            Assert.Equal(2000, chunk.RowCount);
            Assert.Equal(0, int64Pool.FreeArrays);
            Assert.Equal(0, levelPool.FreeArrays);
            chunk.Release();
        }

        Assert.Equal(1, chunks);
        // The chunk's own arrays (id and c0..c499) are back for the next chunk.
        Assert.Equal(501, int64Pool.FreeArrays);
    }

    [Fact]
    public async Task A_parquet_writer_buffering_twenty_rows_of_five_thousand_columns_allocates_for_those_rows()
    {
        // Half int64, half text, 20 rows.
        var schema = new DatasetSchema(Enumerable.Range(0, 5000).Select(c => new SchemaField($"c{c}", c % 2 == 0 ? FieldKind.Int64 : FieldKind.String, Nullable: true)).ToList());
        var builder = new ChunkBuilder(schema, 20);
        for (var row = 0; row < 20; row++)
        {
            builder.AddRecord(Enumerable.Range(0, 5000).ToDictionary(c => $"c{c}", c => c % 2 == 0 ? (object?)((long)c * row) : $"v{c * row}"));
        }
        var chunk = builder.Build();
        _ = ParquetFileLayout.Template(schema);   // the footer template, made once per schema, is not the writer's
        using var output = new MemoryStream();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var writer = FormatCatalog.CreateWriter(output, schema, FileType.Parquet, CompressionKind.Snappy);
        await writer.WriteAsync(chunk, default);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Buffered on this thread (the row group is encoded at CompleteAsync): nothing was written yet.
        Assert.Equal(0, output.Length);
        await writer.CompleteAsync(default);
        await writer.DisposeAsync();
        Assert.Equal(20, writer.RecordsWritten);
        // Level and value arrays of 1,024 entries per column and a 256 KiB text block per text column: 800 MB.
        Assert.InRange(allocated, 0, 5000 * 8 * 1024);
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    public async Task Five_thousand_columns_export_and_read_back_in_duckdb(FileType fileType, CompressionKind compression)
    {
        WriteWideBatch(5000);

        var run = await ExportAsync(fileType, compression);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var file = Assert.Single(run.Files).SinkPath;
        using var duck = new DuckDb();
        var relation = fileType == FileType.Parquet ? $"read_parquet({DuckDb.Quote(file)}, hive_partitioning = false)" : $"read_json({DuckDb.Quote(file)}, format = 'newline_delimited', hive_partitioning = false)";
        Assert.Equal(["id", .. Enumerable.Range(0, 5000).Select(c => $"c{c}"), "s"], duck.Describe(relation).Keys);
        Assert.Equal("19 | 94981 | line 19", Assert.Single(duck.Strings($"SELECT id || ' | ' || c4999 || ' | ' || s FROM {relation} WHERE id = 19")));
        // Every value: the sum over lines 0..19 and columns 0..4999 of column × line.
        Assert.Equal(190L * 12_497_500, duck.Count($"SELECT sum(list_sum([*COLUMNS('^c[0-9]+$')]))::BIGINT FROM {relation}"));
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    public async Task Wide_text_lines_export_in_parts_and_read_back_exactly(FileType fileType, CompressionKind compression)
    {
        // Two batches of 1,500 lines of 1,000 text columns (8-byte values, every 13th null) and an id: 28 KB a line read,
        // 42 MB a batch, so each batch is read in chunks closed on their bytes (about 300 lines), the two batches at once,
        // each parsing on only while its chunks not yet written hold little enough. Parts of 8 MB: Parquet row groups of
        // 2 MiB buffered (about 70 lines), closed on their bytes too. Every part read back by our readers gives the lines.
        const int columns = 1000, linesPerBatch = 1500;
        var schema = new DatasetSchema(
            [new SchemaField("id", FieldKind.Int64), .. Enumerable.Range(0, columns).Select(c => new SchemaField($"c{c:D3}", FieldKind.String))]);
        var expected = new List<Record>();
        Directory.CreateDirectory(Path.Combine(Lake, "web"));
        for (var batch = 0; batch < 2; batch++)
        {
            using var writer = new StreamWriter(Batch($"wide-{batch}.jsonl"));
            for (var line = batch * linesPerBatch; line < (batch + 1) * linesPerBatch; line++)
            {
                var record = new Record { ["id"] = (long)line };
                writer.Write($"{{\"id\":{line}");
                for (var c = 0; c < columns; c++)
                {
                    var value = (line + c) % 13 == 0 ? null : $"{line:D5}{c:D3}";
                    record[$"c{c:D3}"] = value;
                    writer.Write(value is null ? $",\"c{c:D3}\":null" : $",\"c{c:D3}\":\"{value}\"");
                }
                writer.Write("}\n");
                expected.Add(record);
            }
        }

        var run = await ExportAsync(fileType, compression, maxFileSizeMB: 8);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(2 * linesPerBatch, run.RecordsWritten);
        Assert.True(run.Files.Count > 1, $"{run.Files.Count} part(s)");
        var read = new List<Record>();
        foreach (var file in run.Files)
        {
            IBatchReader reader = fileType == FileType.Parquet ? new ParquetBatchReader() : new JsonLinesBatchReader();
            var records = await RecordAssert.ReadAllAsync(reader, file.SinkPath, compression == CompressionKind.Gzip, schema);
            Assert.Equal(file.Records, records.Count);
            read.AddRange(records);
        }
        RecordAssert.Equal(expected, read);
    }

    [Fact]
    public async Task A_huge_string_is_stored_once_in_parquet_without_min_max_statistics()
    {
        var huge = string.Concat(Enumerable.Range(0, 100_000).Select(i => (char)('a' + i * 7 % 26)));
        Directory.CreateDirectory(Path.GetDirectoryName(Batch("a.jsonl"))!);
        File.WriteAllText(Batch("a.jsonl"), $"{{\"id\":1,\"s\":\"{huge}\"}}\n{{\"id\":2,\"s\":\"short\"}}\n");

        var run = await ExportAsync(FileType.Parquet, CompressionKind.None, maxFileSizeMB: 1);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var file = Assert.Single(run.Files).SinkPath;
        // The least value went into the footer twice (statistics' min and legacy min): 300 KB for 100 KB of data.
        Assert.InRange(new FileInfo(file).Length, huge.Length, huge.Length + 4096);
        using var duck = new DuckDb();
        Assert.Equal(["1:100000", "2:5"], duck.Strings($"SELECT id || ':' || length(s) FROM read_parquet({DuckDb.Quote(file)}) ORDER BY id"));
        Assert.Equal(huge, duck.Scalar($"SELECT s FROM read_parquet({DuckDb.Quote(file)}) WHERE id = 1"));
        Assert.Equal(["id:1:2", "s::"], duck.Strings(
            $"SELECT path_in_schema || ':' || coalesce(stats_min_value, '') || ':' || coalesce(stats_max_value, '') FROM parquet_metadata({DuckDb.Quote(file)}) ORDER BY column_id"));
    }

    /// <summary>A line whose field d holds <paramref name="objects"/> objects within each other, so the line nests one more level.</summary>
    private static string NestedLine(int id, int objects) =>
        $"{{\"id\":{id},\"d\":" + string.Concat(Enumerable.Repeat("{\"a\":", objects)) + "1" + new string('}', objects) + "}";

    [Fact]
    public async Task Json_lines_nested_64_levels_export_and_deeper_ones_fail_naming_the_line_and_the_limit()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Batch("a.jsonl"))!);
        File.WriteAllText(Batch("a.jsonl"), NestedLine(1, 63) + "\n");

        var run = await ExportAsync(FileType.Json);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(NestedLine(1, 63), Assert.Single(File.ReadAllLines(Assert.Single(run.Files).SinkPath)));

        foreach (var objects in new[] { 64, 10_000 })
        {
            File.WriteAllText(Batch("a.jsonl"), NestedLine(1, 1) + "\n" + NestedLine(2, objects) + "\n");

            run = await ExportAsync(FileType.Json);

            Assert.Equal(RunStatus.Failed, run.Status);
            // The parser's message (JsonSchemaInferenceTests.Nesting_deeper_than_the_parsers_limit_gives_its_message).
            Assert.Contains("a.jsonl (line 2): invalid JSON: The maximum configured depth of 64 has been exceeded.", run.Error);
        }
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Zstd)]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    public async Task A_list_of_a_million_elements_in_one_record_passes_a_1_MB_file_limit_whole(FileType fileType, CompressionKind compression)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Batch("a.jsonl"))!);
        File.WriteAllText(Batch("a.jsonl"), "{\"id\":1,\"l\":[" + string.Join(',', Enumerable.Range(0, 1_000_000)) + "]}\n{\"id\":2,\"l\":[5]}\n");

        var run = await ExportAsync(fileType, compression, maxFileSizeMB: 1);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        // The first record holds 16 MB read (a million int64 values and levels), past the 8 MiB that close a JSON chunk
        // (JsonLinesBatchReader.DefaultChunkBytes): a chunk of its own, written whole into the first part, which it fills;
        // the second record goes to the next part. (Read in one chunk, both went into the first part.)
        Assert.Equal([1L, 1L], run.Files.Select(file => file.Records));
        using var duck = new DuckDb();
        var files = "[" + string.Join(", ", run.Files.Select(file => DuckDb.Quote(file.SinkPath))) + "]";
        var relation = fileType == FileType.Parquet ? $"read_parquet({files})" : $"read_json({files}, format = 'newline_delimited')";
        Assert.Equal(["1:1000000:499999500000", "2:1:5"], duck.Strings($"SELECT id || ':' || len(l) || ':' || list_sum(l) FROM {relation} ORDER BY id"));
    }

    [Theory]
    [InlineData(FileType.Parquet, CompressionKind.Zstd)]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    public async Task A_record_past_the_file_limit_between_narrow_ones_fills_the_part_it_shares_with_those_before_it(FileType fileType, CompressionKind compression)
    {
        // Record 4 (a million-element list, 16 MB read) comes after three narrow records: its chunk closes on its bytes at
        // the first look past it (the 4th line), so it holds records 1-4, written into one part; that part is past the 1 MB
        // limit, so records 5-7 go to the next. The record is whole in one part, not alone in it (docs/formats.md, Limits).
        Directory.CreateDirectory(Path.GetDirectoryName(Batch("a.jsonl"))!);
        var lines = Enumerable.Range(1, 3).Select(i => $"{{\"id\":{i},\"l\":[{i}]}}")
            .Append("{\"id\":4,\"l\":[" + string.Join(',', Enumerable.Range(0, 1_000_000)) + "]}")
            .Concat(Enumerable.Range(5, 3).Select(i => $"{{\"id\":{i},\"l\":[{i}]}}"));
        File.WriteAllText(Batch("a.jsonl"), string.Join("\n", lines) + "\n");

        var run = await ExportAsync(fileType, compression, maxFileSizeMB: 1);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        using var duck = new DuckDb();
        string Relation(string path) => fileType == FileType.Parquet ? $"read_parquet({DuckDb.Quote(path)})" : $"read_json({DuckDb.Quote(path)}, format = 'newline_delimited')";
        Assert.Equal(
            ["1:1,2:1,3:1,4:1000000", "5:1,6:1,7:1"],
            run.Files.Select(file => string.Join(",", duck.Strings($"SELECT id || ':' || len(l) FROM {Relation(file.SinkPath)} ORDER BY id"))));
        Assert.True(new FileInfo(run.Files[0].SinkPath).Length > 1 << 20);
    }

    [Fact]
    public async Task Thousands_of_one_record_batches_and_empty_ones_export_every_record_once()
    {
        for (var i = 0; i < 2000; i++)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Batch("x"))!);
            File.WriteAllText(Batch($"b{i:D4}.jsonl"), $"{{\"id\":{i}}}\n");
        }
        File.WriteAllBytes(Batch("empty.jsonl"), []);
        File.WriteAllText(Batch("blank.jsonl"), "\n  \r\n\n");
        using (var gzip = new GZipStream(File.Create(Batch("empty.jsonl.gz")), CompressionLevel.Optimal))
        {
            gzip.WriteByte((byte)'\n');   // a valid gzip member holding one blank line
        }
        using (var duck = new DuckDb())
        {
            duck.Execute($"COPY (SELECT 1::BIGINT AS id WHERE false) TO {DuckDb.Quote(Batch("none.parquet"))} (FORMAT parquet)");
        }

        var run = await ExportAsync(FileType.Parquet, CompressionKind.Snappy);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal((2000, 2004), (run.RecordsWritten, run.BatchCount));
        using var check = new DuckDb();
        Assert.Equal([$"2000:0:1999:2000"], check.Strings(
            $"SELECT count(*) || ':' || min(id) || ':' || max(id) || ':' || count(DISTINCT id) FROM read_parquet({DuckDb.Quote(Assert.Single(run.Files).SinkPath)})"));
    }

    [Fact]
    public async Task Objects_whose_keys_are_data_with_values_of_mixed_kinds_stop_at_the_field_limit_naming_the_line_and_field()
    {
        // Each line's object m holds keys of its own (a map keyed by ids), but their values are numbers and strings, which
        // merge into no map's value: a struct, each key a field null on every other line. Inferred as a struct, 12,000
        // lines of one key each made 12,000 columns: 144 M null entries, a 1.7 GB JSON file written in almost two minutes
        // from 360 KB of lines. Here 120 lines of 100 keys, so the test stays quick.
        Directory.CreateDirectory(Path.GetDirectoryName(Batch("a.jsonl"))!);
        void WriteLines(bool mixedKinds) => File.WriteAllLines(Batch("a.jsonl"), Enumerable.Range(0, 120).Select(i =>
            $"{{\"id\":{i},\"m\":{{" + string.Join(',', Enumerable.Range(0, 100).Select(j => $"\"k{i}_{j}\":" + (mixedKinds && j % 2 == 1 ? $"\"s{j}\"" : $"{j}"))) + "}}"));
        WriteLines(mixedKinds: true);

        var run = await ExportAsync(FileType.Json);

        Assert.Equal(RunStatus.Failed, run.Status);
        // id and m are fields 1 and 2; line 100 adds fields 9,903 to 10,002.
        Assert.Equal(10_000, JsonSchemaInference.MaxFields);
        Assert.Contains("a.jsonl (line 100): field 'm.k99_98' would be field 10001 of the batch", run.Error);
        Assert.Contains("becomes a map rather than pass this when its keys' values are of one kind; these fields are a line's own keys, objects of fewer keys, or keys whose values are of kinds that do not merge", run.Error);
        Assert.Empty(Directory.Exists(Output) ? Directory.GetFiles(Output, "*", SearchOption.AllDirectories) : []);

        // The same keys with values of one kind: a map, which exports.
        WriteLines(mixedKinds: false);
        var mapRun = await ExportAsync(FileType.Json);
        Assert.True(mapRun.Status == RunStatus.Succeeded, mapRun.Error);
        Assert.Equal(120L, mapRun.RecordsWritten);
    }
}
