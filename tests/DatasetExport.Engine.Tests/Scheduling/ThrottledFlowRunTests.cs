using System.Collections.Concurrent;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>Start-ExportRun -ThrottleLimit (<see cref="ExportEngine.RunFlowsAsync"/>): flows run now, several at once, to a local folder.</summary>
public sealed class ThrottledFlowRunTests : IDisposable
{
    /// <summary>How long a flow waits for another to be exporting beside it before the test gives up on it (never reached when it works).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly ScheduleFixture _fixture = new();
    private readonly List<FlowRecord> _flows = new();

    public ThrottledFlowRunTests()
    {
        foreach (var (name, dataset, firstId) in new[] { ("first", "web", 0), ("second", "shop", 100), ("third", "mail", 200), ("fourth", "news", 300) })
        {
            _fixture.WriteBatch(dataset, "a.jsonl", firstId, 10);
            _flows.Add(_fixture.AddFlow(name, _ => { }, dataset)); // manual flows, as Start-ExportRun runs any
        }
    }

    public void Dispose() => _fixture.Dispose();

    private Task<IReadOnlyList<RunRecord>> RunFlowsAsync(
        IReadOnlyList<FlowRecord> flows, int limit, IProgress<ExportProgress>? progress = null, ConcurrentQueue<(string, Exception)>? refused = null,
        CancellationToken cancellationToken = default) =>
        _fixture.Engine.RunFlowsAsync(flows, _fixture.Lake, progress, (flow, error) => refused?.Enqueue((flow.Name, error)), cancellationToken,
            throttleLimit: limit);

