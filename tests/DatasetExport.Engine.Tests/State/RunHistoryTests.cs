using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

/// <summary>A flow with a long history: what verification and the run lookups pick from it.</summary>
public sealed class RunHistoryTests : IDisposable
{
    private readonly TempFolder _home = new("de-history");
    private readonly ExportEngine _engine;
    private readonly FlowRecord _flow;

    public RunHistoryTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _home.Path });
        var destination = StateSamples.Destination();
        _engine.State.AddDestination(destination);
        _flow = StateSamples.Flow(destination.Id);
        _flow.DatasetIds = ["orders", "customers", "never"];
        _engine.State.AddFlow(_flow);
    }

    public void Dispose()
    {
        _engine.Dispose();
        _home.Dispose();
    }

    [Fact]
    public void Verification_takes_the_runs_holding_each_batchs_latest_copy_however_far_back_they_lie()
    {
        // Orders: an incremental history, a and b long ago, c half-way, then many runs that found nothing new, the last failed.
        var first = Record("orders", RunStatus.Succeeded, minute: 0, "a", "b");
        var middle = Enumerable.Range(1, 60).Select(minute => Record("orders", RunStatus.Succeeded, minute, minute == 30 ? ["c"] : [])).ElementAt(29);
        Record("orders", RunStatus.Failed, minute: 61);
        // Customers: exported in full twice; the newer run holds the latest copy of its only batch.
        Record("customers", RunStatus.Succeeded, minute: 0, "x");
        var newCustomers = Record("customers", RunStatus.Succeeded, minute: 62, "x");

        var holding = _engine.GetRunsHoldingExports(_flow);

        Assert.Equal(["orders", "customers", "never"], holding.Select(entry => entry.DatasetId));
        Assert.Equal([first.Id, middle.Id], holding[0].Runs.Select(run => run.Id));
        Assert.Equal([newCustomers.Id], holding[1].Runs.Select(run => run.Id));
        Assert.Empty(holding[2].Runs);
    }

    [Fact]
    public void Removed_runs_leave_the_history_with_their_file_lists_and_what_they_exported_stays_exported()
    {
        var first = Record("orders", RunStatus.Succeeded, minute: 0, "a", "b");
        var second = Record("orders", RunStatus.Succeeded, minute: 1, "c");
        var failed = Record("orders", RunStatus.Failed, minute: 2);

        Assert.Empty(_engine.RemoveRuns([first.Id, failed.Id]));

        Assert.Equal([second.Id], _engine.State.ListRuns(_flow.Id).Select(run => run.Id));
        Assert.Equal((0L, 0L, 1L), (FileRows(first.Id), FileRows(failed.Id), FileRows(second.Id)));
        Assert.Equal(3, _engine.State.GetExportedBatches(_flow.Id, "orders", _flow.DestinationId).Count);
        var (_, holders, removed) = _engine.GetRunsHoldingExports(_flow)[0];
        Assert.Equal([second.Id], holders.Select(run => run.Id));
        Assert.Equal(1, removed);
    }

    [Fact]
    public void Runs_running_or_with_files_still_to_delete_are_kept_saying_why_while_the_others_go()
    {
        var abandoned = StateSamples.Run(_flow, "never", StateSamples.Noon.AddMinutes(1));
        abandoned.Files.Add(StateSamples.File(1));
        _engine.State.AddRun(abandoned);
        Assert.Single(_engine.State.AbandonStaleRuns(StateSamples.Noon.AddMinutes(2)));
        var running = StateSamples.Run(_flow, "orders", StateSamples.Noon.AddMinutes(5));
        _engine.State.AddRun(running);
        var leftFiles = Record("customers", RunStatus.Failed, minute: 3);
        _engine.State.KeepLeftFiles(leftFiles.Id, ["customers/exportTime=202603141202/part-1.json"]);
        var done = Record("customers", RunStatus.Succeeded, minute: 4, "x");
        var unknown = Guid.NewGuid();

        var kept = _engine.RemoveRuns([running.Id, leftFiles.Id, abandoned.Id, done.Id, unknown]);

        Assert.Equal([running.Id, leftFiles.Id, abandoned.Id, unknown], kept.Select(refusal => refusal.RunId));
        Assert.Equal([StateFailure.InUse, StateFailure.InUse, StateFailure.InUse, StateFailure.NotFound], kept.Select(refusal => refusal.Refusal.Failure));
        Assert.EndsWith("(flow 'Nightly', dataset 'orders') is still running.", kept[0].Refusal.Message);
        Assert.Contains("left files on destination 'Archive' that no manifest lists", kept[1].Refusal.Message);
        Assert.Contains("left files on destination 'Archive' that no manifest lists", kept[2].Refusal.Message);
        Assert.Equal($"No run with id {unknown} exists.", kept[3].Refusal.Message);
        Assert.Null(_engine.State.GetRun(done.Id));
        Assert.All([running, leftFiles, abandoned], run => Assert.NotNull(_engine.State.GetRun(run.Id)));
    }

    [Fact]
    public void A_run_whose_left_files_lie_on_a_removed_destination_can_be_removed_as_nothing_will_delete_them()
    {
        // Was: kept with RunInUse "until they are deleted, which the flow's next run, Remove-ExportFlow or
        // Remove-ExportDestination does", though none of them could any more: every prune met the error, forever.
        var failed = Record("customers", RunStatus.Failed, minute: 3);
        _engine.State.KeepLeftFiles(failed.Id, ["customers/exportTime=202603141203/part-1.json"]);
        var first = _flow.DestinationId;
        var other = StateSamples.Destination("other");
        _engine.State.AddDestination(other);
        _flow.DestinationId = other.Id;
        _engine.State.UpdateFlow(_flow);

        Assert.Equal(StateFailure.InUse, Assert.Single(_engine.RemoveRuns([failed.Id])).Refusal.Failure); // Remove-ExportDestination deletes them
        _engine.State.RemoveDestination(first);
        Assert.Empty(_engine.RemoveRuns([failed.Id]));
        Assert.Null(_engine.State.GetRun(failed.Id));
    }

    /// <summary>How many file rows the state store holds for the run.</summary>
    private long FileRows(Guid runId)
    {
        using var connection = new SqliteConnection($"Data Source={_home.Combine(SqliteStateStore.DatabaseFileName)};Pooling=False");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM run_files WHERE run_id = $id";
        count.Parameters.AddWithValue("$id", runId.ToString("D"));
        return (long)count.ExecuteScalar()!;
    }

    /// <summary>
    /// A run of the dataset started <paramref name="minute"/> minutes after noon, ended with <paramref name="status"/>;
    /// a successful one commits the named batches.
    /// </summary>
    private RunRecord Record(string datasetId, RunStatus status, int minute, params string[] batches)
    {
        var run = StateSamples.Run(_flow, datasetId, StateSamples.Noon.AddMinutes(minute));
        run.Files.Add(StateSamples.File(1));
        _engine.State.AddRun(run);
        if (status == RunStatus.Succeeded)
        {
            _engine.State.CommitRun(run, batches.Select(name => new BatchKey(name, 100, StateSamples.Noon)).ToList());
            return run;
        }
        run.Status = status;
        run.Error = "failed";
        _engine.State.UpdateRun(run);
        return run;
    }
}
