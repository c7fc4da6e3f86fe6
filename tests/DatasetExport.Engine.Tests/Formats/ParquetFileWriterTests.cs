using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

[Collection(FormatsCollection.Name)]
public sealed class ParquetFileWriterTests(FormatsFixture fixture)
{
    private const int Rows = FormatsFixture.Rows;
    private readonly DuckDb _duck = fixture.Duck;

    internal static async Task<(long Bytes, long Records)> WriteAsync(
        string path, DatasetSchema schema, IReadOnlyList<Record> records, FileType fileType, CompressionKind compression, int chunkSize = 1000)
    {
        await using var output = File.Create(path);
        await using var writer = FormatCatalog.CreateWriter(output, schema, fileType, compression);
        foreach (var chunk in records.Chunk(chunkSize)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
        await writer.CompleteAsync(CancellationToken.None);
        // The writer leaves the output open: it can still be written and flushed.
        await output.FlushAsync();
        return (writer.BytesWritten, writer.RecordsWritten);
    }

    [Theory]
    [InlineData(CompressionKind.None, "UNCOMPRESSED")]
    [InlineData(CompressionKind.Snappy, "SNAPPY")]
    [InlineData(CompressionKind.Gzip, "GZIP")]
    [InlineData(CompressionKind.Zstd, "ZSTD")]
    public async Task DuckDB_reads_every_kind_back_record_by_record(CompressionKind compression, string codec)
    {
        var path = fixture.NewPath("written.parquet");

        var (bytes, records) = await WriteAsync(path, AllTypes.Schema, AllTypes.ExpectedRecords(Rows), FileType.Parquet, compression);

        Assert.Equal(new FileInfo(path).Length, bytes);
        Assert.Equal(Rows, records);
        var ours = $"read_parquet({DuckDb.Quote(path)})";
        var original = $"read_parquet({DuckDb.Quote(fixture.AllTypesParquet)})";
        _duck.AssertSameRows(ours, original, AllTypes.SameRowConditions(), Rows);
        Assert.Equal([codec], _duck.Strings($"SELECT DISTINCT compression FROM parquet_metadata({DuckDb.Quote(path)})"));
        var types = _duck.Describe(ours);
        Assert.Equal("DECIMAL(38,10)", types["dec38"]);
        Assert.Equal("DECIMAL(20,0)", types["u64"]);
        Assert.Equal("TIMESTAMP WITH TIME ZONE", types["ts"]);
        Assert.Equal("TIME", types["tm"]);
        Assert.Equal("DATE", types["dt"]);
        Assert.Equal("BLOB", types["bl"]);
        Assert.Equal("MAP(VARCHAR, BIGINT)", types["mp"]);
        Assert.Equal("STRUCT(a BIGINT, b VARCHAR, c STRUCT(d BIGINT[]))", types["st"]);
    }

    [Fact]
    public async Task Files_sharing_a_shelf_are_written_as_files_with_their_own_buffers()
    {
        // An export's parts one after the other: each file takes the column buffers the one before it left on the shelf
        // (only for the same schema and compression) and must come out byte for byte as a file written alone.
        var all = AllTypes.ExpectedRecords(Rows);
        var small = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("s", FieldKind.String)]);
        var smallRecords = all.Select(r => new Record { ["id"] = r["id"], ["s"] = r["s"] }).ToList();
        (DatasetSchema Schema, IReadOnlyList<Record> Records, CompressionKind Compression)[] files =
        [
            (AllTypes.Schema, all, CompressionKind.Snappy),
            (AllTypes.Schema, all.Skip(1234).Take(2000).ToList(), CompressionKind.Snappy),
            (AllTypes.Schema, all.Take(700).ToList(), CompressionKind.Zstd),
            (small, smallRecords, CompressionKind.Zstd),
            (AllTypes.Schema, all.AsEnumerable().Reverse().ToList(), CompressionKind.Snappy),
        ];
        var shelf = new WriterShelf();
        for (var i = 0; i < files.Length; i++)
        {
            var (schema, records, compression) = files[i];
            var alone = await WriteAsync(schema, records, compression, shelf: null);
            var shelved = await WriteAsync(schema, records, compression, shelf);
            Assert.True(alone.SequenceEqual(shelved), $"file {i} differs when written with the shelf's buffers");
            // Completed, the file left its buffers for the next of its kind only.
            Assert.Null(shelf.ParquetColumns.Take(schema, compression == CompressionKind.Snappy ? CompressionKind.Zstd : CompressionKind.Snappy));
        }
        Assert.NotNull(shelf.ParquetColumns.Take(AllTypes.Schema, CompressionKind.Snappy));
        Assert.Null(shelf.ParquetColumns.Take(AllTypes.Schema, CompressionKind.Snappy));

