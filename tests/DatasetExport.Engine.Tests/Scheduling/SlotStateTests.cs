using System.Collections.Concurrent;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>The state store's part of scheduling: claiming slots, redoing abandoned runs, refusing runs taken over.</summary>
public sealed class SlotStateTests : IDisposable
{
    private static readonly DateTimeOffset Slot = new(2026, 3, 14, 6, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _home = new("de-slots");
    private readonly IStateStore _store;
    private readonly FlowRecord _flow;

    public SlotStateTests()
    {
        _store = SqliteStateStore.Open(_home.Path);
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        _flow = StateSamples.Flow(destination.Id);
        _flow.LastSlot = null;
        _store.AddFlow(_flow);
    }

    public void Dispose()
    {
        _store.Dispose();
        _home.Dispose();
    }

    private RunRecord SlotRun(string datasetId, DateTimeOffset slot)
    {
        var run = StateSamples.Run(_flow, datasetId, slot);
        run.ScheduledTime = slot;
        return run;
    }

    [Fact]
    public void A_slot_is_claimed_once_with_its_runs_and_only_later_slots_after_it()
    {
        RunRecord[] runs = [SlotRun("sales.orders", Slot), SlotRun("sales.customers", Slot)];

        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, runs));

        StateAssert.SameInstant(Slot, _store.GetFlow(_flow.Id)!.LastSlot);
        Assert.All(runs, run => Assert.Equal(RunStatus.Running, _store.GetRun(run.Id)!.Status));
        var again = SlotRun("hr.people", Slot);
        Assert.False(_store.TryClaimSlot(_flow.Id, Slot, [again]));
        Assert.False(_store.TryClaimSlot(_flow.Id, Slot.AddHours(-6), [again]));
        Assert.Null(_store.GetRun(again.Id));
        StateAssert.SameInstant(Slot, _store.GetFlow(_flow.Id)!.LastSlot);

