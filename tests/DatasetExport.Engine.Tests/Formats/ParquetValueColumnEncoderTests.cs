using System.Globalization;
using DatasetExport.Engine.Formats;
using Parquet;
using Parquet.Meta;
using Encoding = Parquet.Meta.Encoding;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The engine's encoders of the other leaves (<see cref="ParquetValueColumnEncoder{T}"/> for booleans, numbers, dates,
/// timestamps, times and decimals; <see cref="ParquetByteArrayColumnEncoder"/> for bytes), used by <see cref="ParquetFileWriter"/>
/// instead of Parquet.Net's column writer: what they write reads back the same in DuckDB, Parquet.Net and the engine's own
/// reader, with nulls, nested and repeated levels, and statistics by the format's rules.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParquetValueColumnEncoderTests(FormatsFixture fixture)
{
    private const int Rows = 3000;
    private const int RowGroupRows = 1000;
    private readonly DuckDb _duck = fixture.Duck;

    private static readonly DatasetSchema Schema = new([
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("b", FieldKind.Boolean),
        new SchemaField("i", FieldKind.Int32),
        new SchemaField("l", FieldKind.Int64, Nullable: false),
        new SchemaField("f", FieldKind.Float),
        new SchemaField("d", FieldKind.Double),
        new SchemaField("dt", FieldKind.Date),
        new SchemaField("ts", FieldKind.Timestamp),
        new SchemaField("tm", FieldKind.Time),
        new SchemaField("dec9", FieldKind.Decimal, Precision: 9, Scale: 2),
        new SchemaField("dec18", FieldKind.Decimal, Precision: 18, Scale: 4),
        new SchemaField("dec38", FieldKind.Decimal, Precision: 38, Scale: 10),
        new SchemaField("bin", FieldKind.Binary),
        new SchemaField("st", FieldKind.Struct, Children: [new SchemaField("x", FieldKind.Double), new SchemaField("ok", FieldKind.Boolean, Nullable: false)]),
        new SchemaField("nums", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)]),
        new SchemaField("when", FieldKind.List, Children: [new SchemaField("element", FieldKind.Timestamp, Nullable: false)]),
        new SchemaField("counts", FieldKind.Map, Children: [new SchemaField("key", FieldKind.Int32, Nullable: false), new SchemaField("value", FieldKind.Double)]),
    ]);

    private static readonly DateTime Epoch = DateTime.UnixEpoch;

    private static List<Record> Records(int count) => Enumerable.Range(0, count).Select(i => new Record
    {
        ["id"] = (long)i,
        ["b"] = i % 5 == 0 ? null : i % 3 == 0,
        ["i"] = i % 7 == 0 ? null : (i % 2 == 0 ? -1 : 1) * i * 1000 + (i == 1 ? int.MaxValue - 1000 : 0) + (i == 2 ? int.MinValue + 2000 : 0),
        ["l"] = i * 10_000_000_000L - 5,
        ["f"] = i % 4 == 0 ? null : i / 8f - 100,
        ["d"] = i % 6 == 0 ? null : i / 3.0 - 200,
        ["dt"] = i % 9 == 0 ? null : DateOnly.FromDayNumber(DateOnly.FromDateTime(Epoch).DayNumber - 5000 + i * 3),
        ["ts"] = i % 10 == 0 ? null : Epoch.AddDays(i - 1000).AddTicks(i * 10 + 1230).AddMicroseconds(i % 1000),
        ["tm"] = i % 11 == 0 ? null : TimeSpan.FromMicroseconds(i * 28_800_017L % 86_400_000_000L),
        ["dec9"] = i % 12 == 0 ? null : (i - 1500) * 12.34m,
        ["dec18"] = i % 13 == 0 ? null : (i - 1500) * 12345678.9012m,
        ["dec38"] = i % 14 == 0 ? null : decimal.Parse((i % 2 == 1 ? "-" : "") + "123456789012345678." + i.ToString("D10", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
        ["bin"] = i % 8 == 0 ? null : Enumerable.Range(0, i % 5).Select(j => (byte)(i * 31 + j * 97)).ToArray(),
        ["st"] = i % 15 == 0 ? null : new Dictionary<string, object?> { ["x"] = i % 4 == 1 ? null : i * 0.25, ["ok"] = i % 2 == 0 },
        ["nums"] = i % 6 == 1 ? null : Enumerable.Range(0, i % 4).Select(j => j == 1 && i % 3 == 0 ? null : (object?)(long)(i * 100 + j)).ToList(),
        ["when"] = i % 5 == 2 ? null : Enumerable.Range(0, i % 3).Select(j => (object?)Epoch.AddHours(i + j)).ToList(),
        ["counts"] = i % 7 == 3 ? null : Enumerable.Range(0, i % 3).Select(j => new KeyValuePair<object, object?>(j, j == 1 ? null : i * 1.5 + j)).ToList(),
    }).ToList();

    private Task<string> WriteAsync(DatasetSchema schema, IReadOnlyList<Record> records, CompressionKind compression, int rowGroupRecords = RowGroupRows) =>
        ParquetEncoderChecks.WriteAsync(fixture.NewPath("values.parquet"), schema, records, compression, rowGroupRecords);

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    public async Task Every_kind_reads_back_the_same_in_DuckDB_ParquetNet_and_our_reader(CompressionKind compression)
    {
        var records = Records(Rows);
        var path = await WriteAsync(Schema, records, compression);

        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, Schema));

        var file = $"read_parquet({DuckDb.Quote(path)})";
        string? Text(object? value) => value switch
        {
            null => null,
            bool flag => flag ? "true" : "false",
            float number => number.ToString("R", CultureInfo.InvariantCulture),
            double number => number.ToString("R", CultureInfo.InvariantCulture),
            decimal number => number.ToString(CultureInfo.InvariantCulture),
            DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            DateTime timestamp => timestamp.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
            TimeSpan time => time.ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture),
            byte[] bytes => Convert.ToHexString(bytes),
            _ => Convert.ToString(value, CultureInfo.InvariantCulture),
        };
        // Decimals as DuckDB prints them: with every digit of their scale.
        static string? Scaled(object? value, int scale) => (value as decimal?)?.ToString("F" + scale, CultureInfo.InvariantCulture);
        // Timestamps are kept to the microsecond (their unit in the file).
        static DateTime Micros(DateTime value) => new(value.Ticks - value.Ticks % 10, DateTimeKind.Utc);
        Assert.Equal(records.Select(r => Text(r["b"])), _duck.Strings($"SELECT b::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["i"])), _duck.Strings($"SELECT i::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["l"])), _duck.Strings($"SELECT l::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["f"])), _duck.Strings($"SELECT f FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["d"])), _duck.Strings($"SELECT d FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["dt"])), _duck.Strings($"SELECT strftime(dt, '%Y-%m-%d') FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["ts"] is DateTime ts ? Micros(ts) : null)), _duck.Strings($"SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["tm"])), _duck.Strings($"SELECT strftime(DATE '2000-01-01' + tm, '%H:%M:%S.%f') FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Scaled(r["dec9"], 2)), _duck.Strings($"SELECT dec9::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Scaled(r["dec18"], 4)), _duck.Strings($"SELECT dec18::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Scaled(r["dec38"], 10)), _duck.Strings($"SELECT dec38::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text(r["bin"])), _duck.Strings($"SELECT hex(bin) FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text((r["st"] as IReadOnlyDictionary<string, object?>)?["x"])), _duck.Strings($"SELECT st.x FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => Text((r["st"] as IReadOnlyDictionary<string, object?>)?["ok"])), _duck.Strings($"SELECT st.ok::VARCHAR FROM {file} ORDER BY id"));
        Assert.Equal(
            records.Select(r => r["nums"] is List<object?> nums ? "[" + string.Join(',', nums.Select(n => Text(n) ?? "<null>")) + "]" : null),
            _duck.Strings($"SELECT '[' || array_to_string(list_transform(nums, x -> coalesce(x::VARCHAR, '<null>')), ',') || ']' FROM {file} ORDER BY id"));
        Assert.Equal(
            records.Select(r => r["when"] is List<object?> when ? "[" + string.Join(',', when.Select(Text)) + "]" : null),
            _duck.Strings($"SELECT '[' || array_to_string(list_transform(\"when\", x -> strftime(x AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f')), ',') || ']' FROM {file} ORDER BY id"));
        Assert.Equal(
            // Twice the values (halves) as integers: DuckDB prints whole doubles with a decimal point.
            records.Select(r => r["counts"] is List<KeyValuePair<object, object?>> counts ? string.Join(',', counts.Select(e => $"{e.Key}={(e.Value is double v ? Text((long)(v * 2)) : "<null>")}")) : null),
            _duck.Strings($"SELECT array_to_string(list_transform(map_entries(counts), e -> e.key || '=' || coalesce((e.value * 2)::BIGINT::VARCHAR, '<null>')), ',') FROM {file} ORDER BY id"));

        await AssertParquetNetReadsTheLevelsAndValuesAsync(path, records);
    }

    [Fact]
    public async Task Chunks_are_one_plain_data_page_with_rle_levels_and_their_metadata_adds_up()
    {
        var path = await WriteAsync(Schema, Records(Rows), CompressionKind.Snappy);
        var bytes = await File.ReadAllBytesAsync(path);
        var footer = ParquetThrift.ReadFooter(bytes);
        Assert.Equal(Rows / RowGroupRows, footer.RowGroups.Count);
        var leaves = ColumnLayout.For(Schema).Leaves;
        foreach (var group in footer.RowGroups)
        {
            Assert.Equal(RowGroupRows, group.NumRows);
            for (var c = 0; c < group.Columns.Count; c++)
            {
                var metadata = group.Columns[c].MetaData!;
                // Text and binaries may have a dictionary page (ParquetByteArrayColumnEncoderTests).
                if (leaves[c].Field.Kind is FieldKind.String or FieldKind.Binary) continue;
                Assert.Equal([Encoding.PLAIN, Encoding.RLE], metadata.Encodings);
                Assert.Null(metadata.DictionaryPageOffset);
                // One data page of all the chunk's entries fills the chunk exactly.
                using var pages = new MemoryStream(bytes, (int)metadata.DataPageOffset, (int)metadata.TotalCompressedSize);
                var header = ParquetColumnChunk.NextPage(pages, out var payloadStart);
                Assert.Equal(PageType.DATA_PAGE, header.Type);
                Assert.Equal(metadata.NumValues, header.DataPageHeader!.NumValues);
                Assert.Equal(metadata.TotalCompressedSize, pages.Position);
                Assert.Equal(metadata.TotalUncompressedSize, payloadStart + header.UncompressedPageSize);
            }
        }
        // DuckDB reads the same layout from the footer.
        Assert.Equal(0, _duck.Count($"SELECT count(*) FROM parquet_metadata({DuckDb.Quote(path)}) WHERE path_in_schema <> 'bin' AND encodings NOT LIKE '%PLAIN%'"));
    }

    [Fact]
    public async Task Statistics_hold_each_row_group_extremes_and_null_count_and_DuckDB_prunes_by_them()
    {
        var records = Records(Rows);
        var path = await WriteAsync(Schema, records, CompressionKind.Snappy);
        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));
        for (var g = 0; g < footer.RowGroups.Count; g++)
        {
            var group = new RecordChunk(Schema, records.Skip(g * RowGroupRows).Take(RowGroupRows).ToList());
            foreach (var column in group.Columns)
            {
                var statistics = footer.RowGroups[g].Columns[column.Leaf.Index].MetaData!.Statistics!;
                Assert.Equal(column.LevelCount - column.ValueCount, statistics.NullCount);
                var expected = Extremes(column);
                if (expected is null)
                {
                    Assert.Null(statistics.MinValue);
                    continue;
                }
                Assert.True(expected.Value.Min.AsSpan().SequenceEqual(statistics.MinValue), $"{column.Leaf.Path} min, row group {g}");
                Assert.True(expected.Value.Max.AsSpan().SequenceEqual(statistics.MaxValue), $"{column.Leaf.Path} max, row group {g}");
                if (column.Leaf.Field.Kind == FieldKind.Binary)
                {
                    // Legacy fields left out: their readers may compare bytes signed.
                    Assert.Null(statistics.Min);
                }
                else
                {
                    Assert.Equal(statistics.MinValue, statistics.Min);
                    Assert.Equal(statistics.MaxValue, statistics.Max);
                }
            }
        }

        // DuckDB reads them as the values they are, and a filter by them still finds every row that matches.
        var file = DuckDb.Quote(path);
        Assert.Equal(
            Enumerable.Range(0, 3).Select(g => (-5 + g * RowGroupRows * 10_000_000_000L).ToString(CultureInfo.InvariantCulture)),
            _duck.Strings($"SELECT stats_min_value FROM parquet_metadata({file}) WHERE path_in_schema = 'l' ORDER BY row_group_id"));
        Assert.Equal(
            records.Where(r => r["ts"] is DateTime ts && ts >= Epoch.AddDays(999)).LongCount(),
            _duck.Count($"SELECT count(*) FROM read_parquet({file}) WHERE ts >= TIMESTAMPTZ '1972-09-26 00:00:00+00'"));
        Assert.Equal(Epoch.AddDays(999), new DateTime(1972, 9, 26, 0, 0, 0, DateTimeKind.Utc));
        Assert.Equal(records.Count(r => r["d"] is double d && d > 700), _duck.Count($"SELECT count(*) FROM read_parquet({file}) WHERE d > 700"));
        Assert.Equal(records.Count(r => r["dec18"] is decimal m && m < -1_000_000_000m), _duck.Count($"SELECT count(*) FROM read_parquet({file}) WHERE dec18 < -1000000000"));
    }

    [Fact]
    public async Task Floating_point_statistics_leave_out_NaN_and_widen_zeros_as_the_format_asks()
    {
        var schema = new DatasetSchema([
            new SchemaField("id", FieldKind.Int64, Nullable: false),
            new SchemaField("d", FieldKind.Double),
            new SchemaField("f", FieldKind.Float),
        ]);
        // Row groups of 4: NaN among numbers, zeros of both signs, NaN alone, nulls alone, infinities.
        double?[][] groups =
        [
            [double.NaN, 2.5, -1.0, double.NaN],
            [0.0, 0.0, 3.0, null],
            [-0.0, -2.0, -0.0, null],
            [double.NaN, double.NaN, null, double.NaN],
            [null, null, null, null],
            [double.NegativeInfinity, 1.0, double.PositiveInfinity, -0.0],
        ];
        var records = groups.SelectMany(group => group).Select((d, i) => new Record { ["id"] = (long)i, ["d"] = d, ["f"] = (float?)d }).ToList();
        var path = await WriteAsync(schema, records, CompressionKind.None, rowGroupRecords: 4);
        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));
        (double? Min, double? Max, long Nulls)[] expected =
        [
            (-1.0, 2.5, 0),
            (-0.0, 3.0, 1),
            (-2.0, 0.0, 1),
            (null, null, 1),
            (null, null, 4),
            (double.NegativeInfinity, double.PositiveInfinity, 0),
        ];
        for (var g = 0; g < expected.Length; g++)
        {
            var doubles = footer.RowGroups[g].Columns[1].MetaData!.Statistics!;
            var floats = footer.RowGroups[g].Columns[2].MetaData!.Statistics!;
            Assert.Equal(expected[g].Nulls, doubles.NullCount);
            Assert.Equal(expected[g].Nulls, floats.NullCount);
            if (expected[g].Min is not { } min)
            {
                Assert.Null(doubles.MinValue);
                Assert.Null(doubles.MaxValue);
                Assert.Null(floats.MinValue);
                Assert.Null(floats.MaxValue);
                continue;
            }
            // Bit for bit: the sign of a zero matters.
            Assert.Equal(BitConverter.DoubleToInt64Bits(min), BitConverter.ToInt64(doubles.MinValue));
            Assert.Equal(BitConverter.DoubleToInt64Bits(expected[g].Max!.Value), BitConverter.ToInt64(doubles.MaxValue));
            Assert.Equal(BitConverter.SingleToInt32Bits((float)min), BitConverter.ToInt32(floats.MinValue));
            Assert.Equal(BitConverter.SingleToInt32Bits((float)expected[g].Max!.Value), BitConverter.ToInt32(floats.MaxValue));
        }

        // DuckDB finds NaN and zeros of either sign in every row group that holds them.
        var file = $"read_parquet({DuckDb.Quote(path)})";
        Assert.Equal(5, _duck.Count($"SELECT count(*) FROM {file} WHERE isnan(d)"));
        Assert.Equal(5, _duck.Count($"SELECT count(*) FROM {file} WHERE isnan(f)"));
        Assert.Equal(5, _duck.Count($"SELECT count(*) FROM {file} WHERE d = 0"));
        Assert.Equal(5, _duck.Count($"SELECT count(*) FROM {file} WHERE f = 0"));
        Assert.Equal(1, _duck.Count($"SELECT count(*) FROM {file} WHERE d = 'inf'::DOUBLE"));
    }

    [Fact]
    public async Task Booleans_are_bit_packed_across_byte_boundaries_with_their_extremes()
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("b", FieldKind.Boolean, Nullable: false)]);
        // 1,003 values: a last partial byte; row groups all true, all false and mixed.
        var records = Enumerable.Range(0, 1003).Select(i => new Record { ["id"] = (long)i, ["b"] = i < 300 || (i >= 600 && i % 3 == 1) }).ToList();
        var path = await WriteAsync(schema, records, CompressionKind.None, rowGroupRecords: 300);

        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
        Assert.Equal(records.Count(r => (bool)r["b"]!), _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(path)}) WHERE b"));
        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));
        Assert.Equal([1, 0, 0, 0], footer.RowGroups.Select(g => (int)g.Columns[1].MetaData!.Statistics!.MinValue![0]));
        Assert.Equal([1, 0, 1, 1], footer.RowGroups.Select(g => (int)g.Columns[1].MetaData!.Statistics!.MaxValue![0]));
        Assert.Equal(103, footer.RowGroups[3].Columns[1].MetaData!.NumValues);
    }

    [Fact]
    public async Task Binaries_of_few_distinct_values_get_a_dictionary_and_read_back()
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("bin", FieldKind.Binary)]);
        byte[][] values = [[], [0x00], [0xFF, 0x00], [0x80], [0x7F, 0xFF, 0x01]];
        var records = Enumerable.Range(0, 2000).Select(i => new Record { ["id"] = (long)i, ["bin"] = i % 9 == 0 ? null : values[i % values.Length] }).ToList();
        var path = await WriteAsync(schema, records, CompressionKind.Zstd);

        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));
        Assert.All(footer.RowGroups, group => Assert.Contains(Encoding.RLE_DICTIONARY, group.Columns[1].MetaData!.Encodings));
        // Unsigned order: 0x80 and 0xFF above 0x7F; the empty value least.
        Assert.All(footer.RowGroups, group => Assert.Equal(Array.Empty<byte>(), group.Columns[1].MetaData!.Statistics!.MinValue));
        Assert.All(footer.RowGroups, group => Assert.Equal(new byte[] { 0xFF, 0x00 }, group.Columns[1].MetaData!.Statistics!.MaxValue));
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
        Assert.Equal(
            records.Select(r => r["bin"] is byte[] bytes ? Convert.ToHexString(bytes) : null),
            _duck.Strings($"SELECT hex(bin) FROM read_parquet({DuckDb.Quote(path)}) ORDER BY id"));
    }

    [Fact]
    public async Task A_decimal_too_large_for_its_column_fails_the_write()
    {
        var schema = new DatasetSchema([new SchemaField("m", FieldKind.Decimal, Precision: 9, Scale: 2)]);
        var path = fixture.NewPath("overflow.parquet");
        await using var output = File.Create(path);
        await using var writer = new ParquetFileWriter(output, schema, CompressionKind.None);
        var chunk = new RecordChunk(schema, [new Record { ["m"] = 12345678901.5m }]);
        await Assert.ThrowsAsync<OverflowException>(() => writer.WriteAsync(chunk, CancellationToken.None));
    }

    /// <summary>The PLAIN bytes of a column's least and greatest values in the type's order, or null when it has none.</summary>
    private static (byte[] Min, byte[] Max)? Extremes(ColumnData column)
    {
        static (byte[], byte[])? Of<T>(IEnumerable<T> values, Func<T, byte[]> plain, IComparer<T>? comparer = null)
        {
            var list = values.ToList();
            if (list.Count == 0) return null;
            var sorted = list.Order(comparer ?? Comparer<T>.Default).ToList();
            return (plain(sorted[0]), plain(sorted[^1]));
        }
        long Micros(DateTime value) => (value.Ticks - Epoch.Ticks) / 10;
        return column switch
        {
            ColumnData<bool> c => Of(c.Values.ToArray(), b => new[] { b ? (byte)1 : (byte)0 }),
            ColumnData<int> c => Of(c.Values.ToArray(), BitConverter.GetBytes),
            ColumnData<long> c => Of(c.Values.ToArray(), BitConverter.GetBytes),
            ColumnData<float> c => Of(c.Values.ToArray().Where(f => !float.IsNaN(f)), BitConverter.GetBytes),
            ColumnData<double> c => Of(c.Values.ToArray().Where(d => !double.IsNaN(d)), BitConverter.GetBytes),
            ColumnData<DateOnly> c => Of(c.Values.ToArray(), d => BitConverter.GetBytes(d.DayNumber - DateOnly.FromDateTime(Epoch).DayNumber)),
            ColumnData<DateTime> c => Of(c.Values.ToArray(), t => BitConverter.GetBytes(Micros(t))),
            ColumnData<TimeSpan> c => Of(c.Values.ToArray(), t => BitConverter.GetBytes(t.Ticks / 10)),
            ColumnData<decimal> c when column.Leaf.Field.Precision <= 9 => Of(c.Values.ToArray(), m => BitConverter.GetBytes((int)(m * 100))),
            ColumnData<decimal> c when column.Leaf.Field.Precision <= 18 => Of(c.Values.ToArray(), m => BitConverter.GetBytes((long)(m * 10_000))),
            // Fixed-length decimals carry no extremes.
            ColumnData<decimal> => null,
            ColumnData<ReadOnlyMemory<byte>> c => Of(c.Values.ToArray().Select(b => b.ToArray()), b => b, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))),
            _ => throw new InvalidOperationException($"No extremes for {column.GetType()}"),
        };
    }

    /// <summary>Parquet.Net's raw levels and values of every non-text leaf equal those of the chunks the writer received.</summary>
    private static async Task AssertParquetNetReadsTheLevelsAndValuesAsync(string path, IReadOnlyList<Record> records)
    {
        var written = new RecordChunk(Schema, records);
        await using var reader = await ParquetReader.CreateAsync(path, ParquetSchemaMapping.ReadOptions());
        var fields = reader.Schema.GetDataFields();
        foreach (var column in written.Columns.Where(column => column.Leaf.Field.Kind != FieldKind.String))
        {
            var field = fields[column.Leaf.Index];
            var (definitions, repetitions, values) = column.Leaf.Field.Kind switch
            {
                FieldKind.Boolean => await ParquetEncoderChecks.ReadRawAsync<bool>(reader, field, v => v),
                FieldKind.Int32 => await ParquetEncoderChecks.ReadRawAsync<int>(reader, field, v => v),
                FieldKind.Int64 => await ParquetEncoderChecks.ReadRawAsync<long>(reader, field, v => v),
                FieldKind.Float => await ParquetEncoderChecks.ReadRawAsync<float>(reader, field, v => v),
                FieldKind.Double => await ParquetEncoderChecks.ReadRawAsync<double>(reader, field, v => v),
                FieldKind.Date => await ParquetEncoderChecks.ReadRawAsync<DateOnly>(reader, field, v => v),
                FieldKind.Timestamp => await ParquetEncoderChecks.ReadRawAsync<DateTime>(reader, field, v => v.Ticks),
                // Parquet.Net 6.1 hands TIME(MICROS) over as the INT64 it is.
                FieldKind.Time => await ParquetEncoderChecks.ReadRawAsync<long>(reader, field, v => TimeSpan.FromMicroseconds(v)),
                FieldKind.Decimal => await ParquetEncoderChecks.ReadRawAsync<Parquet.Data.BigDecimal>(reader, field, v => ParquetSchemaMapping.ToDecimal(v.UnscaledValue, v.Scale)),
                FieldKind.Binary => await ParquetEncoderChecks.ReadRawAsync<ReadOnlyMemory<byte>>(reader, field, v => Convert.ToHexString(v.Span)),
                _ => throw new InvalidOperationException($"Unexpected leaf {column.Leaf.Path}"),
            };
            Assert.Equal(column.Leaf.MaxDefinition > 0 ? column.Definitions.ToArray() : [], definitions);
            Assert.Equal(column.Leaf.MaxRepetition > 0 ? column.Repetitions.ToArray() : [], repetitions);
            object? Expected(object? value) => value switch
            {
                // Kept to the microsecond, their unit in the file.
                DateTime timestamp => timestamp.Ticks - timestamp.Ticks % 10,
                ReadOnlyMemory<byte> bytes => Convert.ToHexString(bytes.Span),
                _ => value,
            };
            Assert.Equal(ValuesOf(column).Select(Expected), values);
        }
    }

    private static IEnumerable<object?> ValuesOf(ColumnData column) => column switch
    {
        ColumnData<bool> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<int> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<long> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<float> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<double> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<decimal> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<DateOnly> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<DateTime> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<TimeSpan> c => c.Values.ToArray().Cast<object?>(),
        ColumnData<ReadOnlyMemory<byte>> c => c.Values.ToArray().Cast<object?>(),
        _ => throw new InvalidOperationException($"Unexpected column {column.GetType()}"),
    };
}
