using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Scheduling;

namespace DatasetExport.Engine.Tests.State;

/// <summary>
/// What an admin does in one session while another session (a second engine on the same state home: its own connection,
/// so SQLite's locks decide between the two as between two processes) is exporting.
/// </summary>
public sealed class ConcurrentRunTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly ScheduleFixture _fixture = new();
    private readonly ExportEngine _otherSession;

    public ConcurrentRunTests()
    {
        _otherSession = ExportEngine.Open(new EngineOptions { StateHome = _fixture.StateHome, TimeProvider = _fixture.Clock });
        _fixture.WriteBatch("first", "b0.jsonl", 0, 100);
        _fixture.WriteBatch("second", "b0.jsonl", 1000, 100);
    }

    public void Dispose()
    {
        _otherSession.Dispose();
        _fixture.Dispose();
    }

    [Fact]
    public async Task Starting_a_flow_while_another_session_exports_its_later_dataset_is_refused_before_anything_is_exported()
    {
        var flow = _fixture.AddFlow("both", flow => flow.Mode = ExportMode.Incremental, "first", "second");
        using var exporting = new PausedExport(_otherSession, flow, _fixture.Lake, pauseAtDataset: "second");
        exporting.WaitUntilPaused(Patience);

        var refused = await Assert.ThrowsAsync<StateException>(() => _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default));

        Assert.Equal(StateFailure.InUse, refused.Failure);
        Assert.Contains("Flow 'both' is already exporting dataset 'second'", refused.Message);
        // Nothing of the refused start was recorded or exported: "first", done by the other session, was not exported again.
        Assert.Equal(2, _fixture.Engine.State.ListRuns(flow.Id).Count);
        var firstFolder = _fixture.SlotFolder("first", _fixture.Clock.GetUtcNow());
        Assert.Single(Directory.GetFiles(firstFolder, "part-*"));

        var runs = exporting.Finish(Patience);
        Assert.Equal([("first", RunStatus.Succeeded), ("second", RunStatus.Succeeded)], runs.Select(run => (run.DatasetId, run.Status)));
        Assert.Equal(2, _fixture.Engine.State.ListRuns(flow.Id, RunStatus.Succeeded).Count);
    }

    [Fact]
    public void Two_processes_starting_a_flow_export_it_once_the_later_one_refused_while_the_first_exports_its_last_dataset()
    {
        for (var batch = 1; batch < 3; batch++) _fixture.WriteBatch("second", $"b{batch}.jsonl", 1000 + batch * 100, 100);
        var flow = _fixture.AddFlow("both", flow => flow.Mode = ExportMode.Incremental, "first", "second");
        var now = _fixture.Clock.GetUtcNow();
        var go = Path.Combine(_fixture.Output, "..", "go");
        using var later = new ScheduleHostProcess(_fixture.StateHome, _fixture.Lake, now, "--start-flow", "both", "--start-when", go);
        later.WaitForLine(line => line == "ready", Patience);

        using var first = new ScheduleHostProcess(_fixture.StateHome, _fixture.Lake, now, "--start-flow", "both", "--pause-ms", "2000");
        first.WaitForLine(line => line.StartsWith("progress both second ", StringComparison.Ordinal), Patience);
        File.WriteAllText(go, "");
        later.WaitForSuccess(Patience);
        first.WaitForSuccess(Patience);

        Assert.Empty(later.Runs);
        var refused = Assert.Single(later.Output, line => line.StartsWith("refused ", StringComparison.Ordinal));
        Assert.StartsWith("refused InUse Flow 'both' is already exporting dataset 'second': run ", refused);
        Assert.Equal([("first", "Succeeded"), ("second", "Succeeded")], first.Runs.Select(run => (run[3], run[5])));
        Assert.Equal(2, _fixture.Engine.State.ListRuns(flow.Id).Count);
        Assert.Single(Directory.GetFiles(_fixture.SlotFolder("first", now), "part-*"));
        Assert.Equal(3, _fixture.Engine.State.GetExportedBatches(flow.Id, "second").Count);
    }

    [Fact]
    public async Task The_runs_of_a_started_flow_waiting_for_their_turn_keep_their_heartbeat()
    {
        var flow = _fixture.AddFlow("both", _ => { }, "first", "second");
        var stolen = -1;
        var slowFirstDataset = new InlineProgress<ExportProgress>(report =>
        {
            if (report.DatasetId != "first" || stolen >= 0) return;
            // Exporting "first" takes 10 minutes; "second", recorded Running, waits meanwhile. Another session looks for dead runs.
            for (var step = 0; step < 20; step++) _fixture.Clock.Advance(RunHeartbeat.Interval);
            stolen = _otherSession.State.AbandonStaleRuns(_fixture.Clock.GetUtcNow() - ExportEngine.RunLease).Count;
        });

        var runs = await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, slowFirstDataset, default);

        Assert.Equal(0, stolen);
        Assert.Equal([RunStatus.Succeeded, RunStatus.Succeeded], runs.Select(run => run.Status));
        // The waiting one's time counts from when its export started, not from when it was recorded.
        Assert.Equal(runs[0].CompletedAt, runs[1].StartedAt);
        Assert.Equal(runs[0].CompletedAt, _fixture.Engine.State.GetRun(runs[1].Id)!.StartedAt);
    }

    [Fact]
    public async Task Removing_a_flow_while_another_session_exports_it_fails_the_run_in_progress_and_leaves_none_of_its_files()
    {
        var flow = _fixture.AddFlow("both", flow => flow.Mode = ExportMode.Incremental, "first", "second");
        using var exporting = new PausedExport(_otherSession, flow, _fixture.Lake, pauseAtDataset: "second");
        exporting.WaitUntilPaused(Patience);

        Assert.Empty(await _fixture.Engine.RemoveFlowAsync(flow, default));
        var runs = exporting.Finish(Patience);

        Assert.Equal(RunStatus.Succeeded, runs[0].Status);
        Assert.Equal(RunStatus.Failed, runs[1].Status);
        Assert.Equal($"Run {runs[1].Id} cannot be committed: its flow 'both' (id {flow.Id}) has been removed.", runs[1].Error);
        Assert.Equal(RunStatus.Failed, _fixture.Engine.State.GetRun(runs[1].Id)!.Status);
        Assert.Empty(Directory.GetFiles(_fixture.SlotFolder("second", _fixture.Clock.GetUtcNow())));
        Assert.Empty(_fixture.Engine.State.GetExportedBatches(flow.Id, "first"));
        Assert.Empty(_fixture.Engine.State.GetExportedBatches(flow.Id, "second"));
    }

    [Fact]
    public async Task Removing_a_flow_while_another_session_exports_it_stops_its_runs_still_waiting_before_they_export_anything()
    {
        var flow = _fixture.AddFlow("both", _ => { }, "first", "second");
        using var exporting = new PausedExport(_otherSession, flow, _fixture.Lake, pauseAtDataset: "first");
        exporting.WaitUntilPaused(Patience);

        Assert.Empty(await _fixture.Engine.RemoveFlowAsync(flow, default));
        var runs = exporting.Finish(Patience);

        Assert.Equal([RunStatus.Failed, RunStatus.Failed], runs.Select(run => run.Status));
        Assert.Equal("Flow 'both' was removed before this run started; nothing was exported.", runs[1].Error);
        Assert.Equal((0, 0), (runs[1].RecordsRead, runs[1].BatchCount));
        Assert.Equal(runs[1].Error, _fixture.Engine.State.GetRun(runs[1].Id)!.Error);
    }

    [Fact]
    public async Task A_destination_changed_while_another_session_exports_to_it_takes_effect_from_the_next_run()
    {
        var flow = _fixture.AddFlow("both", _ => { }, "first", "second");
        using var exporting = new PausedExport(_otherSession, flow, _fixture.Lake, pauseAtDataset: "second");
        exporting.WaitUntilPaused(Patience);

        var changed = _fixture.Engine.State.GetDestination(_fixture.Destination.Id)!;
        changed.FolderPath = "moved";
        await _fixture.Engine.UpdateDestinationAsync(changed, skipValidation: true, default);
        var runs = exporting.Finish(Patience);

        // Both runs, the one in progress too, wrote where the destination pointed when the flow started.
        Assert.All(runs, run => Assert.Equal(RunStatus.Succeeded, run.Status));
        Assert.All(runs, run => Assert.NotEmpty(run.Files));
        Assert.All(runs.SelectMany(run => run.Files), file => Assert.StartsWith(Path.Combine(_fixture.Output, "exports") + "/", file.SinkPath));
        Assert.Single(Directory.GetFiles(_fixture.SlotFolder("second", _fixture.Clock.GetUtcNow()), "part-*"));
        Assert.False(Directory.Exists(Path.Combine(_fixture.Output, "moved")));

        _fixture.Clock.Advance(TimeSpan.FromMinutes(1));
        var next = await _fixture.Engine.RunFlowAsync(flow, _fixture.Lake, null, default);
        Assert.All(next, run => Assert.NotEmpty(run.Files));
        Assert.All(next.SelectMany(run => run.Files), file => Assert.StartsWith(Path.Combine(_fixture.Output, "moved") + "/", file.SinkPath));
    }

    [Fact]
    public async Task A_destination_a_running_export_writes_to_cannot_be_removed_after_its_flow_was_pointed_elsewhere()
    {
        var flow = _fixture.AddFlow("both", _ => { }, "first", "second");
        using var exporting = new PausedExport(_otherSession, flow, _fixture.Lake, pauseAtDataset: "second");
        exporting.WaitUntilPaused(Patience);
        var other = new DestinationSettings
        {
            Name = "other",
            Type = DestinationType.Local,
            Properties = { [LocalFolderDestination.PathProperty] = _fixture.Output + "-other" },
        };
        await _fixture.Engine.AddDestinationAsync(other, skipValidation: true, default);
        var repointed = _fixture.Engine.State.GetFlow(flow.Id)!;
        repointed.DestinationId = other.Id;
        _fixture.Engine.UpdateFlow(repointed);

        var refused = await Assert.ThrowsAsync<StateException>(() => _fixture.Engine.RemoveDestinationAsync(_fixture.Destination, default));

        Assert.Equal(StateFailure.InUse, refused.Failure);
        Assert.Contains("Destination 'local' is written to by run", refused.Message);
        Assert.Contains("of flow 'both' for dataset 'second'", refused.Message);
        Assert.NotNull(_fixture.Engine.State.GetDestination(_fixture.Destination.Id));

        var runs = exporting.Finish(Patience);
        Assert.All(runs, run => Assert.Equal((RunStatus.Succeeded, _fixture.Destination.Id), (run.Status, run.DestinationId)));
        // Once the run is over, nothing holds it.
        Assert.Empty(await _fixture.Engine.RemoveDestinationAsync(_fixture.Destination, default));
        Assert.Null(_fixture.Engine.State.GetDestination(_fixture.Destination.Id));
    }

    /// <summary>A flow exported by another session that stops (blocks its export thread) when it reports progress for one dataset.</summary>
    private sealed class PausedExport : IDisposable
    {
        private readonly ManualResetEventSlim _paused = new();
        private readonly ManualResetEventSlim _resume = new();
        private readonly Task<IReadOnlyList<RunRecord>> _export;

        public PausedExport(ExportEngine engine, FlowRecord flow, string lake, string pauseAtDataset)
        {
            var progress = new InlineProgress<ExportProgress>(report =>
            {
                if (report.DatasetId != pauseAtDataset || _paused.IsSet) return;
                _paused.Set();
                _resume.Wait(Patience);
            });
            _export = Task.Run(() => engine.RunFlowAsync(flow, lake, progress, default));
        }

        public void WaitUntilPaused(TimeSpan patience)
        {
            if (WaitHandle.WaitAny([_paused.WaitHandle, ((IAsyncResult)_export).AsyncWaitHandle], patience) != 0)
            {
                throw new InvalidOperationException($"The export did not pause: {_export.Exception?.GetBaseException().Message ?? "timed out"}");
            }
        }

        public IReadOnlyList<RunRecord> Finish(TimeSpan patience)
        {
            _resume.Set();
            Assert.True(_export.Wait(patience), "The paused export did not finish.");
            return _export.Result;
        }

        public void Dispose()
        {
            _resume.Set();
            try
            {
                _export.Wait(Patience);
            }
            catch (AggregateException)
            {
                // The test reports what went wrong; the export only must not outlive it.
            }
            _paused.Dispose();
            _resume.Dispose();
        }
    }
}
