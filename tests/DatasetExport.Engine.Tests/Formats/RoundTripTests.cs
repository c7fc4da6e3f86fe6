using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>Whole paths a dataset takes: lake batch → reader → writer, judged by DuckDB against the original.</summary>
[Collection(FormatsCollection.Name)]
public sealed class RoundTripTests(FormatsFixture fixture)
{
    private const int Rows = FormatsFixture.Rows;
    private readonly DuckDb _duck = fixture.Duck;

    private static async Task CopyAsync(IBatchReader reader, string source, bool gzipped, DatasetSchema schema, IFormatWriter writer)
    {
        await foreach (var chunk in reader.ReadAsync(source, gzipped, schema, CancellationToken.None)) await writer.WriteAsync(chunk, CancellationToken.None);
        await writer.CompleteAsync(CancellationToken.None);
    }

    private static async Task ConvertAsync(IBatchReader reader, string source, bool gzipped, DatasetSchema schema, string target, FileType fileType, CompressionKind compression)
    {
        await using var output = File.Create(target);
        await using var writer = FormatCatalog.CreateWriter(output, schema, fileType, compression);
        await CopyAsync(reader, source, gzipped, schema, writer);
    }

    [Fact]
    public async Task Parquet_to_Parquet_keeps_every_value()
    {
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var target = fixture.NewPath("copy.parquet");
        var schema = await reader.ReadSchemaAsync(fixture.AllTypesParquet, false, CancellationToken.None);

        await ConvertAsync(reader, fixture.AllTypesParquet, false, schema, target, FileType.Parquet, CompressionKind.Zstd);

        _duck.AssertSameRows($"read_parquet({DuckDb.Quote(target)})", $"read_parquet({DuckDb.Quote(fixture.AllTypesParquet)})", AllTypes.SameRowConditions(), Rows);
    }

    [Fact]
    public async Task Parquet_to_JSON_to_inferred_Parquet_keeps_every_value_in_JSON_types()
    {
        var parquetReader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var jsonReader = FormatCatalog.GetReader(BatchFormat.JsonLines);
        var json = fixture.NewPath("step" + FormatCatalog.FileExtension(FileType.Json, CompressionKind.Gzip));
        var parquet = fixture.NewPath("final.parquet");
        var schema = await parquetReader.ReadSchemaAsync(fixture.AllTypesParquet, false, CancellationToken.None);

        await ConvertAsync(parquetReader, fixture.AllTypesParquet, false, schema, json, FileType.Json, CompressionKind.Gzip);
        var inferred = await jsonReader.ReadSchemaAsync(json, gzipped: true, CancellationToken.None);
        await ConvertAsync(jsonReader, json, true, inferred, parquet, FileType.Parquet, CompressionKind.Snappy);

        Assert.Equal(
            "id int64, t8 int64, s16 int64, i32 int64, i64 int64, u8 int64, u16 int64, u32 int64, u64 double, f double, d double, dec18 double, dec38 double, s string, "
            + "bl string, dt string, ts string, tstz string, tsms string, tsns string, tm string, st struct<a:int64,b:string,c:struct<d:list<int64>>>, "
            + "lst list<int64>, lstst list<struct<k:int64>>, stnull struct<p:int64>, lstlst list<list<int64>>, mp struct<k1:int64,k2:string>, nul int64, bo boolean",
            inferred.ToString());
        _duck.AssertSameRows($"read_parquet({DuckDb.Quote(parquet)})", $"read_parquet({DuckDb.Quote(fixture.AllTypesParquet)})",
        [
            "o.t8 = e.t8", "o.i32 = e.i32", "o.i64 = e.i64", "o.u32 = e.u32", "o.u64 = e.u64::DOUBLE", "o.f = e.f", "o.d = e.d",
            "o.dec18 = e.dec18::DOUBLE", "o.dec38 = e.dec38::DOUBLE", "o.s = e.s", "from_base64(o.bl) = e.bl", "o.dt::DATE = e.dt",
            "epoch_us(o.ts::TIMESTAMPTZ) = epoch_us(e.ts)", "epoch_us(o.tstz::TIMESTAMPTZ) = epoch_us(e.tstz)", "o.tm::TIME = e.tm",
            "o.st IS NOT DISTINCT FROM e.st", "o.lst IS NOT DISTINCT FROM e.lst", "o.lstst IS NOT DISTINCT FROM e.lstst",
            "o.stnull IS NOT DISTINCT FROM e.stnull", "o.lstlst IS NOT DISTINCT FROM e.lstlst",
            "o.mp.k1 IS NOT DISTINCT FROM e.mp['k1'] AND o.mp.k2 IS NULL AND (o.mp IS NULL) = (e.mp IS NULL)",
            "o.nul IS NOT DISTINCT FROM e.nul", "o.bo = e.bo",
        ], Rows);
    }

