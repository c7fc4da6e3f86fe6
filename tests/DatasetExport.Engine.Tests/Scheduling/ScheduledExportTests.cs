using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>Invoke-ExportSchedule's engine side on a fake clock, exporting real JSON Lines lakes to a local folder.</summary>
public sealed class ScheduledExportTests : IDisposable
{
    private readonly ScheduleFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private ExportEngine Engine => _fixture.Engine;

    private static void Hourly(FlowRecord flow, int every, DateTimeOffset? start = null, DateTimeOffset? end = null)
    {
        flow.ScheduleKind = ScheduleKind.Hourly;
        flow.EveryHours = every;
        flow.StartTime = start;
        flow.EndTime = end;
    }

    [Fact]
    public async Task An_hourly_flow_is_due_at_each_slot_and_not_a_minute_before()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("six-hourly", f => Hourly(f, 6, Utc(3, 2, 1)));

        _fixture.SetNow(Utc(3, 2, 0, 59, 59));
        Assert.Empty(Engine.GetDueFlows());
        Assert.Empty(await _fixture.RunDueAsync());

        _fixture.SetNow(Utc(3, 2, 1));
        var due = Assert.Single(Engine.GetDueFlows());
        Assert.Equal((flow.Id, Utc(3, 2, 1)), (due.Flow.Id, due.Slot));
        var run = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, Utc(3, 2, 1), 10L), (run.Status, run.ScheduledTime, run.RecordsWritten));
        Assert.Equal(["exportTime=202603020100"], _fixture.SlotFolders("web"));

        _fixture.SetNow(Utc(3, 2, 6, 59, 59));
        Assert.Empty(Engine.GetDueFlows());
        Assert.Empty(await _fixture.RunDueAsync());

        _fixture.SetNow(Utc(3, 2, 7));
        Assert.Equal(Utc(3, 2, 7), Assert.Single(Engine.GetDueFlows()).Slot);
        Assert.Equal(Utc(3, 2, 7), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        Assert.Equal(["exportTime=202603020100", "exportTime=202603020700"], _fixture.SlotFolders("web"));
    }

    [Fact]
    public async Task A_daily_flow_created_after_its_time_first_runs_the_next_day()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.AddFlow("daily", f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:30"; });

        _fixture.SetNow(Utc(3, 1, 23, 59));
        Assert.Empty(await _fixture.RunDueAsync());
        _fixture.SetNow(Utc(3, 2, 2, 29, 59));
        Assert.Empty(await _fixture.RunDueAsync());

        _fixture.SetNow(Utc(3, 2, 2, 30));
        Assert.Equal(Utc(3, 2, 2, 30), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        _fixture.SetNow(Utc(3, 3, 2, 29));
        Assert.Empty(await _fixture.RunDueAsync());
        _fixture.SetNow(Utc(3, 3, 2, 30));
        Assert.Equal(Utc(3, 3, 2, 30), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
    }

    [Fact]
    public async Task An_incremental_flow_exports_everything_first_then_only_new_batches()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 100);
        _fixture.WriteBatch("web", "b.jsonl", 100, 50);
        var flow = _fixture.AddFlow("incremental", f => { Hourly(f, 1, Utc(3, 1, 11)); f.Mode = ExportMode.Incremental; });

        _fixture.SetNow(Utc(3, 1, 11, 5));
        var first = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, 2, 150L), (first.Status, first.BatchCount, first.RecordsWritten));

        _fixture.WriteBatch("web", "c.jsonl", 150, 25);
        _fixture.SetNow(Utc(3, 1, 12, 5));
        var second = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, 1, 25L), (second.Status, second.BatchCount, second.RecordsWritten));
        Assert.Equal(Ids(150, 25), ManifestRecordIds(Path.Combine(_fixture.Output, "exports", second.ManifestPath!)));

        _fixture.SetNow(Utc(3, 1, 13, 5));
        var nothingNew = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, 0, 0L), (nothingNew.Status, nothingNew.BatchCount, nothingNew.RecordsWritten));
        Assert.Equal(3, _fixture.Engine.State.GetExportedBatches(flow.Id, "web").Count);
    }

    [Fact]
    public async Task Missed_slots_run_once_for_the_latest_which_names_the_export_folder()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.AddFlow("hourly", f => Hourly(f, 1, Utc(3, 1, 11)));
        _fixture.SetNow(Utc(3, 1, 11));
        Assert.Single(await _fixture.RunDueAsync());

        // The machine was off from 11:00 to 16:30: five slots passed.
        _fixture.SetNow(Utc(3, 1, 16, 30));
        var run = Assert.Single(await _fixture.RunDueAsync());

        Assert.Equal(Utc(3, 1, 16), run.ScheduledTime);
        Assert.Equal("web/exportTime=202603011600", run.ExportPath);
        Assert.Equal(["exportTime=202603011100", "exportTime=202603011600"], _fixture.SlotFolders("web"));
        Assert.Single(Directory.GetFiles(_fixture.SlotFolder("web", Utc(3, 1, 16)), "manifest-*"));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal(2, Engine.State.ListRuns().Count);
    }

    [Fact]
    public async Task A_flow_past_its_end_time_runs_its_last_slot_then_is_completed_for_good()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("bounded", f => Hourly(f, 1, Utc(3, 1, 11), Utc(3, 1, 13)));
        _fixture.SetNow(Utc(3, 1, 12, 10));
        Assert.Equal(Utc(3, 1, 12), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        Assert.False(Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!).Completed);

        _fixture.SetNow(Utc(3, 1, 20));
        Assert.Equal(Utc(3, 1, 13), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);

        var status = Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!);
        Assert.True(status.Completed);
        Assert.Null(status.NextRunTime);
        _fixture.SetNow(Utc(4, 1, 0));
        Assert.Empty(Engine.GetDueFlows());
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal(2, Engine.State.ListRuns(flow.Id).Count);
    }

    [Fact]
    public async Task A_once_flow_without_start_time_runs_for_its_creation_minute_then_never_again()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.SetNow(Utc(3, 1, 10, 20, 42));
        var flow = _fixture.AddFlow("once", f => f.ScheduleKind = ScheduleKind.Once);

        var status = Engine.GetFlowStatus(flow);
        Assert.Equal("Once at 2026-03-01 10:20 UTC", status.Schedule);
        Assert.Equal(Utc(3, 1, 10, 20), status.NextRunTime);
        Assert.False(status.Completed);

        var run = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal(Utc(3, 1, 10, 20), run.ScheduledTime);
        _fixture.SetNow(Utc(3, 9, 0));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.True(Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!).Completed);
    }

    [Fact]
    public async Task A_once_flow_moved_to_a_later_time_after_it_ran_shows_and_runs_that_time()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("once", f => { f.ScheduleKind = ScheduleKind.Once; f.StartTime = Utc(3, 1, 11); });
        _fixture.SetNow(Utc(3, 1, 11, 5));
        Assert.Single(await _fixture.RunDueAsync());

        // Set-ExportFlow once -StartTime: a new one-off time after the slot that ran.
        var moved = Engine.State.GetFlow(flow.Id)!;
        moved.StartTime = Utc(3, 2, 9);
        Engine.UpdateFlow(moved);
        var status = Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!);
        Assert.Equal((Utc(3, 2, 9), false), (status.NextRunTime, status.Completed));

        _fixture.SetNow(Utc(3, 2, 9));
        Assert.Equal(Utc(3, 2, 9), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        var done = Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!);
        Assert.Equal((null, true), (done.NextRunTime, done.Completed));
    }

    [Fact]
    public async Task A_cron_with_seconds_shows_when_it_runs_next_and_completes_at_its_end()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("seconds", f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "30 * * * * *"; f.StartTime = Utc(3, 1, 11); f.EndTime = Utc(3, 1, 11, 2); });
        FlowStatus Status() => Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!);

        _fixture.SetNow(Utc(3, 1, 11, 0, 40));
        Assert.Equal(Utc(3, 1, 11, 0), Status().NextRunTime);
        Assert.Equal(Utc(3, 1, 11, 0), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        // Nothing is due until 11:01:30, and the status says so (not 11:00:30, which fell in the minute that ran).
        _fixture.SetNow(Utc(3, 1, 11, 0, 50));
        Assert.Empty(Engine.GetDueFlows());
        Assert.Equal(Utc(3, 1, 11, 1, 30), Status().NextRunTime);

        // Past the end: the last slot is 11:01 (its 11:01:30 firing); then the flow is completed.
        _fixture.SetNow(Utc(3, 1, 12));
        Assert.Equal(Utc(3, 1, 11, 1), Status().NextRunTime);
        Assert.Equal(Utc(3, 1, 11, 1), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        var done = Status();
        Assert.Equal((null, true), (done.NextRunTime, done.Completed));
        Assert.Empty(await _fixture.RunDueAsync());
    }

    [Fact]
    public async Task Changing_the_time_zone_after_a_slot_ran_neither_reruns_it_nor_skips_the_new_zone_s_next_slot()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("daily", f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:30"; f.TimeZone = "Europe/Paris"; });
        void MoveTo(string zone)
        {
            var stored = Engine.State.GetFlow(flow.Id)!;
            stored.TimeZone = zone;
            Engine.UpdateFlow(stored);
        }
        DateTimeOffset? NextRunTime() => Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!).NextRunTime;

        _fixture.SetNow(Utc(3, 2, 2));
        Assert.Equal(Utc(3, 2, 1, 30), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);

        // Tokyo's 02:30 today was 1 March 17:30 UTC, before the slot that ran; its next one is 2 March 17:30 UTC.
        MoveTo("Asia/Tokyo");
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal(Utc(3, 2, 17, 30), NextRunTime());
        _fixture.SetNow(Utc(3, 2, 17, 30));
        Assert.Equal(Utc(3, 2, 17, 30), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);

        // New York's 02:30 today was 07:30 UTC, before the slot that ran: next is tomorrow's.
        _fixture.SetNow(Utc(3, 2, 18));
        MoveTo("America/New_York");
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal(Utc(3, 3, 7, 30), NextRunTime());
        _fixture.SetNow(Utc(3, 3, 7, 30));
        Assert.Equal(Utc(3, 3, 7, 30), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        Assert.Equal(3, Engine.State.ListRuns(flow.Id).Count);
    }

    [Fact]
    public async Task Disabled_flows_do_not_run_and_show_no_next_run()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("off", f => { Hourly(f, 1, Utc(3, 1, 11)); f.Enabled = false; });
        _fixture.SetNow(Utc(3, 2, 0));

        Assert.Empty(Engine.GetDueFlows());
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Empty(await _fixture.RunDueAsync(["off"]));
        Assert.Null(Engine.GetFlowStatus(flow).NextRunTime);
        Assert.Empty(Engine.State.ListRuns());

        flow.Enabled = true;
        Engine.UpdateFlow(flow);
        Assert.Equal(Utc(3, 2, 0), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
    }

    [Fact]
    public async Task Only_the_named_flows_run_and_an_unknown_name_runs_nothing()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.AddFlow("a", f => Hourly(f, 1, Utc(3, 1, 11)));
        var b = _fixture.AddFlow("b", f => Hourly(f, 1, Utc(3, 1, 11)));
        _fixture.SetNow(Utc(3, 1, 11, 30));

        var unknown = await Assert.ThrowsAsync<StateException>(() => _fixture.RunDueAsync(["b", "nope"]));
        Assert.Equal(StateFailure.NotFound, unknown.Failure);
        Assert.Contains("'nope'", unknown.Message);
        Assert.Empty(Engine.State.ListRuns());

        Assert.Equal(["b"], Engine.GetDueFlows(["B"]).Select(d => d.Flow.Name));
        var run = Assert.Single(await _fixture.RunDueAsync(["B"]));
        Assert.Equal(b.Id, run.FlowId);
        Assert.Equal(["a"], Engine.GetDueFlows().Select(d => d.Flow.Name));
    }

    [Fact]
    public async Task A_failed_run_does_not_block_the_next_slot()
    {
        var flow = _fixture.AddFlow("hourly", f => { Hourly(f, 1, Utc(3, 1, 11)); f.Mode = ExportMode.Incremental; });
        _fixture.SetNow(Utc(3, 1, 11));
        Directory.CreateDirectory(_fixture.Lake);

        var failed = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.Contains("web", failed.Error);
        Assert.Equal(RunStatus.Failed, Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!).LastStatus);
        Assert.Empty(await _fixture.RunDueAsync());

        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.SetNow(Utc(3, 1, 12));
        var next = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, 10L, Utc(3, 1, 12)), (next.Status, next.RecordsWritten, next.ScheduledTime));
    }

    [Fact]
    public async Task A_flow_still_exporting_a_dataset_waits_and_its_slot_stays_unclaimed()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.WriteBatch("app", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("busy", f => Hourly(f, 1, Utc(3, 1, 11)), "app", "web");
        // Another process is exporting "web" for this flow (by hand).
        var manual = ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 10, 59), Utc(3, 1, 10, 59));
        Engine.State.AddRun(manual);
        _fixture.SetNow(Utc(3, 1, 11, 1));

        var deferred = new List<DeferredSlot>();
        Assert.Empty(await Engine.RunDueFlowsAsync(_fixture.Lake, null, null, default, deferred.Add));
        Assert.Null(Engine.State.GetFlow(flow.Id)!.LastSlot);
        Assert.Single(Engine.State.ListRuns(flow.Id));
        var slot = Assert.Single(deferred);
        Assert.Equal(("busy", Utc(3, 1, 11)), (slot.FlowName, slot.Slot));
        Assert.Contains($"run {manual.Id}", slot.Reason);
        Assert.Contains("dataset 'web'", slot.Reason);

        manual.Status = RunStatus.Failed;
        Engine.State.UpdateRun(manual);
        var runs = await _fixture.RunDueAsync();
        Assert.Equal([("app", RunStatus.Succeeded), ("web", RunStatus.Succeeded)], runs.Select(r => (r.DatasetId, r.Status)));
        Assert.All(runs, r => Assert.Equal(Utc(3, 1, 11), r.ScheduledTime));
    }

    [Fact]
    public async Task Listing_due_flows_claims_nothing()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("hourly", f => Hourly(f, 1, Utc(3, 1, 11)));
        _fixture.SetNow(Utc(3, 1, 11, 30));

        Assert.Single(Engine.GetDueFlows());
        Assert.Single(Engine.GetDueFlows());
        Assert.Null(Engine.State.GetFlow(flow.Id)!.LastSlot);
        Assert.Empty(Engine.State.ListRuns());
        Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal(Utc(3, 1, 11), Engine.State.GetFlow(flow.Id)!.LastSlot);
    }

    [Fact]
    public async Task A_cron_firing_several_times_a_minute_runs_once_per_minute()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.AddFlow("seconds", f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "*/20 * 11 * * *"; });

        _fixture.SetNow(Utc(3, 1, 11, 0, 45));
        Assert.Equal(Utc(3, 1, 11, 0), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
        _fixture.SetNow(Utc(3, 1, 11, 0, 59));
        Assert.Empty(Engine.GetDueFlows());
        Assert.Empty(await _fixture.RunDueAsync());
        _fixture.SetNow(Utc(3, 1, 11, 1, 20));
        Assert.Equal(Utc(3, 1, 11, 1), Assert.Single(await _fixture.RunDueAsync()).ScheduledTime);
    }

    [Fact]
    public async Task Cancelling_mid_slot_fails_the_run_in_progress_and_those_waiting_and_they_are_not_redone()
    {
        _fixture.WriteBatch("app", "a.jsonl", 0, 10);
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("two", f => Hourly(f, 1, Utc(3, 1, 11)), "app", "web");
        _fixture.SetNow(Utc(3, 1, 11));
        using var cancel = new CancellationTokenSource();
        var cancelDuringFirst = new InlineProgress<ExportProgress>(_ => cancel.Cancel());

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Engine.RunDueFlowsAsync(_fixture.Lake, null, cancelDuringFirst, cancel.Token));

        var runs = Engine.State.ListRuns(flow.Id);
        Assert.Equal(2, runs.Count);
        Assert.All(runs, run => Assert.Equal((RunStatus.Failed, "The export was cancelled."), (run.Status, run.Error)));
        Assert.Empty(Directory.EnumerateFiles(_fixture.Output, "*", SearchOption.AllDirectories));
        _fixture.SetNow(Utc(3, 1, 11, 30));
        Assert.Empty(await _fixture.RunDueAsync());
    }

    [Fact]
    public async Task When_the_destination_cannot_be_opened_the_slot_s_runs_end_failed_with_the_reason()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var broken = new DatasetExport.Engine.Destinations.DestinationSettings { Name = "no-path", Type = DatasetExport.Engine.Destinations.DestinationType.Local };
        await Engine.AddDestinationAsync(broken, skipValidation: true, default);
        var flow = new FlowRecord { Name = "broken", DestinationId = broken.Id, DatasetIds = ["web", "app"] };
        Hourly(flow, 1, Utc(3, 1, 11));
        Engine.AddFlow(flow);
        _fixture.SetNow(Utc(3, 1, 11));

        var runs = await _fixture.RunDueAsync();

        Assert.Equal([("web", RunStatus.Failed), ("app", RunStatus.Failed)], runs.Select(r => (r.DatasetId, r.Status)));
        Assert.All(runs, run => Assert.Contains("needs a Path", run.Error));
        Assert.All(Engine.State.ListRuns(flow.Id), run => Assert.Equal(RunStatus.Failed, run.Status));
    }

    [Fact]
    public void Schedules_are_validated_when_flows_are_added_or_updated()
    {
        void Refused(string parameter, Action<FlowRecord> schedule)
        {
            var error = Assert.Throws<ArgumentException>(() => _fixture.AddFlow("bad", schedule));
            Assert.Equal(parameter, error.ParamName);
        }

        Refused("Every", f => Hourly(f, 0));
        Refused("Every", f => Hourly(f, 24));
        Refused("At", f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "24:00"; });
        Refused("Cron", f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "61 * * * *"; });
        Refused("TimeZone", f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:00"; f.TimeZone = "Mars/Olympus_Mons"; });
        Refused("EndTime", f => Hourly(f, 1, Utc(3, 2, 0), Utc(3, 1, 0)));
        Assert.Empty(Engine.State.ListFlows());

        var flow = _fixture.AddFlow("good", f => Hourly(f, 6, Utc(3, 2, 1, 0, 45)));
        var stored = Engine.State.GetFlow(flow.Id)!;
        Assert.Equal(Utc(3, 2, 1), stored.StartTime);
        Assert.Equal("Every 6 hours, from 2026-03-02 01:00 UTC", Engine.GetFlowStatus(stored).Schedule);

        stored.ScheduleKind = ScheduleKind.Cron;
        stored.Cron = "not cron";
        Assert.Equal("Cron", Assert.Throws<ArgumentException>(() => Engine.UpdateFlow(stored)).ParamName);
        Assert.Equal(ScheduleKind.Hourly, Engine.State.GetFlow(flow.Id)!.ScheduleKind);

        stored.Cron = "15 */4 * * 1-5";
        stored.TimeZone = "America/New_York";
        Engine.UpdateFlow(stored);
        var changed = Engine.State.GetFlow(flow.Id)!;
        Assert.Null(changed.EveryHours);
        Assert.Equal("Cron '15 */4 * * 1-5' (America/New_York), from 2026-03-02 01:00 UTC", Engine.GetFlowStatus(changed).Schedule);
    }

    [Fact]
    public async Task The_status_shows_the_schedule_the_next_slot_and_the_latest_run()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("six-hourly", f => Hourly(f, 6, Utc(3, 2, 1)));

        var before = Engine.GetFlowStatus(flow);
        Assert.Equal(("Every 6 hours, from 2026-03-02 01:00 UTC", Utc(3, 2, 1)), (before.Schedule, before.NextRunTime));
        Assert.Equal((null, null, false), (before.LastRunTime, before.LastStatus, before.Completed));

        _fixture.SetNow(Utc(3, 2, 1, 3));
        await _fixture.RunDueAsync();
        var after = Engine.GetFlowStatus(Engine.State.GetFlow(flow.Id)!);
        Assert.Equal((Utc(3, 2, 7), Utc(3, 2, 1, 3), RunStatus.Succeeded), (after.NextRunTime, after.LastRunTime, after.LastStatus));
        Assert.Equal("Manual", Engine.GetFlowStatus(new FlowRecord { Name = "m" }).Schedule);
    }

    [Fact]
    public async Task Runs_waiting_for_their_turn_in_a_claimed_slot_keep_their_heartbeat()
    {
        _fixture.WriteBatch("app", "a.jsonl", 0, 10);
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.AddFlow("two", f => Hourly(f, 1, Utc(3, 1, 11)), "app", "web");
        _fixture.SetNow(Utc(3, 1, 11));
        var stolen = -1;
        var slowFirstDataset = new InlineProgress<ExportProgress>(report =>
        {
            if (report.DatasetId != "app" || stolen >= 0) return;
            // Exporting "app" takes 10 minutes; "web" waits its turn meanwhile. Another process then looks for dead runs.
            for (var step = 0; step < 20; step++) _fixture.Clock.Advance(RunHeartbeat.Interval);
            using var otherProcess = SqliteStateStore.Open(_fixture.StateHome);
            stolen = otherProcess.AbandonStaleRuns(_fixture.Clock.GetUtcNow() - ExportEngine.RunLease).Count;
        });

        var runs = await _fixture.RunDueAsync(progress: slowFirstDataset);

        Assert.Equal(0, stolen);
        Assert.Equal([RunStatus.Succeeded, RunStatus.Succeeded], runs.Select(r => r.Status));
    }

    [Fact]
    public async Task A_slot_whose_process_died_is_not_redone_when_a_later_slot_is_due()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("hourly", f => Hourly(f, 1, Utc(3, 1, 11)));
        // A process claimed the 11:00 slot and died before exporting anything; the machine was then off until 16:30.
        _fixture.SetNow(Utc(3, 1, 11));
        var dead = ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 11), Utc(3, 1, 11));
        Assert.True(Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11), [dead]));
        _fixture.SetNow(Utc(3, 1, 16, 30));

        // The 16:00 slot supersedes the dead one, as a later claimed slot does: one export, not the 11:00 one again first.
        var run = Assert.Single(await _fixture.RunDueAsync());

        Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 16)), (run.Status, run.ScheduledTime));
        Assert.Equal(RunStatus.Abandoned, Engine.State.GetRun(dead.Id)!.Status);
        Assert.Equal(["exportTime=202603011600"], _fixture.SlotFolders("web"));
        Assert.Empty(await _fixture.RunDueAsync());
    }

    [Fact]
    public async Task A_run_taken_for_dead_stops_when_its_heartbeat_is_refused_and_its_slot_is_redone_once()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 3000);
        _fixture.WriteBatch("web", "b.jsonl", 3000, 3000);
        var flow = _fixture.AddFlow("hourly", f => { Hourly(f, 1, Utc(3, 1, 11)); f.Mode = ExportMode.Incremental; });
        _fixture.SetNow(Utc(3, 1, 11));
        var tookOver = false;
        var stalled = new InlineProgress<ExportProgress>(report =>
        {
            if (tookOver) return;
            tookOver = true;
            // This process stalls past the lease; another one marks its run Abandoned. Then its next heartbeat is due.
            using (var otherProcess = SqliteStateStore.Open(_fixture.StateHome))
            {
                Assert.Single(otherProcess.AbandonStaleRuns(_fixture.Clock.GetUtcNow().AddMinutes(10)));
            }
            _fixture.Clock.Advance(RunHeartbeat.Interval);
        });

        var lost = Assert.Single(await _fixture.RunDueAsync(progress: stalled));

        Assert.Equal(RunStatus.Abandoned, lost.Status);
        Assert.Equal(ExportRunner.LostRunError, lost.Error);
        Assert.Null(lost.ManifestPath);
        Assert.Empty(Directory.EnumerateFiles(_fixture.Output, "*", SearchOption.AllDirectories));
        Assert.Equal(RunStatus.Abandoned, Engine.State.GetRun(lost.Id)!.Status);
        Assert.Empty(Engine.State.GetExportedBatches(flow.Id, "web"));

        var redo = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 11)), (redo.Status, redo.ScheduledTime));
        var manifest = Assert.Single(Directory.GetFiles(_fixture.SlotFolder("web", Utc(3, 1, 11)), "manifest-*"));
        Assert.Equal(Ids(0, 6000), ManifestRecordIds(manifest));
        Assert.Empty(await _fixture.RunDueAsync());
    }

    [Fact]
    public async Task A_run_taken_for_dead_cannot_commit_what_it_wrote()
    {
        using var fixture = new ScheduleFixture(includeManifest: false);
        fixture.WriteBatch("web", "a.jsonl", 0, 100);
        var flow = fixture.AddFlow("hourly", f => { Hourly(f, 1, Utc(3, 1, 11)); f.Mode = ExportMode.Incremental; });
        fixture.SetNow(Utc(3, 1, 11));
        var abandonedAfterWriting = new InlineProgress<ExportProgress>(report =>
        {
            if (report.Activity != "Written") return;
            // No heartbeat falls due before the commit: only the commit itself can notice.
            using var otherProcess = SqliteStateStore.Open(fixture.StateHome);
            Assert.Single(otherProcess.AbandonStaleRuns(fixture.Clock.GetUtcNow().AddMinutes(10)));
        });

        var lost = Assert.Single(await fixture.RunDueAsync(progress: abandonedAfterWriting));

        Assert.Equal(RunStatus.Abandoned, lost.Status);
        Assert.Equal(RunStatus.Abandoned, fixture.Engine.State.GetRun(lost.Id)!.Status);
        Assert.Empty(fixture.Engine.State.GetExportedBatches(flow.Id, "web"));
        Assert.Empty(Directory.EnumerateFiles(fixture.Output, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Removing_runs_never_has_the_scheduler_redo_a_slot_or_an_incremental_flow_send_a_batch_again()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        var flow = _fixture.AddFlow("hourly", f => { Hourly(f, 1, Utc(3, 1, 11)); f.Mode = ExportMode.Incremental; });
        // A process claimed the 11:00 slot and died; the next invocation, past the lease, redoes it.
        _fixture.SetNow(Utc(3, 1, 11));
        var dead = ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 11), Utc(3, 1, 11));
        Assert.True(Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11), [dead]));
        _fixture.SetNow(Utc(3, 1, 11, 10));
        var redo = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 11)), (redo.Status, redo.ScheduledTime));

        // Was: the redo was kept (RunInUse) while the dead run was there, since the slot's runs were what told the scheduler
        // it was redone. The slot's redo is recorded apart from the history now: the redo alone goes, and nothing is redone again.
        Assert.Empty(Engine.RemoveRuns([redo.Id]));
        _fixture.SetNow(Utc(3, 1, 11, 20));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal([dead.Id], Engine.State.ListRuns(flow.Id).Select(run => run.Id));

        // The whole history goes; what it exported stays exported.
        _fixture.WriteBatch("web", "b.jsonl", 10, 10);
        _fixture.SetNow(Utc(3, 1, 12));
        var noon = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal(10, noon.RecordsWritten);
        Assert.Empty(Engine.RemoveRuns([dead.Id, noon.Id]));
        Assert.Empty(Engine.State.ListRuns(flow.Id));
        var (_, holders, removed) = Assert.Single(Engine.GetRunsHoldingExports(flow));
        Assert.Equal((0, 2), (holders.Count, removed));

        _fixture.WriteBatch("web", "c.jsonl", 20, 10);
        _fixture.SetNow(Utc(3, 1, 13));
        var next = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, 10L), (next.Status, next.RecordsWritten));
        Assert.Empty(await _fixture.RunDueAsync());
    }

    [Fact]
    public async Task A_once_flow_s_dead_slot_once_redone_leaves_a_history_that_can_be_removed_without_redoing_it_again()
    {
        // Was: the dead run and its redo were kept "until the flow has run a later slot", which a once flow (or one past its
        // end time, or made manual) never does: a daily prune met two RunInUse errors forever. Then the redo alone was kept
        // while the dead run was there; now either goes alone, in any order.
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.SetNow(Utc(3, 1, 11));
        var flow = _fixture.AddFlow("once", f => f.ScheduleKind = ScheduleKind.Once);
        var dead = ExportRunner.NewRun(flow, _fixture.Destination, "web", Utc(3, 1, 11), Utc(3, 1, 11));
        Assert.True(Engine.State.TryClaimSlot(flow.Id, Utc(3, 1, 11), [dead]));
        _fixture.SetNow(Utc(3, 1, 11, 10));
        var redo = Assert.Single(await _fixture.RunDueAsync());
        Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 11)), (redo.Status, redo.ScheduledTime));
        _fixture.SetNow(Utc(6, 1, 0));

        Assert.Empty(Engine.RemoveRuns([redo.Id]));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Empty(Engine.RemoveRuns([dead.Id]));

        Assert.Empty(Engine.State.ListRuns(flow.Id));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.Equal(["exportTime=202603011100"], _fixture.SlotFolders("web"));
    }
}
