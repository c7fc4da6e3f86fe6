using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Edge values DuckDB writes that an export must keep: each file is written by DuckDB, read by our reader, written
/// to JSON Lines and Parquet by our writers, and the outputs judged by DuckDB or by values computed here.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class FidelityEdgeTests(FormatsFixture fixture)
{
    private readonly DuckDb _duck = fixture.Duck;

    private string DuckParquet(string name, string select, string compression = "snappy")
    {
        var path = fixture.NewPath($"{name}-{compression}.parquet");
        _duck.Execute($"COPY ({select}) TO {DuckDb.Quote(path)} (FORMAT parquet, COMPRESSION {compression})");
        return path;
    }

    private async Task<string> ConvertAsync(string source, BatchFormat format, DatasetSchema schema, FileType fileType)
    {
        var reader = FormatCatalog.GetReader(format);
        var target = fixture.NewPath("out" + FormatCatalog.FileExtension(fileType, CompressionKind.None));
        await using var output = File.Create(target);
        await using var writer = FormatCatalog.CreateWriter(output, schema, fileType, CompressionKind.None);
        await foreach (var chunk in reader.ReadAsync(source, false, schema, CancellationToken.None)) await writer.WriteAsync(chunk, CancellationToken.None);
        await writer.CompleteAsync(CancellationToken.None);
        return target;
    }

    private static DateTime Utc(int year, int month, int day, int hour, int minute, int second, long ticks) =>
        new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).AddTicks(ticks);

    [Theory]
    [InlineData("snappy")]
    [InlineData("lz4_raw")] // Parquet.Net cut these towards 1970 too, before the engine decompressed LZ4_RAW itself.
    [InlineData("brotli")]
    public async Task Nanosecond_timestamps_before_1970_are_cut_to_ticks_downwards_not_towards_1970(string compression)
    {
        var source = DuckParquet("tsns", """
            SELECT * FROM (VALUES
              (1, TIMESTAMP_NS '1969-12-31 23:59:59.999999999'),
              (2, TIMESTAMP_NS '1677-09-22 00:00:00.000000001'),
              (3, TIMESTAMP_NS '1960-06-01 12:00:00.123456789'),
              (4, TIMESTAMP_NS '2024-01-02 03:04:05.123456789')) t(id, ts)
            """, compression);
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var schema = await reader.ReadSchemaAsync(source, false, CancellationToken.None);

        var records = await RecordAssert.ReadAllAsync(reader, source, false, schema);

        DateTime[] expected =
        [
            Utc(1969, 12, 31, 23, 59, 59, 9_999_999), Utc(1677, 9, 22, 0, 0, 0, 0), Utc(1960, 6, 1, 12, 0, 0, 1_234_567), Utc(2024, 1, 2, 3, 4, 5, 1_234_567),
        ];
        for (var i = 0; i < expected.Length; i++) RecordAssert.Value(expected[i], records[i]["ts"], $"record {i}.ts");

        // JSON keeps the 7 tick digits; Parquet stores microseconds, cut downwards again.
        var json = await ConvertAsync(source, BatchFormat.Parquet, schema, FileType.Json);
        Assert.Contains("\"ts\":\"1969-12-31T23:59:59.9999999Z\"", await File.ReadAllTextAsync(json));
        var parquet = await ConvertAsync(source, BatchFormat.Parquet, schema, FileType.Parquet);
        Assert.Equal(
            ["1969-12-31 23:59:59.999999", "1677-09-22 00:00:00", "1960-06-01 12:00:00.123456", "2024-01-02 03:04:05.123456"],
            _duck.Strings($"SELECT strftime(ts::TIMESTAMP, '%Y-%m-%d %H:%M:%S.%f') FROM read_parquet({DuckDb.Quote(parquet)}) ORDER BY id")
                .Select(text => text!.EndsWith(".000000", StringComparison.Ordinal) ? text[..^7] : text));
    }

    [Fact]
    public async Task JSON_timestamps_with_tick_digits_before_1970_are_stored_as_the_microsecond_below()
    {
        var json = fixture.NewPath("ticks.jsonl");
        await File.WriteAllTextAsync(json, """
            {"id": 1, "ts": "1969-12-31T23:59:59.9999999Z"}
            {"id": 2, "ts": "1899-12-31T23:59:59.0000001Z"}

            """);
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("ts", FieldKind.Timestamp)]);

        var parquet = await ConvertAsync(json, BatchFormat.JsonLines, schema, FileType.Parquet);

        Assert.Equal(["1969-12-31 23:59:59.999999", "1899-12-31 23:59:59.000000"],
            _duck.Strings($"SELECT strftime(ts::TIMESTAMP, '%Y-%m-%d %H:%M:%S.%f') FROM read_parquet({DuckDb.Quote(parquet)}) ORDER BY id"));
    }

    [Fact]
    public async Task Time_24_00_00_survives_JSON_and_Parquet()
    {
        var source = DuckParquet("endofday", "SELECT * FROM (VALUES (1, TIME '24:00:00'), (2, TIME '23:59:59.999999'), (3, TIME '00:00:00')) t(id, tm)");
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var schema = await reader.ReadSchemaAsync(source, false, CancellationToken.None);

        var json = await ConvertAsync(source, BatchFormat.Parquet, schema, FileType.Json);
        var parquet = await ConvertAsync(source, BatchFormat.Parquet, schema, FileType.Parquet);
        var fromJson = await ConvertAsync(json, BatchFormat.JsonLines, schema, FileType.Parquet);

        Assert.Equal(
            """
            {"id":1,"tm":"24:00:00"}
            {"id":2,"tm":"23:59:59.999999"}
            {"id":3,"tm":"00:00:00"}

            """.ReplaceLineEndings("\n"),
            await File.ReadAllTextAsync(json));
        foreach (var output in new[] { parquet, fromJson })
        {
            _duck.AssertSameRows($"read_parquet({DuckDb.Quote(output)})", $"read_parquet({DuckDb.Quote(source)})", ["o.tm = e.tm"], 3);
        }
    }

    [Fact]
    public async Task A_JSON_object_empty_wherever_it_appears_is_refused_naming_the_column()
    {
        var json = fixture.NewPath("empty-object.jsonl");
        await File.WriteAllTextAsync(json, "{\"id\":1,\"m\":{},\"t\":[{}]}\n{\"id\":2,\"m\":null,\"t\":[]}\n");
        var schema = await FormatCatalog.GetReader(BatchFormat.JsonLines).ReadSchemaAsync(json, false, CancellationToken.None);

        // No leaf column could tell {} from null, and Parquet has no empty group: a clear refusal, never a wrong file.
        foreach (var fileType in new[] { FileType.Json, FileType.Parquet })
        {
            var error = await Assert.ThrowsAsync<ArgumentException>(() => ConvertAsync(json, BatchFormat.JsonLines, schema, fileType));
            Assert.Contains("Column 'm' is an object that is empty wherever it appears", error.Message);
        }
        Assert.Equal("t[]", ColumnLayout.EmptyStructPath(new DatasetSchema([schema.Fields[0], schema.Fields[2]])));
    }

    [Fact]
    public async Task The_lake_refuses_a_dataset_whose_object_is_empty_in_every_batch_and_merges_one_empty_only_in_some()
    {
        using var lake = new TempFolder("fidelity-lake");
        Directory.CreateDirectory(lake.Combine("empty"));
        await File.WriteAllTextAsync(lake.Combine("empty", "a.jsonl"), "{\"id\":1,\"m\":{}}\n");
        Directory.CreateDirectory(lake.Combine("filled"));
        await File.WriteAllTextAsync(lake.Combine("filled", "a.jsonl"), "{\"id\":1,\"m\":{}}\n");
        await File.WriteAllTextAsync(lake.Combine("filled", "b.jsonl"), "{\"id\":2,\"m\":{\"a\":1}}\n");
        // A sample of only empty objects, fields after it: judged from every line.
        Directory.CreateDirectory(lake.Combine("late"));
        await File.WriteAllLinesAsync(lake.Combine("late", "a.jsonl"),
            Enumerable.Range(0, 5000).Select(i => i < 4500 ? $$$"""{"id":{{{i}}},"m":{}}""" : $$$"""{"id":{{{i}}},"m":{"a":{{{i}}}}}"""));
        var folderLake = new FolderLake(lake.Path);

        var empty = await folderLake.GetDatasetAsync("empty", default);
        var filled = await folderLake.GetDatasetAsync("filled", default);
        var late = await folderLake.GetDatasetAsync("late", new BatchReadOptions { SampleJsonSchemas = true }, default);

        Assert.False(empty.IsEligible);
        Assert.Contains("Column 'm' is an object that is empty wherever it appears", empty.Reason);
        Assert.True(filled.IsEligible, filled.Reason);
        Assert.Equal("id int64, m struct<a:int64>", filled.Schema!.ToString());
        Assert.True(late.IsEligible, late.Reason);
        Assert.Equal("id int64, m struct<a:int64>", late.Schema!.ToString());
    }

    [Fact]
    public async Task A_decimal_digit_past_the_28th_after_the_point_is_refused_saying_why()
    {
        var source = DuckParquet("tiny-decimal", "SELECT 1.000000000000000000000000000000::DECIMAL(38,30) AS fits, (-0.000000000000000000000000000001)::DECIMAL(38,30) AS tiny");
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var schema = await reader.ReadSchemaAsync(source, false, CancellationToken.None);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(reader, source, false, schema));

        Assert.Equal("row group 0", error.Location);
        Assert.Contains("column 'tiny' holds -0.000000000000000000000000000001, which .NET decimal cannot hold exactly (it holds 28 to 29 significant digits, at most 28 of them after the point)", error.Message);
    }

    [Theory]
    [InlineData("'infinity'::TIMESTAMP", "Timestamp value .NET cannot hold (9223372036854775807 units of 1000 ns from 1970)")]
    [InlineData("'-infinity'::TIMESTAMP_MS", "Timestamp value .NET cannot hold (-9223372036854775807 units of 1000000 ns from 1970)")]
    [InlineData("TIMESTAMP '20000-01-01 00:00:00'", "Timestamp value .NET cannot hold (")]
    [InlineData("'infinity'::DATE", "Date value .NET cannot hold (")]
    [InlineData("DATE '-4000-01-01'", "Date value .NET cannot hold (")]
    public async Task Dates_and_timestamps_outside_years_1_to_9999_are_refused_naming_the_column(string value, string expected)
    {
        var source = DuckParquet("out-of-range", $"SELECT 1 AS id, {value} AS far");
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var schema = await reader.ReadSchemaAsync(source, false, CancellationToken.None);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(reader, source, false, schema));

        Assert.Equal("row group 0", error.Location);
        Assert.Contains("column 'far' holds a " + expected, error.Message);
        Assert.Contains("dates and timestamps are read for the years 1 to 9999 only", error.Message);
    }
}
