using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Scheduling;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// Which exportTime= folder new batches land in when runs do not happen in slot order: readers that take folders in time
/// order must never find records of a later export in an earlier folder.
/// </summary>
public sealed class SlotOrderTests : IDisposable
{
    private readonly ScheduleFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private FlowRecord AddHourlyFlow(ExportMode mode, params string[] datasets) => _fixture.AddFlow("hourly", flow =>
    {
        flow.ScheduleKind = ScheduleKind.Hourly;
        flow.EveryHours = 1;
        flow.StartTime = Utc(3, 1, 11);
        flow.Mode = mode;
    }, datasets);

    /// <summary>The ids a slot's manifest lists, or nothing when the slot has no folder.</summary>
    private List<long> SlotIds(DateTimeOffset slot)
    {
        var folder = _fixture.SlotFolder("web", slot);
        return Directory.Exists(folder) ? Directory.GetFiles(folder, "manifest-*").SelectMany(ManifestRecordIds).Order().ToList() : [];
    }

    [Theory]
    [InlineData(ExportMode.Incremental)]
    [InlineData(ExportMode.Full)]
    public async Task A_dead_slot_is_not_redone_into_its_older_folder_after_a_later_run_exported_the_dataset(ExportMode mode)
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = AddHourlyFlow(mode);
        // A process claimed the 11:00 slot and died before exporting anything.
        _fixture.SetNow(Utc(3, 1, 11));
        var dead = ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 11), Utc(3, 1, 11));
        Assert.True(_fixture.Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11), [dead]));

        // An admin exports by hand at 11:20 (Start-ExportRun); a batch arrives at 11:25; the schedule is invoked at 11:30.
        _fixture.SetNow(Utc(3, 1, 11, 20));
        var manual = Assert.Single(await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default));
        Assert.Equal(RunStatus.Succeeded, manual.Status);
        _fixture.WriteBatch("web", "b.jsonl", 10, 10);
        _fixture.SetNow(Utc(3, 1, 11, 30));
        var redone = await _fixture.RunDueAsync();

        // The 11:20 export superseded the dead 11:00 one; b belongs to the next slot, not to a folder older than 11:20's.
        Assert.Empty(redone);
        Assert.Equal(["exportTime=202603011120"], _fixture.SlotFolders("web"));
        _fixture.SetNow(Utc(3, 1, 12));
        var next = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 12)), (next.Status, next.ScheduledTime));
        Assert.Equal(mode == ExportMode.Incremental ? Ids(10, 10) : Ids(0, 20), SlotIds(Utc(3, 1, 12)));
    }

    [Theory]
    [InlineData(ExportMode.Incremental)]
    [InlineData(ExportMode.Full)]
    public async Task A_slot_that_passed_before_an_export_by_hand_is_not_run_into_its_older_folder_afterwards(ExportMode mode)
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.WriteBatch("other", "a.jsonl", 100, 10);
        var flow = AddHourlyFlow(mode, "web", "other");
        // Nothing invoked the schedule since 11:00 (the machine was off); an admin exports by hand at 11:20, when the
        // 'other' dataset cannot be read; a batch arrives at 11:25; the schedule is invoked at 11:30.
        _fixture.SetNow(Utc(3, 1, 11, 20));
        File.WriteAllText(Path.Combine(_fixture.Lake, "other", "b.jsonl"), "{\"id\": ");
        var manual = await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default);
        Assert.Equal([RunStatus.Succeeded, RunStatus.Failed], manual.Select(run => run.Status));
        File.Delete(Path.Combine(_fixture.Lake, "other", "b.jsonl"));
        _fixture.WriteBatch("web", "b.jsonl", 10, 10);
        _fixture.SetNow(Utc(3, 1, 11, 30));
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _fixture.Engine.Log = log.Enqueue;
        var slot = await _fixture.RunDueAsync();

        // The 11:00 slot runs only for the dataset the 11:20 export did not export.
        var other = Assert.Single(slot);
        Assert.Equal(("other", RunStatus.Succeeded, Utc(3, 1, 11)), (other.DatasetId, other.Status, other.ScheduledTime));
        Assert.Equal(["exportTime=202603011120"], _fixture.SlotFolders("web"));
        Assert.Contains(log, line => line.StartsWith("Flow 'hourly': slot 2026-03-01 11:00 UTC is not run for dataset 'web': run ", StringComparison.Ordinal)
            && line.Contains("started at 2026-03-01 11:20:00 UTC, exported it since, into web/exportTime=202603011120;", StringComparison.Ordinal));
        Assert.Empty(await _fixture.RunDueAsync());
        _fixture.SetNow(Utc(3, 1, 12));
        var next = await _fixture.RunDueAsync();
        Assert.All(next, run => Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 12)), (run.Status, run.ScheduledTime)));
        Assert.Equal(mode == ExportMode.Incremental ? Ids(10, 10) : Ids(0, 20), SlotIds(Utc(3, 1, 12)));
    }

    [Theory]
    [InlineData(ExportMode.Incremental, true)]
    [InlineData(ExportMode.Full, true)]
    [InlineData(ExportMode.Incremental, false)]
    [InlineData(ExportMode.Full, false)]
    public async Task An_export_by_hand_that_superseded_a_slot_not_run_yet_still_supersedes_it_once_removed_from_the_history(ExportMode mode, bool slotDied)
    {
        // Was (twelfth session): Remove-ExportRun removed the 11:20 export, the only thing telling the scheduler that the 11:00
        // slot (claimed by a process that died, or not claimed at all) was superseded: the 11:30 invocation then ran it into
        // exportTime=...1100, a folder older than 11:20's where readers that take folders in time order never look for b.
        // Then (thirteenth) the run was kept with RunInUse until a later slot ran. Now what the scheduler reads is recorded
        // at the commit, apart from the history, and the runs go.
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = AddHourlyFlow(mode);
        _fixture.SetNow(Utc(3, 1, 11));
        if (slotDied) Assert.True(_fixture.Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11), [ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 11), Utc(3, 1, 11))]));
        _fixture.SetNow(Utc(3, 1, 11, 15));
        var first = Assert.Single(await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default));
        _fixture.SetNow(Utc(3, 1, 11, 20));
        var manual = Assert.Single(await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default));
        _fixture.WriteBatch("web", "b.jsonl", 10, 10);
        _fixture.SetNow(Utc(3, 1, 11, 30));

        Assert.Empty(_fixture.Engine.RemoveRuns([first.Id, manual.Id]));

        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _fixture.Engine.Log = log.Enqueue;
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Contains(log, line => line.StartsWith("Flow 'hourly': slot 2026-03-01 11:00 UTC is not run for dataset 'web': run " + manual.Id, StringComparison.Ordinal)
            && line.Contains("started at 2026-03-01 11:20:00 UTC, exported it since, into web/exportTime=202603011120;", StringComparison.Ordinal));
        Assert.DoesNotContain("exportTime=202603011100", _fixture.SlotFolders("web"));
        _fixture.SetNow(Utc(3, 1, 12));
        Assert.Equal(RunStatus.Succeeded, Assert.Single(await _fixture.RunDueAsync()).Status);
        Assert.Equal(mode == ExportMode.Incremental ? Ids(10, 10) : Ids(0, 20), SlotIds(Utc(3, 1, 12)));
    }

    [Fact]
    public async Task A_run_of_a_slot_whose_other_run_died_unnoticed_yet_can_be_removed_and_the_slot_is_still_not_exported_twice()
    {
        // Was (twelfth session): removed before the dead run was marked Abandoned, the export by hand that made the slot taken
        // was gone when the next invocation took the dead run over, and the slot was redone into the same folder: a second
        // manifest and a second copy of every record there. Then (thirteenth) it was kept with RunInUse. Now the slot owes a
        // redo only when its run is abandoned with no other run of the slot there and none recorded as having exported the
        // dataset for the slot's time: the run by hand may go.
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = AddHourlyFlow(ExportMode.Full);
        _fixture.SetNow(Utc(3, 1, 11, 0, 20));
        var manual = Assert.Single(await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default));
        // A scheduler claims the 11:00 slot at 11:00:40 and dies at once; its run still shows Running.
        _fixture.SetNow(Utc(3, 1, 11, 0, 40));
        Assert.True(_fixture.Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11), [ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 11), Utc(3, 1, 11, 0, 40))]));
        _fixture.SetNow(Utc(3, 1, 11, 1));

        Assert.Empty(_fixture.Engine.RemoveRuns([manual.Id]));

        _fixture.SetNow(Utc(3, 1, 11, 30));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Single(Directory.GetFiles(_fixture.SlotFolder("web", Utc(3, 1, 11)), "manifest-*"));
        Assert.Equal(Ids(0, 10), SlotIds(Utc(3, 1, 11)));
    }

    [Theory]
    [InlineData(ExportMode.Incremental)]
    [InlineData(ExportMode.Full)]
    public async Task A_dead_slot_is_not_redone_into_its_older_folder_when_an_export_by_hand_commits_while_the_scheduler_decides(ExportMode mode)
    {
        // Was: the scheduler read which datasets a later run had exported, then recorded the redos: an export by hand that
        // committed in between (another session) was not seen, and the redo put the dataset into the slot's older folder.
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.WriteBatch("shop", "a.jsonl", 100, 10);
        var flow = AddHourlyFlow(mode, "web", "shop");
        // A process claimed the 11:00 slot and died; 'shop' is exported by hand at 11:20 (which marks the dead runs Abandoned).
        _fixture.SetNow(Utc(3, 1, 11));
        Assert.True(_fixture.Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11),
            [.. flow.DatasetIds.Select(dataset => ExportRunner.NewRun(flow, _fixture.Destination, dataset, Utc(3, 1, 11), Utc(3, 1, 11)))]));
        _fixture.SetNow(Utc(3, 1, 11, 20));
        Assert.Equal(RunStatus.Succeeded, Assert.Single(await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default, ["shop"])).Status);
        _fixture.WriteBatch("web", "b.jsonl", 10, 10);

        // At 11:30 the scheduler finds 'shop' superseded and 'web' owed a redo; just then another session's export of 'web' commits.
        _fixture.SetNow(Utc(3, 1, 11, 30));
        using var otherSession = ExportEngine.Open(new EngineOptions { StateHome = _fixture.StateHome, TimeProvider = _fixture.Clock });
        RunRecord? byHand = null;
        _fixture.Engine.Log = line =>
        {
            if (byHand is null && line.Contains("is not run for dataset 'shop'", StringComparison.Ordinal))
            {
                byHand = Assert.Single(otherSession.RunFlowAsync(flow, _fixture.Lake, null, default, ["web"]).GetAwaiter().GetResult());
            }
        };
        var redone = await _fixture.RunDueAsync();

        Assert.Equal(RunStatus.Succeeded, byHand!.Status);
        Assert.Empty(redone);
        Assert.Equal(["exportTime=202603011130"], _fixture.SlotFolders("web"));
        _fixture.Engine.Log = null;
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal(["exportTime=202603011130"], _fixture.SlotFolders("web"));
    }

    [Fact]
    public async Task An_export_by_hand_in_the_slot_s_own_minute_shares_its_folder_and_the_slot_still_runs()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = AddHourlyFlow(ExportMode.Incremental);
        _fixture.SetNow(Utc(3, 1, 11, 0, 20));
        Assert.Equal(RunStatus.Succeeded, Assert.Single(await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default)).Status);
        _fixture.WriteBatch("web", "b.jsonl", 10, 10);
        _fixture.SetNow(Utc(3, 1, 11, 0, 40));

        var run = Assert.Single(await _fixture.RunDueAsync());

        Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 11), 1), (run.Status, run.ScheduledTime, run.BatchCount));
        Assert.Equal(["exportTime=202603011100"], _fixture.SlotFolders("web"));
        Assert.Equal(Ids(0, 20), SlotIds(Utc(3, 1, 11)));
    }
}
