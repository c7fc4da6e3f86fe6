using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace DatasetExport.Engine.Tests.State;

/// <summary>
/// The state home on a disk that fills up or is read-only: a small tmpfs mounted for the test (as root, which CI is; as
/// root a plain chmod does not stop writes, so read-only is a tmpfs remounted ro), as the destination fault tests do.
/// </summary>
public sealed class StateDiskTests : IDisposable
{
    private readonly TempFolder _root = new("de-state-disk");
    private readonly string _mount;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 10, 17, 0, TimeSpan.Zero));

    public StateDiskTests()
    {
        SampleLake.WriteEvents(_root.Combine("lake", "web", "a.jsonl"), 0, 3000);
        SampleLake.WriteEvents(_root.Combine("lake", "news", "a.jsonl"), 3000, 3000);
        _mount = _root.Combine("disk");
        Directory.CreateDirectory(_mount);
        TestProcess.Run("mount", null, null, "-t", "tmpfs", "-o", "size=2m", "tmpfs", _mount);
    }

    private string StateHome => Path.Combine(_mount, "state");
    private string Filler => Path.Combine(_mount, "filler");
    private string Output => _root.Combine("out");
    private string DatabasePath => Path.Combine(StateHome, SqliteStateStore.DatabaseFileName);

    public void Dispose()
    {
        try
        {
            TestProcess.Run("umount", null, null, _mount);
        }
        catch (InvalidOperationException)
        {
            // Not mounted.
        }
        _root.Dispose();
    }

    [Fact]
    public async Task A_state_disk_that_fills_mid_run_fails_the_export_naming_the_state_file_and_commits_nothing()
    {
        FlowRecord flow;
        using (var engine = Open())
        {
            flow = await AddFlowAsync(engine);
            var filled = false;
            var fillOnFirstProgress = new InlineProgress<ExportProgress>(_ =>
            {
                if (filled) return;
                filled = true;
                FillDisk();
            });

            var failed = await Assert.ThrowsAsync<StateException>(() => engine.RunFlowAsync(flow, _root.Combine("lake"), fillOnFirstProgress, default));

            Assert.True(filled);
            Assert.Equal(StateFailure.Unusable, failed.Failure);
            Assert.Contains(DatabasePath, failed.Message);
            Assert.Contains("disk is full", failed.Message);
            Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
            // The files it stored were removed; with no room to record the end, its runs stay Running until the lease ends.
            Assert.Empty(Directory.EnumerateFiles(Output, "*", SearchOption.AllDirectories));
            Assert.All(engine.State.ListRuns(flow.Id), run => Assert.Equal(RunStatus.Running, run.Status));
        }

        File.Delete(Filler);
        using (var engine = Open())
        {
            // Within the lease a new start is refused, saying when the runs were last seen and when they are taken over.
            var refused = await Assert.ThrowsAsync<StateException>(() => engine.RunFlowAsync(flow, _root.Combine("lake"), null, default));
            Assert.Equal(StateFailure.InUse, refused.Failure);
            Assert.Contains($"was last seen at {_clock.GetUtcNow():u} (a run whose process died is taken over 5 minutes after that)", refused.Message);
        }
        _clock.Advance(ExportEngine.RunLease + TimeSpan.FromMinutes(1));
        using (var engine = Open())
        {
            var runs = await engine.RunFlowAsync(flow, _root.Combine("lake"), null, default);

            Assert.Equal([RunStatus.Succeeded, RunStatus.Succeeded], runs.Select(run => run.Status));
            Assert.Equal(6000, runs.Sum(run => run.RecordsWritten));
            Assert.Equal(2, engine.State.ListRuns(flow.Id, RunStatus.Abandoned).Count);
        }
    }

    [Fact]
    public void A_read_only_state_folder_is_refused_naming_the_folder_and_why()
    {
        using (var engine = Open()) engine.State.SetOption("LakePath", "/lake");
        TestProcess.Run("mount", null, null, "-o", "remount,ro", _mount);

        var refused = Assert.Throws<StateException>(Open);

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains($"'{StateHome}' cannot be written", refused.Message);
        Assert.Contains("Read-only file system", refused.Message);

        // A state home still to be created there is refused the same way, not with a bare IOException.
        var missingHome = Path.Combine(_mount, "new-home");
        var notCreated = Assert.Throws<StateException>(() => ExportEngine.Open(new EngineOptions { StateHome = missingHome }));
        Assert.Equal(StateFailure.Unusable, notCreated.Failure);
        Assert.Contains($"'{missingHome}' cannot be used", notCreated.Message);
        Assert.Contains("Read-only file system", notCreated.Message);
    }

    private ExportEngine Open() => ExportEngine.Open(new EngineOptions { StateHome = StateHome, TimeProvider = _clock });

    private async Task<FlowRecord> AddFlowAsync(ExportEngine engine)
    {
        var destination = new DestinationSettings { Name = "out", Type = DestinationType.Local, IncludeManifest = true, Properties = { [DestinationKeys.Path] = Output } };
        await engine.AddDestinationAsync(destination, skipValidation: true, default);
        var flow = new FlowRecord { Name = "f", DestinationId = destination.Id, DatasetIds = ["web", "news"], Mode = ExportMode.Incremental };
        engine.AddFlow(flow);
        return flow;
    }

    /// <summary>Takes every free byte of the tmpfs.</summary>
    private void FillDisk()
    {
        using var filler = new FileStream(Filler, FileMode.CreateNew);
        var block = new byte[64 * 1024];
        try
        {
            while (true) filler.Write(block);
        }
        catch (IOException)
        {
            // Full.
        }
    }
}
