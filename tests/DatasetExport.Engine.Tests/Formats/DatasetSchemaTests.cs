using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

public sealed class DatasetSchemaTests
{
    [Fact]
    public void Schemas_of_one_width_hash_apart_and_equal_schemas_alike()
    {
        // The hash was the field count: every schema of a width collided in the caches keyed by schema (ParquetFileLayout's
        // empty-file templates), each lookup then comparing field by field against all of them.
        var schemas = Enumerable.Range(0, 50)
            .Select(i => new DatasetSchema([new SchemaField($"c{i}", FieldKind.Int64), new SchemaField("name", FieldKind.String)]))
            .ToList();

        Assert.Equal(50, schemas.Select(schema => schema.GetHashCode()).Distinct().Count());
        var twin = new DatasetSchema([new SchemaField("c7", FieldKind.Int64), new SchemaField("name", FieldKind.String)]);
        Assert.Equal(schemas[7], twin);
        Assert.Equal(schemas[7].GetHashCode(), twin.GetHashCode());
    }
}
