using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

public sealed class RunStateTests : IDisposable
{
    private readonly TempFolder _home = new("de-state");
    private readonly IStateStore _store;
    private readonly FlowRecord _flow;

    public RunStateTests()
    {
        _store = SqliteStateStore.Open(_home.Path);
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        _flow = StateSamples.Flow(destination.Id);
        _store.AddFlow(_flow);
    }

    public void Dispose()
    {
        _store.Dispose();
        _home.Dispose();
    }

    [Fact]
    public void Every_run_field_round_trips()
    {
        var finished = StateSamples.Run(_flow);
        finished.Status = RunStatus.Failed;
        finished.CompletedAt = finished.StartedAt.AddMinutes(7).AddTicks(3);
        finished.HeartbeatAt = finished.StartedAt.AddMinutes(6).AddTicks(9);
        finished.ScheduledTime = new DateTimeOffset(2026, 3, 14, 13, 59, 0, TimeSpan.FromHours(2));
        finished.RecordsRead = 10_000_000_001;
        finished.RecordsWritten = 9_999_999_999;
        finished.RecordsSkipped = 2;
        finished.InputBytes = 40_000_000_000;
        finished.OutputBytes = 12_345_678_901;
        finished.BatchCount = 17;
        finished.ManifestPath = "sales.orders/exportTime=20260314T1159/manifest.json";
        finished.Files = [StateSamples.File(1), StateSamples.File(2)];
        finished.Error = "Upload failed: 403 Forbidden";
        var running = StateSamples.Run(_flow, "sales.customers");
        _store.AddRun(finished);
        _store.AddRun(running);

        using var reopened = SqliteStateStore.Open(_home.Path);
        AssertSameRun(finished, reopened.GetRun(finished.Id)!);
        var readRunning = reopened.GetRun(running.Id)!;
        AssertSameRun(running, readRunning);
        Assert.Null(readRunning.CompletedAt);
        Assert.Null(readRunning.ManifestPath);
        Assert.Null(readRunning.Error);
        Assert.Empty(readRunning.Files);
        Assert.Null(reopened.GetRun(Guid.NewGuid()));
    }

    [Fact]
    public void Commit_marks_the_run_succeeded_and_records_its_batches()
    {
        var run = StateSamples.Run(_flow);
        _store.AddRun(run);
        run.RecordsWritten = 42;
        run.CompletedAt = run.StartedAt.AddMinutes(3);
        BatchKey[] batches =
        [
            new("sales.orders/2026/03/batch-1.parquet", 1024, StateSamples.Noon.AddDays(-1)),
            new("sales.orders/2026/03/batch-2.jsonl", 2048, StateSamples.Noon.AddDays(-1).AddTicks(1)),
        ];

        _store.CommitRun(run, batches);

        Assert.Equal(RunStatus.Succeeded, run.Status);
        var read = _store.GetRun(run.Id)!;
        Assert.Equal(RunStatus.Succeeded, read.Status);
        Assert.Equal(42, read.RecordsWritten);
        Assert.Equal(batches.Select(b => b.Value).ToHashSet(), _store.GetExportedBatches(_flow.Id, "sales.orders"));
        Assert.Empty(_store.GetExportedBatches(_flow.Id, "sales.customers"));
    }

    [Fact]
    public void A_failed_run_records_no_batches()
    {
        var run = StateSamples.Run(_flow);
        _store.AddRun(run);
        run.Status = RunStatus.Failed;
        run.Error = "Destination unreachable";

        _store.UpdateRun(run);

        Assert.Equal(RunStatus.Failed, _store.GetRun(run.Id)!.Status);
        Assert.Empty(_store.GetExportedBatches(_flow.Id, "sales.orders"));
    }

