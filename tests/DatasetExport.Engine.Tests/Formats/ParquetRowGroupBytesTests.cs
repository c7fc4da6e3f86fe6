using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Row groups closed on the bytes the Parquet writer's buffers hold, with rows of very different sizes: narrow rows, a row
/// far wider than the row group's bytes, rows of nulls and empty lists and maps, a column that is only ever null, a
/// repetitive (dictionary) column; chunks of one row, of a few, of many. No row group is empty, and DuckDB and our reader
/// read every record back.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParquetRowGroupBytesTests(FormatsFixture fixture)
{
    private readonly DuckDb _duck = fixture.Duck;

    private static readonly DatasetSchema Schema = new(
    [
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("kind", FieldKind.String),
        new SchemaField("never", FieldKind.String),
        new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)]),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]),
    ]);

    private static List<Record> Records()
    {
        var records = new List<Record>();
        for (var row = 0; row < 1200; row++)
        {
            var wide = row is 300 or 301 or 900;
            var empty = row is >= 302 and < 340;
            records.Add(new Record
            {
                ["id"] = (long)row,
                ["kind"] = empty ? null : $"kind-{row % 5}",
                ["never"] = null,
                ["tags"] = empty ? new List<object?>() : Enumerable.Range(0, wide ? 200 : row % 3).Select(i => (object?)new string((char)('a' + i % 26), wide ? 5000 : 4)).ToList(),
                ["m"] = empty ? new List<KeyValuePair<object, object?>>() : Enumerable.Range(0, row % 4).Select(i => new KeyValuePair<object, object?>($"k{i}", (long)(row * i))).ToList(),
            });
        }
        return records;
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(7)]
    [InlineData(1)]
    public async Task Rows_of_very_different_sizes_fill_row_groups_none_empty_and_read_back(int chunkSize)
    {
        var records = Records();
        var path = fixture.NewPath($"row-group-bytes-{chunkSize}.parquet");
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, Schema, CompressionKind.Snappy, rowGroupBytes: 64 << 10))
        {
            foreach (var chunk in records.Chunk(chunkSize)) await writer.WriteAsync(new RecordChunk(Schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(records.Count, writer.RecordsWritten);
        }

        var rowGroups = _duck.Strings(
            $"SELECT any_value(row_group_num_rows) FROM parquet_metadata({DuckDb.Quote(path)}) GROUP BY row_group_id ORDER BY row_group_id")
            .Select(rows => long.Parse(rows!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.All(rowGroups, rows => Assert.True(rows > 0));
        Assert.Equal(records.Count, rowGroups.Sum());
        Assert.True(rowGroups.Count >= 3, string.Join(",", rowGroups));
        Assert.Equal(records.Count, _duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(path)})"));
        Assert.Equal(0, _duck.Count($"SELECT count(never) FROM read_parquet({DuckDb.Quote(path)})"));
        Assert.Equal(
            records.Sum(r => ((List<object?>)r["tags"]!).Sum(t => (long)((string)t!).Length)),
            _duck.Count($"SELECT sum(coalesce(list_sum(list_transform(tags, t -> length(t))), 0))::BIGINT FROM read_parquet({DuckDb.Quote(path)})"));
        Assert.Equal(
            records.Sum(r => ((List<KeyValuePair<object, object?>>)r["m"]!).Count),
            _duck.Count($"SELECT sum(cardinality(m))::BIGINT FROM read_parquet({DuckDb.Quote(path)})"));
        Assert.Equal(
            Enumerable.Range(0, records.Count).Sum(i => (long)i),
            _duck.Count($"SELECT sum(id)::BIGINT FROM read_parquet({DuckDb.Quote(path)})"));
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, Schema));
    }
}
