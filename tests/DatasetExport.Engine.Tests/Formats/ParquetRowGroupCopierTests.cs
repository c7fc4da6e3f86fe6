using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Row groups of Parquet batches copied into our files still encoded (<see cref="ParquetRowGroupCopier"/>): DuckDB reads the
/// copies as the sources, whatever the source's codec and page version and the target's codec; batches stored
/// differently are left to the decoding path; damaged pages fail as batch read errors.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParquetRowGroupCopierTests(FormatsFixture fixture)
{
    private const int Rows = 3000;
    private const int RowGroupRows = 700;
    private readonly DuckDb _duck = fixture.Duck;

    /// <summary>Every kind DuckDB stores as our files do, with nulls, nesting, dictionary and plain strings.</summary>
    private static string CopyableSql(int rows, int firstId = 0) => $$"""
        SELECT
          i + {{firstId}} AS id,
          (i * 7)::INTEGER AS i32,
          i::DOUBLE / 3 AS d,
          (i + 0.5)::FLOAT AS f,
          i % 2 = 0 AS bo,
          'text ' || i || ' ü 😀' AS s,
          CASE WHEN i % 3 = 0 THEN NULL ELSE 'r' || (i % 10) END AS referrer,
          ('b' || i)::BLOB AS bl,
          DATE '2024-01-02' + i::INTEGER AS dt,
          TIMESTAMP '2024-01-02 03:04:05.123456' + to_seconds(i) AS ts,
          TIME '12:34:56.789012' AS tm,
          {'a': i, 'b': 'x' || i} AS st,
          CASE i % 3 WHEN 0 THEN ['x', NULL] WHEN 1 THEN NULL ELSE [] END AS tags,
          [[i], [], NULL] AS lstlst,
          MAP {'k': i} AS mp
        FROM range({{rows}}) r(i)
        """;

    private static readonly string[] SameRows =
    [
        "o.i32 = e.i32", "o.d = e.d", "o.f = e.f", "o.bo = e.bo", "o.s = e.s", "o.referrer IS NOT DISTINCT FROM e.referrer", "o.bl = e.bl",
        "o.dt = e.dt", "epoch_us(o.ts) = epoch_us(e.ts)", "o.tm = e.tm", "o.st = e.st", "o.tags IS NOT DISTINCT FROM e.tags",
        "o.lstlst = e.lstlst", "o.mp = e.mp",
    ];

    private string WriteSource(string codec = "snappy", string version = "V1", string? sql = null)
    {
        var path = fixture.NewPath($"source-{codec}-{version}.parquet");
        _duck.Execute($"COPY ({sql ?? CopyableSql(Rows)}) TO {DuckDb.Quote(path)} (FORMAT parquet, ROW_GROUP_SIZE {RowGroupRows}, COMPRESSION {codec}, PARQUET_VERSION {version})");
        return path;
    }

    private static Task<DatasetSchema> SchemaOfAsync(string path) => new ParquetBatchReader().ReadSchemaAsync(path, gzipped: false, CancellationToken.None);

    private static async Task<ParquetRowGroupCopier> OpenAsync(string source, DatasetSchema schema, CompressionKind target) =>
        await ParquetRowGroupCopier.TryOpenAsync(source, gzipped: false, schema, target, long.MaxValue, pools: null, CancellationToken.None)
        ?? throw new Xunit.Sdk.XunitException($"{source} was not found copyable.");

    private async Task<string> CopyAsync(string source, CompressionKind target)
    {
        var schema = await SchemaOfAsync(source);
        var copier = await OpenAsync(source, schema, target);
        var output = fixture.NewPath("copy.parquet");
        await using var file = File.Create(output);
        await using var writer = new ParquetFileWriter(file, schema, target);
        await foreach (var rowGroup in copier.ReadAsync(CancellationToken.None))
        {
            using (rowGroup) await writer.WriteAsync(rowGroup, CancellationToken.None);
        }
        await writer.CompleteAsync(CancellationToken.None);
        Assert.Equal(Rows, writer.RecordsWritten);
        return output;
    }

    [Theory]
    [InlineData("snappy", "V1", CompressionKind.Snappy, "SNAPPY")]
    [InlineData("zstd", "V1", CompressionKind.Zstd, "ZSTD")]
    [InlineData("snappy", "V1", CompressionKind.Zstd, "ZSTD")]
    [InlineData("zstd", "V2", CompressionKind.Snappy, "SNAPPY")]
    [InlineData("snappy", "V2", CompressionKind.Gzip, "GZIP")]
    [InlineData("gzip", "V1", CompressionKind.None, "UNCOMPRESSED")]
    [InlineData("uncompressed", "V2", CompressionKind.Zstd, "ZSTD")]
    [InlineData("lz4_raw", "V1", CompressionKind.Snappy, "SNAPPY")]
    [InlineData("brotli", "V2", CompressionKind.Zstd, "ZSTD")]
    public async Task Copied_row_groups_read_back_in_DuckDB_as_the_source_with_the_target_codec(string codec, string version, CompressionKind target, string expectedCodec)
    {
        var source = WriteSource(codec, version);

        var output = await CopyAsync(source, target);

        var ours = $"read_parquet({DuckDb.Quote(output)})";
        _duck.AssertSameRows(ours, $"read_parquet({DuckDb.Quote(source)})", SameRows, Rows);
        Assert.Equal([expectedCodec], _duck.Strings($"SELECT DISTINCT compression FROM parquet_metadata({DuckDb.Quote(output)})"));
        // The source's row groups, not ours (ours would be one group of 3000 rows).
        Assert.Equal(
            _duck.Strings($"SELECT row_group_num_rows FROM parquet_metadata({DuckDb.Quote(source)}) WHERE column_id = 0 ORDER BY row_group_id"),
            _duck.Strings($"SELECT row_group_num_rows FROM parquet_metadata({DuckDb.Quote(output)}) WHERE column_id = 0 ORDER BY row_group_id"));
        // Row group pruning by statistics still finds every row.
        Assert.Equal(1, _duck.Count($"SELECT count(*) FROM {ours} WHERE id = 2100"));
        Assert.Equal(RowGroupRows, _duck.Count($"SELECT count(*) FROM {ours} WHERE ts >= TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + INTERVAL 1400 SECOND AND ts < TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + INTERVAL 2100 SECOND"));
    }

    [Theory]
    [InlineData("V1")]
    [InlineData("V2")] // DELTA_BINARY_PACKED dates and timestamps, which the engine decodes itself (Parquet.Net 6.1.0 does not)
    public async Task Our_reader_reads_a_copy_as_it_reads_the_source(string version)
    {
        var source = WriteSource("snappy", version);
        var output = await CopyAsync(source, CompressionKind.Zstd);
        var schema = await SchemaOfAsync(source);

        var expected = await ReadRecordsAsync(source, schema);
        var actual = await ReadRecordsAsync(output, schema);

        Assert.Equal(Rows, actual.Count);
        RecordAssert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Zstd)]
    public async Task A_dictionary_page_at_the_start_of_a_row_group_keeps_its_offset(CompressionKind target)
    {
        // The first column of each row group is dictionary-encoded, so its dictionary page starts the copied bytes.
        var source = WriteSource(sql: "SELECT 'country-' || (i % 7) AS country, i AS id FROM range(3000) r(i)");
        var schema = await SchemaOfAsync(source);
        Assert.Contains("DICTIONARY", string.Join(",", _duck.Strings($"SELECT encodings FROM parquet_metadata({DuckDb.Quote(source)}) WHERE column_id = 0")));

        var output = await CopyAsync(source, target);

        foreach (var group in ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(output)).RowGroups)
        {
            var first = group.Columns[0].MetaData!;
            Assert.Equal(group.FileOffset, first.DictionaryPageOffset);
            Assert.True(first.DataPageOffset > first.DictionaryPageOffset);
        }
        RecordAssert.Equal(await ReadRecordsAsync(source, schema), await ReadRecordsAsync(output, schema));
        Assert.Equal(0, _duck.Count($"SELECT count(*) FROM (SELECT * FROM read_parquet({DuckDb.Quote(source)}) EXCEPT SELECT * FROM read_parquet({DuckDb.Quote(output)}))"));
    }

    [Fact]
    public async Task Copied_row_groups_and_encoded_chunks_share_one_file_in_order()
    {
        var source = WriteSource();
        var schema = await SchemaOfAsync(source);
        var before = WriteSource(sql: CopyableSql(100, firstId: -100));
        var after = WriteSource(sql: CopyableSql(100, firstId: Rows));
        var output = fixture.NewPath("mixed.parquet");

        await using (var file = File.Create(output))
        await using (var writer = new ParquetFileWriter(file, schema, CompressionKind.Snappy))
        {
            await foreach (var chunk in new ParquetBatchReader().ReadAsync(before, gzipped: false, schema, CancellationToken.None)) await writer.WriteAsync(chunk, CancellationToken.None);
            await foreach (var rowGroup in (await OpenAsync(source, schema, CompressionKind.Snappy)).ReadAsync(CancellationToken.None))
            {
                using (rowGroup) await writer.WriteAsync(rowGroup, CancellationToken.None);
            }
            await foreach (var chunk in new ParquetBatchReader().ReadAsync(after, gzipped: false, schema, CancellationToken.None)) await writer.WriteAsync(chunk, CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(Rows + 200, writer.RecordsWritten);
        }

        var ids = (await ReadRecordsAsync(output, schema)).Select(record => (long)record["id"]!).ToList();
        Assert.Equal(Enumerable.Range(-100, Rows + 200).Select(i => (long)i), ids);
        _duck.AssertSameRows($"read_parquet({DuckDb.Quote(output)})",
            $"(SELECT * FROM read_parquet([{DuckDb.Quote(before)}, {DuckDb.Quote(source)}, {DuckDb.Quote(after)}]))", SameRows, Rows + 200);
    }

    [Fact]
    public async Task Batches_stored_otherwise_than_our_files_are_left_to_the_reader()
    {
        var source = WriteSource();
        var schema = await SchemaOfAsync(source);
        var nanos = WriteSource(sql: "SELECT i AS id, TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS ts FROM range(10) r(i)");
        var unsigned = WriteSource(sql: "SELECT i AS id, (i + 4000000000)::UINTEGER AS u32 FROM range(10) r(i)");
        var gzipped = source + ".gz";
        await using (var input = File.OpenRead(source))
        await using (var output = new System.IO.Compression.GZipStream(File.Create(gzipped), System.IO.Compression.CompressionLevel.Fastest))
        {
            await input.CopyToAsync(output);
        }

        // Nanoseconds where our files hold microseconds.
        Assert.Null(await ParquetRowGroupCopier.TryOpenAsync(nanos, false, await SchemaOfAsync(nanos), CompressionKind.Snappy, long.MaxValue, pools: null, default));
        // UINT32 is an Int64 column of ours, stored as INT32 in the batch.
        Assert.Null(await ParquetRowGroupCopier.TryOpenAsync(unsigned, false, await SchemaOfAsync(unsigned), CompressionKind.Snappy, long.MaxValue, pools: null, default));
        Assert.Null(await ParquetRowGroupCopier.TryOpenAsync(gzipped, true, schema, CompressionKind.Snappy, long.MaxValue, pools: null, default));
        // The dataset has a column this batch lacks: the reader fills it with nulls.
        var wider = new DatasetSchema([.. schema.Fields, new SchemaField("extra", FieldKind.String)]);
        Assert.Null(await ParquetRowGroupCopier.TryOpenAsync(source, false, wider, CompressionKind.Snappy, long.MaxValue, pools: null, default));
        // A row group larger than the part size allows is encoded again in smaller ones.
        Assert.Null(await ParquetRowGroupCopier.TryOpenAsync(source, false, schema, CompressionKind.Snappy, maxRowGroupBytes: 4096, pools: null, default));
        Assert.NotNull(await ParquetRowGroupCopier.TryOpenAsync(source, false, schema, CompressionKind.Snappy, long.MaxValue, pools: null, default));
    }

    [Theory]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Zstd)]
    public async Task A_damaged_page_fails_as_a_batch_read_error_naming_the_row_group(CompressionKind target)
    {
        var source = WriteSource();
        var schema = await SchemaOfAsync(source);
        var offset = Convert.ToInt64(_duck.Scalar(
            $"SELECT min(data_page_offset) FROM parquet_metadata({DuckDb.Quote(source)}) WHERE row_group_id = 1 AND path_in_schema = 's'"));
        var bytes = await File.ReadAllBytesAsync(source);
        for (var i = 0; i < 64; i++) bytes[offset + i] = 0xFF;
        await File.WriteAllBytesAsync(source, bytes);
        var copier = await OpenAsync(source, schema, target);

        var error = await Assert.ThrowsAsync<BatchReadException>(async () =>
        {
            await foreach (var rowGroup in copier.ReadAsync(CancellationToken.None)) rowGroup.Dispose();
        });

        Assert.Equal(source, error.FilePath);
        Assert.Equal("row group 1", error.Location);
    }

    [Fact]
    public async Task Timestamp_statistics_of_files_written_by_ParquetNet_are_left_out_of_copies()
    {
        var source = fixture.NewPath("parquet-net.parquet");
        var fields = ParquetSchemaMapping.ToParquetSchema(TimestampSchema).DataFields;
        await using (var file = File.Create(source))
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(new Parquet.Schema.ParquetSchema(fields), file))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(fields[0], Enumerable.Range(0, 100).Select(i => (long)i).ToArray(), null, null, CancellationToken.None);
            await group.WriteAsync<DateTime>(fields[1], Enumerable.Range(0, 100).Select(TimestampOf).ToArray(), null, null, CancellationToken.None);
            group.CompleteValidate();
        }
        Assert.StartsWith("Parquet.Net", ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(source)).CreatedBy, StringComparison.OrdinalIgnoreCase);

        var columns = await CopyTimestampsAsync(source);

        Assert.NotNull(columns[0].MetaData!.Statistics?.MaxValue);
        Assert.Null(columns[1].MetaData!.Statistics?.MaxValue);
        Assert.Null(columns[1].MetaData!.Statistics?.MinValue);
    }

    [Fact]
    public async Task Timestamp_statistics_of_files_the_engine_wrote_are_copied_and_name_the_engine()
    {
        var source = fixture.NewPath("engine.parquet");
        await using (var file = File.Create(source))
        await using (var writer = new ParquetFileWriter(file, TimestampSchema, CompressionKind.Snappy))
        {
            var records = Enumerable.Range(0, 100).Select(i => (IReadOnlyDictionary<string, object?>)new Record { ["id"] = (long)i, ["ts"] = TimestampOf(i) });
            await writer.WriteAsync(new RecordChunk(TimestampSchema, records), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }
        var createdBy = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(source)).CreatedBy;
        Assert.Equal(ParquetFileLayout.CreatedBy, createdBy);
        Assert.Matches(@"^DatasetExport version \d+\.\d+\.\d+", createdBy);

        var columns = await CopyTimestampsAsync(source);

        var statistics = columns[1].MetaData!.Statistics!;
        Assert.Equal(Micros(TimestampOf(0)), BitConverter.ToInt64(statistics.MinValue));
        Assert.Equal(Micros(TimestampOf(99)), BitConverter.ToInt64(statistics.MaxValue));
    }

    private static readonly DatasetSchema TimestampSchema = new([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("ts", FieldKind.Timestamp, Nullable: false)]);

    private static DateTime TimestampOf(int i) => new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddSeconds(i);

    private static long Micros(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks / 10;

    /// <summary>Copies the row groups of a file of <see cref="TimestampSchema"/> into a new one; its columns, and DuckDB filtering it on ts, as the statistics allow.</summary>
    private async Task<List<Parquet.Meta.ColumnChunk>> CopyTimestampsAsync(string source)
    {
        var output = fixture.NewPath(Path.GetFileNameWithoutExtension(source) + "-copy.parquet");
        await using (var file = File.Create(output))
        await using (var writer = new ParquetFileWriter(file, TimestampSchema, CompressionKind.Snappy))
        {
            await foreach (var rowGroup in (await OpenAsync(source, TimestampSchema, CompressionKind.Snappy)).ReadAsync(CancellationToken.None))
            {
                using (rowGroup) await writer.WriteAsync(rowGroup, CancellationToken.None);
            }
            await writer.CompleteAsync(CancellationToken.None);
        }
        Assert.Equal(50, _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(output)}) WHERE ts >= TIMESTAMPTZ '2024-01-02 03:04:55+00'"));
        return ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(output)).RowGroups.Single().Columns;
    }

    [Fact]
    public async Task Row_groups_without_rows_are_left_out()
    {
        var path = fixture.NewPath("empty-group.parquet");
        var field = new Parquet.Schema.DataField("id", typeof(long), isNullable: false);
        await using (var file = File.Create(path))
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(new Parquet.Schema.ParquetSchema(field), file))
        {
            foreach (var values in new[] { Array.Empty<long>(), [1L, 2L, 3L] })
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<long>(field, values, null, null, CancellationToken.None);
                group.CompleteValidate();
            }
        }
        var schema = await SchemaOfAsync(path);
        var copier = await OpenAsync(path, schema, CompressionKind.Zstd);

        var rowGroups = new List<long>();
        await foreach (var rowGroup in copier.ReadAsync(CancellationToken.None))
        {
            using (rowGroup) rowGroups.Add(rowGroup.RowCount);
        }

        Assert.Equal([3L], rowGroups);
    }

    [Fact]
    public async Task Batches_copied_with_one_exports_memory_read_back_as_their_sources()
    {
        // Two batches of differing codecs and page versions, recompressed through the same pool of buffers, one row group at a time.
        var first = WriteSource("snappy", "V1");
        var second = fixture.NewPath("second.parquet");
        _duck.Execute($"COPY ({CopyableSql(Rows, firstId: Rows)}) TO {DuckDb.Quote(second)} (FORMAT parquet, ROW_GROUP_SIZE {RowGroupRows}, COMPRESSION gzip, PARQUET_VERSION V2)");
        var schema = await SchemaOfAsync(first);
        var memory = new RowGroupPools(oneRowGroupAtATime: true);
        var output = fixture.NewPath("both.parquet");

        await using (var file = File.Create(output))
        await using (var writer = new ParquetFileWriter(file, schema, CompressionKind.Zstd))
        {
            foreach (var source in new[] { first, second })
            {
                var copier = await ParquetRowGroupCopier.TryOpenAsync(source, gzipped: false, schema, CompressionKind.Zstd, long.MaxValue, memory, CancellationToken.None);
                await foreach (var rowGroup in copier!.ReadAsync(CancellationToken.None))
                {
                    using (rowGroup) await writer.WriteAsync(rowGroup, CancellationToken.None);
                }
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        _duck.AssertSameRows(
            $"read_parquet({DuckDb.Quote(output)})", $"read_parquet([{DuckDb.Quote(first)}, {DuckDb.Quote(second)}])", SameRows, 2 * Rows);
        Assert.True(memory.LeaseAsync(CancellationToken.None).IsCompletedSuccessfully, "every row group gave its turn back");
    }

    [Fact]
    public async Task A_copy_stopped_early_or_failed_gives_its_turn_back()
    {
        var source = WriteSource();
        var schema = await SchemaOfAsync(source);
        var memory = new RowGroupPools(oneRowGroupAtATime: true);

        var copier = await ParquetRowGroupCopier.TryOpenAsync(source, gzipped: false, schema, CompressionKind.Zstd, long.MaxValue, memory, CancellationToken.None);
        await foreach (var rowGroup in copier!.ReadAsync(CancellationToken.None))
        {
            rowGroup.Dispose();
            break;
        }
        var entered = memory.LeaseAsync(CancellationToken.None);
        Assert.True(entered.IsCompletedSuccessfully, "the row group prepared ahead was disposed");
        entered.Result.Release();

        // The second row group's pages are damaged: its preparation fails and gives its turn back.
        var offset = Convert.ToInt64(_duck.Scalar(
            $"SELECT min(data_page_offset) FROM parquet_metadata({DuckDb.Quote(source)}) WHERE row_group_id = 1 AND path_in_schema = 's'"));
        var bytes = await File.ReadAllBytesAsync(source);
        for (var i = 0; i < 64; i++) bytes[offset + i] = 0xFF;
        await File.WriteAllBytesAsync(source, bytes);
        copier = await ParquetRowGroupCopier.TryOpenAsync(source, gzipped: false, schema, CompressionKind.Zstd, long.MaxValue, memory, CancellationToken.None);
        await Assert.ThrowsAsync<BatchReadException>(async () =>
        {
            await foreach (var rowGroup in copier!.ReadAsync(CancellationToken.None)) rowGroup.Dispose();
        });
        Assert.True(memory.LeaseAsync(CancellationToken.None).IsCompletedSuccessfully, "the failed row group gave its turn back");
    }

    [Fact]
    public async Task The_next_row_group_waits_until_the_one_before_is_disposed()
    {
        var source = WriteSource();
        var schema = await SchemaOfAsync(source);
        var memory = new RowGroupPools(oneRowGroupAtATime: true);
        var copier = await ParquetRowGroupCopier.TryOpenAsync(source, gzipped: false, schema, CompressionKind.Snappy, long.MaxValue, memory, CancellationToken.None);
        await using var rowGroups = copier!.ReadAsync(CancellationToken.None).GetAsyncEnumerator();

        Assert.True(await rowGroups.MoveNextAsync());
        var first = rowGroups.Current;
        // Nothing else can give the turn back: the second row group waits for the first to be disposed.
        var second = rowGroups.MoveNextAsync();
        Assert.False(second.IsCompleted);
        first.Dispose();

        Assert.True(await second);
        Assert.NotSame(first, rowGroups.Current);
        Assert.True(rowGroups.Current.RowCount > 0);
        rowGroups.Current.Dispose();
        first.Dispose();
        Assert.Throws<ObjectDisposedException>(() => first.Chunks.ToList());
    }

    private static async Task<List<Record>> ReadRecordsAsync(string path, DatasetSchema schema)
    {
        var records = new List<Record>();
        await foreach (var chunk in new ParquetBatchReader().ReadAsync(path, gzipped: false, schema, CancellationToken.None)) records.AddRange(chunk.Records);
        return records;
    }
}
