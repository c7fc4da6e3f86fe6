using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>Tests that count the bytes the whole process allocates: they run alone, after the tests that run in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationCountingCollection
{
    public const string Name = "allocation counting (alone)";
}

/// <summary>A Parquet writer's memory for a wide row group follows the columns encoded at once, not every column.</summary>
[Collection(AllocationCountingCollection.Name)]
public sealed class WideParquetEncodingTests
{
    [Fact]
    public async Task Encoding_a_row_group_of_five_thousand_text_columns_takes_scratch_for_the_columns_encoded_at_once()
    {
        const int columns = 5000, rows = 500;
        var schema = new DatasetSchema(Enumerable.Range(0, columns).Select(c => new SchemaField($"c{c}", FieldKind.String, Nullable: true)).ToList());
        var builder = new ChunkBuilder(schema, rows);
        for (var row = 0; row < rows; row++)
        {
            builder.AddRecord(Enumerable.Range(0, columns).ToDictionary(c => $"c{c}", c => (object?)$"v{c * rows + row}"));
        }
        using var output = new MemoryStream();
        var writer = FormatCatalog.CreateWriter(output, schema, FileType.Parquet, CompressionKind.Snappy);
        await writer.WriteAsync(builder.Build(), default);

        var before = GC.GetTotalAllocatedBytes(precise: true);
        await writer.CompleteAsync(default);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(rows, writer.RecordsWritten);
        // Each column's encoder kept a page, a compression buffer and a dictionary of its own, grown to its page: 335 MB
        // allocated for this row group of 2.5 M short values (52 MB now).
        Assert.InRange(allocated, 0, 150L << 20);
        await writer.DisposeAsync();
    }
}
