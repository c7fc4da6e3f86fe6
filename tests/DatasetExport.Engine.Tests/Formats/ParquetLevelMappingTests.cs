using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;
using Parquet.Serialization.Attributes;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The Parquet reader maps each file column's levels onto the canonical layout of the dataset schema: files whose
/// required/optional layout differs from it, columns missing from the file, widening inside nested columns, and chunks
/// that must stay valid after the reader has moved on.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParquetLevelMappingTests(FormatsFixture fixture)
{
    private readonly DuckDb _duck = fixture.Duck;
    private readonly ParquetBatchReader _reader = new();

    /// <summary>
    /// Required columns, a required group and a required list, written by Parquet.Net's serializer (DuckDB writes every
    /// column OPTIONAL, NOT NULL ones included): value types are required, a C# struct is a required group.
    /// </summary>
    private async Task<string> RequiredColumnsFileAsync()
    {
        var path = fixture.NewPath("required-nested.parquet");
        RequiredRow[] rows =
        [
            new() { Id = 1, St = new RequiredInner { A = 10, B = "x" }, Lst = [1, 2, 3], F = 0.1f, Note = "n1" },
            new() { Id = 2, St = new RequiredInner { A = null, B = null }, Lst = [], F = 2.5f, Note = null },
            new() { Id = 3, St = new RequiredInner { A = 30, B = "z" }, Lst = [7], F = -1.25f, Note = "n3" },
        ];
        await using (var stream = File.Create(path)) await ParquetSerializer.SerializeAsync(rows, stream);
        return path;
    }

    public sealed class RequiredRow
    {
        [JsonPropertyName("id")] public int Id { get; set; }
        [JsonPropertyName("st")] public RequiredInner St { get; set; }
        [JsonPropertyName("lst"), ParquetRequired, ParquetListElementRequired] public List<int> Lst { get; set; } = [];
        [JsonPropertyName("f")] public float F { get; set; }
        [JsonPropertyName("note")] public string? Note { get; set; }
    }

    public struct RequiredInner
    {
        [JsonPropertyName("a")] public int? A { get; set; }
        [JsonPropertyName("b")] public string? B { get; set; }
    }

    private static List<Record> RequiredColumnsRecords(Func<int, object> id, Func<int, object> element, Func<float, object> f) =>
    [
        new Record { ["id"] = id(1), ["st"] = Struct(("a", 10), ("b", "x")), ["lst"] = List(element(1), element(2), element(3)), ["f"] = f(0.1f), ["note"] = "n1" },
        new Record { ["id"] = id(2), ["st"] = Struct(("a", null), ("b", null)), ["lst"] = List(), ["f"] = f(2.5f), ["note"] = null },
        new Record { ["id"] = id(3), ["st"] = Struct(("a", 30), ("b", "z")), ["lst"] = List(element(7)), ["f"] = f(-1.25f), ["note"] = "n3" },
    ];

    [Fact]
    public async Task Required_columns_groups_and_lists_read_as_their_own_schema()
    {
        var path = await RequiredColumnsFileAsync();
        Assert.Equal(["element REQUIRED", "f REQUIRED", "id REQUIRED", "lst REQUIRED", "note OPTIONAL", "st REQUIRED"],
            _duck.Strings($"SELECT name || ' ' || repetition_type FROM parquet_schema({DuckDb.Quote(path)}) WHERE name IN ('id', 'st', 'lst', 'element', 'f', 'note') ORDER BY name"));
        // DuckDB reads the file the same way, so the fixture itself is sound.
        Assert.Equal(["1 {'a': 10, 'b': x} [1, 2, 3]", "2 {'a': NULL, 'b': NULL} []", "3 {'a': 30, 'b': z} [7]"],
            _duck.Strings($"SELECT id || ' ' || st::VARCHAR || ' ' || lst::VARCHAR FROM read_parquet({DuckDb.Quote(path)}) ORDER BY id"));

        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);
        var records = await RecordAssert.ReadAllAsync(_reader, path, false, schema);

        Assert.Equal("id int32, st struct<a:int32,b:string>, lst list<int32>, f float, note string", schema.ToString());
        Assert.Equal([false, false, false, false, true], schema.Fields.Select(field => field.Nullable));
        Assert.False(schema.Fields[2].ChildFields[0].Nullable);
        RecordAssert.Equal(RequiredColumnsRecords(static i => i, static i => i, static f => f), records);
    }

    [Fact]
    public async Task Required_columns_map_onto_a_nullable_dataset_schema_with_widening_inside_lists()
    {
        var path = await RequiredColumnsFileAsync();
        // What the schema merger makes of this file and one where every column is nullable and wider.
        var merged = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64),
            new SchemaField("st", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int32), new SchemaField("b", FieldKind.String)]),
            new SchemaField("lst", FieldKind.List, Children: [new SchemaField("element", FieldKind.Decimal, Precision: 20, Scale: 0)]),
            new SchemaField("f", FieldKind.Double),
            new SchemaField("note", FieldKind.String),
        ]);

        var records = await RecordAssert.ReadAllAsync(_reader, path, false, merged);

        // Floats widen through their shortest text: 0.1f is 0.1.
        RecordAssert.Equal(RequiredColumnsRecords(static i => (long)i, static i => (decimal)i, static f => double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)), records);
        Assert.Equal(0.1, records[0]["f"]);
    }

    [Fact]
    public async Task A_legacy_repeated_column_maps_onto_a_nullable_wider_list()
    {
        var path = fixture.NewPath("repeated-widen.parquet");
        var numbers = new DataField("numbers", typeof(int), isNullable: false, isArray: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(numbers), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAllPartsAsync<int>(numbers, new[] { 1, 2, 3 }, new[] { 1, 1, 0, 1 }, new[] { 0, 1, 0, 0 }, CancellationToken.None);
        }
        var schema = new DatasetSchema([new SchemaField("numbers", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)])]);

        var chunk = Assert.Single(await ReadChunksAsync(_reader, path, schema));

        // Canonical levels: list present at 1, element present at 2 and value at 3 (the element is nullable here).
        Assert.Equal([3, 3, 1, 3], chunk.Columns[0].Definitions.ToArray());
        Assert.Equal([0, 1, 0, 0], chunk.Columns[0].Repetitions.ToArray());
        RecordAssert.Equal(
            [
                new Record { ["numbers"] = List(1L, 2L) },
                new Record { ["numbers"] = List() },
                new Record { ["numbers"] = List(3L) },
            ],
            chunk.Records);
    }

    [Fact]
    public async Task A_null_in_a_column_the_dataset_schema_declares_not_nullable_names_the_column_and_row_group()
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("nul", FieldKind.Int64, Nullable: false)]);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, fixture.AllTypesParquet, false, schema));

        Assert.Equal("row group 0", error.Location);
        Assert.Contains("'nul'", error.Message);
        Assert.Contains("not nullable", error.Message);
    }

    [Fact]
    public async Task A_missing_column_the_dataset_schema_declares_not_nullable_names_the_column_and_row_group()
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64), new SchemaField("absent", FieldKind.Int64, Nullable: false)]);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, fixture.AllTypesParquet, false, schema));

        Assert.Equal("row group 0", error.Location);
        Assert.Contains("'absent'", error.Message);
        Assert.Contains("not nullable", error.Message);
    }

    [Fact]
    public async Task Top_level_columns_missing_from_the_file_are_null_at_the_top_level()
    {
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64),
            new SchemaField("gone", FieldKind.String),
            new SchemaField("gone_nested", FieldKind.Struct, Children:
            [
                new SchemaField("xs", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int32)]),
                new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Double)]),
            ]),
            new SchemaField("lst", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)]),
        ]);

        var chunks = await ReadChunksAsync(_reader, fixture.AllTypesParquet, schema);

        var first = chunks[0];
        foreach (var leaf in first.Columns.Skip(1).Take(4))
        {
            Assert.Equal(first.RowCount, leaf.LevelCount);
            Assert.All(leaf.Definitions.ToArray(), level => Assert.Equal(0, level));
            Assert.Equal(0, leaf.ValueCount);
        }
        var records = chunks.SelectMany(chunk => chunk.Records).ToList();
        Assert.Equal(FormatsFixture.Rows, records.Count);
        for (var i = 0; i < records.Count; i += 97)
        {
            var expected = AllTypes.Expected(i);
            RecordAssert.Equal(
                new Record { ["id"] = (long)i, ["gone"] = null, ["gone_nested"] = null, ["lst"] = expected["lst"] },
                records[i], $"record {i}");
        }
    }

    [Fact]
    public async Task A_struct_child_missing_inside_a_list_is_read_through_records()
    {
        // lstst is list<struct<k>> in the file; the dataset adds a child and widens k.
        var schema = new DatasetSchema(
        [
            new SchemaField("id", FieldKind.Int64),
            new SchemaField("lstst", FieldKind.List, Children:
            [
                new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.Double), new SchemaField("added", FieldKind.Date)]),
            ]),
            new SchemaField("stnull", FieldKind.Struct, Children: [new SchemaField("other", FieldKind.Int32)]),
        ]);
        var reader = new ParquetBatchReader(chunkSize: 700);

        var chunks = await ReadChunksAsync(reader, fixture.AllTypesParquet, schema);

        Assert.All(chunks, chunk => Assert.Same(schema, chunk.Schema));
        Assert.All(chunks, chunk => Assert.True(chunk.RowCount <= 700));
        var records = chunks.SelectMany(chunk => chunk.Records).ToList();
        Assert.Equal(FormatsFixture.Rows, records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            var expected = new Record
            {
                ["id"] = (long)i,
                ["lstst"] = List(Struct(("k", (double)i), ("added", null)), null),
                ["stnull"] = i % 4 == 0 ? null : Struct(("other", null)),
            };
            RecordAssert.Equal(expected, records[i], $"record {i}");
        }
    }

    [Fact]
    public async Task Chunks_stay_valid_after_the_reader_has_moved_on_to_later_row_groups_and_files()
    {
        var reader = new ParquetBatchReader(chunkSize: 300);
        var held = await ReadChunksAsync(reader, fixture.AllTypesParquet, AllTypes.Schema);
        // Another file read in between reuses whatever memory the first one could have given back.
        var other = fixture.NewPath("other.parquet");
        _duck.Execute($"COPY (SELECT -i AS id, repeat('y', 50) AS s, [i, i, i] AS lst FROM range(20000) r(i)) TO {DuckDb.Quote(other)} (FORMAT parquet, ROW_GROUP_SIZE 2048)");
        var otherRecords = 0;
        await foreach (var chunk in reader.ReadAsync(other, false, await reader.ReadSchemaAsync(other, false, CancellationToken.None), CancellationToken.None))
        {
            otherRecords += chunk.RowCount;
        }
        GC.Collect();

        Assert.Equal(20_000, otherRecords);
        Assert.True(held.Count > 3, "the file should span several row groups and chunks");
        RecordAssert.Equal(AllTypes.ExpectedRecords(FormatsFixture.Rows), held.SelectMany(chunk => chunk.Records).ToList());
    }

    [Fact]
    public async Task Chunks_of_one_row_group_are_views_of_the_same_decoded_arrays()
    {
        var reader = new ParquetBatchReader(chunkSize: 1000);

        var chunks = await ReadChunksAsync(reader, fixture.AllTypesParquet, AllTypes.Schema);

        // The first row group has 2048 rows: chunks of 1000, 1000 and 48 rows over one decoded array per column.
        Assert.Equal([1000, 1000, 48], chunks.Take(3).Select(chunk => chunk.RowCount));
        var strings = AllTypes.Schema.Fields.Select(field => field.Name).ToList().IndexOf("s");
        var listLeaf = ColumnLayout.For(AllTypes.Schema).Leaves.Single(leaf => leaf.Path == "lst[]").Index;
        foreach (var column in new[] { strings, listLeaf })
        {
            var arrays = chunks.Take(3).Select(chunk => ValuesArray(chunk.Columns[column])).ToList();
            Assert.Same(arrays[0], arrays[1]);
            Assert.Same(arrays[0], arrays[2]);
            Assert.NotSame(arrays[0], ValuesArray(chunks[3].Columns[column]));
        }
    }

    [Fact]
    public async Task A_column_whose_levels_do_not_start_a_row_names_the_column_and_row_group()
    {
        var path = fixture.NewPath("uneven.parquet");
        var id = new DataField<long>("id", nullable: false);
        var tags = new DataField("tags", typeof(int), isNullable: false, isArray: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, tags), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync<long>(id, new long[] { 1, 2, 3 });
            // Three rows, but the first entry continues a row that never started (repetition 1).
            await group.WriteAllPartsAsync<int>(tags, new[] { 1, 2, 3, 4 }, new[] { 1, 1, 1, 1 }, new[] { 1, 0, 0, 0 }, CancellationToken.None);
        }
        var schema = await _reader.ReadSchemaAsync(path, false, CancellationToken.None);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(_reader, path, false, schema));

        Assert.Equal("row group 0", error.Location);
        Assert.Contains("'tags'", error.Message);
        Assert.Contains("row count", error.Message);
    }

    /// <summary>The array under a column's values.</summary>
    private static object ValuesArray(ColumnData column)
    {
        object? array = column switch
        {
            ColumnData<ReadOnlyMemory<byte>> strings => MemoryMarshal.TryGetArray(strings.Values, out var segment) ? segment.Array : null,
            ColumnData<long> longs => MemoryMarshal.TryGetArray(longs.Values, out var segment) ? segment.Array : null,
            _ => null,
        };
        return Assert.IsAssignableFrom<object>(array);
    }

    private static async Task<List<RecordChunk>> ReadChunksAsync(ParquetBatchReader reader, string path, DatasetSchema schema)
    {
        var chunks = new List<RecordChunk>();
        await foreach (var chunk in reader.ReadAsync(path, false, schema, CancellationToken.None)) chunks.Add(chunk);
        return chunks;
    }

    private static Dictionary<string, object?> Struct(params (string Name, object? Value)[] fields) =>
        fields.ToDictionary(field => field.Name, field => field.Value);

    private static List<object?> List(params object?[] items) => [.. items];
}
