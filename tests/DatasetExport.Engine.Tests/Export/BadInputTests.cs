using System.IO.Compression;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// Corrupt, truncated and conflicting batches and invalid JSON lines, exported to a local folder: strict flows fail naming
/// the file and position and leave nothing behind; flows that skip go on, count what they left out, and retry skipped batches.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private static readonly DateTimeOffset FirstSlot = new(2026, 5, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _root = new("de-badinput");
    private readonly ExportEngine _engine;
    private readonly DuckDb _duck = new();

    public BadInputTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");
    private string Dataset(string file) => Path.Combine(Lake, "web", file);

    public void Dispose()
    {
        _duck.Dispose();
        _engine.Dispose();
        _root.Dispose();
    }

    private async Task<FlowRecord> CreateFlowAsync(bool skipRecords = false, bool skipBatches = false, ExportMode mode = ExportMode.Incremental, int maxFileSizeMB = 256)
    {
        var destination = new DestinationSettings
        {
            Name = $"local-{skipRecords}-{skipBatches}",
            Type = DestinationType.Local,
            FileType = FileType.Json,
            MaxFileSizeMB = maxFileSizeMB,
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord
        {
            Name = $"nightly-{skipRecords}-{skipBatches}", DestinationId = destination.Id, DatasetIds = ["web"], Mode = mode,
            SkipInvalidRecords = skipRecords, SkipInvalidBatches = skipBatches,
        };
        _engine.AddFlow(flow);
        return _engine.State.GetFlow(flow.Id)!;
    }

    private async Task<RunRecord> RunAsync(FlowRecord flow, int slot = 0)
    {
        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(slot), null, default));
        return run;
    }

    /// <summary>A failed run: the error names the file and where, nothing is stored or recorded as exported.</summary>
    private void AssertFailedCleanly(FlowRecord flow, RunRecord run, string fileName, string location)
    {
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains(fileName, run.Error);
        Assert.Contains(location, run.Error);
        Assert.Null(run.ManifestPath);
        Assert.Empty(Directory.Exists(Output) ? Directory.GetFiles(Output, "*", SearchOption.AllDirectories) : []);
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
        Assert.Equal(RunStatus.Failed, _engine.State.GetRun(run.Id)!.Status);
    }

    private static List<long> ExportedIds(params RunRecord[] runs) =>
        runs.SelectMany(r => r.Files).SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order().ToList();

    private static IEnumerable<long> Range(int first, int count) => Enumerable.Range(first, count).Select(i => (long)i);

    private void WriteLinesWithTwoInvalid()
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 100);
        Directory.CreateDirectory(Path.GetDirectoryName(Dataset("b.jsonl"))!);
        File.WriteAllLines(Dataset("b.jsonl"),
        [
            SampleLake.EventJson(100),
            SampleLake.EventJson(101),
            "{\"id\": 102, \"user\": ",   // line 3: cut short
            SampleLake.EventJson(103),
            "[1, 2, 3]",                 // line 5: JSON, but not an object
            SampleLake.EventJson(104),
        ]);
    }

    private void WriteParquet(string file, int firstId, int rows, string idType = "BIGINT") => ParquetBatches.Write(_duck, Dataset(file), firstId, rows, idType);

    private void CorruptSecondRowGroup(string file) => ParquetBatches.CorruptSecondRowGroup(_duck, Dataset(file));

    [Fact]
    public async Task Invalid_json_line_fails_the_run_naming_the_file_and_line()
    {
        WriteLinesWithTwoInvalid();
        var flow = await CreateFlowAsync();

        var run = await RunAsync(flow);

        AssertFailedCleanly(flow, run, "b.jsonl", "line 3");
        Assert.Contains("invalid JSON", run.Error);
    }

    [Fact]
    public async Task Skip_invalid_records_leaves_out_exactly_the_invalid_lines_and_counts_them()
    {
        WriteLinesWithTwoInvalid();
        var flow = await CreateFlowAsync(skipRecords: true);
        Assert.True(flow.SkipInvalidRecords);

        var run = await RunAsync(flow);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal([.. Range(0, 102), 103, 104], ExportedIds(run));
        Assert.Equal((104L, 104L, 2L, 0, 2), (run.RecordsRead, run.RecordsWritten, run.RecordsSkipped, run.BatchesSkipped, run.BatchCount));
        var stored = _engine.State.GetRun(run.Id)!;
        Assert.Equal((2L, 0L), (stored.RecordsSkipped, stored.RecordsFailed));
        Assert.True((await _engine.VerifyRunAsync(stored, default)).IsValid);
        // The batch with invalid lines counts as exported: they are left out for good, not retried.
        var next = await RunAsync(flow, 1);
        Assert.Equal((RunStatus.Succeeded, 0, 0L), (next.Status, next.BatchCount, next.RecordsSkipped));
    }

    [Fact]
    public async Task Skip_invalid_batches_leaves_out_the_batch_with_an_invalid_line_and_retries_it_next_run()
    {
        WriteLinesWithTwoInvalid();
        var flow = await CreateFlowAsync(skipBatches: true);

        var run = await RunAsync(flow);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(Range(0, 100), ExportedIds(run));
        Assert.Equal((1, 1, 0L), (run.BatchCount, run.BatchesSkipped, run.RecordsSkipped));
        var skipped = Assert.Single(_engine.State.GetRun(run.Id)!.SkippedBatches);
        Assert.Equal("b.jsonl", skipped.RelativePath);
        Assert.Contains("line 3", skipped.Problem);

        // Fixed in the lake: the next incremental run exports it, and only it.
        SampleLake.WriteEvents(Dataset("b.jsonl"), 100, 5);
        var retry = await RunAsync(flow, 1);
        Assert.True(retry.Status == RunStatus.Succeeded, retry.Error);
        Assert.Equal(Range(100, 5), ExportedIds(retry));
        Assert.Equal((1, 0), (retry.BatchCount, retry.BatchesSkipped));
    }

    [Fact]
    public async Task A_dataset_named_by_its_metadata_file_has_its_invalid_batches_skipped_too()
    {
        // The flow names the dataset by the id its _dataset.json gives, not by its folder's name.
        WriteLinesWithTwoInvalid();
        Directory.Move(Path.Combine(Lake, "web"), Path.Combine(Lake, "web-folder"));
        File.WriteAllText(Path.Combine(Lake, "web-folder", "_dataset.json"), """{"id":"web"}""");
        var flow = await CreateFlowAsync(skipBatches: true);

        var run = await RunAsync(flow);

        // Was: Failed, the dataset judged strictly ("cannot be exported: Batch 'b.jsonl' ..."), as found by a scan of the whole lake.
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(Range(0, 100), ExportedIds(run));
        Assert.Equal("b.jsonl", Assert.Single(run.SkippedBatches).RelativePath);
    }

    [Fact]
    public async Task Corrupt_parquet_footer_fails_the_run_or_is_skipped_and_retried()
    {
        WriteParquet("a.parquet", 0, 300);
        WriteParquet("b.parquet", 300, 300);
        var whole = File.ReadAllBytes(Dataset("b.parquet"));
        File.WriteAllBytes(Dataset("b.parquet"), whole[..(whole.Length / 2)]);   // truncated: no footer
        var strict = await CreateFlowAsync();

        AssertFailedCleanly(strict, await RunAsync(strict), "b.parquet", "footer");

        Assert.Empty(await _engine.RemoveFlowAsync(strict, default));
        var flow = await CreateFlowAsync(skipBatches: true);
        var run = await RunAsync(flow, 1);
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(Range(0, 300), ExportedIds(run));
        // An unreadable footer does not say how many records the batch holds.
        Assert.Equal((1, 0L), (run.BatchesSkipped, run.RecordsFailed));
        Assert.Equal("b.parquet", Assert.Single(run.SkippedBatches).RelativePath);

        File.WriteAllBytes(Dataset("b.parquet"), whole);
        var retry = await RunAsync(flow, 2);
        Assert.Equal(Range(300, 300), ExportedIds(retry));
    }

    [Fact]
    public async Task Corrupt_row_group_fails_the_run_after_parts_were_stored_and_removes_them()
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 12_000);   // more than one 1 MB part before the bad batch is reached
        WriteParquet("b.parquet", 20_000, 10_000);
        CorruptSecondRowGroup("b.parquet");
        var flow = await CreateFlowAsync(maxFileSizeMB: 1);

        var run = await RunAsync(flow);

        AssertFailedCleanly(flow, run, "b.parquet", "row group 1");
        Assert.True(run.RecordsRead > 12_000, "the run should have got into the corrupt batch");
    }

    [Fact]
    public async Task Skipping_a_batch_with_a_corrupt_row_group_writes_none_of_its_records()
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 100);
        WriteParquet("b.parquet", 20_000, 10_000);
        CorruptSecondRowGroup("b.parquet");
        SampleLake.WriteEvents(Dataset("c.jsonl"), 100, 50);
        var flow = await CreateFlowAsync(skipBatches: true);

        var run = await RunAsync(flow);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        // Row group 0 of b reads fine, yet none of it is written: a batch is exported whole or not at all.
        Assert.Equal(Range(0, 150), ExportedIds(run));
        Assert.Equal((2, 1, 10_000L), (run.BatchCount, run.BatchesSkipped, run.RecordsFailed));
        Assert.Contains("row group 1", Assert.Single(run.SkippedBatches).Problem);
        Assert.True((await _engine.VerifyRunAsync(run, default)).IsValid);
        Assert.Equal(2, _engine.State.GetExportedBatches(flow.Id, "web").Count);
    }

    [Fact]
    public async Task Truncated_gzip_fails_the_run_or_is_skipped()
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 100);
        SampleLake.WriteEvents(Dataset("b.jsonl.gz"), 100, 2000, gzip: true);
        var whole = File.ReadAllBytes(Dataset("b.jsonl.gz"));
        File.WriteAllBytes(Dataset("b.jsonl.gz"), whole[..(whole.Length * 2 / 3)]);
        var strict = await CreateFlowAsync(skipRecords: true);   // skipping records does not cover a damaged file

        var failed = await RunAsync(strict);
        AssertFailedCleanly(strict, failed, "b.jsonl.gz", "line ");

        Assert.Empty(await _engine.RemoveFlowAsync(strict, default));
        var flow = await CreateFlowAsync(skipBatches: true);
        var run = await RunAsync(flow, 1);
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(Range(0, 100), ExportedIds(run));
        Assert.Equal("b.jsonl.gz", Assert.Single(run.SkippedBatches).RelativePath);
    }

    [Fact]
    public async Task Batch_whose_schema_conflicts_fails_the_run_or_is_skipped_with_its_footer_count()
    {
        WriteParquet("a.parquet", 0, 200);
        WriteParquet("b.parquet", 200, 70, idType: "VARCHAR");
        var strict = await CreateFlowAsync();

        var failed = await RunAsync(strict);
        AssertFailedCleanly(strict, failed, "b.parquet", "Column 'id'");

        Assert.Empty(await _engine.RemoveFlowAsync(strict, default));
        var flow = await CreateFlowAsync(skipBatches: true);
        var run = await RunAsync(flow, 1);
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(Range(0, 200), ExportedIds(run));
        Assert.Equal((1, 70L), (run.BatchesSkipped, run.RecordsFailed));
        var stored = _engine.State.GetRun(run.Id)!;
        Assert.Equal((1, 70L), (stored.BatchesSkipped, stored.RecordsFailed));
        Assert.Contains("Column 'id'", stored.SkippedBatches.Single().Problem);
    }

    [Fact]
    public async Task Dataset_listing_still_reports_bad_batches_as_ineligible_and_names_them_all()
    {
        WriteParquet("a.parquet", 0, 10);
        WriteParquet("b.parquet", 10, 10, idType: "VARCHAR");
        File.WriteAllText(Dataset("c.jsonl"), "{\"id\": 1}\nnot json\n");

        var dataset = Assert.Single(_engine.GetDatasets(Lake, includeIneligible: true, default));

        Assert.False(dataset.IsEligible);
        Assert.Null(dataset.Schema);
        Assert.StartsWith("Batch 'b.parquet' cannot be exported with the others", dataset.Reason);
        Assert.Contains("(1 more batches cannot be exported either.)", dataset.Reason);
        Assert.Equal(["b.parquet", "c.jsonl"], dataset.BatchProblems.Select(p => p.Batch.RelativePath));
        Assert.Equal(3, dataset.Batches.Count);
        Assert.Empty(_engine.GetDatasets(Lake, includeIneligible: false, default));
    }

    [Fact]
    public async Task A_dataset_whose_every_batch_is_bad_succeeds_with_nothing_written_when_skipping()
    {
        Directory.CreateDirectory(Path.Combine(Lake, "web"));
        File.WriteAllText(Dataset("a.parquet"), "not parquet at all");
        var flow = await CreateFlowAsync(skipBatches: true);

        var run = await RunAsync(flow);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal((0, 1, 0L), (run.BatchCount, run.BatchesSkipped, run.RecordsWritten));
        Assert.Empty(run.Files);
        Assert.Null(run.ManifestPath);
    }
}
