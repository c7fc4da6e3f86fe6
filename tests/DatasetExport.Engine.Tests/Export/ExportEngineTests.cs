using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>The whole export path through the engine's façade: lake → formats → local destination → state.</summary>
public sealed class ExportEngineTests : IDisposable
{
    private readonly TempFolder _root = new("de-export");
    private readonly ExportEngine _engine;

    public ExportEngineTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    private async Task<FlowRecord> CreateFlowAsync(FileType fileType, CompressionKind compression, ExportMode mode = ExportMode.Full, int maxFileSizeMB = 256, params string[] datasets)
    {
        var destination = new DestinationSettings
        {
            Name = "local",
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = compression,
            MaxFileSizeMB = maxFileSizeMB,
            FolderPath = "exports",
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "nightly", DestinationId = destination.Id, DatasetIds = datasets.ToList(), Mode = mode };
        _engine.AddFlow(flow);
        return flow;
    }

    [Fact]
    public async Task Full_export_writes_the_seed_layout_data_files_and_a_manifest_and_records_the_run()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 500);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "b.jsonl.gz"), 500, 500, gzip: true);
        var lakeBefore = Snapshot(Lake);
        var flow = await CreateFlowAsync(FileType.Json, CompressionKind.Gzip, datasets: "web");
        var slot = new DateTimeOffset(2026, 3, 4, 5, 6, 59, TimeSpan.FromHours(2));

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, slot, null, default));

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Null(run.Error);
        Assert.Equal("web/exportTime=202603040306", run.ExportPath);
        var folder = Path.Combine(Output, "exports", "web", "exportTime=202603040306");
        var dataFiles = Directory.GetFiles(folder, "part-*");
        var file = Assert.Single(dataFiles);
        Assert.Matches(new Regex(@"^part-00000-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json\.gz$"), Path.GetFileName(file));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), SampleLake.Ids(SampleLake.ReadJsonLines(file)));
        Assert.Equal((1000, 1000, 2), (run.RecordsRead, run.RecordsWritten, run.BatchCount));
        Assert.Equal(new FileInfo(file).Length, run.OutputBytes);
        Assert.Empty(Directory.GetFiles(folder, "*.tmp", SearchOption.AllDirectories));

        var manifestPath = Path.Combine(folder, $"manifest-{flow.DestinationId:D}-{run.Id:D}.json");
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
        var root = manifest.RootElement;
        Assert.Equal(run.Id.ToString("D"), root.GetProperty("flowRunId").GetString());
        Assert.Equal(run.ScheduledTime, root.GetProperty("scheduledTime").GetDateTimeOffset());
        Assert.Equal("web", root.GetProperty("datasetId").GetString());
        Assert.Equal("Json", root.GetProperty("fileType").GetString());
        Assert.Equal("Gzip", root.GetProperty("compression").GetString());
        Assert.Equal(1000, root.GetProperty("recordCount").GetInt64());
        Assert.Contains(root.GetProperty("schema").EnumerateArray(), c => c.GetProperty("name").GetString() == "geo");
        var result = Assert.Single(root.GetProperty("exportResults").EnumerateArray());
        Assert.Equal(Path.GetFileName(file), result.GetProperty("name").GetString());
        Assert.Equal(file, result.GetProperty("sinkPath").GetString());
        Assert.Equal(new FileInfo(file).Length, result.GetProperty("size").GetInt64());
        Assert.Equal(1000, result.GetProperty("records").GetInt64());
        Assert.Equal((await ExportRunner.HashFileAsync(file, default)).Sha256, result.GetProperty("sha256").GetString());

        var stored = _engine.State.GetRun(run.Id)!;
        Assert.Equal(RunStatus.Succeeded, stored.Status);
        Assert.Equal(run.Files.Single().Sha256, stored.Files.Single().Sha256);
        Assert.Equal(lakeBefore, Snapshot(Lake));
    }

    [Fact]
    public async Task Output_files_roll_over_at_the_maximum_size_and_every_record_is_written_once()
    {
        for (var batch = 0; batch < 4; batch++) SampleLake.WriteEvents(Path.Combine(Lake, "web", $"b{batch}.jsonl"), batch * 6000, 6000);
        var flow = await CreateFlowAsync(FileType.Json, CompressionKind.None, maxFileSizeMB: 1, datasets: "web");

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.True(run.Files.Count >= 4, $"expected several files, got {run.Files.Count}");
        // Files stop at the limit, give or take the last record and the writer's final flush.
        Assert.All(run.Files, f => Assert.InRange(f.Size, 1, 1024 * 1024 + 64 * 1024));
        var ids = run.Files.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 24000).Select(i => (long)i), ids);
        Assert.Equal(run.Files.Count, run.Files.Select(f => f.Name).Distinct().Count());
        Assert.Equal(run.Files.Select((_, i) => $"part-{i:D5}-"), run.Files.Select(f => f.Name[..11]));
        Assert.Equal(24000, run.Files.Sum(f => f.Records));
    }

    [Fact]
    public async Task Parquet_files_roll_over_near_the_maximum_size_too()
    {
        for (var batch = 0; batch < 4; batch++) SampleLake.WriteEvents(Path.Combine(Lake, "web", $"b{batch}.jsonl"), batch * 50_000, 50_000);
        var flow = await CreateFlowAsync(FileType.Parquet, CompressionKind.None, maxFileSizeMB: 1, datasets: "web");

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 2, $"expected several files, got {run.Files.Count}");
        // A Parquet file grows a row group at a time; row groups are kept to a quarter of the limit.
        Assert.All(run.Files, f => Assert.InRange(f.Size, 1, 1024 * 1024 * 5 / 4));
        Assert.Equal(200_000, run.Files.Sum(f => f.Records));
    }

    [Fact]
    public async Task Parquet_batches_stored_as_our_files_are_copied_row_group_by_row_group_and_the_others_encoded_again()
    {
        using var duck = new Formats.DuckDb();
        // Batches 0-2 store what our files store (copied); batch 3's INTEGER id widens to the dataset's BIGINT (decoded and encoded).
        for (var batch = 0; batch < 3; batch++) ParquetBatches.Write(duck, Path.Combine(Lake, "web", $"b{batch}.parquet"), batch * 40_000, 40_000);
        ParquetBatches.Write(duck, Path.Combine(Lake, "web", "b3.parquet"), 120_000, 40_000, idType: "INTEGER");
        var flow = await CreateFlowAsync(FileType.Parquet, CompressionKind.None, maxFileSizeMB: 1, datasets: "web");

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 3, $"expected several files, got {run.Files.Count}");
        // Copied row groups roll over before the limit; encoded ones may pass it by one row group (a quarter of it).
        Assert.All(run.Files, f => Assert.InRange(f.Size, 1, 1024 * 1024 * 5 / 4));
        var parts = string.Join(", ", run.Files.Select(f => Formats.DuckDb.Quote(f.SinkPath)));
        Assert.Equal(160_000, duck.Count($"SELECT count(*) FROM read_parquet([{parts}])"));
        Assert.Equal(160_000, duck.Count($"SELECT count(DISTINCT id) FROM read_parquet([{parts}]) WHERE \"user\" = 'user-' || (id % 40000)"));
        Assert.Equal(["UNCOMPRESSED"], duck.Strings($"SELECT DISTINCT compression FROM parquet_metadata([{parts}])"));
        // The copied batches keep DuckDB's row groups (6,144 rows and a rest); batch 3 was encoded again in row groups of ours.
        var copied = Enumerable.Range(0, 3).SelectMany(batch => RowGroupSizes(duck, Formats.DuckDb.Quote(Path.Combine(Lake, "web", $"b{batch}.parquet")))).ToList();
        var written = RowGroupSizes(duck, $"[{parts}]");
        Assert.Equal(copied.Count(rows => rows == 6144), written.Count(rows => rows == 6144));
        Assert.Equal(40_000, written.Where(rows => rows != 6144).Sum() - copied.Where(rows => rows != 6144).Sum());
        Assert.Equal(160_000, run.RecordsRead);
        Assert.Equal(160_000, run.RecordsWritten);
    }

    [Fact]
    public async Task Incremental_flows_export_only_new_batches_and_a_failed_run_commits_nothing()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 100);
        var flow = await CreateFlowAsync(FileType.Parquet, CompressionKind.Zstd, ExportMode.Incremental, datasets: "web");

        var first = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), null, default));
        Assert.True(first.Status == RunStatus.Succeeded, first.Error);
        Assert.Equal(100L, first.RecordsWritten);

        SampleLake.WriteEvents(Path.Combine(Lake, "web", "b.jsonl"), 100, 50);
        // Make the destination unwritable: a file where the next run's folder must go.
        var blocked = Path.Combine(Output, "exports", "web", "exportTime=202601010100");
        File.WriteAllText(blocked, "in the way");
        var failed = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero), null, default));
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.False(string.IsNullOrEmpty(failed.Error));
        Assert.Null(failed.ManifestPath);
        Assert.Equal(RunStatus.Failed, _engine.State.GetRun(failed.Id)!.Status);
        File.Delete(blocked);

        var retry = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 1, 1, 2, 0, 0, TimeSpan.Zero), null, default));
        Assert.Equal((RunStatus.Succeeded, 50L, 1), (retry.Status, retry.RecordsWritten, retry.BatchCount));

        var nothingNew = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 1, 1, 3, 0, 0, TimeSpan.Zero), null, default));
        Assert.Equal((RunStatus.Succeeded, 0L, 0), (nothingNew.Status, nothingNew.RecordsWritten, nothingNew.Files.Count));
        Assert.Null(nothingNew.ManifestPath);

        var written = new List<long>();
        foreach (var run in new[] { first, retry })
        {
            foreach (var file in run.Files)
            {
                await foreach (var chunk in FormatCatalog.GetReader(BatchFormat.Parquet).ReadAsync(file.SinkPath, false, (await FormatCatalog.GetReader(BatchFormat.Parquet).ReadSchemaAsync(file.SinkPath, false, default)), default))
                {
                    written.AddRange(chunk.Records.Select(r => (long)r["id"]!));
                }
            }
        }
        Assert.Equal(Enumerable.Range(0, 150).Select(i => (long)i), written.Order());
    }

    [Fact]
    public async Task Full_mode_exports_every_batch_every_time()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 10);
        var flow = await CreateFlowAsync(FileType.Json, CompressionKind.None, ExportMode.Full, datasets: "web");

        var first = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), null, default));
        var second = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero), null, default));

        Assert.Equal((10L, 10L), (first.RecordsWritten, second.RecordsWritten));
    }

    [Fact]
    public async Task One_failing_dataset_does_not_stop_the_others()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "good", "a.jsonl"), 0, 10);
        Directory.CreateDirectory(Path.Combine(Lake, "bad"));
        File.WriteAllText(Path.Combine(Lake, "bad", "a.jsonl"), "{\"id\":1}\nnot json\n");
        var flow = await CreateFlowAsync(FileType.Json, CompressionKind.None, datasets: ["bad", "missing", "good"]);

        var runs = await _engine.RunFlowAsync(flow, Lake, null, default);

        Assert.Equal(["bad", "missing", "good"], runs.Select(r => r.DatasetId));
        Assert.Equal([RunStatus.Failed, RunStatus.Failed, RunStatus.Succeeded], runs.Select(r => r.Status));
        Assert.Contains("a.jsonl", runs[0].Error);
        Assert.Contains("missing", runs[1].Error);
        Assert.Equal(3, _engine.State.ListRuns(flow.Id).Count);
    }

    [Fact]
    public async Task Verification_finds_intact_runs_valid_and_notices_changed_or_missing_files()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 200);
        var flow = await CreateFlowAsync(FileType.Json, CompressionKind.None, datasets: "web");
        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        var intact = await _engine.VerifyRunAsync(run, default);
        Assert.True(intact.IsValid, intact.Problem);
        Assert.True(intact.ManifestFound);

        var file = run.Files.Single().SinkPath;
        var bytes = File.ReadAllBytes(file);
        bytes[10] ^= 0x20;
        File.WriteAllBytes(file, bytes);
        var changed = await _engine.VerifyRunAsync(run, default);
        Assert.False(changed.IsValid);
        Assert.False(Assert.Single(changed.Files).IsValid);

        File.Delete(file);
        File.Delete(Path.Combine(Output, "exports", run.ManifestPath!));
        var missing = await _engine.VerifyRunAsync(run, default);
        Assert.False(missing.IsValid);
        Assert.False(missing.ManifestFound);
        Assert.False(Assert.Single(missing.Files).Exists);
    }

    [Fact]
    public async Task A_run_is_verified_in_the_folder_it_wrote_to_after_the_destination_folder_changed()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 200);
        var flow = await CreateFlowAsync(FileType.Json, CompressionKind.None, datasets: "web");
        var before = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        var destination = _engine.State.GetDestination(flow.DestinationId)!;
        destination.FolderPath = "exports-2027";
        await _engine.UpdateDestinationAsync(destination, skipValidation: false, default);
        var after = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.Equal("exports", _engine.State.GetRun(before.Id)!.FolderPath);
        Assert.StartsWith(Path.Combine(Output, "exports-2027") + Path.DirectorySeparatorChar, Assert.Single(after.Files).SinkPath);
        var verified = await _engine.VerifyRunAsync(_engine.State.GetRun(before.Id)!, default);
        Assert.True(verified.IsValid, verified.Problem); // was: its files looked for under exports-2027, all missing
        Assert.True(verified.ManifestFound);
        Assert.True((await _engine.VerifyRunAsync(after, default)).IsValid);

        // A run recorded before runs kept their folder (state version 6) is looked for in the current folder, as it was then.
        var legacy = _engine.State.GetRun(before.Id)!;
        legacy.FolderPath = null;
        Assert.False((await _engine.VerifyRunAsync(legacy, default)).IsValid);
    }

    [Fact]
    public async Task Destination_and_flow_input_is_validated()
    {
        var bad = (Func<DestinationSettings, Task>)(d => _engine.AddDestinationAsync(d, skipValidation: true, default));
        DestinationSettings Local(Action<DestinationSettings> change)
        {
            var d = new DestinationSettings { Name = "d", Type = DestinationType.Local, Properties = { ["Path"] = Output } };
            change(d);
            return d;
        }

        await Assert.ThrowsAsync<ArgumentException>(() => bad(Local(d => d.Compression = CompressionKind.Snappy)));
        await Assert.ThrowsAsync<ArgumentException>(() => bad(Local(d => d.FolderPath = "../up")));
        await Assert.ThrowsAsync<ArgumentException>(() => bad(Local(d => d.FolderPath = "/abs")));
        await Assert.ThrowsAsync<ArgumentException>(() => bad(Local(d => d.Name = "star*")));
        await Assert.ThrowsAsync<ArgumentException>(() => bad(Local(d => d.Name = "tab\there")));
        await Assert.ThrowsAsync<ArgumentException>(() => bad(Local(d => d.MaxFileSizeMB = 0)));
        var noPath = await Assert.ThrowsAsync<DestinationException>(() => _engine.AddDestinationAsync(Local(d => d.Properties.Clear()), skipValidation: false, default));
        Assert.Equal(DestinationFailure.InvalidConfiguration, noPath.Failure);

        await bad(Local(d => d.FolderPath = "a\\b/"));
        Assert.Equal("a/b", _engine.State.FindDestination("d")!.FolderPath);
        var duplicate = await Assert.ThrowsAsync<StateException>(() => bad(Local(d => d.Name = "D")));
        Assert.Equal(StateFailure.AlreadyExists, duplicate.Failure);

        Assert.Throws<StateException>(() => _engine.AddFlow(new FlowRecord { Name = "f", DestinationId = Guid.NewGuid(), DatasetIds = ["web"] }));
        var destinationId = _engine.State.FindDestination("d")!.Id;
        Assert.Throws<ArgumentException>(() => _engine.AddFlow(new FlowRecord { Name = "f", DestinationId = destinationId, DatasetIds = [] }));
        Assert.Throws<ArgumentException>(() => _engine.AddFlow(new FlowRecord { Name = "f", DestinationId = destinationId, DatasetIds = ["../x"] }));
    }

    [Fact]
    public async Task Validation_probe_reports_an_unwritable_local_folder()
    {
        File.WriteAllText(_root.Combine("afile"), "x");
        var destination = new DestinationSettings { Name = "d", Type = DestinationType.Local, Properties = { ["Path"] = _root.Combine("afile") } };

        var error = await Assert.ThrowsAsync<DestinationException>(() => _engine.AddDestinationAsync(destination, skipValidation: false, default));

        Assert.Contains("afile", error.Message);
        Assert.Null(_engine.State.FindDestination("d"));
        Assert.Empty(Directory.GetFiles(_root.Path, ".datasetexport-probe*", SearchOption.AllDirectories));
    }

    private static List<long> RowGroupSizes(Formats.DuckDb duck, string files) =>
        duck.Strings($"SELECT row_group_num_rows FROM parquet_metadata({files}) WHERE column_id = 0").Select(rows => long.Parse(rows!)).ToList();

    private static Dictionary<string, (long, DateTime)> Snapshot(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => (new FileInfo(f).Length, File.GetLastWriteTimeUtc(f)));
}