    [Fact]
    public async Task JSON_written_by_us_reads_back_every_kind_under_the_dataset_schema()
    {
        var json = fixture.NewPath("typed.jsonl");
        await ParquetFileWriterTests.WriteAsync(json, AllTypes.Schema, AllTypes.ExpectedRecords(Rows), FileType.Json, CompressionKind.None);

        // With the dataset schema (not an inferred one) timestamps, dates, times, base64, decimals and maps come back typed.
        var records = await RecordAssert.ReadAllAsync(FormatCatalog.GetReader(BatchFormat.JsonLines), json, false, AllTypes.Schema);

        RecordAssert.Equal(AllTypes.ExpectedRecords(Rows), records);
    }

    [Fact]
    public async Task Batches_of_a_dataset_merge_and_conform_into_one_file()
    {
        var jsonBatch = fixture.NewPath("batch1.jsonl");
        await File.WriteAllTextAsync(jsonBatch, """
            {"id": 1, "amount": 10, "tags": ["a"], "who": {"name": "x"}}
            {"id": 2, "amount": 11, "tags": [], "who": null}

            """);
        var parquetBatch = fixture.NewPath("batch2.parquet");
        _duck.Execute($"""
            COPY (SELECT 3::INTEGER AS id, 12.5::DOUBLE AS amount, {"{"}'name': 'y', 'age': 40{"}"} AS who, 'new' AS note)
            TO {DuckDb.Quote(parquetBatch)} (FORMAT parquet)
            """);
        var batches = new[] { (FormatCatalog.GetReader(BatchFormat.JsonLines), jsonBatch), (FormatCatalog.GetReader(BatchFormat.Parquet), parquetBatch) };
        var schemas = new List<DatasetSchema>();
        foreach (var (reader, path) in batches) schemas.Add(await reader.ReadSchemaAsync(path, false, CancellationToken.None));

        var merged = SchemaMerger.Merge(schemas);
        var target = fixture.NewPath("dataset.parquet");
        await using (var output = File.Create(target))
        await using (var writer = FormatCatalog.CreateWriter(output, merged, FileType.Parquet, CompressionKind.Snappy))
        {
            foreach (var (reader, path) in batches)
            {
                await foreach (var chunk in reader.ReadAsync(path, false, merged, CancellationToken.None)) await writer.WriteAsync(chunk, CancellationToken.None);
            }
            await writer.CompleteAsync(CancellationToken.None);
        }

        Assert.Equal("id int64, amount double, tags list<string>, who struct<name:string,age:int32>, note string", merged.ToString());
        Assert.Equal(
            [
                """{"id":1,"amount":10.0,"tags":[a],"who":{'name': x, 'age': NULL},"note":NULL}""",
                """{"id":2,"amount":11.0,"tags":[],"who":NULL,"note":NULL}""",
                """{"id":3,"amount":12.5,"tags":NULL,"who":{'name': y, 'age': 40},"note":new}""",
            ],
            _duck.Strings($"""
                SELECT '{"{"}"id":' || id || ',"amount":' || amount || ',"tags":' || coalesce(tags::VARCHAR, 'NULL') || ',"who":' || coalesce(who::VARCHAR, 'NULL')
                    || ',"note":' || coalesce(note, 'NULL') || '{"}"}'
                FROM read_parquet({DuckDb.Quote(target)}) ORDER BY id
                """));
    }
}
