using System.Collections.Concurrent;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>Invoke-ExportSchedule -ThrottleLimit: several due flows exporting at once, on a fake clock, to a local folder.</summary>
public sealed class ThrottledScheduleTests : IDisposable
{
    /// <summary>How long a flow waits for another to be exporting beside it before the test gives up on it (never reached when it works).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly ScheduleFixture _fixture = new();

    public ThrottledScheduleTests()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 10);
        _fixture.WriteBatch("shop", "a.jsonl", 100, 10);
        _fixture.WriteBatch("mail", "a.jsonl", 200, 10);
        foreach (var (name, dataset) in new[] { ("first", "web"), ("second", "shop"), ("third", "mail") })
        {
            _fixture.AddFlow(name, flow =>
            {
                flow.ScheduleKind = ScheduleKind.Hourly;
                flow.EveryHours = 1;
                flow.StartTime = Utc(3, 1, 11);
            }, dataset);
        }
        _fixture.SetNow(Utc(3, 1, 11));
    }

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task Flows_export_at_once_up_to_the_limit_and_their_runs_come_back_in_the_order_of_the_flows()
    {
        // Each flow, once writing, waits until every other flow of its group is writing too: possible only side by side.
        var writing = new ConcurrentDictionary<string, bool>();
        var metOthers = new ConcurrentDictionary<string, bool>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.Activity != "Written") return;
            writing[report.FlowName] = true;
            metOthers[report.FlowName] = SpinWait.SpinUntil(() => writing.Count == 3, Patience);
        });

        var runs = await _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, progress, default, throttleLimit: 3);

        Assert.Equal([("first", "web"), ("second", "shop"), ("third", "mail")], runs.Select(run => (run.FlowName, run.DatasetId)));
        Assert.All(runs, run => Assert.Equal((RunStatus.Succeeded, Utc(3, 1, 11), 10L), (run.Status, run.ScheduledTime, run.RecordsWritten)));
        Assert.Equal(["first", "second", "third"], metOthers.Where(pair => pair.Value).Select(pair => pair.Key).Order());
        Assert.Empty(await _fixture.RunDueAsync());
    }

    [Fact]
    public async Task With_a_limit_of_one_flows_export_one_after_another_in_order_each_reporting_it_is_done()
    {
        var events = new ConcurrentQueue<string>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.Activity == "Written" || report.IsFlowDone) events.Enqueue($"{report.FlowName} {report.Activity}");
            if (report.EndedRun is { } run) events.Enqueue($"{run.FlowName} {run.Status}");
        });

        var runs = await _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, progress, default, throttleLimit: 1);

        Assert.Equal(["first", "second", "third"], runs.Select(run => run.FlowName));
        // Each run is told as it ends, before the next flow starts: commands write it then.
        Assert.Equal(["first Written", "first Succeeded", "first Done", "second Written", "second Succeeded", "second Done",
            "third Written", "third Succeeded", "third Done"], events);
    }

    [Fact]
    public async Task Cancelled_while_the_first_flows_export_the_flows_waiting_their_turn_are_not_claimed()
    {
        using var stop = new CancellationTokenSource();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.FlowName == "first" && report.Activity == "Written") stop.Cancel();
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, progress, stop.Token, throttleLimit: 1));

        var first = Assert.Single(_fixture.Engine.State.ListRuns());
        Assert.Equal(("first", RunStatus.Failed), (first.FlowName, first.Status));
        Assert.Equal(["first"], _fixture.Engine.State.ListFlows().Where(flow => flow.LastSlot is not null).Select(flow => flow.Name));
        // The next invocation runs them.
        var later = await _fixture.RunDueAsync();
        Assert.Equal(["second", "third"], later.Select(run => run.FlowName));
    }

    [Fact]
    public async Task A_flow_disabled_while_it_waits_its_turn_is_not_run()
    {
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.FlowName != "first" || report.Activity != "Written") return;
            // Disable-ExportFlow second, in another session, while it waits for first.
            var second = _fixture.Engine.State.FindFlow("second")!;
            if (!second.Enabled) return;
            second.Enabled = false;
            _fixture.Engine.UpdateFlow(second);
        });

        var runs = await _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, progress, default, throttleLimit: 1);

        Assert.Equal(["first", "third"], runs.Select(run => run.FlowName));
        Assert.Empty(_fixture.Engine.State.ListRuns().Where(run => run.FlowName == "second"));
        Assert.Null(_fixture.Engine.State.FindFlow("second")!.LastSlot);
    }

    [Fact]
    public async Task A_flow_removed_with_its_destination_while_it_waits_its_turn_is_skipped_and_the_others_runs_come_back()
    {
        using var otherOutput = new TempFolder("de-throttle-other");
        var other = new DestinationSettings
        {
            Name = "other",
            Type = DestinationType.Local,
            FileType = FileType.Json,
            Compression = CompressionKind.None,
            FolderPath = "exports",
            Properties = { [LocalFolderDestination.PathProperty] = otherOutput.Path },
        };
        await _fixture.Engine.AddDestinationAsync(other, skipValidation: false, default);
        var second = _fixture.Engine.State.FindFlow("second")!;
        second.DestinationId = other.Id;
        _fixture.Engine.UpdateFlow(second);
        var removed = false;
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (removed || report.FlowName != "first" || report.Activity != "Written") return;
            // Remove-ExportFlow second; Remove-ExportDestination other, in another session, while second waits for first.
            removed = true;
            _fixture.Engine.RemoveFlowAsync(_fixture.Engine.State.FindFlow("second")!, default).GetAwaiter().GetResult();
            _fixture.Engine.RemoveDestinationAsync(_fixture.Engine.State.FindDestination("other")!, default).GetAwaiter().GetResult();
        });

        var runs = await _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, progress, default, throttleLimit: 1);

        Assert.Equal([("first", RunStatus.Succeeded), ("third", RunStatus.Succeeded)], runs.Select(run => (run.FlowName, run.Status)));
        Assert.DoesNotContain(_fixture.Engine.State.ListRuns(), run => run.FlowName == "second");
    }

    [Fact]
    public async Task A_flow_failing_with_an_error_stops_the_flows_still_waiting_their_turn_as_one_after_another_did()
    {
        var ended = new ConcurrentQueue<RunRecord>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.EndedRun is { } run) ended.Enqueue(run);
            if (report.FlowName != "first" || report.Activity != "Written") return;
            // The state store's record of "second" becomes unreadable (damaged, edited by hand) while it waits for first.
            using var connection = new SqliteConnection($"Data Source={Path.Combine(_fixture.StateHome, SqliteStateStore.DatabaseFileName)};Pooling=False");
            connection.Open();
            using var damage = connection.CreateCommand();
            damage.CommandText = "UPDATE flows SET dataset_ids = 'not json' WHERE name = 'second'";
            Assert.Equal(1, damage.ExecuteNonQuery());
        });
        var third = _fixture.Engine.State.FindFlow("third")!;

        var error = await Assert.ThrowsAsync<StateException>(() => _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, progress, default, throttleLimit: 1));

        Assert.Contains("cannot read", error.Message);
        // As before -ThrottleLimit: the flows after the one that failed were not started, their slots left for the next invocation.
        Assert.Equal(["first"], _fixture.Engine.State.ListRuns().Select(run => run.FlowName));
        Assert.Null(_fixture.Engine.State.GetFlow(third.Id)!.LastSlot);
        // The run of the flow that ended before is known all the same (Invoke-ExportSchedule has written it).
        Assert.Equal([("first", RunStatus.Succeeded)], ended.Select(run => (run.FlowName, run.Status)));
    }

    [Fact]
    public async Task A_flow_waiting_its_turn_is_not_claimed_when_the_command_stops_while_it_writes_the_runs_before()
    {
        using var stop = new CancellationTokenSource();
        var turns = 0;
        Task BeforeEachFlow(CancellationToken cancellationToken)
        {
            // Invoke-ExportSchedule stops while it writes first's run (its error with -ErrorAction Stop), before second starts.
            if (Interlocked.Increment(ref turns) == 2) stop.Cancel();
            return Task.CompletedTask;
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, null, stop.Token,
            throttleLimit: 1, beforeEachFlow: BeforeEachFlow));

        Assert.Equal(["first"], _fixture.Engine.State.ListFlows().Where(flow => flow.LastSlot is not null).Select(flow => flow.Name));
        // The next invocation runs the slots of the flows that never started.
        Assert.Equal(["second", "third"], (await _fixture.RunDueAsync()).Select(run => run.FlowName));
    }

    [Fact]
    public async Task A_limit_below_one_is_refused_before_anything_runs()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, null, default, throttleLimit: 0));
        Assert.Empty(_fixture.Engine.State.ListRuns());
    }
}
