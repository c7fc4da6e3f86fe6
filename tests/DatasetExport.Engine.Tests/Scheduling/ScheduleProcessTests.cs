using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>
/// Real processes: several DatasetExport.ScheduleHost processes invoking the schedule at the same moment on one state
/// home, and one killed with SIGKILL in the middle of an export.
/// </summary>
public sealed class ScheduleProcessTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private static readonly DateTimeOffset Slot = Utc(3, 1, 11);

    private readonly ScheduleFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static void HourlyFromSlot(FlowRecord flow)
    {
        flow.ScheduleKind = ScheduleKind.Hourly;
        flow.EveryHours = 1;
        flow.StartTime = Slot;
    }

    [Fact]
    public void Six_processes_invoking_at_once_run_each_flow_dataset_and_slot_exactly_once()
    {
        string[] datasets = ["a1", "a2", "b1", "b2"];
        foreach (var (dataset, index) in datasets.Select((d, i) => (d, i)))
        {
            for (var batch = 0; batch < 3; batch++) _fixture.WriteBatch(dataset, $"part{batch}.jsonl", index * 1000 + batch * 100, 100);
        }
        var alpha = _fixture.AddFlow("alpha", HourlyFromSlot, "a1", "a2");
        var beta = _fixture.AddFlow("beta", HourlyFromSlot, "b1", "b2");
        var go = Path.Combine(_fixture.Output, "..", "go");

        var hosts = Enumerable.Range(0, 6)
            .Select(_ => new ScheduleHostProcess(_fixture.StateHome, _fixture.Lake, Slot.AddMinutes(5), "--start-when", go, "--pause-ms", "20"))
            .ToList();
        try
        {
            // All six have the engine open before any of them looks at the schedule.
            foreach (var host in hosts) host.WaitForLine(line => line == "ready", Patience);
            File.WriteAllText(go, "");
            foreach (var host in hosts) host.WaitForSuccess(Patience);

            var printed = hosts.SelectMany(host => host.Runs).ToList();
            Assert.Equal(4, printed.Count);
            Assert.All(printed, run => Assert.Equal(("2026-03-01T11:00:00Z", "Succeeded"), (run[4], run[5])));
            Assert.Equal(datasets, printed.Select(run => run[3]).Order());
        }
        finally
        {
            hosts.ForEach(host => host.Dispose());
        }

        var runs = _fixture.Engine.State.ListRuns();
        Assert.Equal(4, runs.Count);
        Assert.All(runs, run => Assert.Equal((RunStatus.Succeeded, Slot), (run.Status, run.ScheduledTime)));
        Assert.Equal([("alpha", "a1"), ("alpha", "a2"), ("beta", "b1"), ("beta", "b2")], runs.Select(r => (r.FlowName, r.DatasetId)).Order());
        Assert.Equal(Slot, _fixture.Engine.State.GetFlow(alpha.Id)!.LastSlot);
        Assert.Equal(Slot, _fixture.Engine.State.GetFlow(beta.Id)!.LastSlot);
        foreach (var (dataset, index) in datasets.Select((d, i) => (d, i)))
        {
            Assert.Equal(["exportTime=202603011100"], _fixture.SlotFolders(dataset));
            var manifest = Assert.Single(Directory.GetFiles(_fixture.SlotFolder(dataset, Slot), "manifest-*"));
            Assert.Equal(Ids(index * 1000, 300), ManifestRecordIds(manifest));
            Assert.Single(Directory.GetFiles(_fixture.SlotFolder(dataset, Slot), "part-*"));
        }
    }

    private const int BigBatches = 8, PerBatch = 6000;

    /// <summary>The moment (its fixed "now") the process that gets killed starts exporting.</summary>
    private static readonly DateTimeOffset KilledAt = Slot.AddMinutes(1);

    [Fact]
    public async Task A_process_killed_mid_export_is_abandoned_after_the_lease_and_its_slot_redone_once()
    {
        var (flow, dead, deadParts) = await KillMidExportAsync();

        // Within the lease the runs still count as alive: nothing is taken over or started.
        _fixture.SetNow(KilledAt + ExportEngine.RunLease - TimeSpan.FromSeconds(1));
        Assert.Empty(await _fixture.RunDueAsync());
        Assert.All(_fixture.Engine.State.ListRuns(flow.Id), run => Assert.Equal(RunStatus.Running, run.Status));

        _fixture.SetNow(KilledAt + ExportEngine.RunLease + TimeSpan.FromSeconds(1));
        var redone = await _fixture.RunDueAsync();

        Assert.Equal([("big", RunStatus.Succeeded, Slot), ("small", RunStatus.Succeeded, Slot)], redone.Select(r => (r.DatasetId, r.Status, r.ScheduledTime)));
        AssertRedoneOnce(flow, dead, deadParts);
    }

    [Fact]
    public async Task Several_processes_recovering_a_killed_export_at_once_redo_it_once()
    {
        var (flow, dead, deadParts) = await KillMidExportAsync();
        var go = Path.Combine(_fixture.Output, "..", "go");

        var hosts = Enumerable.Range(0, 4)
            .Select(_ => new ScheduleHostProcess(_fixture.StateHome, _fixture.Lake, KilledAt + ExportEngine.RunLease + TimeSpan.FromSeconds(1), "--start-when", go))
            .ToList();
        try
        {
            foreach (var host in hosts) host.WaitForLine(line => line == "ready", Patience);
            File.WriteAllText(go, "");
            foreach (var host in hosts) host.WaitForSuccess(Patience);
            var printed = hosts.SelectMany(host => host.Runs).ToList();
            Assert.Equal([("big", "Succeeded"), ("small", "Succeeded")], printed.Select(run => (run[3], run[5])).Order());
        }
        finally
        {
            hosts.ForEach(host => host.Dispose());
        }

        AssertRedoneOnce(flow, dead, deadParts);
    }

    /// <summary>
    /// Starts an incremental flow over a big and a small dataset in a host process writing 1 MB files slowly, and kills
    /// it (SIGKILL) once it has stored a file of the big one: the small one has not started. Returns its runs and files.
    /// </summary>
    private async Task<(FlowRecord Flow, IReadOnlyList<RunRecord> Dead, string[] DeadParts)> KillMidExportAsync()
    {
        var destination = new DestinationSettings
        {
            Name = "small-files",
            Type = DestinationType.Local,
            FileType = FileType.Json,
            Compression = CompressionKind.None,
            MaxFileSizeMB = 1,
            FolderPath = "exports",
            Properties = { [LocalFolderDestination.PathProperty] = _fixture.Output },
        };
        await _fixture.Engine.AddDestinationAsync(destination, skipValidation: false, default);
        for (var batch = 0; batch < BigBatches; batch++) _fixture.WriteBatch("big", $"b{batch}.jsonl", batch * PerBatch, PerBatch);
        _fixture.WriteBatch("small", "s.jsonl", 0, 100);
        var flow = new FlowRecord { Name = "crashy", DestinationId = destination.Id, DatasetIds = ["big", "small"], Mode = ExportMode.Incremental };
        HourlyFromSlot(flow);
        _fixture.Engine.AddFlow(flow);

        using (var host = new ScheduleHostProcess(_fixture.StateHome, _fixture.Lake, KilledAt, "--pause-ms", "1000"))
        {
            host.WaitForLine(line => line.StartsWith("progress crashy big files=", StringComparison.Ordinal) && !line.EndsWith("files=0", StringComparison.Ordinal), Patience);
            host.Kill();
            Assert.Empty(host.Runs);
        }

        var dead = _fixture.Engine.State.ListRuns(flow.Id);
        // The killed process could not remove its staging folder; do not leave it in the machine's temp folder.
        foreach (var run in dead)
        {
            var staging = Path.Combine(Path.GetTempPath(), "DatasetExport", run.Id.ToString("N"));
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        Assert.Equal([("big", RunStatus.Running), ("small", RunStatus.Running)], dead.Select(r => (r.DatasetId, r.Status)).Order());
        Assert.Empty(_fixture.Engine.State.GetExportedBatches(flow.Id, "big"));
        Assert.Empty(_fixture.Engine.State.GetExportedBatches(flow.Id, "small"));
        var bigFolder = _fixture.SlotFolder("big", Slot);
        var deadParts = Directory.GetFiles(bigFolder, "part-*");
        Assert.NotEmpty(deadParts);
        Assert.Empty(Directory.GetFiles(bigFolder, "manifest-*"));
        Assert.False(Directory.Exists(_fixture.SlotFolder("small", Slot)));
        return (flow, dead, deadParts);
    }

    /// <summary>The dead runs are Abandoned; one redo per dataset exported every source record once, and deleted the dead run's parts.</summary>
    private void AssertRedoneOnce(FlowRecord flow, IReadOnlyList<RunRecord> dead, string[] deadParts)
    {
        var state = _fixture.Engine.State;
        Assert.All(dead, run => Assert.Equal(RunStatus.Abandoned, state.GetRun(run.Id)!.Status));
        var redos = state.ListRuns(flow.Id).Where(run => !dead.Any(d => d.Id == run.Id)).ToList();
        Assert.Equal([("big", RunStatus.Succeeded), ("small", RunStatus.Succeeded)], redos.Select(r => (r.DatasetId, r.Status)).Order());
        Assert.All(redos, run => Assert.Equal(Slot, run.ScheduledTime));

        var manifestPath = Assert.Single(Directory.GetFiles(_fixture.SlotFolder("big", Slot), "manifest-*"));
        Assert.Equal(Ids(0, BigBatches * PerBatch), ManifestRecordIds(manifestPath));
        Assert.DoesNotContain(deadParts, ListedFiles(manifestPath).Contains);
        Assert.All(deadParts, part => Assert.False(File.Exists(part), part));
        Assert.Equal(Ids(0, 100), ManifestRecordIds(Assert.Single(Directory.GetFiles(_fixture.SlotFolder("small", Slot), "manifest-*"))));
        Assert.Equal(BigBatches, state.GetExportedBatches(flow.Id, "big").Count);

        _fixture.SetNow(KilledAt + ExportEngine.RunLease + TimeSpan.FromMinutes(2));
        Assert.Empty(_fixture.RunDueAsync().GetAwaiter().GetResult());
        Assert.Equal(4, state.ListRuns(flow.Id).Count);
    }

    private static HashSet<string> ListedFiles(string manifestPath)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
        return manifest.RootElement.GetProperty("exportResults").EnumerateArray().Select(file => file.GetProperty("sinkPath").GetString()!).ToHashSet();
    }
}
