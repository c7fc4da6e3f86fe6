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
    public void Verification_takes_each_datasets_newest_success_however_far_back_it_lies()
    {
        var oldCustomers = Record("customers", RunStatus.Succeeded, minute: 0);
        // Many newer runs of the other dataset, the newest of them failed.
        var newestOrders = Enumerable.Range(1, 60).Select(minute => Record("orders", RunStatus.Succeeded, minute)).Last();
        Record("orders", RunStatus.Failed, minute: 61);
        Record("customers", RunStatus.Failed, minute: 62);

        var latest = _engine.GetLatestSucceededRuns(_flow);

        Assert.Equal(["orders", "customers", "never"], latest.Select(entry => entry.DatasetId));
        Assert.Equal([newestOrders.Id, oldCustomers.Id], latest.Take(2).Select(entry => entry.Run!.Id));
        Assert.Null(latest[2].Run);

        // When the newest runs hold every dataset, those are taken.
        var newCustomers = Record("customers", RunStatus.Succeeded, minute: 63);
        var newNever = Record("never", RunStatus.Succeeded, minute: 64);
        Assert.Equal([newestOrders.Id, newCustomers.Id, newNever.Id], _engine.GetLatestSucceededRuns(_flow).Select(entry => entry.Run!.Id));
    }

    /// <summary>A run of the dataset started <paramref name="minute"/> minutes after noon, ended with <paramref name="status"/>.</summary>
    private RunRecord Record(string datasetId, RunStatus status, int minute)
    {
        var run = StateSamples.Run(_flow, datasetId, StateSamples.Noon.AddMinutes(minute));
        _engine.State.AddRun(run);
        if (status == RunStatus.Succeeded)
        {
            _engine.State.CommitRun(run, []);
            return run;
        }
        run.Status = status;
        run.Error = "failed";
        _engine.State.UpdateRun(run);
        return run;
    }
}
