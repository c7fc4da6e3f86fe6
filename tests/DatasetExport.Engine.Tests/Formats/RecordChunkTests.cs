using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>The columnar chunk: records shred into the canonical levels, assemble back, and slice by rows.</summary>
public sealed class RecordChunkTests
{
    private static readonly DatasetSchema ListSchema = new([new SchemaField("l", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int32)])]);

    [Fact]
    public void Every_type_shreds_and_assembles_back_to_the_same_records()
    {
        var expected = AllTypes.ExpectedRecords(40);

        var chunk = new RecordChunk(AllTypes.Schema, expected);

        Assert.Equal(40, chunk.RowCount);
        Assert.Equal(ColumnLayout.For(AllTypes.Schema).Leaves.Count, chunk.Columns.Count);
        RecordAssert.Equal(AllTypes.ExpectedRecords(40), chunk.Records);
    }

    [Fact]
    public void A_list_is_laid_out_with_the_canonical_levels()
    {
        var chunk = new RecordChunk(ListSchema, [
            new Record { ["l"] = new List<object?> { 1, null, 3 } },
            new Record { ["l"] = null },
            new Record { ["l"] = new List<object?>() },
        ]);

        var column = Assert.IsType<ColumnData<int>>(Assert.Single(chunk.Columns));
        // null list: 0, empty list: 1, null element: 2, element: 3; a second element repeats at level 1.
        Assert.Equal([3, 2, 3, 0, 1], column.Definitions.ToArray());
        Assert.Equal([0, 1, 1, 0, 0], column.Repetitions.ToArray());
        Assert.Equal([1, 3], column.Values.ToArray());
    }

    [Fact]
    public void Slices_of_any_rows_hold_exactly_those_records_even_nested_and_sliced_again()
    {
        var expected = AllTypes.ExpectedRecords(13);
        var chunk = new RecordChunk(AllTypes.Schema, expected);

        for (var start = 0; start <= 13; start++)
        {
            for (var count = 0; start + count <= 13; count++)
            {
                var slice = chunk.Slice(start, count);
                Assert.Equal(count, slice.RowCount);
                RecordAssert.Equal(AllTypes.ExpectedRecords(13).GetRange(start, count), slice.Records);
            }
        }
        var twice = chunk.Slice(3, 8).Slice(2, 4);
        RecordAssert.Equal(AllTypes.ExpectedRecords(13).GetRange(5, 4), twice.Records);
    }

    [Fact]
    public void A_slice_past_the_end_is_refused()
    {
        var chunk = new RecordChunk(ListSchema, [new Record { ["l"] = null }]);

        Assert.Throws<ArgumentOutOfRangeException>(() => chunk.Slice(1, 1));
    }

    [Fact]
    public void A_value_that_does_not_fit_its_column_is_refused_naming_it_and_the_row_is_taken_back()
    {
        var schema = new DatasetSchema([new SchemaField("a", FieldKind.Int32), new SchemaField("b", FieldKind.Int32)]);
        var builder = new ChunkBuilder(schema);
        builder.AddRecord(new Record { ["a"] = 1, ["b"] = 2 });

        var error = Assert.Throws<ArgumentException>(() => builder.AddRecord(new Record { ["a"] = 5, ["b"] = "not a number" }));

        Assert.Contains("'b'", error.Message);
        var chunk = builder.Build();
        Assert.Equal(1, chunk.RowCount);
        Assert.Equal(1, chunk.Columns[0].ValueCount);
        RecordAssert.Equal([new Record { ["a"] = 1, ["b"] = 2 }], chunk.Records);
    }

    [Fact]
    public void Column_data_whose_values_do_not_match_its_levels_is_refused()
    {
        var leaf = ColumnLayout.For(ListSchema).Leaves[0];

        Assert.Throws<ArgumentException>(() => new ColumnData<int>(leaf, 2, new[] { 3, 3 }, new[] { 0, 1 }, new[] { 1 }));
        Assert.Throws<ArgumentException>(() => new ColumnData<long>(leaf, 1, new[] { 3 }, new[] { 0 }, new[] { 1L }));
        Assert.Throws<ArgumentException>(() => new ColumnData<int>(leaf, 2, new[] { 3 }, new[] { 0, 1 }, new[] { 1 }));
        Assert.Throws<ArgumentException>(() => new ColumnData<int>(leaf, 1, new[] { 4 }, new[] { 0 }, new[] { 1 }));
    }

    [Fact]
    public void A_chunk_whose_columns_do_not_match_the_schema_or_row_count_is_refused()
    {
        var schema = new DatasetSchema([new SchemaField("a", FieldKind.Int32)]);
        var leaf = ColumnLayout.For(schema).Leaves[0];
        var column = new ColumnData<int>(leaf, 2, new[] { 1, 0 }, default, new[] { 7 });

        Assert.Throws<ArgumentException>(() => new RecordChunk(schema, 3, [column]));
        Assert.Throws<ArgumentException>(() => new RecordChunk(schema, 2, []));
        Assert.Throws<ArgumentException>(() => new RecordChunk(ListSchema, 2, [column]));
        var chunk = new RecordChunk(schema, 2, [column]);
        RecordAssert.Equal([new Record { ["a"] = 7 }, new Record { ["a"] = null }], chunk.Records);
    }
}
