using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Lake;

public sealed class FolderLakeTests : IDisposable
{
    private readonly TempFolder _lake = new("de-lake");

    public void Dispose() => _lake.Dispose();

    [Fact]
    public async Task Finds_batches_recursively_and_skips_hidden_temporary_and_unsupported_files()
    {
        SampleLake.WriteEvents(_lake.Combine("web", "a.jsonl"), 0, 10);
        SampleLake.WriteEvents(_lake.Combine("web", "day=1", "b.json.gz"), 10, 10, gzip: true);
        SampleLake.WriteEvents(_lake.Combine("web", "c.ndjson"), 20, 5);
        SampleLake.WriteEvents(_lake.Combine("web", ".hidden.jsonl"), 0, 1);
        SampleLake.WriteEvents(_lake.Combine("web", "_staging.jsonl"), 0, 1);
        SampleLake.WriteEvents(_lake.Combine("web", "partial.jsonl.tmp"), 0, 1);
        SampleLake.WriteEvents(_lake.Combine("web", "tmp_partial.jsonl"), 0, 1);
        File.WriteAllText(_lake.Combine("web", "_SUCCESS"), "");
        File.WriteAllText(_lake.Combine("web", ".a.jsonl.crc"), "crc");
        SampleLake.WriteEvents(_lake.Combine("web", "_temporary", "x.jsonl"), 0, 1);
        File.WriteAllText(_lake.Combine("web", "README.txt"), "not a batch");

        var dataset = Assert.Single(await new FolderLake(_lake.Path).ListDatasetsAsync(default));

        Assert.Equal("web", dataset.Id);
        Assert.True(dataset.IsEligible, dataset.Reason);
        Assert.Equal(["a.jsonl", "c.ndjson", "day=1/b.json.gz"], dataset.Batches.Select(b => b.RelativePath));
        Assert.True(dataset.Batches.Single(b => b.RelativePath == "day=1/b.json.gz").Gzipped);
        Assert.Equal("JsonLines", dataset.Format);
        Assert.Equal(dataset.Batches.Sum(b => new FileInfo(b.FullPath).Length), dataset.SizeBytes);
        Assert.Null(dataset.RecordCount); // JSON Lines counts are not cheap
        Assert.Contains(dataset.Schema!.Fields, f => f.Name == "geo" && f.Kind == FieldKind.Struct);
    }

    [Fact]
    public async Task Metadata_file_gives_id_name_and_description()
    {
        SampleLake.WriteEvents(_lake.Combine("folder1", "a.jsonl"), 0, 3);
        File.WriteAllText(_lake.Combine("folder1", "_dataset.json"), """{"id":"web-events","name":"Web events","description":"Clicks"}""");

        var dataset = await new FolderLake(_lake.Path).GetDatasetAsync("web-events", default);

        Assert.Equal(("web-events", "Web events", "Clicks"), (dataset.Id, dataset.Name, dataset.Description));
        Assert.Single(dataset.Batches);
    }

    [Fact]
    public async Task Only_the_dataset_asked_for_has_its_batches_read()
    {
        SampleLake.WriteEvents(_lake.Combine("a-first", "a.jsonl"), 0, 3);
        SampleLake.WriteEvents(_lake.Combine("b-folder", "b.jsonl"), 0, 3);
        File.WriteAllText(_lake.Combine("b-folder", "_dataset.json"), """{"id":"web-events","name":"Web events"}""");
        SampleLake.WriteEvents(_lake.Combine("c-last", "c.jsonl"), 0, 3);
        SampleLake.WriteEvents(_lake.Combine("d-again", "d.jsonl"), 0, 3);
        File.WriteAllText(_lake.Combine("d-again", "_dataset.json"), """{"id":"WEB-EVENTS"}""");
        var asked = new SchemaLookups();
        var lake = new FolderLake(_lake.Path, asked, new BatchSchemaCache(100));

        // By the id in its _dataset.json (was: every dataset of the lake read to find it).
        Assert.Equal("b-folder", Path.GetFileName((await lake.GetDatasetAsync("web-events", default)).Path));
        Assert.Equal([_lake.Combine("b-folder", "b.jsonl")], asked.TakePaths());

        // By name or id, as Get-EligibleDataset -Name lists them: a later folder with an id in use is still told so.
        var listed = await lake.ListDatasetsAsync((id, name) => name == "c-last" || id == "WEB-EVENTS", default);
        Assert.Equal(["c-last", "WEB-EVENTS"], listed.Select(dataset => dataset.Id));
        Assert.Equal("Another dataset folder already uses the id 'WEB-EVENTS'.", listed[1].Reason);
        Assert.Equal([_lake.Combine("c-last", "c.jsonl"), _lake.Combine("d-again", "d.jsonl")], asked.TakePaths());

        Assert.Equal(4, (await lake.ListDatasetsAsync(default)).Count);
        Assert.Equal(4, asked.TakePaths().Count);
    }