    [Fact]
    public void A_later_full_run_exporting_the_same_batch_is_recorded_once()
    {
        var batch = new BatchKey("sales.orders/batch-1.parquet", 1024, StateSamples.Noon);
        var first = StateSamples.Run(_flow);
        _store.AddRun(first);
        _store.CommitRun(first, [batch]);
        var second = StateSamples.Run(_flow, startedAt: StateSamples.Noon.AddHours(1));
        _store.AddRun(second);
        _store.CommitRun(second, [batch, batch with { Size = 2048 }]);

        Assert.Equal(2, _store.GetExportedBatches(_flow.Id, "sales.orders").Count);
    }

    [Fact]
    public void Committing_or_updating_an_unknown_run_is_not_found()
    {
        var ghost = StateSamples.Run(_flow);
        Assert.Equal(StateFailure.NotFound, Assert.Throws<StateException>(() => _store.UpdateRun(ghost)).Failure);
        Assert.Equal(StateFailure.NotFound, Assert.Throws<StateException>(() => _store.Heartbeat(ghost.Id, StateSamples.Noon)).Failure);
        var commit = Assert.Throws<StateException>(() => _store.CommitRun(ghost, [new BatchKey("a.parquet", 1, StateSamples.Noon)]));
        Assert.Equal(StateFailure.NotFound, commit.Failure);
        Assert.Equal(RunStatus.Running, ghost.Status);
        Assert.Empty(_store.GetExportedBatches(_flow.Id, "sales.orders"));
    }

    [Fact]
    public void Only_one_run_per_flow_and_dataset_can_be_running()
    {
        var first = StateSamples.Run(_flow);
        _store.AddRun(first);

        var second = StateSamples.Run(_flow, startedAt: StateSamples.Noon.AddMinutes(1));
        var refused = Assert.Throws<StateException>(() => _store.AddRun(second));
        Assert.Equal(StateFailure.InUse, refused.Failure);
        Assert.Contains($"'{_flow.Name}'", refused.Message);
        Assert.Contains("'sales.orders'", refused.Message);
        Assert.Contains(first.Id.ToString(), refused.Message);
        Assert.Null(_store.GetRun(second.Id));

        _store.AddRun(StateSamples.Run(_flow, "sales.customers"));

        first.Status = RunStatus.Failed;
        _store.UpdateRun(first);
        _store.AddRun(second);
        // A finished run is final: it cannot be made Running again.
        first.Status = RunStatus.Running;
        Assert.Equal(StateFailure.NotRunning, Assert.Throws<StateException>(() => _store.UpdateRun(first)).Failure);
    }

    [Fact]
    public void Stale_running_runs_are_abandoned_and_returned()
    {
        var cutoff = StateSamples.Noon;
        var stale = StateSamples.Run(_flow, "sales.orders", cutoff.AddHours(-2));
        var fresh = StateSamples.Run(_flow, "sales.customers", cutoff.AddHours(-2));
        var failed = StateSamples.Run(_flow, "hr.people", cutoff.AddHours(-3));
        failed.Status = RunStatus.Failed;
        _store.AddRun(stale);
        _store.AddRun(fresh);
        _store.AddRun(failed);
        _store.Heartbeat(fresh.Id, cutoff.AddTicks(1));

        var abandoned = _store.AbandonStaleRuns(cutoff);

        var only = Assert.Single(abandoned);
        Assert.Equal(stale.Id, only.Id);
        Assert.Equal(RunStatus.Abandoned, only.Status);
        Assert.Equal(SqliteStateStore.AbandonedRunError, only.Error);
        var read = _store.GetRun(stale.Id)!;
        Assert.Equal(RunStatus.Abandoned, read.Status);
        Assert.Equal(SqliteStateStore.AbandonedRunError, read.Error);
        Assert.Equal(RunStatus.Running, _store.GetRun(fresh.Id)!.Status);
        StateAssert.SameInstant(cutoff.AddTicks(1), _store.GetRun(fresh.Id)!.HeartbeatAt);
        Assert.Equal(RunStatus.Failed, _store.GetRun(failed.Id)!.Status);
        Assert.Empty(_store.AbandonStaleRuns(cutoff));

        // The abandoned run no longer holds its flow and dataset.
        _store.AddRun(StateSamples.Run(_flow, "sales.orders", cutoff));
    }

