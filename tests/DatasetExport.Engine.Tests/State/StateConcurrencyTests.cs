using System.Diagnostics;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.State;

/// <summary>
/// Two store instances on one home: separate connections, so SQLite's file locks decide between them exactly as
/// they do between two processes.
/// </summary>
public sealed class StateConcurrencyTests : IDisposable
{
    private readonly TempFolder _home = new("de-state");
    private readonly IStateStore _first;
    private readonly IStateStore _second;
    private readonly FlowRecord _flow;

    public StateConcurrencyTests()
    {
        _first = SqliteStateStore.Open(_home.Path);
        _second = SqliteStateStore.Open(_home.Path);
        var destination = StateSamples.Destination();
        _first.AddDestination(destination);
        _flow = StateSamples.Flow(destination.Id);
        _first.AddFlow(_flow);
    }

    public void Dispose()
    {
        _first.Dispose();
        _second.Dispose();
        _home.Dispose();
    }

    [Fact]
    public void Exactly_one_of_several_racing_runs_starts()
    {
        const int datasets = 20;
        const int contendersPerStore = 2;
        var stores = Enumerable.Repeat(_first, contendersPerStore).Concat(Enumerable.Repeat(_second, contendersPerStore)).ToArray();

        for (var dataset = 0; dataset < datasets; dataset++)
        {
            var datasetId = $"race.dataset{dataset}";
            var outcomes = new StateFailure?[stores.Length];
            var runs = stores.Select(_ => StateSamples.Run(_flow, datasetId)).ToArray();
            Concurrently.Run(stores.Length, contender =>
            {
                try
                {
                    stores[contender].AddRun(runs[contender]);
                }
                catch (StateException error)
                {
                    outcomes[contender] = error.Failure;
                }
            });

            var winners = Enumerable.Range(0, stores.Length).Where(contender => outcomes[contender] is null).ToList();
            var winner = Assert.Single(winners);
            Assert.All(outcomes.Where(outcome => outcome is not null), outcome => Assert.Equal(StateFailure.InUse, outcome));
            var running = _second.ListRuns(_flow.Id, RunStatus.Running).Where(run => run.DatasetId == datasetId);
            Assert.Equal(runs[winner].Id, Assert.Single(running).Id);
        }
    }

    [Fact]
    public void A_write_waits_while_another_process_holds_the_write_lock()
    {
        _first.SetOption("Owner", "nobody");
        // Another process (Python's own SQLite) takes the write lock and holds it for a moment before committing.
        const string holdLock = """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE options SET value = 'other process' WHERE name = 'Owner'")
            print("locked", flush=True)
            time.sleep(1.5)
            db.execute("COMMIT")
            """;
        using var otherProcess = StartLockHolder(holdLock);

        // Waits for the other process's commit instead of failing with "database is locked", so it lands last.
        _second.SetOption("Owner", "engine");

        otherProcess.WaitForExit();
        Assert.True(otherProcess.ExitCode == 0, otherProcess.StandardError.ReadToEnd());
        Assert.Equal("engine", _first.GetOption("Owner"));
    }

    [Fact]
    public void Opening_the_store_and_reading_do_not_wait_for_another_processes_write_lock()
    {
        _first.SetOption("Owner", "nobody");
        // Another process takes the write lock and holds it, uncommitted, until told to go on.
        const string holdLock = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE options SET value = 'other process' WHERE name = 'Owner'")
            print("locked", flush=True)
            sys.stdin.readline()
            db.execute("COMMIT")
            """;
        using var otherProcess = StartLockHolder(holdLock);

        // A session opened now (Get-ExportRun, Get-ExportFlow) reads what is committed, instead of waiting for the lock.
        string? seen;
        using (var reader = SqliteStateStore.Open(_home.Path)) seen = reader.GetOption("Owner");

        otherProcess.StandardInput.WriteLine();
        otherProcess.WaitForExit();
        Assert.True(otherProcess.ExitCode == 0, otherProcess.StandardError.ReadToEnd());
        Assert.Equal("nobody", seen);
        Assert.Equal("other process", _second.GetOption("Owner"));
    }

    [Fact]
    public void Several_instances_opening_a_new_home_at_once_create_one_schema()
    {
        var home = _home.Combine("fresh");
        var opened = new IStateStore[6];
        try
        {
            Concurrently.Run(opened.Length, index => opened[index] = SqliteStateStore.Open(home));
            opened[0].SetOption("LakePath", "/lake");
            Assert.All(opened, store => Assert.Equal("/lake", store.GetOption("LakePath")));
        }
        finally
        {
            foreach (var store in opened) store?.Dispose();
        }
    }

    [Fact]
    public void Many_parallel_writers_on_several_instances_all_succeed()
    {
        const int writers = 8;
        const int runsPerWriter = 25;
        const int batchesPerRun = 3;
        // Two writers share each of the two fixture stores; four more have a store (a connection) of their own.
        var ownStores = Enumerable.Range(0, 4).Select(_ => SqliteStateStore.Open(_home.Path)).ToArray();
        IStateStore[] stores = [_first, _first, _second, _second, .. ownStores];

        try
        {
            Concurrently.Run(writers, writer => Write(stores[writer], writer));
        }
        finally
        {
            foreach (var store in ownStores) store.Dispose();
        }

        Assert.Equal(writers * runsPerWriter, _first.ListRuns(_flow.Id, RunStatus.Succeeded).Count);
        for (var writer = 0; writer < writers; writer++)
        {
            Assert.Equal(runsPerWriter * batchesPerRun, _second.GetExportedBatches(_flow.Id, $"writer{writer}").Count);
            Assert.Equal((runsPerWriter - 1).ToString(), _first.GetOption($"Progress{writer}"));
        }

        void Write(IStateStore store, int writer)
        {
            for (var index = 0; index < runsPerWriter; index++)
            {
                var datasetId = $"writer{writer}";
                var run = StateSamples.Run(_flow, datasetId, StateSamples.Noon.AddMinutes(index));
                store.AddRun(run);
                store.Heartbeat(run.Id, run.StartedAt.AddSeconds(30));
                // Reads, then writes: the case where a transaction that did not take the write lock up front fails at once.
                Assert.Empty(store.AbandonStaleRuns(StateSamples.Noon.AddDays(-1)));
                store.SetOption($"Progress{writer}", index.ToString());
                run.RecordsWritten = index;
                store.CommitRun(run, Enumerable.Range(0, batchesPerRun)
                    .Select(batch => new BatchKey($"{datasetId}/run{index}/batch{batch}.parquet", batch, StateSamples.Noon)).ToList());
                Assert.NotNull(store.GetRun(run.Id));
            }
        }
    }

    /// <summary>Runs <paramref name="script"/> in Python's own SQLite on the state file; returns once it says it holds the write lock.</summary>
    private Process StartLockHolder(string script)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-c", script, _first.Location }) start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        Assert.Equal("locked", process.StandardOutput.ReadLine());
        return process;
    }
}
