using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>
/// A Local destination on a disk that fills up or is read-only: a small tmpfs mounted for the test (as root, which
/// CI is; as root a plain chmod does not stop writes, so read-only is a tmpfs remounted ro). The run fails with the
/// system's own words, and no file stays behind, under its final name or a temporary one.
/// </summary>
public sealed class LocalFaultTests : IDisposable
{
    private const int RecordCount = 12_000;

    private readonly TempFolder _root = new("de-local-faults");
    private readonly string _mount;
    private readonly ExportEngine _engine;
    private readonly List<string> _log = [];

    public LocalFaultTests()
    {
        SampleLake.WriteEvents(_root.Combine("lake", "web", "a.jsonl"), 0, RecordCount / 2);
        SampleLake.WriteEvents(_root.Combine("lake", "web", "b.jsonl.gz"), RecordCount / 2, RecordCount / 2, gzip: true);
        _mount = _root.Combine("disk");
        Directory.CreateDirectory(_mount);
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        _engine.Log = _log.Add;
    }

    public void Dispose()
    {
        _engine.Dispose();
        Unmount();
        _root.Dispose();
    }

    [Fact]
    public async Task A_full_disk_fails_the_run_with_nothing_left_behind()
    {
        // Room for the first 1 MB file but not the second: the failure comes mid-run, after a file was stored.
        Mount("size=1500k");

        var (run, flow) = await ExportAsync();

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("No space left on device", run.Error);
        Assert.NotEmpty(run.Files); // the first file was stored, then removed when the run failed
        AssertNothingStored(run, flow);
    }

    [Fact]
    public async Task A_read_only_disk_fails_the_run_with_nothing_left_behind()
    {
        Mount("size=4m");
        RunCommand("mount", "-o", "remount,ro", _mount);

        var (run, flow) = await ExportAsync();

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("Read-only file system", run.Error);
        AssertNothingStored(run, flow);
    }

    private async Task<(RunRecord Run, FlowRecord Flow)> ExportAsync()
    {
        var destination = new DestinationSettings
        {
            Name = "local-faults",
            Type = DestinationType.Local,
            MaxFileSizeMB = 1,
            Properties = { [DestinationKeys.Path] = _mount },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: true, default);
        var flow = new FlowRecord { Name = "to-disk", DestinationId = destination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(flow);
        return (Assert.Single(await _engine.RunFlowAsync(flow, _root.Combine("lake"), null, default)), flow);
    }

    /// <summary>A full or read-only disk is no transient fault: not retried, no manifest, no batch recorded, no file left.</summary>
    private void AssertNothingStored(RunRecord run, FlowRecord flow)
    {
        Assert.Equal(0, run.Retries);
        Assert.Empty(_log);
        Assert.Null(run.ManifestPath);
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
        Assert.Empty(Directory.EnumerateFiles(_mount, "*", SearchOption.AllDirectories));
    }

    private void Mount(string options) => RunCommand("mount", "-t", "tmpfs", "-o", options, "tmpfs", _mount);

    private void Unmount()
    {
        try
        {
            RunCommand("umount", _mount);
        }
        catch (InvalidOperationException)
        {
            // Not mounted (the test failed before mounting).
        }
    }

    private static void RunCommand(string command, params string[] arguments) =>
        TestProcess.Run(command, null, null, arguments);
}