    [Fact]
    public void Files_to_remove_are_an_abandoned_runs_files_and_manifest_and_any_finished_runs_left_files_and_only_those_are_forgotten()
    {
        var cutoff = StateSamples.Noon;
        var stale = StateSamples.Run(_flow, "sales.orders", cutoff.AddHours(-2));
        var running = StateSamples.Run(_flow, "sales.customers", cutoff.AddHours(1));
        var failed = StateSamples.Run(_flow, "hr.people", cutoff.AddHours(-3));
        var failedLeavingFiles = StateSamples.Run(_flow, "hr.people", cutoff.AddHours(-4));
        var succeededLeavingFiles = StateSamples.Run(_flow, "hr.people", cutoff.AddHours(-5));
        (failed.Status, failedLeavingFiles.Status, succeededLeavingFiles.Status) = (RunStatus.Failed, RunStatus.Failed, RunStatus.Succeeded);
        var left = StateSamples.File(7).RelativePath;
        foreach (var run in new[] { stale, running, failed, failedLeavingFiles, succeededLeavingFiles })
        {
            run.Files = [StateSamples.File(0), StateSamples.File(1)];
            (run.ManifestPath, run.ManifestSha256) = ($"{run.ExportPath}/manifest.json", new string('f', 64));
            if (run != stale && run != failed) run.LeftFiles = [left];
            _store.AddRun(run);
        }
        _store.AbandonStaleRuns(cutoff);

        var toRemove = _store.ListRunsWithFilesToRemove(_flow.Id);

        // Not the running run's (its own), nor the failed run's that deleted its files (they stay listed, as stored then).
        Assert.Equal([succeededLeavingFiles.Id, failedLeavingFiles.Id, stale.Id], toRemove.Select(run => run.Id));
        Assert.Equal([stale.ManifestPath, StateSamples.File(0).RelativePath, StateSamples.File(1).RelativePath], toRemove[2].FilesToRemove);
        Assert.Equal([left], toRemove[0].FilesToRemove);
        Assert.Equal([left], toRemove[1].FilesToRemove);

        foreach (var run in new[] { stale, running, failed, failedLeavingFiles, succeededLeavingFiles }) _store.ForgetRemovedFiles(run.Id, run.FilesToRemove.ToList());

        Assert.Empty(_store.ListRunsWithFilesToRemove(_flow.Id));
        var forgotten = _store.GetRun(stale.Id)!;
        Assert.Equal((RunStatus.Abandoned, 0, null, null), (forgotten.Status, forgotten.Files.Count, forgotten.ManifestPath, forgotten.ManifestSha256));
        foreach (var finished in new[] { failed, failedLeavingFiles, succeededLeavingFiles })
        {
            var kept = _store.GetRun(finished.Id)!;
            Assert.Equal((2, 0), (kept.Files.Count, kept.LeftFiles.Count));
        }
        var stillRunning = _store.GetRun(running.Id)!;
        Assert.Equal((2, true), (stillRunning.Files.Count, stillRunning.ManifestPath is not null));
        Assert.Equal([left], stillRunning.LeftFiles);
    }

