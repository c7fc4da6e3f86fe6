using System.IO.Compression;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;
using Parquet;
using Parquet.Schema;

namespace DatasetExport.Engine.Tests.Formats;

[Collection(FormatsCollection.Name)]
public sealed class ParquetBatchReaderTests(FormatsFixture fixture)
{
    private const int Rows = FormatsFixture.Rows;
    private readonly DuckDb _duck = fixture.Duck;
    private readonly ParquetBatchReader _reader = new();

    private string DuckDbFixture() => fixture.AllTypesParquet;

    [Fact]
    public async Task Schema_of_a_DuckDB_file_maps_every_type()
    {
        var schema = await _reader.ReadSchemaAsync(DuckDbFixture(), gzipped: false, CancellationToken.None);

        Assert.Equal(AllTypes.Schema.ToString(), schema.ToString());
        Assert.Equal(AllTypes.Schema, schema);
    }

    [Fact]
    public async Task Record_count_comes_from_the_footer()
    {
        Assert.Equal(Rows, await _reader.ReadRecordCountAsync(DuckDbFixture(), gzipped: false, CancellationToken.None));
    }

    [Fact]
    public async Task Records_of_a_DuckDB_file_equal_the_formula_in_every_column_and_stream_one_chunk_per_row_group()
    {
        var path = DuckDbFixture();
        var chunks = new List<RecordChunk>();
        await foreach (var chunk in _reader.ReadAsync(path, gzipped: false, AllTypes.Schema, CancellationToken.None)) chunks.Add(chunk);

        var rowGroups = _duck.Count($"SELECT count(DISTINCT row_group_id) FROM parquet_metadata({DuckDb.Quote(path)})");
        Assert.True(rowGroups > 1, "the fixture should have several row groups");
        Assert.Equal(rowGroups, chunks.Count);
        Assert.All(chunks, chunk => Assert.True(chunk.Records.Count <= AllTypes.RowGroupRows));
        Assert.All(chunks, chunk => Assert.Same(AllTypes.Schema, chunk.Schema));
        RecordAssert.Equal(AllTypes.ExpectedRecords(Rows), chunks.SelectMany(chunk => chunk.Records).ToList());
    }

    [Fact]
    public async Task A_row_group_larger_than_the_chunk_size_streams_in_several_chunks()
    {
        var reader = new ParquetBatchReader(chunkSize: 500);
        var sizes = new List<int>();
        var records = new List<Record>();
        await foreach (var chunk in reader.ReadAsync(DuckDbFixture(), false, AllTypes.Schema, CancellationToken.None))
        {
            sizes.Add(chunk.Records.Count);
            records.AddRange(chunk.Records);
        }

        // Row groups of 2048, 2048 and 904 rows, each cut into chunks of at most 500.
        Assert.Equal([500, 500, 500, 500, 48, 500, 500, 500, 500, 48, 500, 404], sizes);
        RecordAssert.Equal(AllTypes.ExpectedRecords(Rows), records);
    }

    [Fact]
    public async Task Records_conform_to_a_wider_dataset_schema()
    {
        var path = DuckDbFixture();
        var wider = new DatasetSchema(
        [
            new SchemaField("missing", FieldKind.String),
            new SchemaField("i32", FieldKind.Int64),
            new SchemaField("f", FieldKind.Double),
            new SchemaField("t8", FieldKind.Decimal, Precision: 12, Scale: 2),
            new SchemaField("st", FieldKind.Struct, Children:
            [
                new SchemaField("b", FieldKind.String),
                new SchemaField("extra", FieldKind.Boolean),
            ]),
            new SchemaField("stnull", FieldKind.Struct, Children: [new SchemaField("other", FieldKind.Int32)]),
            new SchemaField("lst", FieldKind.List, Children: [new SchemaField("element", FieldKind.Double)]),
        ]);

        var records = await RecordAssert.ReadAllAsync(_reader, path, false, wider);

        Assert.Equal(Rows, records.Count);
        for (var i = 0; i < 12; i++)
        {
            var expected = new Record
            {
                ["missing"] = null,
                ["i32"] = (long)(i * 1000 - 7),
                ["f"] = i + 0.5,
                ["t8"] = (decimal)(i % 100 - 50),
                ["st"] = new Dictionary<string, object?> { ["b"] = $"x{i}", ["extra"] = null },
                // Only the struct's nullness survives when none of its fields is in the dataset schema.
                ["stnull"] = i % 4 == 0 ? null : new Dictionary<string, object?> { ["other"] = null },
                ["lst"] = (i % 3) switch { 0 => new List<object?> { (double)i, null, i + 2.0 }, 1 => null, _ => new List<object?>() },
            };
            RecordAssert.Equal(expected, records[i], $"record {i}");
        }
    }