        static async Task<byte[]> WriteAsync(DatasetSchema schema, IReadOnlyList<Record> records, CompressionKind compression, WriterShelf? shelf)
        {
            using var output = new MemoryStream();
            await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Parquet, compression, long.MaxValue, shelf))
            {
                foreach (var chunk in records.Chunk(777)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
                await writer.CompleteAsync(CancellationToken.None);
            }
            return output.ToArray();
        }
    }

    [Fact]
    public async Task Statistics_let_DuckDB_prune_row_groups_without_losing_rows()
    {
        var path = fixture.NewPath("pruned.parquet");
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, AllTypes.Schema, CompressionKind.Snappy, rowGroupRecords: 1000))
        {
            foreach (var chunk in AllTypes.ExpectedRecords(Rows).Chunk(1000)) await writer.WriteAsync(new RecordChunk(AllTypes.Schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }
        var ours = $"read_parquet({DuckDb.Quote(path)})";
        var original = $"read_parquet({DuckDb.Quote(fixture.AllTypesParquet)})";
        Assert.Equal(5, _duck.Count($"SELECT count(DISTINCT row_group_id) FROM parquet_metadata({DuckDb.Quote(path)})"));

        // Each filter compares with a constant, which DuckDB checks against the row group statistics before reading.
        foreach (var column in new[] { "id", "i32", "i64", "u32", "u64", "f", "d", "dec18", "dec38", "s", "dt", "ts", "tstz", "tsms", "tm" })
        {
            var filter = $"o.{column} = (SELECT e.{column} FROM {original} e WHERE e.id = 4321)";
            Assert.True(_duck.Count($"SELECT count(*) FROM {ours} o WHERE {filter}") >= 1, $"no row found for {filter}");
        }
        Assert.Equal(Rows - 4321, _duck.Count($"SELECT count(*) FROM {ours} WHERE ts >= TIMESTAMPTZ '2024-01-02 04:16:06.123456+00'"));
    }

    [Fact]
    public async Task Small_chunks_accumulate_into_row_groups_and_our_reader_reads_the_same_records()
    {
        var path = fixture.NewPath("accumulated.parquet");
        var expected = AllTypes.ExpectedAfterParquetWrite(Rows);

        await WriteAsync(path, AllTypes.Schema, AllTypes.ExpectedRecords(Rows), FileType.Parquet, CompressionKind.Snappy, chunkSize: 300);

        var rowGroups = _duck.Count($"SELECT count(DISTINCT row_group_id) FROM parquet_metadata({DuckDb.Quote(path)})");
        Assert.Equal(1, rowGroups);
        var reader = new ParquetBatchReader();
        Assert.Equal(AllTypes.Schema.ToString(), (await reader.ReadSchemaAsync(path, false, CancellationToken.None)).ToString());
        RecordAssert.Equal(expected, await RecordAssert.ReadAllAsync(reader, path, false, AllTypes.Schema));
    }

    [Fact]
    public async Task Output_need_not_be_seekable()
    {
        var path = fixture.NewPath("stream.parquet");
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("name", FieldKind.String)]);
        var records = Enumerable.Range(0, 25_000).Select(i => new Record { ["id"] = (long)i, ["name"] = i % 7 == 0 ? null : $"n{i}" }).ToList();
        await using (var file = File.Create(path))
        await using (var forwardOnly = new ForwardOnlyStream(file))
        {
            await using var writer = new ParquetFileWriter(forwardOnly, schema, CompressionKind.Zstd, rowGroupRecords: 10_000);
            long lastBytes = 0;
            foreach (var chunk in records.Chunk(10_000))
            {
                await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
                // A full row group reaches the output at once; the last 5,000 records wait for CompleteAsync.
                Assert.Equal(chunk.Length == 10_000, writer.BytesWritten > lastBytes);
                lastBytes = writer.BytesWritten;
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        Assert.Equal(25_000, _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(path)}) WHERE name IS NOT DISTINCT FROM CASE WHEN id % 7 = 0 THEN NULL ELSE 'n' || id END"));
        Assert.Equal("REQUIRED", _duck.Strings($"SELECT repetition_type FROM parquet_schema({DuckDb.Quote(path)}) WHERE name = 'id'").Single());
    }

    [Fact]
    public async Task Text_of_many_lengths_fills_the_growing_blocks_row_group_after_row_group_and_reads_back_exactly()
    {
        // A text column copies its values into blocks that start at 1 KiB and double up to 256 KiB, reused by every row
        // group: values longer than the next block skip it, those above 256 KiB get arrays of their own.
        var path = fixture.NewPath("text-lengths.parquet");
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("s", FieldKind.String)]);
        var records = Enumerable.Range(0, 600).Select(i => new Record
        {
            ["id"] = (long)i,
            ["s"] = i % 11 == 0 ? null : new string((char)('a' + i % 26), i % 5 == 0 ? i * 7919 % 300_000 : i % 97),
        }).ToList();
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, CompressionKind.Snappy, rowGroupRecords: 100))
        {
            foreach (var chunk in records.Chunk(64)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        Assert.Equal(6, _duck.Count($"SELECT count(DISTINCT row_group_id) FROM parquet_metadata({DuckDb.Quote(path)})"));
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
    }

    [Fact]
    public async Task Wide_rows_close_row_groups_by_size()
    {
        var path = fixture.NewPath("wide.parquet");
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("blob", FieldKind.String)]);
        var text = new string('x', 10_000);
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, CompressionKind.Snappy, rowGroupBytes: 4L << 20))
        {
            var records = Enumerable.Range(0, 4096).Select(i => new Record { ["id"] = (long)i, ["blob"] = text }).ToArray();
            await writer.WriteAsync(new RecordChunk(schema, records), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(4096, writer.RecordsWritten);
        }

        // 40 MB of text in 4 MiB row groups: a row holds 10,032 bytes (id 8 + level 4, blob 10,000 + slice 16 + level 4), so
        // each row group closes on the row that reaches 4 MiB, its 419th (9 of them, then 325 rows). Checked every 1,024 rows
        // it took 1,024 (10 MB).
        Assert.Equal(Enumerable.Repeat(419L, 9).Append(325), RowGroupRows(path));
        Assert.Equal(4096, _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(path)}) WHERE length(blob) = 10000"));
    }

    /// <summary>Rows of each row group of the file, in order.</summary>
    private List<long> RowGroupRows(string path) =>
        _duck.Strings($"SELECT any_value(row_group_num_rows) FROM parquet_metadata({DuckDb.Quote(path)}) GROUP BY row_group_id ORDER BY row_group_id")
            .Select(rows => long.Parse(rows!, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    [Fact]
    public async Task Row_groups_of_short_text_close_at_the_bytes_their_values_hold()
    {
        // 100 nullable text columns of 8-byte values: each value holds 28 bytes in the writer (its bytes, a 16-byte slice,
        // a 4-byte definition level), 2,800 a row, so a 1 MiB row group is 375 rows (374 hold 1,047,200 bytes). Counted
        // as 10 bytes a value (bytes and a 2-byte level) and checked every 1,024 rows, it took 2,048 rows (5.7 MB).
        var schema = new DatasetSchema(Enumerable.Range(0, 100).Select(c => new SchemaField($"s{c:D2}", FieldKind.String)).ToList());
        var records = Enumerable.Range(0, 3000)
            .Select(row => { var record = new Record(); for (var c = 0; c < 100; c++) record[$"s{c:D2}"] = $"{row:D4}-{c:D3}"; return record; })
            .ToArray();
        var path = fixture.NewPath("short-text.parquet");
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, CompressionKind.Snappy, rowGroupBytes: 1L << 20))
        {
            await writer.WriteAsync(new RecordChunk(schema, records[..10]), CancellationToken.None);
            Assert.Equal(10 * 2800, writer.BufferedBytes);
            foreach (var chunk in records[10..].Chunk(1000)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(0, writer.BufferedBytes);
        }

        Assert.Equal(Enumerable.Repeat(375L, 8), RowGroupRows(path));
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
    }

    [Fact]
    public async Task Buffered_bytes_count_each_kind_of_level_and_value_as_held()
    {
        // Per row: id (required int64) 8 bytes, no level; score (nullable double, null in odd rows) a 4-byte level and, when
        // present, 8 bytes; tags (a list of text) two 4-byte levels (definition, repetition) per entry and each value's
        // bytes and slice (16). Row r has r % 3 tags of 5 bytes ("t-r-i" kept at 5 bytes), one entry when it has none.
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64, Nullable: false),
            new SchemaField("score", FieldKind.Double),
            new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)]),
        ]);
        var records = Enumerable.Range(0, 300).Select(row => new Record
        {
            ["id"] = (long)row,
            ["score"] = row % 2 == 0 ? row / 2.0 : null,
            ["tags"] = Enumerable.Range(0, row % 3).Select(i => (object?)$"t{row % 100:D2}-{i}").ToList(),
        }).ToArray();
        long expected = 0;
        for (var row = 0; row < records.Length; row++)
        {
            var tags = row % 3;
            expected += 8 + 4 + (row % 2 == 0 ? 8 : 0) + 8L * Math.Max(tags, 1) + tags * (5L + 16);
        }
        await using var output = new MemoryStream();
        await using var writer = new ParquetFileWriter(output, schema, CompressionKind.None);

        await writer.WriteAsync(new RecordChunk(schema, records), CancellationToken.None);

        Assert.Equal(expected, writer.BufferedBytes);
        Assert.Equal(0, writer.BytesWritten);
    }

    [Fact]
    public async Task A_file_without_records_is_valid()
    {
        var path = fixture.NewPath("empty.parquet");

        await WriteAsync(path, AllTypes.Schema, [], FileType.Parquet, CompressionKind.Snappy);

        Assert.Equal(0, _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(path)})"));
    }

    [Theory]
    [InlineData(256L << 20, 32L << 20)] // the default MaxFileSizeMB: the writer's own limit of bytes held
    [InlineData(64L << 20, 16L << 20)]  // a quarter of the part size
    [InlineData(512L << 10, 256L << 10)] // at least 256 KiB
    public async Task An_exports_writer_closes_row_groups_at_a_quarter_of_the_part_size_and_at_most_32_MiB_held(long maxFileBytes, long rowGroupBytes)
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64)]);
        await using var writer = Assert.IsType<ParquetFileWriter>(
            FormatCatalog.CreateWriter(new MemoryStream(), schema, FileType.Parquet, CompressionKind.Snappy, maxFileBytes));

        Assert.Equal(rowGroupBytes, writer.RowGroupBytes);
    }

    [Fact]
    public void Null_in_a_required_column_is_refused_naming_the_column()
    {
        var schema = new DatasetSchema([new SchemaField("st", FieldKind.Struct, Children: [new SchemaField("req", FieldKind.Int32, Nullable: false)])]);
        var builder = new ChunkBuilder(schema);
        builder.AddRecord(new Record { ["st"] = new Dictionary<string, object?> { ["req"] = 1 } });

        var error = Assert.Throws<ArgumentException>(() => builder.AddRecord(new Record { ["st"] = new Dictionary<string, object?> { ["req"] = null } }));

        Assert.Contains("'st.req'", error.Message);
        // The refused record left nothing behind: the chunk holds the one good record.
        var chunk = builder.Build();
        Assert.Equal(1, chunk.RowCount);
        Assert.Equal(1, Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(chunk.Records[0]["st"])["req"]);
    }

    /// <summary>A write-only stream that refuses Seek, Position and Length, like a network upload stream.</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
