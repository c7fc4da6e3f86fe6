using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// Incremental exports over a flow's life: the flow's destination, datasets and mode change between runs, and every
/// destination still ends up with every record of every batch exactly once.
/// </summary>
public sealed class FlowLifeTests : IDisposable
{
    private static readonly DateTimeOffset FirstSlot = new(2026, 9, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _root = new("de-flowlife");
    private readonly ExportEngine _engine;

    public FlowLifeTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    /// <summary>A local destination writing plain JSON Lines under out/<paramref name="name"/>, in folders of <paramref name="folderTemplate"/>.</summary>
    private async Task<DestinationSettings> AddDestinationAsync(string name, string? folderTemplate = null)
    {
        var destination = new DestinationSettings
        {
            Name = name,
            Type = DestinationType.Local,
            FileType = FileType.Json,
            Compression = CompressionKind.None,
            Properties = { [LocalFolderDestination.PathProperty] = _root.Combine("out", name) },
        };
        if (folderTemplate is not null) destination.Properties[DestinationKeys.FolderTemplate] = folderTemplate;
        await _engine.AddDestinationAsync(destination, skipValidation: true, default);
        return destination;
    }

    private FlowRecord AddFlow(DestinationSettings destination, ExportMode mode, params string[] datasets)
    {
        var flow = new FlowRecord { Name = "life", DestinationId = destination.Id, DatasetIds = datasets.ToList(), Mode = mode };
        _engine.AddFlow(flow);
        return flow;
    }

    /// <summary>Writes batch <paramref name="file"/> of <paramref name="dataset"/>: 10 records, ids from <paramref name="firstId"/>.</summary>
    private void WriteBatch(string dataset, string file, int firstId) => SampleLake.WriteEvents(Path.Combine(Lake, dataset, file), firstId, 10);

    private async Task<IReadOnlyList<RunRecord>> RunAsync(FlowRecord flow, int slot)
    {
        var runs = await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(slot), null, default);
        Assert.All(runs, run => Assert.True(run.Status == RunStatus.Succeeded, run.Error));
        return runs;
    }

    /// <summary>The ids of the records a run wrote, in order.</summary>
    private static List<long> Ids(RunRecord run) => run.Files.SelectMany(file => SampleLake.Ids(SampleLake.ReadJsonLines(file.SinkPath))).ToList();

    /// <summary>Every record id stored under a destination's folder, sorted: what a reader of the whole destination gets.</summary>
    private List<long> IdsAt(DestinationSettings destination) =>
        Directory.GetFiles(_root.Combine("out", destination.Name), "part-*", SearchOption.AllDirectories)
            .SelectMany(file => SampleLake.Ids(SampleLake.ReadJsonLines(file))).Order().ToList();

    private static IEnumerable<long> Range(int first, int count) => Enumerable.Range(first, count).Select(id => (long)id);

    [Fact]
    public async Task A_dataset_id_given_in_another_case_than_the_lakes_is_still_exported_incrementally()
    {
        WriteBatch("web", "a.jsonl", 0);
        WriteBatch("web", "b.jsonl", 10);
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "WEB");
        Assert.Equal(Range(0, 20), Ids(Assert.Single(await RunAsync(flow, 0))));

        WriteBatch("web", "c.jsonl", 20);
        var second = Assert.Single(await RunAsync(flow, 1));

