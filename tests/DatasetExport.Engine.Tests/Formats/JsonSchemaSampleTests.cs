using System.Text;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// An export infers a JSON Lines batch's schema from its first <see cref="JsonLinesBatchReader.SchemaSampleLines"/> lines
/// and checks every later line against it: these tests put one line past the sample and see it fit or not.
/// </summary>
public sealed class JsonSchemaSampleTests : IDisposable
{
    private const string Usual = """{"id":7,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""";
    private static readonly long LateLine = JsonLinesBatchReader.SchemaSampleLines + 50;
    private readonly TempFolder _folder = new("de-sample");

    public void Dispose() => _folder.Dispose();

    /// <summary>A batch of usual lines, <paramref name="late"/> at <see cref="LateLine"/>, then usual ones to the end.</summary>
    private string WriteBatch(string late, string folder = "", string name = "batch.jsonl")
    {
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(_folder.Path, folder)).FullName, name);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        for (var line = 1; line <= LateLine + 100; line++) writer.WriteLine(line == LateLine ? late : Usual);
        return path;
    }

    private static Task<JsonSchemaSample> SampleAsync(string path) =>
        new JsonLinesBatchReader().ReadSchemaSampleAsync(path, gzipped: false, JsonLinesBatchReader.SchemaSampleLines, default);

    private static async Task<long> ReadCheckedAsync(string path, JsonSchemaSample sample, Action<BatchReadException>? onInvalidRecord = null)
    {
        var reader = new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, onInvalidRecord, pools: null, sample);
        long rows = 0;
        await foreach (var chunk in reader.ReadAsync(path, false, sample.Schema, default))
        {
            rows += chunk.RowCount;
            chunk.Release();
        }
        return rows;
    }

    [Fact]
    public async Task The_sample_is_the_first_lines_and_names_the_lists_it_saw_only_empty()
    {
        var path = WriteBatch("""{"id":1,"name":"n","price":2.5,"tags":["a"],"geo":{"city":"c"},"note":null,"extra":true}""");

        var sample = await SampleAsync(path);
        var full = await new JsonLinesBatchReader().ReadSchemaAsync(path, false, default);

        Assert.False(sample.Complete);
        Assert.Equal("id int64, name string, price double, tags list<string>, geo struct<city:string>, note string", sample.Schema.ToString());
        Assert.True(sample.Schema.Fields.Single(field => field.Name == "tags").ChildFields[0].Nullable);
        Assert.Equal(["tags[]"], sample.UnobservedElements);
        // Every line: the late field, and an element that was seen (not nullable).
        Assert.Equal("id int64, name string, price double, tags list<string>, geo struct<city:string>, note string, extra boolean", full.ToString());
        Assert.False(full.Fields.Single(field => field.Name == "tags").ChildFields[0].Nullable);
    }

    [Fact]
    public async Task A_batch_no_longer_than_the_sample_gives_its_full_schema()
    {
        var path = _folder.Combine("short.jsonl");
        await File.WriteAllLinesAsync(path, [Usual, """{"id":1,"name":"n","price":3,"tags":["x"],"geo":{"city":"c"},"note":"a","more":1}"""]);

        var sample = await SampleAsync(path);

        Assert.True(sample.Complete);
        Assert.Equal(await new JsonLinesBatchReader().ReadSchemaAsync(path, false, default), sample.Schema);
        Assert.Empty(sample.UnobservedElements);
    }

    // An escaped string; a long number with an exponent for a double; an integer for a double; a string where only nulls
    // were seen; the fields in another order with white space, and int64's least value.
    [Theory]
    [InlineData("""{"id":1,"name":"esc\"aped \u00e9","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""")]
    [InlineData("""{"id":1,"name":"n","price":12345678901234567.25e-3,"tags":[],"geo":{"city":"c"},"note":null}""")]
    [InlineData("""{"id":1,"name":"n","price":3,"tags":[],"geo":{"city":"c"},"note":null}""")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":"text"}""")]
    [InlineData("""{ "geo" : { "city" : "c" }, "note" : null, "id" : -9223372036854775808, "name" : "n", "price" : 2.5, "tags" : [ ] }""")]
    public async Task Lines_the_inference_would_take_no_further_are_read(string late)
    {
        var path = WriteBatch(late);
        var sample = await SampleAsync(path);

        Assert.Equal(LateLine + 100, await ReadCheckedAsync(path, sample));
    }

    [Theory]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null,"extra":1}""", "a field 'extra' the schema lacks")]
    [InlineData("""{"id":1.5,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "field 'id' is int64 in the schema but this line holds a number")]
    [InlineData("""{"id":1e2,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "field 'id' is int64")]
    [InlineData("""{"id":9223372036854775808,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "field 'id' is int64")]
    [InlineData("""{"id":null,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "field 'id' is not nullable in the schema but this line holds null")]
    [InlineData("""{"id":1,"price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "field 'name' is not nullable in the schema but this line lacks it")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":["a"],"geo":{"city":"c"},"note":null}""", "list 'tags' has an element")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[null],"geo":{"city":"c"},"note":null}""", "list 'tags' has an element")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":5}""", "field 'note' is string in the schema but this line holds a number")]
    [InlineData("""{"id":1,"name":"n","price":"2.5","tags":[],"geo":{"city":"c"},"note":null}""", "field 'price' is double")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c","zip":"1"},"note":null}""", "a field 'zip' the schema lacks")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{},"note":null}""", "field 'geo.city' is not nullable")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":null,"note":null}""", "field 'geo' is not nullable")]
    [InlineData("""{"id":1,"name":"n","price":2.5,"tags":{},"geo":{"city":"c"},"note":null}""", "does not fit")]
    [InlineData("""{"id":1,"name":"n","name":"m","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "it names a field twice")]
    [InlineData("""{"i\u0064":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "not one the schema sample's checks read")]
    public async Task A_line_the_inference_would_take_further_is_a_misfit(string late, string reason)
    {
        var path = WriteBatch(late);
        var sample = await SampleAsync(path);

        // With a handler too: a line that does not fit is no invalid record, it means the schema is not the batch's.
        var misfit = await Assert.ThrowsAsync<SchemaSampleMisfitException>(() => ReadCheckedAsync(path, sample, _ => Assert.Fail("not an invalid record")));

        Assert.Equal(LateLine, misfit.LineNumber);
        Assert.Equal(path, misfit.Path);
        Assert.Contains(reason, misfit.Message);
    }

    [Fact]
    public async Task A_line_that_is_no_JSON_object_past_the_sample_is_an_invalid_record_as_ever()
    {
        var path = WriteBatch("""{"id":1,"name":"n" oops""");
        var sample = await SampleAsync(path);
        var invalid = new List<BatchReadException>();

        Assert.Equal(LateLine + 99, await ReadCheckedAsync(path, sample, invalid.Add));
        Assert.Equal($"line {LateLine}", Assert.Single(invalid).Location);
        var strict = await Assert.ThrowsAsync<BatchReadException>(() => ReadCheckedAsync(path, sample));
        Assert.Contains("invalid JSON", strict.Message);
    }

    [Fact]
    public async Task An_export_scan_samples_only_long_JSON_batches_and_keeps_no_sampled_schema()
    {
        WriteBatch("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null,"extra":1}""", "web", "a-long.jsonl");
        var shortBatch = Path.Combine(_folder.Path, "web", "b-short.jsonl");
        await File.WriteAllLinesAsync(shortBatch, [Usual]);
        foreach (var file in Directory.GetFiles(Path.Combine(_folder.Path, "web"))) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-1));
        var cache = new BatchSchemaCache(100);
        var exportScan = new BatchReadOptions { SampleJsonSchemas = true };

        var sampled = await new FolderLake(_folder.Path, knownSchemas: null, cache).GetDatasetAsync("web", exportScan, default);
        var again = await new FolderLake(_folder.Path, knownSchemas: null, cache).GetDatasetAsync("web", exportScan, default);
        var full = await new FolderLake(_folder.Path, knownSchemas: null, cache).GetDatasetAsync("web", BatchReadOptions.Strict, default);

        Assert.Equal([Path.Combine(_folder.Path, "web", "a-long.jsonl")], sampled.SchemaSamples.Keys);
        Assert.DoesNotContain("extra", sampled.Schema!.ToString());
        // The sampled schema was not remembered: the next export scan samples again, a full scan reads every line.
        Assert.Single(again.SchemaSamples);
        Assert.Empty(full.SchemaSamples);
        Assert.EndsWith("extra int64", full.Schema!.ToString());
    }

    [Fact]
    public async Task A_field_another_batch_has_is_still_a_misfit_in_a_batch_whose_sample_lacks_it()
    {
        // Every line would give [id .. note, extra] for the first batch and so put extra before size in the dataset schema.
        var first = WriteBatch("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":null,"extra":1}""", "two", "a.jsonl");
        await File.WriteAllLinesAsync(_folder.Combine("two", "b.jsonl"), ["""{"id":1,"size":3,"extra":2}"""]);
        var lake = new FolderLake(_folder.Path, knownSchemas: null, new BatchSchemaCache(100));

        var sampled = await lake.GetDatasetAsync("two", new BatchReadOptions { SampleJsonSchemas = true }, default);
        var full = await lake.GetDatasetAsync("two", BatchReadOptions.Strict, default);

        Assert.EndsWith("note string, size int64, extra int64", sampled.Schema!.ToString());
        Assert.EndsWith("note string, extra int64, size int64", full.Schema!.ToString());
        var reader = new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, null, pools: null, sampled.SchemaSamples[first]);
        var misfit = await Assert.ThrowsAsync<SchemaSampleMisfitException>(async () =>
        {
            await foreach (var chunk in reader.ReadAsync(first, false, sampled.Schema, default)) chunk.Release();
        });
        Assert.Equal(LateLine, misfit.LineNumber);
        Assert.Contains("a field 'extra' the sample of its batch lacks", misfit.Message);
    }

    [Fact]
    public async Task Batches_whose_samples_conflict_are_judged_from_every_line()
    {
        // The first batch's sample sees text in name, a later line a number (a conflict within the batch); the second's a number.
        WriteBatch("""{"id":1,"name":5,"price":2.5,"tags":[],"geo":{"city":"c"},"note":null}""", "conflict", "a.jsonl");
        await File.WriteAllLinesAsync(_folder.Combine("conflict", "b.jsonl"), ["""{"id":1,"name":3}"""]);
        var lake = new FolderLake(_folder.Path, knownSchemas: null, new BatchSchemaCache(100));

        var dataset = await lake.GetDatasetAsync("conflict", new BatchReadOptions { SampleJsonSchemas = true }, default);

        // Judged from the samples, b.jsonl would conflict with a.jsonl; from every line, a.jsonl's own lines conflict.
        Assert.False(dataset.IsEligible);
        Assert.StartsWith("Batch 'a.jsonl'", dataset.Reason);
        Assert.Contains($"line {LateLine}", dataset.Reason);
        Assert.Empty(dataset.SchemaSamples);
    }

    [Fact]
    public async Task A_field_a_sample_saw_only_as_null_takes_another_batchs_kind_and_its_later_lines_are_checked_against_it()
    {
        // The first batch's sample sees only nulls in note, its later lines numbers, as the second's.
        var first = WriteBatch("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":4}""", "nulls", "a.jsonl");
        await File.WriteAllLinesAsync(_folder.Combine("nulls", "b.jsonl"), ["""{"id":1,"note":3}"""]);
        var lake = new FolderLake(_folder.Path, knownSchemas: null, new BatchSchemaCache(100));

        var dataset = await lake.GetDatasetAsync("nulls", new BatchReadOptions { SampleJsonSchemas = true }, default);

        Assert.True(dataset.IsEligible, dataset.Reason);
        var note = dataset.Schema!.Fields.Single(field => field.Name == "note");
        Assert.Equal(FieldKind.Int64, note.Kind);
        Assert.True(note.Nullable);
        // The number past the sample fits the dataset's kind; text there would not (the export then starts over from every line).
        var sample = dataset.SchemaSamples[first];
        var reader = new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, null, pools: null, sample);
        long rows = 0;
        await foreach (var chunk in reader.ReadAsync(first, false, dataset.Schema, default))
        {
            rows += chunk.RowCount;
            chunk.Release();
        }
        Assert.Equal(LateLine + 100, rows);
        var text = WriteBatch("""{"id":1,"name":"n","price":2.5,"tags":[],"geo":{"city":"c"},"note":"x"}""", "nulls", "a.jsonl");
        var misfit = await Assert.ThrowsAsync<SchemaSampleMisfitException>(async () =>
        {
            await foreach (var chunk in new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, null, pools: null, sample).ReadAsync(text, false, dataset.Schema, default)) chunk.Release();
        });
        Assert.Equal(LateLine, misfit.LineNumber);
    }

    [Fact]
    public async Task A_dataset_with_Parquet_batches_is_not_sampled()
    {
        var parquet = Directory.CreateDirectory(_folder.Combine("mixed")).FullName;
        WriteBatch(Usual, "mixed", "a.jsonl");
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false)]);
        await using (var stream = File.Create(Path.Combine(parquet, "b.parquet")))
        await using (var writer = FormatCatalog.CreateWriter(stream, schema, FileType.Parquet, CompressionKind.Snappy))
        {
            await writer.WriteAsync(new RecordChunk(schema, [new Record { ["id"] = 1L }]), default);
            await writer.CompleteAsync(default);
        }

        var dataset = await new FolderLake(_folder.Path, knownSchemas: null, new BatchSchemaCache(100)).GetDatasetAsync("mixed", new BatchReadOptions { SampleJsonSchemas = true }, default);

        Assert.Equal("Mixed", dataset.Format);
        Assert.Empty(dataset.SchemaSamples);
    }

    /// <summary>A batch whose m the sample infers a map (a key per line, <see cref="JsonSchemaInference.MapMinKeys"/>), <paramref name="late"/> at <see cref="LateLine"/>.</summary>
    private string WriteMapBatch(string late)
    {
        var path = _folder.Combine($"{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, Enumerable.Range(1, (int)LateLine + 100).Select(line => line == LateLine ? late : $"{{\"id\":{line},\"m\":{{\"u{line}\":{{\"n\":{line},\"tags\":[]}}}}}}"));
        return path;
    }

    [Theory]
    [InlineData("""{"id":1,"m":{"new-key":{"n":5,"tags":[]},"other":{"n":6,"tags":[]}}}""")]
    [InlineData("""{"id":1,"m":{}}""")]
    [InlineData("""{"id":1,"m":{"k":null}}""")]
    public async Task A_new_key_in_a_map_the_sample_inferred_is_an_entry_not_a_misfit(string late)
    {
        var path = WriteMapBatch(late);
        var sample = await SampleAsync(path);
        Assert.Equal("id int64, m map<string,struct<n:int64,tags:list<string>>>", sample.Schema.ToString());

        Assert.Equal(LateLine + 100, await ReadCheckedAsync(path, sample));
    }

    [Theory]
    [InlineData("""{"id":1,"m":{"k":{"n":1.5,"tags":[]}}}""", "field 'm[\"k\"].n' is int64 in the schema but this line holds a number")]
    [InlineData("""{"id":1,"m":{"k":"text"}}""", "field 'm[\"k\"]' is struct<n:int64,tags:list<string>> in the schema but this line holds a string")]
    [InlineData("""{"id":1,"m":{"k":{"n":1,"tags":[],"extra":2}}}""", "a field 'extra' the schema lacks")]
    [InlineData("""{"id":1,"m":{"k":{"n":1,"tags":["t"]}}}""", "list 'm.value.tags' has an element, where the sample had only empty lists")]
    [InlineData("""{"id":1,"m":null}""", "field 'm' is not nullable in the schema but this line holds null")]
    public async Task A_value_in_a_map_the_sample_inferred_that_the_inference_would_take_further_is_a_misfit(string late, string reason)
    {
        var path = WriteMapBatch(late);
        var sample = await SampleAsync(path);

        var misfit = await Assert.ThrowsAsync<SchemaSampleMisfitException>(() => ReadCheckedAsync(path, sample, _ => Assert.Fail("not an invalid record")));

        Assert.Equal(LateLine, misfit.LineNumber);
        Assert.Contains(reason, misfit.Message);
    }

    /// <summary>
    /// Lines whose object m the sample (its first <see cref="JsonLinesBatchReader.SchemaSampleLines"/> lines) judges one way
    /// and every line the other, though no later line has a new key or a value of another kind: "map", the sample's lines
    /// one key each of 201 (sparse: a map), the later ones all 201 keys (dense over the batch: a struct); "struct", the
    /// sample's lines 150 keys each of 300 (dense: a struct), the later ones one key each (sparse over the batch: a map).
    /// </summary>
    private string WriteJudgedBatch(string sampleJudges)
    {
        var sampleLines = JsonLinesBatchReader.SchemaSampleLines;
        var lines = sampleJudges == "map"
            ? Enumerable.Range(0, sampleLines).Select(i => $"{{\"m\":{{\"k{i % 201}\":{i}}}}}")
                .Concat(Enumerable.Range(0, 12_000).Select(_ => "{\"m\":{" + string.Join(',', Enumerable.Range(0, 201).Select(k => $"\"k{k}\":{k}")) + "}}"))
            : Enumerable.Range(0, sampleLines).Select(i => "{\"m\":{" + string.Join(',', Enumerable.Range(0, 300).Where(k => (k + i) % 2 == 0).Select(k => $"\"k{k}\":{k}")) + "}}")
                .Concat(Enumerable.Range(0, 100_000).Select(i => $"{{\"m\":{{\"k{i % 300}\":{i}}}}}"));
        var path = _folder.Combine($"{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Theory]
    [InlineData("map", FieldKind.Struct)]
    [InlineData("struct", FieldKind.Map)]
    public async Task An_object_the_sample_judged_a_map_or_a_struct_that_every_line_judges_the_other_way_is_a_misfit_at_the_end(string sampleJudges, FieldKind everyLine)
    {
        // Was: every later line fitted the sample's schema (no new key, no other kind), so the export wrote m as the sample
        // judged it, where the batch's full schema (and the same lines in another order) gave the other kind.
        var path = WriteJudgedBatch(sampleJudges);
        var sample = await SampleAsync(path);
        Assert.Equal(sampleJudges == "map" ? FieldKind.Map : FieldKind.Struct, sample.Schema.Fields[0].Kind);
        Assert.Equal(everyLine, (await new JsonLinesBatchReader().ReadSchemaAsync(path, false, default)).Fields[0].Kind);

        var misfit = await Assert.ThrowsAsync<SchemaSampleMisfitException>(() => ReadCheckedAsync(path, sample, _ => Assert.Fail("not an invalid record")));

        Assert.Contains(sampleJudges == "map"
            ? "the object 'm', which the sample judged a map, has keys that are not sparse over the batch"
            : "the object 'm', which the sample judged a struct (its keys dense), has keys that are sparse over the batch", misfit.Message);
    }

    [Fact]
    public async Task A_map_the_sample_judged_whose_keys_stay_sparse_over_the_batch_reads_with_no_misfit()
    {
        // 10,000 lines, a key of their own each: sparse in the sample and over the batch alike.
        var path = _folder.Combine("sparse.jsonl");
        await File.WriteAllLinesAsync(path, Enumerable.Range(0, 10_000).Select(i => $"{{\"m\":{{\"u{i}\":{i},\"x{i % 300}\":1}}}}"));
        var sample = await SampleAsync(path);
        Assert.Equal("m map<string,int64>", sample.Schema.ToString());

        Assert.Equal(10_000, await ReadCheckedAsync(path, sample));
    }

    [Fact]
    public async Task A_struct_of_many_dense_keys_the_sample_judged_that_stays_dense_over_the_batch_reads_with_no_misfit()
    {
        // 300 features of one kind, most on every line: a table's columns in the sample and over the batch alike.
        var path = _folder.Combine("dense.jsonl");
        await File.WriteAllLinesAsync(path, Enumerable.Range(0, 10_000).Select(i =>
            "{\"f\":{" + string.Join(',', Enumerable.Range(0, 300).Where(k => (k + i) % 7 != 0).Select(k => $"\"x{k}\":{k}")) + "}}"));
        var sample = await SampleAsync(path);
        Assert.Equal(FieldKind.Struct, sample.Schema.Fields[0].Kind);
        Assert.Equal(["f"], sample.DenseObjects!.Keys);

        Assert.Equal(10_000, await ReadCheckedAsync(path, sample));
    }
}
