using DatasetExport.Engine.State;

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

    /// <summary>
    /// A run of the dataset started <paramref name="minute"/> minutes after noon, ended with <paramref name="status"/>;
    /// a successful one commits the named batches.
    /// </summary>
    private RunRecord Record(string datasetId, RunStatus status, int minute, params string[] batches)
    {
        var run = StateSamples.Run(_flow, datasetId, StateSamples.Noon.AddMinutes(minute));
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