        Assert.Equal(Range(20, 10), Ids(second));
        Assert.Equal(1, second.BatchCount);
        Assert.Equal(Range(0, 30), IdsAt(destination));
    }

    [Fact]
    public async Task A_flow_pointed_at_a_new_destination_sends_it_every_batch_and_back_at_the_old_one_only_what_it_lacks()
    {
        WriteBatch("web", "a.jsonl", 0);
        WriteBatch("web", "b.jsonl", 10);
        var first = await AddDestinationAsync("first");
        var second = await AddDestinationAsync("second");
        var flow = AddFlow(first, ExportMode.Incremental, "web");
        await RunAsync(flow, 0);

        WriteBatch("web", "c.jsonl", 20);
        flow.DestinationId = second.Id;
        _engine.UpdateFlow(flow);
        var toSecond = Assert.Single(await RunAsync(flow, 1));

        // An admin moving a flow expects the new destination to hold the whole dataset, not only what arrived since.
        Assert.Equal(Range(0, 30), Ids(toSecond).Order());
        Assert.Equal(3, toSecond.BatchCount);

        WriteBatch("web", "d.jsonl", 30);
        flow.DestinationId = first.Id;
        _engine.UpdateFlow(flow);
        var backToFirst = Assert.Single(await RunAsync(flow, 2));

        Assert.Equal(Range(20, 20), Ids(backToFirst).Order());
        Assert.Equal(Range(0, 40), IdsAt(first));
        Assert.Equal(Range(0, 30), IdsAt(second));
    }

    [Fact]
    public async Task A_batch_duckdb_is_still_writing_under_its_tmp_name_is_not_exported_before_it_is_renamed_into_place()
    {
        WriteBatch("web", "a.jsonl", 0);
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        // DuckDB's COPY ... TO an existing file writes 'tmp_<name>' and renames it over <name> once complete: shown here by a
        // folder in the way of that name. A run may list the lake between the two; here the tmp_ file is complete, the worst case.
        using (var duck = new Formats.DuckDb())
        {
            var target = Path.Combine(Lake, "web", "b.jsonl");
            duck.Execute($"COPY (SELECT 0 AS id) TO '{target}' (FORMAT json)");
            Directory.CreateDirectory(Path.Combine(Lake, "web", "tmp_b.jsonl"));
            var blocked = Assert.ThrowsAny<Exception>(() => duck.Execute($"COPY (SELECT 10 AS id) TO '{target}' (FORMAT json)"));
            Assert.Contains("tmp_b.jsonl", blocked.Message);
            Directory.Delete(Path.Combine(Lake, "web", "tmp_b.jsonl"));
            File.Delete(target);
        }
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "tmp_b.jsonl"), 10, 10);
        var whileWriting = Assert.Single(await RunAsync(flow, 0));

        File.Move(Path.Combine(Lake, "web", "tmp_b.jsonl"), Path.Combine(Lake, "web", "b.jsonl"));
        var afterRename = Assert.Single(await RunAsync(flow, 1));

        Assert.Equal(Range(0, 10), Ids(whileWriting));
        Assert.Equal(Range(10, 10), Ids(afterRename));
        Assert.Equal(Range(0, 20), IdsAt(destination));
    }

    [Fact]
    public async Task Switching_between_full_and_incremental_and_adding_a_dataset_exports_what_an_admin_expects()
    {
        WriteBatch("web", "a.jsonl", 0);
        WriteBatch("Ventes été 2026", "a.jsonl", 100);
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Full, "web");
        await RunAsync(flow, 0);
        await RunAsync(flow, 1);

        // Incremental after full runs: what the full runs exported counts as exported.
        WriteBatch("web", "b.jsonl", 10);
        flow.Mode = ExportMode.Incremental;
        flow.DatasetIds = ["web", "Ventes été 2026"];
        _engine.UpdateFlow(flow);
        var incremental = await RunAsync(flow, 2);

        Assert.Equal(Range(10, 10), Ids(incremental[0]));
        // A dataset added later gets its whole history, in a folder named by its id.
        Assert.Equal(Range(100, 10), Ids(incremental[1]));
        Assert.Equal("Ventes été 2026/exportTime=202609010200", incremental[1].ExportPath);

        // Full again: everything, every run.
        flow.Mode = ExportMode.Full;
        _engine.UpdateFlow(flow);
        Assert.Equal(Range(0, 20), Ids((await RunAsync(flow, 3))[0]));
    }

    [Fact]
    public async Task After_a_run_that_failed_for_one_dataset_the_next_incremental_run_exports_exactly_what_is_missing()
    {
        WriteBatch("web", "a.jsonl", 0);
        WriteBatch("shop", "day=1/a.jsonl", 100);
        Directory.CreateDirectory(Path.Combine(Lake, "shop", "day=2"));
        File.WriteAllText(Path.Combine(Lake, "shop", "day=2", "b.jsonl"), "{\"id\": 1");
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "web", "shop");
        var first = await _engine.RunFlowAsync(flow, Lake, FirstSlot, null, default);
        Assert.Equal([RunStatus.Succeeded, RunStatus.Failed], first.Select(run => run.Status));
        Assert.Contains("day=2/b.jsonl", first[1].Error);

        WriteBatch("shop", "day=2/b.jsonl", 110);
        WriteBatch("web", "b.jsonl", 10);
        var second = await RunAsync(flow, 1);

        Assert.Equal(Range(10, 10), Ids(second[0]));
        Assert.Equal(Range(100, 20), Ids(second[1]));
        Assert.Equal([.. Range(0, 20), .. Range(100, 20)], IdsAt(destination));
    }

    [Fact]
    public async Task A_lake_copied_elsewhere_keeping_write_times_exports_nothing_again()
    {
        WriteBatch("web", "a.jsonl", 0);
        WriteBatch("web", "day=1/b.jsonl", 10);
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        await RunAsync(flow, 0);

        // Batches are known by their path in the dataset folder, size and write time, not by where the lake is.
        var moved = _root.Combine("lake2");
        foreach (var file in Directory.GetFiles(Lake, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(moved, Path.GetRelativePath(Lake, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
            File.SetLastWriteTimeUtc(copy, File.GetLastWriteTimeUtc(file));
        }
        var run = Assert.Single(await _engine.RunFlowAsync(flow, moved, FirstSlot.AddHours(1), null, default));

        Assert.Equal((RunStatus.Succeeded, 0, 0), (run.Status, run.BatchCount, run.Files.Count));
        Assert.Equal(Range(0, 20), IdsAt(destination));
    }

    [Fact]
    public async Task A_batch_deleted_then_made_again_under_its_name_and_size_with_other_records_is_exported_again()
    {
        WriteBatch("web", "a.jsonl", 0);
        WriteBatch("web", "b.jsonl", 10);
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        await RunAsync(flow, 0);
        var before = new FileInfo(Path.Combine(Lake, "web", "b.jsonl"));
        var (size, written) = (before.Length, before.LastWriteTimeUtc);

        // Retention deletes b; the producer writes a new b of the same size (ids 10-19 again, one field changed in place).
        var records = File.ReadAllText(before.FullName);
        File.Delete(before.FullName);
        File.WriteAllText(before.FullName, records.Replace("user-", "usex-"));
        File.SetLastWriteTimeUtc(before.FullName, written.AddSeconds(1));
        Assert.Equal(size, new FileInfo(before.FullName).Length);
        var run = Assert.Single(await RunAsync(flow, 1));

        Assert.Equal(1, run.BatchCount);
        Assert.Equal(Range(10, 10), Ids(run));
        Assert.All(SampleLake.ReadJsonLines(run.Files.Single().SinkPath), line => Assert.Contains("usex-", line));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Symbolic_links_in_a_dataset_export_each_record_once_and_a_link_loop_ends(bool datasetFolderIsALink)
    {
        WriteBatch("web", "day=1/a.jsonl", 0);
        // Data kept outside the dataset folder and linked in: exported, once.
        SampleLake.WriteEvents(_root.Combine("elsewhere", "x.jsonl"), 100, 10);
        Directory.CreateSymbolicLink(Path.Combine(Lake, "web", "archive"), _root.Combine("elsewhere"));
        // A 'latest' link to the newest day, a file linked under a second name, and a link back up (a loop).
        Directory.CreateSymbolicLink(Path.Combine(Lake, "web", "latest"), "day=1");
        File.CreateSymbolicLink(Path.Combine(Lake, "web", "current.jsonl"), Path.Combine(Lake, "web", "day=1", "a.jsonl"));
        Directory.CreateSymbolicLink(Path.Combine(Lake, "web", "day=1", "up"), Path.Combine(Lake, "web"));
        Directory.CreateSymbolicLink(_root.Combine("elsewhere", "back"), _root.Combine("elsewhere"));
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        var lake = Lake;
        if (datasetFolderIsALink)
        {
            lake = _root.Combine("linked-lake");
            Directory.CreateDirectory(lake);
            Directory.CreateSymbolicLink(Path.Combine(lake, "web"), Path.Combine(Lake, "web"));
        }
        async Task<RunRecord> RunAsync(int slot)
        {
            var run = Assert.Single(await _engine.RunFlowAsync(flow, lake, FirstSlot.AddHours(slot), null, default));
            Assert.True(run.Status == RunStatus.Succeeded, run.Error);
            return run;
        }
        var first = await RunAsync(0);

        Assert.Equal(["archive/x.jsonl", "day=1/a.jsonl"], _engine.State.GetExportedBatches(flow.Id, "web").Select(key => key.Split('|')[0]).Order());
        Assert.Equal([.. Range(0, 10), .. Range(100, 10)], Ids(first).Order());

        // The next day arrives and 'latest' moves on to it.
        WriteBatch("web", "day=2/b.jsonl", 10);
        Directory.Delete(Path.Combine(Lake, "web", "latest"));
        Directory.CreateSymbolicLink(Path.Combine(Lake, "web", "latest"), "day=2");
        var second = await RunAsync(1);

        Assert.Equal(Range(10, 10), Ids(second));
        Assert.Equal([.. Range(0, 20), .. Range(100, 10)], IdsAt(destination));
    }

    [Fact]
    public async Task A_dataset_emptied_by_retention_fails_its_run_saying_so_and_then_exports_only_what_arrives()
    {
        WriteBatch("web", "a.jsonl", 0);
        var destination = await AddDestinationAsync("archive");
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        await RunAsync(flow, 0);

        File.Delete(Path.Combine(Lake, "web", "a.jsonl"));
        var empty = Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(1), null, default));

        // An empty dataset folder is reported, not taken for "nothing new": a folder of, say, CSV files would look the same.
        Assert.Equal(RunStatus.Failed, empty.Status);
        Assert.Contains("The dataset has no batch files", empty.Error);
        WriteBatch("web", "b.jsonl", 10);
        Assert.Equal(Range(10, 10), Ids(Assert.Single(await RunAsync(flow, 2))));
    }
    [Fact]
    public async Task A_flow_renamed_keeps_its_runs_and_what_it_exported_and_says_where_its_folders_now_go()
    {
        WriteBatch("web", "a.jsonl", 0);
        var destination = await AddDestinationAsync("archive", "%FLOW_NAME%/%DATASET_ID%/exportTime=%EXPORT_TIME%");
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        var first = Assert.Single(await RunAsync(flow, 0));
        var readBefore = _engine.State.GetFlow(flow.Id)!;

        var warnings = _engine.RenameFlow(flow, "web-daily");

        Assert.Equal("Destination 'archive' names folders by %FLOW_NAME% (FolderTemplate '%FLOW_NAME%/%DATASET_ID%/exportTime=%EXPORT_TIME%'): " +
            "the next exports of flow 'web-daily' go to folders named 'web-daily'; what it exported before stays in folders named 'life'.", Assert.Single(warnings));
        Assert.Equal("web-daily", _engine.State.FindFlow("WEB-DAILY")!.Name);
        Assert.Null(_engine.State.FindFlow("life"));
        // As a flow made anew it would export a again; renamed, it sends only what arrived since, where the warning said.
        WriteBatch("web", "b.jsonl", 10);
        var second = Assert.Single(await RunAsync(flow, 1));
        Assert.Equal(Range(10, 10), Ids(second));
        Assert.StartsWith("web-daily/web/exportTime=", second.ExportPath);
        Assert.StartsWith("life/web/exportTime=", first.ExportPath);
        Assert.Equal(["web-daily", "life"], _engine.State.ListRuns(flow.Id).Select(run => run.FlowName)); // each run keeps the name it ran with

        // A change of case is a rename; another flow's name, or a record another session changed since, is refused unchanged.
        Assert.Contains("folders named 'Web-Daily'", Assert.Single(_engine.RenameFlow(_engine.State.GetFlow(flow.Id)!, "Web-Daily")));
        var other = new FlowRecord { Name = "other", DestinationId = destination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(other);
        Assert.Equal(StateFailure.AlreadyExists, Assert.Throws<StateException>(() => _engine.RenameFlow(other, "WEB-DAILY")).Failure);
        Assert.Equal("other", other.Name);
        Assert.Equal(StateFailure.InUse, Assert.Throws<StateException>(() => _engine.RenameFlow(readBefore, "stale")).Failure);
        Assert.Equal(["Web-Daily", "other"], _engine.State.ListFlows().Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Throws<ArgumentException>(() => _engine.RenameFlow(other, "web*"));
    }

    [Fact]
    public async Task A_destination_renamed_keeps_its_secrets_its_flows_and_what_was_exported_there()
    {
        WriteBatch("web", "a.jsonl", 0);
        var destination = await AddDestinationAsync("archive", "%DESTINATION%/%DATASET_ID%/exportTime=%EXPORT_TIME%");
        destination.Secrets["Token"] = "kept-secret";
        _engine.State.UpdateDestination(destination);
        var flow = AddFlow(destination, ExportMode.Incremental, "web");
        Assert.Single(await RunAsync(flow, 0));
        var readBefore = _engine.State.GetDestination(destination.Id)!;

        var warnings = _engine.RenameDestination(_engine.State.GetDestination(destination.Id)!, "vault");

        Assert.Contains("the next exports of destination 'vault' go to folders named 'vault'; what it exported before stays in folders named 'archive'.", Assert.Single(warnings));
        var renamed = _engine.State.FindDestination("vault")!;
        Assert.Equal((destination.Id, "kept-secret", null), (renamed.Id, renamed.GetSecret("Token"), renamed.UnreadableSecrets));
        WriteBatch("web", "b.jsonl", 10);
        var second = Assert.Single(await RunAsync(flow, 1));
        Assert.Equal(Range(10, 10), Ids(second));
        Assert.Equal(("vault", true), (second.DestinationName, second.ExportPath.StartsWith("vault/web/", StringComparison.Ordinal)));

        await AddDestinationAsync("spare");
        Assert.Equal(StateFailure.AlreadyExists, Assert.Throws<StateException>(() => _engine.RenameDestination(renamed, "SPARE")).Failure);
        Assert.Equal(StateFailure.InUse, Assert.Throws<StateException>(() => _engine.RenameDestination(readBefore, "stale")).Failure);
        Assert.Equal(["spare", "vault"], _engine.State.ListDestinations().Select(d => d.Name).Order(StringComparer.Ordinal));
    }
}