    /// <summary>A state store that keeps no schema and remembers which batch files a scan looked up (the files it read).</summary>
    private sealed class SchemaLookups : IBatchSchemaStore
    {
        private readonly List<string> _paths = [];

        public IReadOnlyList<KnownBatchSchema> GetBatchSchemas(IReadOnlyCollection<string> fullPaths, bool skipInvalidRecords)
        {
            lock (_paths) _paths.AddRange(fullPaths);
            return [];
        }

        public void SaveBatchSchemas(IReadOnlyCollection<KnownBatchSchema> schemas)
        {
        }

        public List<string> TakePaths()
        {
            lock (_paths)
            {
                var taken = _paths.Order(StringComparer.Ordinal).ToList();
                _paths.Clear();
                return taken;
            }
        }
    }

    [Fact]
    public async Task Datasets_that_cannot_be_exported_carry_a_reason()
    {
        Directory.CreateDirectory(_lake.Combine("empty"));
        Directory.CreateDirectory(_lake.Combine("broken"));
        File.WriteAllText(_lake.Combine("broken", "a.jsonl"), "{\"id\":1}\n{\"id\":\n");
        Directory.CreateDirectory(_lake.Combine("conflict"));
        File.WriteAllText(_lake.Combine("conflict", "a.jsonl"), "{\"id\":1}\n");
        File.WriteAllText(_lake.Combine("conflict", "b.jsonl"), "{\"id\":\"one\"}\n");
        SampleLake.WriteEvents(_lake.Combine("badid", "a.jsonl"), 0, 1);
        File.WriteAllText(_lake.Combine("badid", "_dataset.json"), """{"id":"../escape"}""");
        SampleLake.WriteEvents(_lake.Combine("good", "a.jsonl"), 0, 1);

        var datasets = (await new FolderLake(_lake.Path).ListDatasetsAsync(default)).ToDictionary(d => d.Path[(_lake.Path.Length + 1)..]);

        Assert.True(datasets["good"].IsEligible);
        Assert.Contains("no batch files", datasets["empty"].Reason);
        Assert.Contains("a.jsonl", datasets["broken"].Reason);
        Assert.Contains("line 2", datasets["broken"].Reason);
        Assert.Contains("b.jsonl", datasets["conflict"].Reason);
        Assert.Contains("id", datasets["conflict"].Reason);
        Assert.Contains("path", datasets["badid"].Reason);
        Assert.All(datasets.Values.Where(d => !d.IsEligible), d => Assert.Null(d.Schema));
    }

    [Fact]
    public async Task A_changed_file_is_a_new_batch()
    {
        var path = _lake.Combine("web", "a.jsonl");
        SampleLake.WriteEvents(path, 0, 3);
        var before = (await new FolderLake(_lake.Path).GetDatasetAsync("web", default)).Batches.Single().Key;

        SampleLake.WriteEvents(path, 0, 4);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var after = (await new FolderLake(_lake.Path).GetDatasetAsync("web", default)).Batches.Single().Key;

        Assert.NotEqual(before.Value, after.Value);
        Assert.Equal(before.RelativePath, after.RelativePath);
    }

    [Fact]
    public async Task Missing_lake_and_missing_dataset_are_clear_errors()
    {
        var missing = Assert.Throws<LakeException>(() => new FolderLake(_lake.Combine("nope")));
        Assert.Equal(LakeFailure.NotFound, missing.Failure);
        Assert.Contains("nope", missing.Message);

        var noDataset = await Assert.ThrowsAsync<LakeException>(() => new FolderLake(_lake.Path).GetDatasetAsync("ghost", default));
        Assert.Equal(LakeFailure.NotFound, noDataset.Failure);
        Assert.Equal("ghost", noDataset.Target);
    }

    [Fact]
    public async Task Parquet_datasets_report_record_counts_from_footers()
    {
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("name", FieldKind.String)]);
        Directory.CreateDirectory(_lake.Combine("pq"));
        for (var file = 0; file < 2; file++)
        {
            await using var stream = File.Create(_lake.Combine("pq", $"part{file}.parquet"));
            await using var writer = FormatCatalog.CreateWriter(stream, schema, FileType.Parquet, CompressionKind.Snappy);
            var records = Enumerable.Range(0, 150).Select(i => new Record { ["id"] = (long)i, ["name"] = "n" + i }).ToList();
            await writer.WriteAsync(new RecordChunk(schema, records), default);
            await writer.CompleteAsync(default);
        }

        var dataset = await new FolderLake(_lake.Path).GetDatasetAsync("pq", default);

        Assert.True(dataset.IsEligible, dataset.Reason);
        Assert.Equal("Parquet", dataset.Format);
        Assert.Equal(300, dataset.RecordCount);
        Assert.Equal(schema.Fields.Select(f => (f.Name, f.Kind)), dataset.Schema!.Fields.Select(f => (f.Name, f.Kind)));
    }
}