    [Fact]
    public void Saving_a_running_run_adds_only_its_new_files_and_a_run_started_over_replaces_them()
    {
        // Counts what the store does to run_files, from a second connection's triggers (stored in the file, so they fire for the store).
        ExecuteOnState("""
            CREATE TABLE file_writes (kind TEXT NOT NULL);
            CREATE TRIGGER file_inserted AFTER INSERT ON run_files BEGIN INSERT INTO file_writes VALUES ('insert'); END;
            CREATE TRIGGER file_deleted AFTER DELETE ON run_files BEGIN INSERT INTO file_writes VALUES ('delete'); END;
            """);
        var run = StateSamples.Run(_flow);
        run.Files = [StateSamples.File(0)];
        _store.AddRun(run);
        foreach (var part in new[] { 1, 2, 3 })
        {
            run.Files.Add(StateSamples.File(part));
            _store.UpdateRun(run);
        }
        _store.UpdateRun(run);

        Assert.Equal((4, 0), FileWrites()); // was: the whole list written again with every save
        Assert.Equal(new[] { 0, 1, 2, 3 }.Select(part => StateSamples.File(part).RelativePath), _store.GetRun(run.Id)!.Files.Select(file => file.RelativePath));

        // Its export starts over (new file names), then goes on: the list stored is the run's, not the old one with new files after it.
        run.Files.Clear();
        run.Files.Add(StateSamples.File(5));
        _store.UpdateRun(run);
        run.Files.AddRange([StateSamples.File(6), StateSamples.File(7), StateSamples.File(8), StateSamples.File(9)]);
        _store.UpdateRun(run);
        // A file changed in place (tests and hand edits; exports never do) is saved too.
        run.Files[^1].Size = 1;
        _store.CommitRun(run, []);

        var stored = _store.GetRun(run.Id)!;
        Assert.Equal(new[] { 5, 6, 7, 8, 9 }.Select(part => StateSamples.File(part).RelativePath), stored.Files.Select(file => file.RelativePath));
        Assert.Equal((1L, StateSamples.File(9).Sha256), (stored.Files[^1].Size, stored.Files[^1].Sha256));
        Assert.Equal(StateSamples.File(6).SinkPath, stored.Files[1].SinkPath);
        Assert.Equal((StateSamples.File(7).Size, StateSamples.File(7).Records), (stored.Files[2].Size, stored.Files[2].Records));
    }

    [Fact]
    public void Runs_listed_together_each_get_their_own_files_in_order()
    {
        var first = StateSamples.Run(_flow, "a");
        var second = StateSamples.Run(_flow, "b", StateSamples.Noon.AddHours(1));
        var empty = StateSamples.Run(_flow, "c", StateSamples.Noon.AddHours(2));
        first.Files = [StateSamples.File(3), StateSamples.File(1), StateSamples.File(2)];
        second.Files = [StateSamples.File(4)];
        foreach (var run in new[] { first, second, empty }) _store.AddRun(run);

        var listed = _store.ListRuns(_flow.Id).ToDictionary(run => run.Id);

        Assert.Equal(first.Files.Select(file => file.RelativePath), listed[first.Id].Files.Select(file => file.RelativePath));
        Assert.Equal(second.Files.Select(file => file.RelativePath), listed[second.Id].Files.Select(file => file.RelativePath));
        Assert.Empty(listed[empty.Id].Files);
    }

    [Fact]
    public void Left_files_are_kept_for_a_run_taken_over_and_not_for_a_running_one()
    {
        var cutoff = StateSamples.Noon;
        var takenOver = StateSamples.Run(_flow, "sales.orders", cutoff.AddHours(-2));
        var running = StateSamples.Run(_flow, "sales.customers", cutoff.AddHours(1));
        takenOver.LeftFiles = ["a/part-0"];
        _store.AddRun(takenOver);
        _store.AddRun(running);
        Assert.Single(_store.AbandonStaleRuns(cutoff));

        _store.KeepLeftFiles(takenOver.Id, ["a/part-0", "a/part-1"]);
        _store.KeepLeftFiles(running.Id, ["b/part-0"]);

        Assert.Equal(["a/part-0", "a/part-1"], _store.GetRun(takenOver.Id)!.LeftFiles);
        Assert.Empty(_store.GetRun(running.Id)!.LeftFiles);
        Assert.Equal([takenOver.Id], _store.ListRunsWithFilesToRemove(_flow.Id).Select(run => run.Id));
    }

