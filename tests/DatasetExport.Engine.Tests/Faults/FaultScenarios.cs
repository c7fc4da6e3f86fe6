using System.Collections.Concurrent;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>
/// Faults every remote destination kind goes through: whole flows run by <see cref="ExportEngine.RunFlowAsync(FlowRecord, string, IProgress{ExportProgress}?, CancellationToken)"/>
/// against a real server behind a <see cref="FaultProxy"/> (or a server killed mid-run), then everything stored is
/// read back from the server and compared with the lake, record by record.
/// </summary>
public abstract class FaultScenarios : IAsyncLifetime
{
    /// <summary>Two batches, about 2.3 MB as JSON lines: three files at MaxFileSizeMB = 1.</summary>
    private const int RecordCount = 12_000;

    private protected static readonly DateTimeOffset FirstSlot = new(2026, 11, 26, 1, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset SecondSlot = FirstSlot.AddHours(1);

    protected readonly TempFolder Root = new("de-faults");
    private readonly List<IAsyncDisposable> _cleanup = [];
    private protected readonly ConcurrentQueue<string> RetryLog = new();

    /// <summary>How often the destination's SDK tries one request before the failure reaches the engine.</summary>
    protected abstract int SdkAttempts { get; }

    /// <summary>
    /// The attempts the proxy saw (HTTP requests, or SSH connections) and the most a run makes when nothing is
    /// retried: its first upload (which may stage a few blocks at once), then the delete of whatever may have
    /// arrived of it.
    /// </summary>
    protected abstract (int Seen, int MostWithoutRetries) Attempts(FaultProxy proxy);

    /// <summary>Words of the error a run shows when the server refuses the credentials.</summary>
    protected abstract string CredentialsRejected { get; }

    protected abstract Task<FaultTarget> CreateTargetAsync();

    /// <summary>A target on a server of this test's own, and how to kill and restart that server.</summary>
    protected abstract Task<(FaultTarget Target, Action Kill, Func<Task> Restart)> CreateKillableTargetAsync();

    private string Lake => Root.Combine("lake");

    public Task InitializeAsync()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, RecordCount / 2);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "b.jsonl.gz"), RecordCount / 2, RecordCount / 2, gzip: true);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_cleanup)) await item.DisposeAsync();
        Root.Dispose();
    }

    [Fact]
    public async Task Connections_dropped_mid_upload_are_retried_and_every_record_arrives_once()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var (engine, flow) = await FlowAsync(target, target.Settings(proxy.Port));
        // More drops in a row than the SDK tries one request: the engine's retries must carry some of them.
        var drops = SdkAttempts + 2;
        proxy.DropConnections(afterBytes: 100_000, times: drops);

        var run = await RunAsync(engine, flow, FirstSlot);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(drops, proxy.FaultsInjected);
        await AssertExactlyTheLakeAsync(target, [run]);
        Assert.Equal(RetryLog.Count, run.Retries);
        Assert.Equal(run.Retries, engine.State.GetRun(run.Id)!.Retries);
        Assert.True((await engine.VerifyRunAsync(run, default)).IsValid);
    }

    [Fact]
    public async Task An_outage_longer_than_the_sdk_retries_is_bridged_by_the_engine_and_logged()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var (engine, flow) = await FlowAsync(target, target.Settings(proxy.Port));
        proxy.DropConnections(afterBytes: 0);
        engine.Log += _ => proxy.Heal(); // the network comes back once the engine has given the SDK up and waits to retry

        var run = await RunAsync(engine, flow, FirstSlot);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Retries >= 1);
        Assert.Equal(run.Retries, engine.State.GetRun(run.Id)!.Retries);
        Assert.StartsWith("Retry 1 of 4 for upload to ", RetryLog.First());
        var everything = string.Join('\n', RetryLog);
        Assert.All(target.Settings(proxy.Port).Secrets.Values, secret => Assert.DoesNotContain(secret, everything));
        await AssertExactlyTheLakeAsync(target, [run]);
    }

    [Fact]
    public async Task A_stalled_connection_times_out_and_is_retried()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var (engine, flow) = await FlowAsync(target, target.Settings(proxy.Port));
        proxy.StallConnections(afterBytes: 100_000, stall: TimeSpan.FromSeconds(60), times: 1);

        var run = await RunAsync(engine, flow, FirstSlot);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(1, proxy.FaultsInjected);
        Assert.Equal(1, proxy.StallsAbandoned); // the client's request timeout (3 s here) fired, not the proxy's 60 s
        await AssertExactlyTheLakeAsync(target, [run]);
    }

    [Fact]
    public async Task A_persistent_fault_fails_the_run_cleanly_after_the_configured_retries()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var settings = target.Settings(proxy.Port);
        settings.Properties[DestinationKeys.RetryCount] = "2";
        settings.Properties[DestinationKeys.RetryTimeoutSeconds] = "60";
        var (engine, flow) = await FlowAsync(target, settings);
        proxy.DropConnections(afterBytes: 0);

        var run = await RunAsync(engine, flow, FirstSlot);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("Gave up after 3 attempts", run.Error);
        Assert.Contains("RetryCount 2", run.Error);
        Assert.Equal(["Retry 1 of 2 for upload to ", "Retry 2 of 2 for upload to "], RetryLog.Where(m => m.Contains(" for upload to ")).Select(m => m[..m.IndexOf("to ", StringComparison.Ordinal)] + "to "));
        // The failed upload's name is deleted too (best effort), with the same retries.
        Assert.Equal(RetryLog.Count, run.Retries);
        Assert.Equal(run.Retries, engine.State.GetRun(run.Id)!.Retries);
        Assert.Null(run.ManifestPath);
        Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
        Assert.Empty(await target.ListAsync());
    }

    [Fact]
    public async Task A_run_failing_after_it_stored_files_removes_them()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var settings = target.Settings(proxy.Port);
        settings.Properties[DestinationKeys.RetryCount] = "1";
        var (engine, flow) = await FlowAsync(target, settings);
        // From the second file on, every upload breaks after 100 kB; small requests (the deletes) still get through, also on
        // a connection the first file's upload kept alive (counted from now: one counted from its opening was reset at the
        // delete, and under load both of the delete's attempts could meet such connections and leave the file).
        var progress = new SynchronousProgress(report =>
        {
            if (report.FilesWritten == 1) proxy.DropConnections(afterBytes: 100_000, countingFromNow: true);
        });

        var run = await RunAsync(engine, flow, FirstSlot, progress);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("Gave up after 2 attempts", run.Error);
        Assert.Single(run.Files); // stored before the fault ...
        Assert.Empty(await target.ListAsync()); // ... and deleted when the run failed, as was every temporary upload
        Assert.Null(run.ManifestPath);
        Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
    }

    [Fact]
    public async Task Cancelling_while_a_retry_waits_stops_the_run()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var settings = target.Settings(proxy.Port);
        settings.Properties[DestinationKeys.RetryCount] = "1"; // the cleanup's own deletes retry once, not four times
        var (engine, flow) = await FlowAsync(target, settings);
        proxy.DropConnections(afterBytes: 0);
        using var cancel = new CancellationTokenSource();
        engine.Log += _ => cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine.RunFlowAsync(flow, Lake, FirstSlot, null, cancel.Token));

        var run = Assert.Single(engine.State.ListRuns(flow.Id));
        Assert.Equal(RunStatus.Failed, run.Status);
        // The part whose upload was stopped may have left something under its name, and the delete after it failed too.
        Assert.Equal($"The export was cancelled. 1 file(s) it may have left could not be deleted (LeftFiles); the flow's next run on destination '{settings.Name}' tries again.", run.Error);
        Assert.Single(run.LeftFiles);
        Assert.True(run.Retries >= 1);
        Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
    }

    [Fact]
    public async Task Refused_credentials_are_not_retried()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var settings = target.Settings(proxy.Port);
        target.BreakCredentials(settings);
        var (engine, flow) = await FlowAsync(target, settings);

        var run = await RunAsync(engine, flow, FirstSlot);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains(CredentialsRejected, run.Error);
        Assert.Equal(0, run.Retries);
        Assert.Empty(RetryLog);
        var (seen, mostWithoutRetries) = Attempts(proxy);
        Assert.InRange(seen, 1, mostWithoutRetries); // neither the SDK nor the engine tried again
        Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
    }

    [Fact]
    public async Task A_server_killed_mid_export_fails_the_run_and_the_next_run_exports_everything_once()
    {
        var (target, kill, restart) = await CreateKillableTargetAsync();
        var settings = target.Settings(target.ServerPort);
        settings.Properties[DestinationKeys.RetryCount] = "1";
        settings.Properties[DestinationKeys.RetryTimeoutSeconds] = "10";
        var (engine, flow) = await FlowAsync(target, settings, ExportMode.Incremental);
        var killed = false;
        var progress = new SynchronousProgress(report =>
        {
            if (report.FilesWritten < 1 || killed) return;
            killed = true;
            kill(); // on the engine's thread, between the first stored file and the next
        });

        var failed = await RunAsync(engine, flow, FirstSlot, progress);

        Assert.True(killed);
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.False(string.IsNullOrWhiteSpace(failed.Error));
        Assert.Null(failed.ManifestPath);
        Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
        // A dead server deletes nothing: the stored files stay, recorded for the next run, with the name of the upload that
        // failed (part of it may have arrived).
        Assert.NotEmpty(failed.Files);
        var left = engine.State.GetRun(failed.Id)!.LeftFiles;
        Assert.Equal(failed.Files.Count + 1, left.Count);
        Assert.Subset(left.ToHashSet(), failed.Files.Select(f => f.RelativePath).ToHashSet());
        Assert.All(left, path => Assert.StartsWith(failed.ExportPath + "/", path));

        await restart();
        var retried = await RunAsync(engine, flow, SecondSlot);

        Assert.True(retried.Status == RunStatus.Succeeded, retried.Error);
        Assert.Equal(2, engine.State.GetExportedBatches(flow.Id, "web").Count);
        await AssertExactlyTheLakeAsync(target, [retried]);
        Assert.Empty(engine.State.GetRun(failed.Id)!.LeftFiles);
        await using var server = target.Create(settings);
        foreach (var path in left) Assert.Null(await server.GetFileInfoAsync(path, default)); // was: they stayed
    }

    /// <summary>Runs <paramref name="action"/> when the test ends, before the temporary folder goes.</summary>
    protected void Cleanup(Action action) => _cleanup.Add(new DisposeAction(action));

    private protected async Task<(FaultTarget Target, FaultProxy Proxy)> TargetBehindProxyAsync()
    {
        var target = await CreateTargetAsync();
        var proxy = new FaultProxy(target.ServerPort);
        _cleanup.Add(proxy);
        return (target, proxy);
    }

    private protected async Task<(ExportEngine Engine, FlowRecord Flow)> FlowAsync(FaultTarget target, DestinationSettings settings, ExportMode mode = ExportMode.Full)
    {
        settings.MaxFileSizeMB = 1;
        var engine = ExportEngine.Open(new EngineOptions { StateHome = Root.Combine("state-" + Guid.NewGuid().ToString("N")), DestinationFactory = target.Create });
        Cleanup(engine.Dispose);
        engine.Log = RetryLog.Enqueue;
        await engine.AddDestinationAsync(settings, skipValidation: true, default);
        var flow = new FlowRecord { Name = "faults", DestinationId = settings.Id, DatasetIds = ["web"], Mode = mode };
        engine.AddFlow(flow);
        return (engine, flow);
    }

    private protected async Task<RunRecord> RunAsync(ExportEngine engine, FlowRecord flow, DateTimeOffset slot, IProgress<ExportProgress>? progress = null) =>
        Assert.Single(await engine.RunFlowAsync(flow, Lake, slot, progress, default));

    /// <summary>
    /// What a reader of the destination sees: the data files of every exportTime folder holding a manifest, read
    /// straight from the server, hold each lake record exactly once; the runs' files are exactly those, byte for byte.
    /// </summary>
    private protected async Task AssertExactlyTheLakeAsync(FaultTarget target, IReadOnlyList<RunRecord> runs)
    {
        var stored = await target.ListAsync();
        var manifested = stored.Where(path => Path.GetFileName(path).StartsWith("manifest-", StringComparison.Ordinal))
            .Select(path => path[..path.LastIndexOf('/')]).ToHashSet();
        var dataFiles = stored.Where(path => manifested.Contains(path[..path.LastIndexOf('/')]) && Path.GetFileName(path).StartsWith("part-", StringComparison.Ordinal))
            .Order().ToList();
        Assert.Equal(runs.SelectMany(run => run.Files).Select(file => file.RelativePath).Order(), dataFiles);

        await using var direct = target.Create(target.Settings(target.ServerPort));
        var ids = new List<long>();
        foreach (var file in runs.SelectMany(run => run.Files))
        {
            var local = Root.Combine(Guid.NewGuid().ToString("N") + ".json");
            await using (var source = await direct.OpenReadAsync(file.RelativePath, default))
            await using (var copy = File.Create(local))
            {
                await source.CopyToAsync(copy);
            }
            Assert.Equal((file.Size, file.Sha256), await ExportRunner.HashFileAsync(local, default));
            ids.AddRange(SampleLake.Ids(SampleLake.ReadJsonLines(local)));
        }
        Assert.Equal(Enumerable.Range(0, RecordCount).Select(i => (long)i), ids.Order());
    }

    /// <summary>Calls back on the reporting thread, unlike <see cref="Progress{T}"/>, so the test acts at an exact point of the run.</summary>
    private sealed class SynchronousProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }

    private sealed class DisposeAction(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return ValueTask.CompletedTask;
        }
    }
}