        Assert.True(_store.TryClaimSlot(_flow.Id, Slot.AddHours(6), [SlotRun("hr.people", Slot.AddHours(6))]));
        StateAssert.SameInstant(Slot.AddHours(6), _store.GetFlow(_flow.Id)!.LastSlot);
        Assert.Equal(StateFailure.NotFound, Assert.Throws<StateException>(() => _store.TryClaimSlot(Guid.NewGuid(), Slot, [])).Failure);
    }

    [Fact]
    public void A_claim_whose_dataset_is_still_running_writes_nothing()
    {
        var busy = SlotRun("sales.orders", Slot.AddHours(-6));
        _store.AddRun(busy);
        var blocked = SlotRun("sales.customers", Slot);

        var refused = Assert.Throws<StateException>(() => _store.TryClaimSlot(_flow.Id, Slot, [blocked, SlotRun("sales.orders", Slot)]));

        Assert.Equal(StateFailure.InUse, refused.Failure);
        Assert.Contains(busy.Id.ToString(), refused.Message);
        Assert.Null(_store.GetFlow(_flow.Id)!.LastSlot);
        Assert.Null(_store.GetRun(blocked.Id));
    }

    [Fact]
    public void A_claim_with_a_run_of_a_dataset_exported_since_for_a_later_time_writes_nothing()
    {
        // Was: the scheduler read which datasets a later run had exported (ExportEngine.SupersededDatasets), then claimed the
        // slot with runs for the others; an export by hand committed in between (another session) was not seen, and the
        // slot's run put the dataset into the slot's exportTime= folder, older than that export's.
        var byHand = SlotRun("sales.orders", Slot.AddMinutes(20));
        _store.AddRun(byHand);
        _store.CommitRun(byHand, []);
        var late = SlotRun("sales.orders", Slot);
        var other = SlotRun("sales.customers", Slot);

        Assert.False(_store.TryClaimSlot(_flow.Id, Slot, [other, late]));

        Assert.Null(_store.GetFlow(_flow.Id)!.LastSlot);
        Assert.Null(_store.GetRun(late.Id));
        Assert.Null(_store.GetRun(other.Id));
        // Read again, the dataset is left out, and the slot is claimed for the others; an export to another destination does not count.
        var elsewhere = SlotRun("hr.people", Slot.AddMinutes(20));
        elsewhere.DestinationId = Guid.NewGuid();
        _store.AddRun(elsewhere);
        _store.CommitRun(elsewhere, []);
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, [other, SlotRun("hr.people", Slot)]));
        StateAssert.SameInstant(Slot, _store.GetFlow(_flow.Id)!.LastSlot);
    }

    [Fact]
    public void Updating_a_flow_read_before_another_process_claimed_a_slot_keeps_that_claim()
    {
        var readEarlier = _store.GetFlow(_flow.Id)!;
        using (var otherProcess = SqliteStateStore.Open(_home.Path))
        {
            Assert.True(otherProcess.TryClaimSlot(_flow.Id, Slot, [SlotRun("sales.orders", Slot)]));
        }

        readEarlier.Name = "Renamed";
        Assert.Null(readEarlier.LastSlot);
        _store.UpdateFlow(readEarlier);

        var stored = _store.GetFlow(_flow.Id)!;
        Assert.Equal("Renamed", stored.Name);
        StateAssert.SameInstant(Slot, stored.LastSlot);
        Assert.False(_store.TryClaimSlot(_flow.Id, Slot, []));
    }

    [Fact]
    public void Of_many_connections_claiming_the_same_slot_exactly_one_wins()
    {
        var winners = new ConcurrentBag<int>();
        Concurrently.Run(8, index =>
        {
            using var store = SqliteStateStore.Open(_home.Path);
            if (store.TryClaimSlot(_flow.Id, Slot, [SlotRun("sales.orders", Slot)])) winners.Add(index);
        });

        Assert.Single(winners);
        Assert.Single(_store.ListRuns(_flow.Id));
    }

    [Fact]
    public void A_version_1_database_gains_the_last_slot_column_and_its_flows_start_unclaimed()
    {
        var home = _home.Combine("old");
        Directory.CreateDirectory(home);
        var path = Path.Combine(home, SqliteStateStore.DatabaseFileName);
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            StateSchema.Migrate(connection, path, [StateSchema.Migrations[0]]);
            using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO destinations VALUES ('11111111-1111-1111-1111-111111111111', 'd', 'D', 'Local', 'Json', 'None', 1, 256, '', '{}', NULL,
                                                 '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO flows VALUES ('22222222-2222-2222-2222-222222222222', 'old', 'OLD', '11111111-1111-1111-1111-111111111111', '["web"]',
                                          'Full', 1, 'Hourly', 6, NULL, NULL, NULL, NULL, 'UTC', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                """;
            insert.ExecuteNonQuery();
        }

        using var store = SqliteStateStore.Open(home);

        var flow = store.FindFlow("old")!;
        Assert.Null(flow.LastSlot);
        Assert.Equal(6, flow.EveryHours);
        Assert.True(store.TryClaimSlot(flow.Id, Slot, []));
        StateAssert.SameInstant(Slot, store.GetFlow(flow.Id)!.LastSlot);
        using var check = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var version = check.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        Assert.Equal((long)StateSchema.LatestVersion, (long)version.ExecuteScalar()!);
    }

    [Fact]
    public void A_run_marked_abandoned_loses_its_heartbeat_and_can_neither_commit_nor_fail()
    {
        var run = SlotRun("sales.orders", Slot);
        _store.AddRun(run);
        Assert.True(_store.Heartbeat(run.Id, Slot.AddSeconds(30)));

        using (var otherProcess = SqliteStateStore.Open(_home.Path))
        {
            Assert.Single(otherProcess.AbandonStaleRuns(Slot.AddMinutes(10)));
        }

        Assert.False(_store.Heartbeat(run.Id, Slot.AddSeconds(60)));
        var commit = Assert.Throws<StateException>(() => _store.CommitRun(run, [new BatchKey("sales.orders/a.parquet", 1, Slot)]));
        Assert.Equal(StateFailure.NotRunning, commit.Failure);
        Assert.Contains("Abandoned", commit.Message);
        Assert.Equal(RunStatus.Running, run.Status);
        Assert.Empty(_store.GetExportedBatches(_flow.Id, "sales.orders"));
        run.Status = RunStatus.Failed;
        Assert.Equal(StateFailure.NotRunning, Assert.Throws<StateException>(() => _store.UpdateRun(run)).Failure);
        var stored = _store.GetRun(run.Id)!;
        Assert.Equal(RunStatus.Abandoned, stored.Status);
        StateAssert.SameInstant(Slot.AddSeconds(30), stored.HeartbeatAt);
    }

    [Fact]
    public void An_abandoned_slot_run_is_redone_exactly_once()
    {
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, [SlotRun("sales.orders", Slot), SlotRun("sales.customers", Slot)]));
        Assert.Equal(2, _store.AbandonStaleRuns(Slot.AddMinutes(10)).Count);
        var busy = SlotRun("sales.customers", Slot.AddHours(1));
        _store.AddRun(busy);

        var redos = new ConcurrentBag<RunRecord>();
        Concurrently.Run(6, _ =>
        {
            using var store = SqliteStateStore.Open(_home.Path);
            var redo = SlotRun("sales.orders", Slot);
            if (store.TryAddSlotRun(redo)) redos.Add(redo);
        });

        var redone = Assert.Single(redos);
        Assert.Equal(RunStatus.Running, _store.GetRun(redone.Id)!.Status);
        // Once the redo ended (even Failed) the slot is done for that dataset.
        redone.Status = RunStatus.Failed;
        _store.UpdateRun(redone);
        Assert.False(_store.TryAddSlotRun(SlotRun("sales.orders", Slot)));
        // A dataset busy with another run cannot be redone now.
        Assert.Equal(StateFailure.InUse, Assert.Throws<StateException>(() => _store.TryAddSlotRun(SlotRun("sales.customers", Slot))).Failure);
    }

    [Fact]
    public void A_redo_that_dies_too_is_redone_in_turn_once_even_with_the_first_dead_run_removed()
    {
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, [SlotRun("sales.orders", Slot)]));
        var dead = Assert.Single(_store.AbandonStaleRuns(Slot.AddMinutes(10)));
        var redo = SlotRun("sales.orders", Slot);
        Assert.True(_store.TryAddSlotRun(redo));
        Assert.Empty(_store.RemoveRuns([dead.Id]));

        Assert.Equal([redo.Id], _store.AbandonStaleRuns(Slot.AddMinutes(30)).Select(run => run.Id));

        Assert.Equal(["sales.orders"], _store.ListSlotRedos(_flow.Id, Slot));
        var redos = new ConcurrentBag<RunRecord>();
        Concurrently.Run(4, _ =>
        {
            using var store = SqliteStateStore.Open(_home.Path);
            var again = SlotRun("sales.orders", Slot);
            if (store.TryAddSlotRun(again)) redos.Add(again);
        });
        var second = Assert.Single(redos);
        _store.CommitRun(second, []);
        Assert.Empty(_store.RemoveRuns([redo.Id, second.Id]));
        Assert.Empty(_store.ListSlotRedos(_flow.Id, Slot));
        Assert.False(_store.TryAddSlotRun(SlotRun("sales.orders", Slot)));
    }

    [Fact]
    public void A_redo_is_refused_once_the_slot_s_abandoned_run_and_its_redo_were_removed_since_the_scheduler_read_them()
    {
        // Was: the redo only had to find no Running, Succeeded or Failed run of the slot. A scheduler that read the abandoned
        // run just before Remove-ExportRun removed it with the slot's finished redo then redid the slot once more, into the
        // folder that redo had filled.
        var dead = SlotRun("sales.orders", Slot);
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, [dead]));
        Assert.Single(_store.AbandonStaleRuns(Slot.AddMinutes(10)));
        var redo = SlotRun("sales.orders", Slot);
        Assert.True(_store.TryAddSlotRun(redo));
        redo.Status = RunStatus.Failed;
        _store.UpdateRun(redo);

        Assert.Empty(_store.RemoveRuns([dead.Id, redo.Id]));

        Assert.False(_store.TryAddSlotRun(SlotRun("sales.orders", Slot)));
        Assert.Empty(_store.ListRuns(_flow.Id));
    }

    [Fact]
    public void A_version_10_database_owes_a_redo_to_its_abandoned_last_slot_runs_and_knows_each_dataset_s_latest_export()
    {
        // Version 11 keeps what the scheduler reads apart from the run history; it starts from what that history says.
        var (flowId, destinationId) = (Guid.NewGuid(), Guid.NewGuid());
        var (webDead, shopDead, shopRedo, oldDead, webEarlier, webByHand) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        const string slot = "2026-03-14T06:00:00.0000000Z", before = "2026-03-14T05:00:00.0000000Z", after = "2026-03-14T06:20:00.0000000Z";
        string Run(Guid id, string dataset, string status, string scheduled) => Version10Run(id, flowId, destinationId, dataset, status, scheduled);
        var home = Version10Home("v10", flowId, destinationId, """["web","shop","old"]""", slot,
            $"{Run(webDead, "web", "Abandoned", slot)}, {Run(shopDead, "shop", "Abandoned", slot)}, {Run(shopRedo, "shop", "Succeeded", slot)}, " +
            $"{Run(oldDead, "old", "Abandoned", before)}, {Run(webEarlier, "web", "Succeeded", before)}, {Run(webByHand, "web", "Succeeded", after)}");

        using var store = SqliteStateStore.Open(home);

        // Only the last slot's abandoned run with no other run there is owed a redo; the run history can now go.
        Assert.Equal(["web"], store.ListSlotRedos(flowId, Slot));
        Assert.Empty(store.ListSlotRedos(flowId, Slot.AddHours(-1)));
        Assert.Equal([("shop", shopRedo, Slot), ("web", webByHand, Slot.AddMinutes(20))],
            store.ListLatestExportsAfter(flowId, destinationId, Slot.AddHours(-2)).Select(latest => (latest.DatasetId, latest.RunId, latest.ScheduledTime)));
        var byHand = Assert.Single(store.ListLatestExportsAfter(flowId, destinationId, Slot));
        Assert.Equal(("web/exportTime=202603140620", Slot.AddMinutes(20)), (byHand.ExportPath, byHand.StartedAt));
        Assert.Empty(store.RemoveRuns([webDead, shopDead, shopRedo, oldDead, webEarlier, webByHand]));
        Assert.Equal(["web"], store.ListSlotRedos(flowId, Slot));
        Assert.Single(store.ListLatestExportsAfter(flowId, destinationId, Slot));
    }

    [Fact]
    public void A_version_10_slot_whose_dataset_also_ran_there_under_another_case_owes_no_redo()
    {
        // Dataset ids are matched case-insensitively (the lake's ids, latest_exports, slot_redos): a flow's dataset respelled
        // while its slot ran ('Web' then 'web'). Was: the migration matched the slot's other runs case-sensitively, so the dead
        // 'Web' run was owed a redo although 'web' had been exported into that slot's folder, and the redo exported it there again.
        var (flowId, destinationId) = (Guid.NewGuid(), Guid.NewGuid());
        const string slot = "2026-03-14T06:00:00.0000000Z";
        string Run(string dataset, string status) => Version10Run(Guid.NewGuid(), flowId, destinationId, dataset, status, slot);
        var home = Version10Home("v10-case", flowId, destinationId, """["web","shop"]""", slot,
            $"{Run("Web", "Abandoned")}, {Run("web", "Succeeded")}, {Run("Shop", "Abandoned")}, {Run("shop", "Failed")}");

        using var store = SqliteStateStore.Open(home);

        Assert.Empty(store.ListSlotRedos(flowId, Slot));
        var redo = StateSamples.Run(store.GetFlow(flowId)!, "web", Slot.AddMinutes(30));
        redo.ScheduledTime = Slot;
        Assert.False(store.TryAddSlotRun(redo));
    }

    [Fact]
    public void A_slot_run_abandoned_beside_a_finished_run_of_its_dataset_under_another_case_owes_no_redo()
    {
        // The same rule as the migration's: the slot's other runs are matched case-insensitively when a run is abandoned.
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, [SlotRun("Sales.Orders", Slot)]));
        var failed = SlotRun("sales.orders", Slot);
        _store.AddRun(failed);
        failed.Status = RunStatus.Failed;
        _store.UpdateRun(failed);

        Assert.Single(_store.AbandonStaleRuns(Slot.AddMinutes(10)));

        Assert.Empty(_store.ListSlotRedos(_flow.Id, Slot));
    }

    [Fact]
    public void A_dataset_s_latest_export_is_the_run_for_the_latest_time_not_the_last_committed_and_goes_with_its_flow()
    {
        // A redo of the 06:00 slot that commits after an export by hand at 06:20 must not hide the 06:20 one from the scheduler.
        var byHand = SlotRun("sales.orders", Slot.AddMinutes(20));
        _store.AddRun(byHand);
        _store.CommitRun(byHand, []);
        var redo = SlotRun("sales.orders", Slot);
        redo.StartedAt = Slot.AddMinutes(30);
        _store.AddRun(redo);
        _store.CommitRun(redo, []);
        var failed = SlotRun("sales.orders", Slot.AddMinutes(40));
        _store.AddRun(failed);
        failed.Status = RunStatus.Failed;
        _store.UpdateRun(failed);

        Assert.Equal([byHand.Id], _store.ListLatestExportsAfter(_flow.Id, _flow.DestinationId, Slot).Select(latest => latest.RunId));
        Assert.Empty(_store.ListLatestExportsAfter(_flow.Id, _flow.DestinationId, Slot.AddMinutes(20)));
        Assert.Empty(_store.ListLatestExportsAfter(_flow.Id, Guid.NewGuid(), Slot));

        _store.RemoveFlow(_flow.Id);
        using var connection = new SqliteConnection($"Data Source={_home.Combine(SqliteStateStore.DatabaseFileName)};Pooling=False");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT (SELECT count(*) FROM latest_exports) + (SELECT count(*) FROM slot_redos)";
        Assert.Equal(0L, (long)count.ExecuteScalar()!);
    }

    [Fact]
    public void A_slot_owes_no_redo_once_a_later_slot_is_claimed_or_a_run_of_its_time_is_added()
    {
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot, [SlotRun("sales.orders", Slot), SlotRun("sales.customers", Slot)]));
        Assert.Equal(2, _store.AbandonStaleRuns(Slot.AddMinutes(10)).Count);
        Assert.Equal(["sales.customers", "sales.orders"], _store.ListSlotRedos(_flow.Id, Slot));

        // An export by hand in the slot's minute shares its folder: it is that slot's run for its dataset.
        _store.AddRun(SlotRun("sales.orders", Slot));
        Assert.Equal(["sales.customers"], _store.ListSlotRedos(_flow.Id, Slot));
        Assert.True(_store.TryClaimSlot(_flow.Id, Slot.AddHours(1), []));
        Assert.Empty(_store.ListSlotRedos(_flow.Id, Slot));
        Assert.False(_store.TryAddSlotRun(SlotRun("sales.customers", Slot)));
    }

    /// <summary>
    /// A state home whose database is at schema version 10 with destination 'd', an hourly flow (<paramref name="datasetIdsJson"/>,
    /// last slot <paramref name="lastSlot"/>) and the runs <paramref name="runValues"/> (rows of <see cref="Version10Run"/>).
    /// </summary>
    private string Version10Home(string name, Guid flowId, Guid destinationId, string datasetIdsJson, string lastSlot, string runValues)
    {
        var home = _home.Combine(name);
        Directory.CreateDirectory(home);
        var path = Path.Combine(home, SqliteStateStore.DatabaseFileName);
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        StateSchema.Migrate(connection, path, StateSchema.Migrations.Take(10).ToList());
        using var insert = connection.CreateCommand();
        insert.CommandText = $"""
            INSERT INTO destinations (id, name, name_key, type, file_type, compression, include_manifest, max_file_size_mb, folder_path,
                                      properties, created_at, modified_at)
            VALUES ('{destinationId:D}', 'd', 'D', 'Local', 'Json', 'None', 1, 64, 'exports', '[]', '{lastSlot}', '{lastSlot}');
            INSERT INTO flows (id, name, name_key, destination_id, dataset_ids, mode, enabled, schedule_kind, every_hours, time_zone,
                               created_at, modified_at, last_slot)
            VALUES ('{flowId:D}', 'hourly', 'HOURLY', '{destinationId:D}', '{datasetIdsJson}', 'Full', 1, 'Hourly', 1, 'UTC', '{lastSlot}', '{lastSlot}', '{lastSlot}');
            INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at,
                              completed_at, heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes,
                              batch_count, export_path, folder_path, left_files)
            VALUES {runValues};
            """;
        insert.ExecuteNonQuery();
        return home;
    }

    /// <summary>A version-10 runs row of flow 'hourly' to destination 'd', scheduled and started at <paramref name="scheduled"/>.</summary>
    private static string Version10Run(Guid id, Guid flowId, Guid destinationId, string dataset, string status, string scheduled) =>
        $"('{id:D}', '{flowId:D}', 'hourly', '{dataset}', '{destinationId:D}', 'd', '{status}', 'Full', '{scheduled}', '{scheduled}', NULL, " +
        $"'{scheduled}', 0, 0, 0, 0, 0, 0, '{dataset}/exportTime={scheduled[..4]}{scheduled[5..7]}{scheduled[8..10]}{scheduled[11..13]}{scheduled[14..16]}', 'exports', '[]')";
}