    [Fact]
    public void Left_files_a_run_taken_over_adds_while_another_process_deletes_its_files_are_not_forgotten()
    {
        var cutoff = StateSamples.Noon;
        var takenOver = StateSamples.Run(_flow, "sales.orders", cutoff.AddHours(-2));
        takenOver.Files = [StateSamples.File(0), StateSamples.File(1)];
        _store.AddRun(takenOver);
        Assert.Single(_store.AbandonStaleRuns(cutoff));
        // Another process lists the run's files and deletes them; meanwhile the run's own process, failing to delete a part
        // it stored after the takeover, adds it.
        var listed = Assert.Single(_store.ListRunsWithFilesToRemove(_flow.Id));
        _store.KeepLeftFiles(takenOver.Id, [StateSamples.File(2).RelativePath]);

        _store.ForgetRemovedFiles(listed.Id, listed.FilesToRemove.ToList());

        var left = Assert.Single(_store.ListRunsWithFilesToRemove(_flow.Id)); // was: none, the late part forgotten undeleted
        Assert.Equal([StateSamples.File(2).RelativePath], left.FilesToRemove);
    }

    [Fact]
    public void A_version_7_database_keeps_its_runs_files_and_lists_its_abandoned_runs_files_to_remove_once_migrated()
    {
        using var home = new TempFolder("de-state-v7");
        var path = home.Combine(SqliteStateStore.DatabaseFileName);
        var (flowId, destinationId, deadRun, doneRun) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, ForeignKeys = false }.ToString()))
        {
            connection.Open();
            StateSchema.Migrate(connection, path, StateSchema.Migrations.Take(7).ToList());
            using var insert = connection.CreateCommand();
            const string file = """[{"RelativePath":"web/exportTime=202601010000/part-00000-a.json","SinkPath":"/out/web/exportTime=202601010000/part-00000-a.json","Size":1,"Records":1,"Sha256":"00"}]""";
            const string twoFiles = """[{"RelativePath":"web/exportTime=202601020000/part-00001-b.json","SinkPath":"/out/web/exportTime=202601020000/part-00001-b.json","Size":4000000000,"Records":3,"Sha256":"0b"},{"RelativePath":"web/exportTime=202601020000/part-00000-c.json","SinkPath":"/out/c","Size":2,"Records":5000000000,"Sha256":"0c"}]""";
            insert.CommandText = $"""
                INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at,
                                  heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count, export_path,
                                  manifest_path, files, folder_path)
                VALUES ('{deadRun:D}', '{flowId:D}', 'old', 'web', '{destinationId:D}', 'd', 'Abandoned', 'Incremental', '2026-01-01T00:00:00.0000000Z',
                        '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', 1, 1, 0, 1, 1, 1, 'web/exportTime=202601010000',
                        'web/exportTime=202601010000/manifest-a.json', '{file}', ''),
                       ('{doneRun:D}', '{flowId:D}', 'old', 'web', '{destinationId:D}', 'd', 'Succeeded', 'Incremental', '2026-01-02T00:00:00.0000000Z',
                        '2026-01-02T00:00:00.0000000Z', '2026-01-02T00:00:00.0000000Z', 1, 1, 0, 1, 1, 1, 'web/exportTime=202601020000',
                        'web/exportTime=202601020000/manifest-b.json', '{twoFiles}', '');
                """;
            insert.ExecuteNonQuery();
        }

        using var store = SqliteStateStore.Open(home.Path);

        var dead = Assert.Single(store.ListRunsWithFilesToRemove(flowId));
        Assert.Equal(deadRun, dead.Id);
        Assert.Equal(["web/exportTime=202601010000/manifest-a.json", "web/exportTime=202601010000/part-00000-a.json"], dead.FilesToRemove);
        var done = store.GetRun(doneRun)!;
        Assert.Empty(done.LeftFiles);
        Assert.Equal(
            [("web/exportTime=202601020000/part-00001-b.json", "/out/web/exportTime=202601020000/part-00001-b.json", 4_000_000_000L, 3L, "0b"),
             ("web/exportTime=202601020000/part-00000-c.json", "/out/c", 2L, 5_000_000_000L, "0c")],
            done.Files.Select(file => (file.RelativePath, file.SinkPath, file.Size, file.Records, file.Sha256)));
    }

    [Fact]
    public void Runs_are_listed_newest_first_and_filtered()
    {
        var destination = _store.GetDestination(_flow.DestinationId)!;
        var otherFlow = StateSamples.Flow(destination.Id, "Other");
        _store.AddFlow(otherFlow);
        var oldest = Finished(StateSamples.Run(_flow, "a", StateSamples.Noon), RunStatus.Succeeded);
        var middle = Finished(StateSamples.Run(otherFlow, "b", StateSamples.Noon.AddHours(1)), RunStatus.Failed);
        // Started earlier in UTC than it looks: the offset must not affect the order.
        var newest = Finished(StateSamples.Run(_flow, "c", new DateTimeOffset(2026, 3, 14, 15, 30, 0, TimeSpan.FromHours(2))), RunStatus.Failed);
        var latest = Finished(StateSamples.Run(_flow, "d", StateSamples.Noon.AddHours(2)), RunStatus.Succeeded);
        foreach (var run in new[] { middle, latest, oldest, newest }) _store.AddRun(run);

        Assert.Equal([latest.Id, newest.Id, middle.Id, oldest.Id], _store.ListRuns().Select(r => r.Id));
        Assert.Equal([latest.Id, newest.Id, oldest.Id], _store.ListRuns(_flow.Id).Select(r => r.Id));
        Assert.Equal([newest.Id, middle.Id], _store.ListRuns(status: RunStatus.Failed).Select(r => r.Id));
        Assert.Equal([newest.Id], _store.ListRuns(_flow.Id, RunStatus.Failed).Select(r => r.Id));
        Assert.Equal([latest.Id, newest.Id], _store.ListRuns(last: 2).Select(r => r.Id));
        Assert.Empty(_store.ListRuns(Guid.NewGuid()));
        Assert.Throws<ArgumentOutOfRangeException>(() => _store.ListRuns(last: 0));
    }

    [Fact]
    public void Runs_of_flows_named_like_a_pattern_are_read_newest_first_up_to_the_last_wanted()
    {
        var destination = _store.GetDestination(_flow.DestinationId)!;
        var otherFlow = StateSamples.Flow(destination.Id, "Other");
        _store.AddFlow(otherFlow);
        var runs = Enumerable.Range(0, 6)
            .Select(hour => Finished(StateSamples.Run(hour % 2 == 0 ? _flow : otherFlow, "a", StateSamples.Noon.AddHours(hour)), hour == 4 ? RunStatus.Failed : RunStatus.Succeeded))
            .ToList();
        runs[4].Files = [StateSamples.File(0), StateSamples.File(1)];
        foreach (var run in runs) _store.AddRun(run);
        var names = new List<string>();
        bool Mine(string name)
        {
            names.Add(name);
            return name == _flow.Name;
        }

        Assert.Equal([runs[4].Id, runs[2].Id, runs[0].Id], _store.EnumerateRuns(flowNameMatches: name => name == _flow.Name).Select(run => run.Id));
        var newest = Assert.Single(_store.EnumerateRuns(flowNameMatches: Mine, last: 1));
        Assert.Equal((runs[4].Id, 2), (newest.Id, newest.Files.Count));
        // The newest run (of the other flow), then the one wanted: the older ones are not read (was: every run, then matched).
        Assert.Equal([otherFlow.Name, _flow.Name], names);
        Assert.Equal([runs[2].Id, runs[0].Id], _store.EnumerateRuns(null, RunStatus.Succeeded, name => name == _flow.Name, 5).Select(run => run.Id));
        Assert.Empty(_store.EnumerateRuns(flowNameMatches: name => name == "removed long ago"));
        Assert.Throws<ArgumentOutOfRangeException>(() => _store.EnumerateRuns(flowNameMatches: Mine, last: 0));
    }

    [Fact]
    public void Runs_read_a_page_at_a_time_come_in_the_order_of_one_read_across_pages_and_ties()
    {
        var destination = _store.GetDestination(_flow.DestinationId)!;
        var otherFlow = StateSamples.Flow(destination.Id, "Other");
        _store.AddFlow(otherFlow);
        // Eleven runs, four of them started in the same tick (ordered by insertion), so ties fall across page boundaries.
        var runs = Enumerable.Range(0, 11)
            .Select(i => Finished(StateSamples.Run(i % 3 == 0 ? otherFlow : _flow, $"d{i}", StateSamples.Noon.AddHours(i is >= 3 and <= 6 ? 3 : i)),
                i % 4 == 1 ? RunStatus.Failed : RunStatus.Succeeded))
            .ToList();
        foreach (var (run, i) in runs.Select((run, i) => (run, i))) run.Files = [.. Enumerable.Range(0, i % 3).Select(StateSamples.File)];
        foreach (var run in runs) _store.AddRun(run);
        ((SqliteStateStore)_store).RunPageSize = 2;

        static List<(Guid, int)> Shown(IEnumerable<RunRecord> runs) => runs.Select(run => (run.Id, run.Files.Count)).ToList();
        Assert.Equal(Shown(_store.ListRuns()), Shown(_store.EnumerateRuns()));
        Assert.Equal(11, _store.EnumerateRuns().Select(run => run.Id).Distinct().Count());
        Assert.Equal(Shown(_store.ListRuns(_flow.Id)), Shown(_store.EnumerateRuns(_flow.Id)));
        Assert.Equal(Shown(_store.ListRuns(status: RunStatus.Failed)), Shown(_store.EnumerateRuns(status: RunStatus.Failed)));
        Assert.Equal(Shown(_store.ListRuns(_flow.Id, RunStatus.Succeeded, 5)), Shown(_store.EnumerateRuns(_flow.Id, RunStatus.Succeeded, null, 5)));
        Assert.Equal(Shown(_store.ListRuns(_flow.Id).Take(3)), Shown(_store.EnumerateRuns(flowNameMatches: name => name == _flow.Name, last: 3)));
        // Started after 2:00 and before 9:00 (strictly): the four tied at 3:00 and those at 7:00 and 8:00, across pages.
        var (after, before) = (StateSamples.Noon.AddHours(2), StateSamples.Noon.AddHours(9));
        Assert.Equal(Shown(_store.ListRuns().Where(run => run.StartedAt > after && run.StartedAt < before)),
            Shown(_store.EnumerateRuns(startedAfter: after, startedBefore: before)));
        Assert.Equal(6, _store.EnumerateRuns(startedAfter: after, startedBefore: before).Count());
        Assert.Equal(Shown(_store.ListRuns(_flow.Id).Where(run => run.StartedAt < after)), Shown(_store.EnumerateRuns(_flow.Id, startedBefore: after)));

        // Stopping early reads no further page; a run recorded while the caller holds one is not listed, and writing it
        // between pages needs no lock the reading holds.
        var scanned = 0;
        var read = new List<Guid>();
        foreach (var run in _store.EnumerateRuns(flowNameMatches: _ => ++scanned > 0))
        {
            read.Add(run.Id);
            if (read.Count == 1) _store.AddRun(Finished(StateSamples.Run(_flow, "late", StateSamples.Noon.AddHours(20)), RunStatus.Succeeded));
            if (read.Count == 3) break;
        }
        Assert.Equal(_store.ListRuns().Skip(1).Take(3).Select(run => run.Id), read);
        Assert.Equal(4, scanned);
    }

    [Fact]
    public void Runs_are_read_together_by_their_ids_each_with_its_own_files()
    {
        var runs = Enumerable.Range(0, 3).Select(hour => Finished(StateSamples.Run(_flow, "a", StateSamples.Noon.AddHours(hour)), RunStatus.Succeeded)).ToList();
        runs[0].Files = [StateSamples.File(0)];
        runs[2].Files = [StateSamples.File(1), StateSamples.File(2)];
        foreach (var run in runs) _store.AddRun(run);

        var read = _store.GetRuns([runs[2].Id, runs[0].Id, Guid.NewGuid(), runs[2].Id]).OrderBy(run => run.StartedAt).ToList();

        Assert.Equal([runs[0].Id, runs[2].Id], read.Select(run => run.Id));
        Assert.Equal([StateSamples.File(0).RelativePath], read[0].Files.Select(file => file.RelativePath));
        Assert.Equal([StateSamples.File(1).RelativePath, StateSamples.File(2).RelativePath], read[1].Files.Select(file => file.RelativePath));
        Assert.Empty(_store.GetRuns([]));
    }

    private static RunRecord Finished(RunRecord run, RunStatus status)
    {
        run.Status = status;
        run.CompletedAt = run.StartedAt.AddMinutes(5);
        return run;
    }

    private (int Inserts, int Deletes) FileWrites()
    {
        using var connection = OpenState();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT (SELECT count(*) FROM file_writes WHERE kind = 'insert'), (SELECT count(*) FROM file_writes WHERE kind = 'delete')";
        using var row = count.ExecuteReader();
        row.Read();
        return (row.GetInt32(0), row.GetInt32(1));
    }

    private void ExecuteOnState(string sql)
    {
        using var connection = OpenState();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private SqliteConnection OpenState()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _home.Combine(SqliteStateStore.DatabaseFileName), Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static void AssertSameRun(RunRecord expected, RunRecord actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.FlowId, actual.FlowId);
        Assert.Equal(expected.FlowName, actual.FlowName);
        Assert.Equal(expected.DatasetId, actual.DatasetId);
        Assert.Equal(expected.DestinationId, actual.DestinationId);
        Assert.Equal(expected.DestinationName, actual.DestinationName);
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.Mode, actual.Mode);
        StateAssert.SameInstant(expected.ScheduledTime, actual.ScheduledTime);
        StateAssert.SameInstant(expected.StartedAt, actual.StartedAt);
        StateAssert.SameInstant(expected.CompletedAt, actual.CompletedAt);
        StateAssert.SameInstant(expected.HeartbeatAt, actual.HeartbeatAt);
        Assert.Equal(expected.RecordsRead, actual.RecordsRead);
        Assert.Equal(expected.RecordsWritten, actual.RecordsWritten);
        Assert.Equal(expected.RecordsSkipped, actual.RecordsSkipped);
        Assert.Equal(expected.InputBytes, actual.InputBytes);
        Assert.Equal(expected.OutputBytes, actual.OutputBytes);
        Assert.Equal(expected.BatchCount, actual.BatchCount);
        Assert.Equal(expected.ExportPath, actual.ExportPath);
        Assert.Equal(expected.ManifestPath, actual.ManifestPath);
        Assert.Equal(expected.Error, actual.Error);
        Assert.Equal(expected.Files.Count, actual.Files.Count);
        foreach (var (want, got) in expected.Files.Zip(actual.Files))
        {
            Assert.Equal(want.RelativePath, got.RelativePath);
            Assert.Equal(want.SinkPath, got.SinkPath);
            Assert.Equal(want.Name, got.Name);
            Assert.Equal(want.Size, got.Size);
            Assert.Equal(want.Records, got.Records);
            Assert.Equal(want.Sha256, got.Sha256);
        }
    }
}