    [Fact]
    public async Task A_column_whose_type_does_not_fit_the_dataset_schema_is_named()
    {
        var schema = new DatasetSchema([new SchemaField("s", FieldKind.Int64)]);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, DuckDbFixture(), false, schema));

        Assert.Contains("'s'", error.Message);
        Assert.Contains("string", error.Message);
        Assert.Contains("int64", error.Message);
    }

    [Fact]
    public async Task Gzipped_parquet_is_read_through_a_temporary_file_that_is_deleted()
    {
        var source = DuckDbFixture();
        var gzipped = fixture.NewPath("all.parquet.gz");
        await using (var input = File.OpenRead(source))
        await using (var output = new GZipStream(File.Create(gzipped), CompressionLevel.Fastest))
        {
            await input.CopyToAsync(output);
        }
        using var temporary = new TempFolder("formats-decompress");
        var reader = new ParquetBatchReader(temporaryFolder: temporary.Path);

        var schema = await reader.ReadSchemaAsync(gzipped, gzipped: true, CancellationToken.None);
        var count = await reader.ReadRecordCountAsync(gzipped, gzipped: true, CancellationToken.None);
        var decompressedWhileReading = 0;
        var records = new List<Record>();
        await foreach (var chunk in reader.ReadAsync(gzipped, true, schema, CancellationToken.None))
        {
            decompressedWhileReading = Math.Max(decompressedWhileReading, Directory.GetFiles(temporary.Path).Length);
            records.AddRange(chunk.Records);
        }

        Assert.Equal(AllTypes.Schema, schema);
        Assert.Equal(Rows, count);
        RecordAssert.Equal(AllTypes.ExpectedRecords(Rows), records);
        Assert.Equal(1, decompressedWhileReading);
        Assert.Empty(Directory.GetFiles(temporary.Path));

        // Leaving early and cancelling delete the temporary file too.
        await foreach (var _ in reader.ReadAsync(gzipped, true, schema, CancellationToken.None)) break;
        Assert.Empty(Directory.GetFiles(temporary.Path));
        using var cancellation = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in reader.ReadAsync(gzipped, true, schema, cancellation.Token)) await cancellation.CancelAsync();
        });
        Assert.Empty(Directory.GetFiles(temporary.Path));
    }

    [Fact]
    public async Task Truncated_file_names_the_file_and_the_footer()
    {
        var bytes = await File.ReadAllBytesAsync(DuckDbFixture());
        var truncated = fixture.NewPath("truncated.parquet");
        await File.WriteAllBytesAsync(truncated, bytes[..(bytes.Length / 2)]);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => _reader.ReadSchemaAsync(truncated, false, CancellationToken.None));

        Assert.Equal(truncated, error.FilePath);
        Assert.Equal("footer", error.Location);
        Assert.Contains(truncated, error.Message);
    }

    [Fact]
    public async Task Corrupt_column_data_names_the_file_and_the_row_group()
    {
        var path = fixture.NewPath("corrupt.parquet");
        _duck.Execute($"COPY (SELECT i AS id, 'text ' || i AS s FROM range(10000) r(i)) TO {DuckDb.Quote(path)} (FORMAT parquet, ROW_GROUP_SIZE 5000, COMPRESSION uncompressed)");
        var second = Convert.ToInt64(_duck.Scalar(
            $"SELECT min(data_page_offset) FROM parquet_metadata({DuckDb.Quote(path)}) WHERE row_group_id = 1 AND path_in_schema = 's'"));
        var bytes = await File.ReadAllBytesAsync(path);
        // Overwrite the page header of row group 1's string column: the footer stays valid.
        for (var i = 0; i < 64; i++) bytes[second + i] = 0xFF;
        await File.WriteAllBytesAsync(path, bytes);
        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);

        var chunks = 0;
        var error = await Assert.ThrowsAsync<BatchReadException>(async () =>
        {
            await foreach (var _ in _reader.ReadAsync(path, false, schema, CancellationToken.None)) chunks++;
        });

        Assert.Equal(1, chunks);
        Assert.Equal(path, error.FilePath);
        Assert.Equal("row group 1", error.Location);
    }

    [Fact]
    public async Task Corrupt_gzip_names_the_file()
    {
        var path = fixture.NewPath("bad.parquet.gz");
        await File.WriteAllBytesAsync(path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF]);

        using var temporary = new TempFolder("formats-decompress");
        var reader = new ParquetBatchReader(temporaryFolder: temporary.Path);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => reader.ReadSchemaAsync(path, true, CancellationToken.None));

        Assert.Equal(path, error.FilePath);
        Assert.Empty(Directory.GetFiles(temporary.Path));
    }

    [Fact]
    public async Task Decimal_beyond_dotnet_range_is_reported_with_column_and_row_group()
    {
        var path = fixture.NewPath("bigdecimal.parquet");
        _duck.Execute($"COPY (SELECT 12345678901234567890.1234567891::DECIMAL(38,10) AS big) TO {DuckDb.Quote(path)} (FORMAT parquet)");
        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, path, false, schema));

        Assert.Equal("row group 0", error.Location);
        Assert.Contains("'big'", error.Message);
    }

    [Fact]
    public async Task Int96_timestamps_and_millisecond_times_are_read()
    {
        var path = fixture.NewPath("int96.parquet");
        var impala = new DateTimeDataField("legacy", DateTimeFormat.Impala, isNullable: true);
        var millis = new TimeDataField("ms", TimeUnitPrecision.Millis, isNullable: true);
        var instant = new DateTime(2023, 5, 6, 7, 8, 9, 250, DateTimeKind.Utc);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(impala, millis), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync<DateTime>(impala, new DateTime?[] { instant, null });
            await group.WriteAsync<int>(millis, new int?[] { 3_723_004, null });
        }
        // DuckDB reads the same instants, so the fixture itself is sound.
        Assert.Equal(1, _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(path)}) WHERE legacy = TIMESTAMP '2023-05-06 07:08:09.25'"));

        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        Assert.Equal("legacy timestamp, ms time", schema.ToString());
        RecordAssert.Equal(
            [
                new Record { ["legacy"] = instant, ["ms"] = new TimeSpan(0, 1, 2, 3, 4) },
                new Record { ["legacy"] = null, ["ms"] = null },
            ],
            records);
    }

    [Fact]
    public async Task UUID_enum_and_JSON_columns_read_as_strings()
    {
        var path = fixture.NewPath("annotated.parquet");
        _duck.Execute($"""
            COPY (SELECT '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS id, 'b'::ENUM('a', 'b') AS choice, '{"{"}"k": [1]{"}"}'::JSON AS doc)
            TO {DuckDb.Quote(path)} (FORMAT parquet)
            """);

        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        Assert.Equal("id string, choice string, doc string", schema.ToString());
        RecordAssert.Equal([new Record { ["id"] = "6ba7b810-9dad-11d1-80b4-00c04fd430c8", ["choice"] = "b", ["doc"] = """{"k": [1]}""" }], records);
    }

    [Fact]
    public async Task A_legacy_repeated_column_reads_as_a_list()
    {
        var path = fixture.NewPath("repeated.parquet");
        var numbers = new DataField("numbers", typeof(int), isNullable: false, isArray: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(numbers), stream))
        using (var group = writer.CreateRowGroup())
        {
            // Rows [1, 2], [], [3]: repetition 1 continues a row, definition 0 is an empty list.
            await group.WriteAllPartsAsync<int>(numbers, new[] { 1, 2, 3 }, new[] { 1, 1, 0, 1 }, new[] { 0, 1, 0, 0 }, CancellationToken.None);
        }
        Assert.Equal("REPEATED", _duck.Strings($"SELECT repetition_type FROM parquet_schema({DuckDb.Quote(path)}) WHERE name = 'numbers'").Single());
        Assert.Equal(["[1, 2]", "[]", "[3]"], _duck.Strings($"SELECT numbers::VARCHAR FROM read_parquet({DuckDb.Quote(path)})"));

        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        Assert.Equal("numbers list<int32>", schema.ToString());
        RecordAssert.Equal(
            [
                new Record { ["numbers"] = new List<object?> { 1, 2 } },
                new Record { ["numbers"] = new List<object?>() },
                new Record { ["numbers"] = new List<object?> { 3 } },
            ],
            records);
    }

    [Fact]
    public async Task An_unsupported_type_names_the_column()
    {
        var path = fixture.NewPath("interval.parquet");
        _duck.Execute($"COPY (SELECT 1 AS id, INTERVAL 3 DAY AS span) TO {DuckDb.Quote(path)} (FORMAT parquet)");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => _reader.ReadSchemaAsync(path, false, CancellationToken.None));

        Assert.Equal("schema", error.Location);
        Assert.Contains("'span'", error.Message);
    }

    [Fact]
    public async Task Required_columns_are_not_nullable()
    {
        var path = fixture.NewPath("required.parquet");
        var id = new DataField<long>("id", nullable: false);
        var name = new DataField<string>("name", nullable: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, name), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync<long>(id, new long[] { 1, 2 });
            await group.WriteAsync(name, new string[] { "a", null! });
        }
        Assert.Equal("REQUIRED", _duck.Strings($"SELECT repetition_type FROM parquet_schema({DuckDb.Quote(path)}) WHERE name = 'id'").Single());

        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        Assert.False(schema.Fields[0].Nullable);
        Assert.True(schema.Fields[1].Nullable);
        RecordAssert.Equal([new Record { ["id"] = 1L, ["name"] = "a" }, new Record { ["id"] = 2L, ["name"] = null }], records);
    }
}