    [Fact]
    public async Task Flows_export_at_once_up_to_the_limit_and_their_runs_come_back_in_the_order_of_the_flows()
    {
        // Each flow, once writing, waits until every other flow is writing too: possible only side by side.
        var writing = new ConcurrentDictionary<string, bool>();
        var metOthers = new ConcurrentDictionary<string, bool>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.Activity != "Written") return;
            writing[report.FlowName] = true;
            metOthers[report.FlowName] = SpinWait.SpinUntil(() => writing.Count == 3, Patience);
        });

        var runs = await RunFlowsAsync(_flows.Take(3).ToList(), limit: 3, progress);

        Assert.Equal([("first", "web"), ("second", "shop"), ("third", "mail")], runs.Select(run => (run.FlowName, run.DatasetId)));
        Assert.All(runs, run => Assert.Equal((RunStatus.Succeeded, 10L), (run.Status, run.RecordsWritten)));
        Assert.Equal(["first", "second", "third"], metOthers.Where(pair => pair.Value).Select(pair => pair.Key).Order());
    }

    [Fact]
    public async Task No_more_flows_than_the_limit_export_at_once_and_each_pair_exports_side_by_side()
    {
        // A flow is exporting from its first report to the report that it is done (its turn is given back after that one).
        var exporting = new ConcurrentDictionary<string, bool>();
        var most = 0;
        var writing = new ConcurrentDictionary<string, bool>();
        var metPartner = new ConcurrentDictionary<string, bool>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.IsFlowDone)
            {
                exporting.TryRemove(report.FlowName, out _);
                return;
            }
            if (exporting.TryAdd(report.FlowName, true)) InterlockedMax(ref most, exporting.Count);
            if (report.Activity != "Written") return;
            // first and second write side by side, then third and fourth, which start only as the first two end.
            writing[report.FlowName] = true;
            var partners = report.FlowName is "first" or "second" ? new[] { "first", "second" } : ["third", "fourth"];
            metPartner[report.FlowName] = SpinWait.SpinUntil(() => partners.All(writing.ContainsKey), Patience);
        });

        var runs = await RunFlowsAsync(_flows, limit: 2, progress);

        Assert.Equal(["first", "second", "third", "fourth"], runs.Select(run => run.FlowName));
        Assert.All(runs, run => Assert.Equal(RunStatus.Succeeded, run.Status));
        Assert.Equal(["first", "fourth", "second", "third"], metPartner.Where(pair => pair.Value).Select(pair => pair.Key).Order());
        Assert.Equal(2, most);
    }

    [Fact]
    public async Task With_a_limit_of_one_flows_export_one_after_another_in_order_each_reporting_its_runs_as_they_end()
    {
        var events = new ConcurrentQueue<string>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.Activity == "Written" || report.IsFlowDone) events.Enqueue($"{report.FlowName} {report.Activity}");
            if (report.EndedRun is { } run) events.Enqueue($"{run.FlowName} {run.Status}");
        });

        var runs = await RunFlowsAsync(_flows.Take(2).ToList(), limit: 1, progress);

        Assert.Equal(["first", "second"], runs.Select(run => run.FlowName));
        Assert.Equal(["first Written", "first Succeeded", "first Done", "second Written", "second Succeeded", "second Done"], events);
    }

    [Fact]
    public async Task A_flow_refused_among_others_is_told_with_its_error_and_the_others_run()
    {
        // Another session is exporting second's dataset: its run is Running with a fresh heartbeat.
        var now = _fixture.Clock.GetUtcNow();
        _fixture.Engine.State.AddRuns([ExportRunner.NewRun(_flows[1], _fixture.Destination, "shop", now, now)]);
        var refused = new ConcurrentQueue<(string Flow, Exception Error)>();

        var runs = await RunFlowsAsync(_flows.Take(3).ToList(), limit: 2, refused: refused);

        Assert.Equal([("first", RunStatus.Succeeded), ("third", RunStatus.Succeeded)], runs.Select(run => (run.FlowName, run.Status)));
        var (flow, error) = Assert.Single(refused);
        Assert.Equal("second", flow);
        Assert.Equal(StateFailure.InUse, Assert.IsType<StateException>(error).Failure);
    }

    [Fact]
    public async Task A_flow_removed_while_it_waits_its_turn_is_refused_as_not_found_and_the_next_one_runs()
    {
        var refused = new ConcurrentQueue<(string Flow, Exception Error)>();
        var removed = false;
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (removed || report.FlowName != "first" || report.Activity != "Written") return;
            // Remove-ExportFlow second, in another session, while it waits for first.
            removed = true;
            _fixture.Engine.RemoveFlowAsync(_fixture.Engine.State.FindFlow("second")!, default).GetAwaiter().GetResult();
        });

        var runs = await RunFlowsAsync(_flows.Take(3).ToList(), limit: 1, progress, refused);

        Assert.Equal(["first", "third"], runs.Select(run => run.FlowName));
        var (flow, error) = Assert.Single(refused);
        Assert.Equal("second", flow);
        Assert.Equal((StateFailure.NotFound, "Flow 'second' was removed before it started."), (Assert.IsType<StateException>(error).Failure, error.Message));
    }

    [Fact]
    public async Task A_flow_changed_while_it_waits_its_turn_runs_as_stored_when_it_starts()
    {
        _fixture.WriteBatch("other", "a.jsonl", 500, 7);
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.FlowName != "first" || report.Activity != "Written") return;
            // Set-ExportFlow second -Dataset other, in another session, while it waits for first.
            var second = _fixture.Engine.State.FindFlow("second")!;
            if (second.DatasetIds.Contains("other")) return;
            second.DatasetIds = ["other"];
            _fixture.Engine.UpdateFlow(second);
        });

        var runs = await RunFlowsAsync(_flows.Take(2).ToList(), limit: 1, progress);

        Assert.Equal([("first", "web", 10L), ("second", "other", 7L)], runs.Select(run => (run.FlowName, run.DatasetId, run.RecordsWritten)));
    }

    [Fact]
    public async Task Cancelled_while_the_first_flows_export_the_flows_waiting_their_turn_never_start()
    {
        using var stop = new CancellationTokenSource();
        var writing = new ConcurrentDictionary<string, bool>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.Activity != "Written") return;
            // Ctrl+C once first and second both export.
            writing[report.FlowName] = true;
            if (SpinWait.SpinUntil(() => writing.Count == 2, Patience)) stop.Cancel();
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunFlowsAsync(_flows, limit: 2, progress, cancellationToken: stop.Token));

        var runs = _fixture.Engine.State.ListRuns();
        Assert.Equal(["first", "second"], runs.Select(run => run.FlowName).Order());
        Assert.All(runs, run => Assert.Equal(RunStatus.Failed, run.Status));
    }

    [Fact]
    public async Task A_flow_starts_only_once_the_caller_wrote_the_runs_before_it_and_not_when_it_stopped_meanwhile()
    {
        using var stop = new CancellationTokenSource();
        var ended = 0;
        var endedAtEachTurn = new ConcurrentQueue<int>();
        var progress = new InlineProgress<ExportProgress>(report =>
        {
            if (report.EndedRun is not null) Interlocked.Increment(ref ended);
        });
        Task BeforeEachFlow(CancellationToken cancellationToken)
        {
            endedAtEachTurn.Enqueue(Volatile.Read(ref ended));
            // The command writing first's run stops there (-ErrorAction Stop), before second starts.
            if (endedAtEachTurn.Count == 2) stop.Cancel();
            return Task.CompletedTask;
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _fixture.Engine.RunFlowsAsync(
            _flows.Take(3).ToList(), _fixture.Lake, progress, (_, _) => { }, stop.Token, throttleLimit: 1, beforeEachFlow: BeforeEachFlow));

        Assert.Equal([0, 1], endedAtEachTurn);
        Assert.Equal(["first"], _fixture.Engine.State.ListRuns().Select(run => run.FlowName));
    }

    [Fact]
    public async Task A_limit_below_one_is_refused_before_anything_runs()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => RunFlowsAsync(_flows, limit: 0));
        Assert.Empty(_fixture.Engine.State.ListRuns());
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen) return;
        }
    }
}
