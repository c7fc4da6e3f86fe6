using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Destinations;
using DatasetExport.Engine.Tests.Destinations.Azure;
using DatasetExport.Engine.Tests.Destinations.S3;
using DatasetExport.Engine.Tests.Destinations.Sftp;
using Microsoft.Extensions.Time.Testing;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>
/// Many flows to one server at once, as an admin with 20-30 flows to one server runs <c>Invoke-ExportSchedule -ThrottleLimit 32</c>:
/// an engine on a fake clock over a small JSON Lines lake, every flow exporting the same datasets to the same destination,
/// all due at <see cref="Slot"/>.
/// </summary>
public sealed class FanInSchedule : IDisposable
{
    public static readonly DateTimeOffset Slot = Utc(3, 1, 11);

    private readonly TempFolder _root = new("de-fanin");

    /// <param name="createDestination">The destination objects the engine uses (small upload thresholds); the registry's by default.</param>
    public FanInSchedule(Func<DestinationSettings, IExportDestination>? createDestination = null)
    {
        Clock = new FakeTimeProvider(Created);
        Engine = ExportEngine.Open(new EngineOptions
        {
            StateHome = StateHome,
            TimeProvider = Clock,
            DestinationFactory = createDestination ?? DestinationRegistry.Create,
        });
        Engine.Log = Log.Enqueue;
    }

    public FakeTimeProvider Clock { get; }
    public ExportEngine Engine { get; }
    public string StateHome => _root.Combine("state");
    public string Lake => _root.Combine("lake");

    /// <summary>What the engine logged (each retry among it), from every flow.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public string Combine(string name) => _root.Combine(name);

    public void WriteBatch(string datasetId, string fileName, int firstId, int count) =>
        SampleLake.WriteEvents(Path.Combine(Lake, datasetId, fileName), firstId, count);

    /// <summary>Adds <paramref name="count"/> hourly flows to <paramref name="destination"/>, each exporting <paramref name="datasets"/>, due at <see cref="Slot"/>.</summary>
    public void AddFlows(int count, DestinationSettings destination, params string[] datasets)
    {
        for (var i = 0; i < count; i++)
        {
            Engine.AddFlow(new FlowRecord
            {
                Name = $"flow-{i:00}", DestinationId = destination.Id, DatasetIds = [.. datasets],
                ScheduleKind = ScheduleKind.Hourly, EveryHours = 1, StartTime = Slot,
            });
        }
    }

    /// <summary>Runs every due flow at <see cref="Slot"/>, <paramref name="throttleLimit"/> at once.</summary>
    public Task<IReadOnlyList<RunRecord>> RunDueAsync(int throttleLimit = 32)
    {
        Clock.SetUtcNow(Slot);
        return Engine.RunDueFlowsAsync(Lake, null, null, default, throttleLimit: throttleLimit);
    }

    /// <summary>
    /// Every run Succeeded with the records of its dataset, one per flow and dataset, none retried (or, with
    /// <paramref name="toleratedRetry"/>, none retried but for what it picks from the log), each (or those
    /// <paramref name="verify"/> picks) verified by the engine (manifest and every file read back: size, sha256), and nothing
    /// left Running in the state store.
    /// </summary>
    public async Task AssertAllSucceededAndVerifyAsync(
        IReadOnlyList<RunRecord> runs, int flows, IReadOnlyDictionary<string, long> recordsPerDataset, Func<RunRecord, bool>? verify = null,
        Func<string, bool>? toleratedRetry = null)
    {
        Assert.All(runs, run => Assert.True(run.Status == RunStatus.Succeeded, $"{run.FlowName}/{run.DatasetId}: {run.Status} {run.Error}"));
        Assert.Equal(
            Enumerable.Range(0, flows).SelectMany(i => recordsPerDataset.Select(dataset => ($"flow-{i:00}", dataset.Key, dataset.Value))),
            runs.Select(run => (run.FlowName, run.DatasetId, run.RecordsWritten)));
        if (toleratedRetry is null)
        {
            Assert.All(runs, run => Assert.True(run.Retries == 0, $"{run.FlowName}/{run.DatasetId} retried {run.Retries} times:\n{string.Join('\n', Log)}"));
        }
        else
        {
            Assert.All(Log.Where(line => line.Contains("Retry ", StringComparison.Ordinal)), line => Assert.True(toleratedRetry(line), line));
        }
        foreach (var run in runs.Where(verify ?? (_ => true)))
        {
            var verification = await Engine.VerifyRunAsync(run, default);
            Assert.True(verification.IsValid, $"{run.FlowName}/{run.DatasetId}: {verification.Problem}");
        }
        Assert.DoesNotContain(Engine.State.ListRuns(), run => run.Status == RunStatus.Running);
        Assert.All(Engine.State.ListFlows(), flow => Assert.Equal(Slot, flow.LastSlot));
    }

    /// <summary>
    /// Every data file of the runs found under <paramref name="root"/> (keys as folders) with the size and sha256 the run
    /// recorded, and each run's manifest there.
    /// </summary>
    public static void AssertStoredAsRecorded(IEnumerable<RunRecord> runs, string root, string folderPath)
    {
        foreach (var run in runs)
        {
            Assert.True(File.Exists(Path.Combine([root, .. folderPath.Split('/'), .. run.ManifestPath!.Split('/')])), $"no manifest of {run.FlowName}/{run.DatasetId}");
        }
        foreach (var file in runs.SelectMany(run => run.Files))
        {
            var path = Path.Combine([root, .. folderPath.Split('/'), .. file.RelativePath.Split('/')]);
            Assert.True(File.Exists(path), $"{file.RelativePath} is not where the run stored it");
            Assert.Equal(file.Size, new FileInfo(path).Length);
            Assert.Equal(file.Sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
        }
    }

    public void Dispose()
    {
        Engine.Dispose();
        _root.Dispose();
    }
}

/// <summary>
/// 32 flows at once to one sshd: the fixture's config (OpenSSH's default MaxStartups 10:30:100, dropping connections not yet
/// signed in beyond 10 at random) and servers that admit fewer (MaxStartups 3:100:3, 1:100:1: drop every one beyond).
/// </summary>
[Collection(SftpServerCollection.Name)]
public sealed class FanInSftpScheduleTests(SftpServerFixture sshd) : IDisposable
{
    private const int Flows = 32;
    private static readonly Dictionary<string, long> Records = new() { ["web"] = 200, ["shop"] = 100 };

    private readonly FanInSchedule _schedule = new();

    public void Dispose() => _schedule.Dispose();

    /// <summary>
    /// Before, the 32 flows connected at once: sshd dropped some of the handshakes (before its greeting; 6-12 with the default
    /// config, 60-75 with 3:100:3), each retried with backoff; with 1:100:1 five to nine runs failed after their retries
    /// (<c>The connection to the remote server was closed before a valid SSH identification string was received. Gave up after
    /// 5 attempts</c>). Now the flows sign in one at a time: every run succeeds; with the default config nothing is dropped
    /// or retried. A server admitting one connection not signed in may still drop a few: sshd counts a connection as not
    /// signed in until its listener reads that it is, which on a loaded host comes after the client, signed in, has let
    /// the next one connect (a full CI run saw 12 such drops of 64 runs, each retried once, all succeeded).
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("MaxStartups 1:100:1")]
    public async Task Thirty_two_flows_at_once_to_one_sshd_sign_in_one_at_a_time_and_every_file_verifies(string? config)
    {
        var server = sshd.StartServer(sshdConfig: config is null ? null : [config]);
        _schedule.WriteBatch("web", "a.jsonl", 0, 200);
        _schedule.WriteBatch("shop", "a.jsonl", 1000, 100);
        var settings = Destination(server, out var remoteFolder);
        // Trust on first use: validating the new destination records the key the server shows, once; the flows all use that
        // pin. Not on the server admitting one connection not signed in: the key-reading connection, ended unauthenticated,
        // may still count there when the validation's probe connects right after it.
        if (config is null) settings.Properties.Remove(DestinationKeys.HostKeyFingerprint);
        await _schedule.Engine.AddDestinationAsync(settings, skipValidation: false, default);
        var stored = _schedule.Engine.State.GetDestination(settings.Id)!;
        Assert.Equal(sshd.FingerprintOf(server.HostKey), stored.Properties[DestinationKeys.HostKeyFingerprint]);
        _schedule.AddFlows(Flows, settings, "web", "shop");

        var runs = await _schedule.RunDueAsync();

        // The engine reads back the first flow's runs through the server; every file of every run is checked on its disk.
        await _schedule.AssertAllSucceededAndVerifyAsync(runs, Flows, Records, verify: run => run.FlowName == "flow-00",
            toleratedRetry: config is null ? null : line => line.Contains("closed before a valid SSH identification string", StringComparison.Ordinal));
        FanInSchedule.AssertStoredAsRecorded(runs, remoteFolder, "exports");
        if (config is null) Assert.DoesNotContain("past MaxStartups", server.Log, StringComparison.Ordinal);
        var after = _schedule.Engine.State.GetDestination(settings.Id)!;
        Assert.Equal((stored.ModifiedAt, stored.Properties[DestinationKeys.HostKeyFingerprint]), (after.ModifiedAt, after.Properties[DestinationKeys.HostKeyFingerprint]));
    }

    /// <summary>
    /// A server that keeps refusing (its one slot for connections not yet signed in held by a client that never signs in):
    /// the flows fail after their retries with an Unreachable error naming the server, and no secret; nothing is stored.
    /// </summary>
    [Fact]
    public async Task Flows_to_a_server_that_keeps_refusing_fail_naming_it_after_their_retries_without_a_secret()
    {
        var server = sshd.StartServer(sshdConfig: ["MaxStartups 1:100:1"]);
        using var squatter = await HoldTheOnlySlotAsync(server);
        _schedule.WriteBatch("web", "a.jsonl", 0, 200);
        var settings = Destination(server, out var remoteFolder);
        settings.Properties[DestinationKeys.RetryCount] = "1";
        await _schedule.Engine.AddDestinationAsync(settings, skipValidation: true, default);
        _schedule.AddFlows(4, settings, "web");

        var refused = await Assert.ThrowsAsync<DestinationException>(() => _schedule.Engine.TestDestinationAsync(settings, default));
        var runs = await _schedule.RunDueAsync();

        Assert.Equal((DestinationFailure.Unreachable, true), (refused.Failure, refused.IsTransient));
        // Named once: connecting, the server is what failed (was "at 127.0.0.1:P failed (127.0.0.1:P)").
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(refused.Message, $"127\\.0\\.0\\.1:{server.Port}"));
        SecretAssert.Absent(SecretAssert.Everything(refused), sshd.Password);
        Assert.All(runs, run =>
        {
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains($"SFTP server at 127.0.0.1:{server.Port}", run.Error);
            Assert.Contains("Gave up after 2 attempts", run.Error);
            SecretAssert.Absent(run.Error!, sshd.Password);
            Assert.Empty(run.Files);
        });
        Assert.Equal(4, runs.Count);
        Assert.Contains("past MaxStartups", server.Log, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(remoteFolder, "*", SearchOption.AllDirectories));
    }

    /// <summary>
    /// A connection that takes sshd's greeting and never signs in, so it counts against MaxStartups until LoginGraceTime
    /// (2 minutes). Tried again while the readiness probe's connection still counts and sshd drops this one.
    /// </summary>
    private static async Task<TcpClient> HoldTheOnlySlotAsync(SshdServer server)
    {
        for (var attempt = 1; ; attempt++)
        {
            var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, server.Port);
                if ((await new StreamReader(client.GetStream()).ReadLineAsync())?.StartsWith("SSH-2.0-", StringComparison.Ordinal) == true) return client;
            }
            catch (IOException) when (attempt < 50)
            {
                // Dropped: the probe's connection still counted.
            }
            client.Dispose();
            Assert.True(attempt < 50, "sshd never admitted a connection");
            await Task.Delay(100);
        }
    }

    /// <summary>Settings for a fresh folder in the test user's home on <paramref name="server"/>, JSON Lines with a manifest.</summary>
    private DestinationSettings Destination(SshdServer server, out string remoteFolder)
    {
        var remotePath = "fanin-" + Guid.NewGuid().ToString("N")[..8];
        remoteFolder = Path.Combine(sshd.HomePath, remotePath);
        Directory.CreateDirectory(remoteFolder);
        TestProcess.Run("chown", null, null, $"{sshd.UserName}:", remoteFolder);
        var settings = sshd.Settings(server, remotePath: remotePath, folderPath: "exports");
        settings.Name = "fanin-sftp";
        settings.FileType = FileType.Json;
        settings.Compression = CompressionKind.None;
        settings.IncludeManifest = true;
        return settings;
    }
}

/// <summary>24 flows at once to one S3 endpoint (fauxqs as AWS, s3rver as an S3-compatible store), each file a multipart upload.</summary>
[Collection(S3ServersCollection.Name)]
public sealed class FanInS3ScheduleTests(S3ServersFixture servers)
{
    private const int Flows = 24;

    /// <summary>
    /// fauxqs holds parts to S3's 5 MiB minimum: 36,000 records make a 5.3 MiB file, two parts. s3rver does not, so 1 MiB parts
    /// and 9,000 records (1.3 MiB) do there. Every object is read back with boto3 and hashed.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Twenty_four_flows_at_once_each_uploading_in_parts_all_verify(bool fauxqs)
    {
        var partSize = fauxqs ? 5L << 20 : 1L << 20;
        var records = fauxqs ? 36_000 : 9_000;
        var transfer = new S3TransferOptions { MultipartThreshold = partSize, PartSize = partSize, MaxPartsInFlight = 2, AwsEmulatorUrl = fauxqs ? servers.FauxqsUrl : null };
        using var schedule = new FanInSchedule(settings => new AmazonS3Destination(settings, transfer));
        schedule.WriteBatch("web", "a.jsonl", 0, records);
        var client = fauxqs ? servers.FauxqsClient : servers.S3rverClient;
        var bucket = await servers.NewBucketAsync(client);
        var settings = new DestinationSettings
        {
            Name = "fanin-s3", Type = DestinationType.AmazonS3, FileType = FileType.Json, Compression = CompressionKind.None, IncludeManifest = true, FolderPath = "exports",
            Properties =
            {
                [DestinationKeys.Bucket] = bucket,
                [DestinationKeys.AccessKeyId] = fauxqs ? S3ServersFixture.FauxqsKeyId : S3ServersFixture.S3rverKeyId,
            },
            Secrets = { [DestinationKeys.SecretAccessKey] = fauxqs ? S3ServersFixture.FauxqsSecret : S3ServersFixture.S3rverSecret },
        };
        if (fauxqs) settings.Properties[DestinationKeys.Region] = "eu-west-1";
        else settings.Properties[DestinationKeys.Endpoint] = servers.S3rverUrl.ToString();
        await schedule.Engine.AddDestinationAsync(settings, skipValidation: false, default);
        schedule.AddFlows(Flows, settings, "web");

        var runs = await schedule.RunDueAsync();

        await schedule.AssertAllSucceededAndVerifyAsync(runs, Flows, new Dictionary<string, long> { ["web"] = records });
        Assert.All(runs.SelectMany(run => run.Files), file => Assert.InRange(file.Size, partSize + 1, 2 * partSize));
        var downloads = schedule.Combine("downloads");
        await client.DownloadAllAsync(bucket, downloads);
        FanInSchedule.AssertStoredAsRecorded(runs, downloads, "exports");
        if (fauxqs)
        {
            // fauxqs's ETag of a multipart object ends in its part count.
            var (_, etag) = (await client.HeadAsync(bucket, "exports/" + runs[0].Files[0].RelativePath))!.Value;
            Assert.EndsWith("-2", etag.Trim('"'));
        }
    }
}

/// <summary>32 flows at once to one Azurite container, each file staged in blocks.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class FanInAzureScheduleTests(AzuriteFixture azurite)
{
    private const int Flows = 32;

    [Fact]
    public async Task Thirty_two_flows_at_once_each_uploading_in_blocks_all_verify()
    {
        // Files above 256 KiB go up in 128 KiB blocks: 2,000 records make a 300 KB file, three blocks. Production timeouts
        // and retries otherwise (the fault tests' 3 s request timeout is for quick failure, not for a busy machine).
        var tuning = new AzureClientTuning { SingleUploadLimitBytes = 256 * 1024, BlockSizeBytes = 128 * 1024, MaxConcurrentBlocks = 3 };
        using var schedule = new FanInSchedule(settings => new AzureBlobDestination(settings, tuning));
        schedule.WriteBatch("web", "a.jsonl", 0, 2_000);
        var container = await azurite.CreateContainerAsync();
        var settings = new DestinationSettings
        {
            Name = "fanin-azure", Type = DestinationType.AzureBlob, FileType = FileType.Json, Compression = CompressionKind.None, IncludeManifest = true, FolderPath = "exports",
            Properties =
            {
                [DestinationKeys.Container] = container.Name,
                [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
                [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString(),
            },
            Secrets = { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey },
        };
        await schedule.Engine.AddDestinationAsync(settings, skipValidation: false, default);
        schedule.AddFlows(Flows, settings, "web");

        var runs = await schedule.RunDueAsync();

        await schedule.AssertAllSucceededAndVerifyAsync(runs, Flows, new Dictionary<string, long> { ["web"] = 2_000 });
        Assert.All(runs.SelectMany(run => run.Files), file => Assert.InRange(file.Size, tuning.SingleUploadLimitBytes + 1, 3 * tuning.BlockSizeBytes));
        var downloads = schedule.Combine("downloads");
        foreach (var stored in runs.SelectMany(run => run.StoredPaths))
        {
            var path = Path.Combine([downloads, "exports", .. stored.Split('/')]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await container.GetBlobClient("exports/" + stored).DownloadToAsync(path);
        }
        FanInSchedule.AssertStoredAsRecorded(runs, downloads, "exports");
    }
}

/// <summary>The state store under two sessions each running 32 flows at once on one state home.</summary>
public sealed class FanInStateTests : IDisposable
{
    private readonly ScheduleFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    /// <summary>
    /// 64 flow tasks over two SQLite connections (as two processes): each slot is claimed once, every run recorded and
    /// committed, and no write fails with "database is locked" (the store's writes wait for the lock).
    /// </summary>
    [Fact]
    public async Task Two_sessions_running_the_same_thirty_two_flows_at_once_export_each_flow_dataset_and_slot_once()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 300);
        _fixture.WriteBatch("shop", "a.jsonl", 1000, 200);
        for (var i = 0; i < 32; i++)
        {
            _fixture.AddFlow($"flow-{i:00}", flow => (flow.ScheduleKind, flow.EveryHours, flow.StartTime) = (ScheduleKind.Hourly, 1, Utc(3, 1, 11)), "web", "shop");
        }
        _fixture.SetNow(Utc(3, 1, 11));
        using var other = ExportEngine.Open(new EngineOptions { StateHome = _fixture.StateHome, TimeProvider = _fixture.Clock });

        var both = await Task.WhenAll(
            Task.Run(() => _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, null, default, throttleLimit: 32)),
            Task.Run(() => other.RunDueFlowsAsync(_fixture.Lake, null, null, default, throttleLimit: 32)));

        var runs = both.SelectMany(session => session).ToList();
        Assert.All(runs, run => Assert.True(run.Status == RunStatus.Succeeded, $"{run.FlowName}/{run.DatasetId}: {run.Error}"));
        Assert.Equal(
            Enumerable.Range(0, 32).SelectMany(i => new[] { ($"flow-{i:00}", "web", 300L), ($"flow-{i:00}", "shop", 200L) }).Order(),
            runs.Select(run => (run.FlowName, run.DatasetId, run.RecordsWritten)).Order());
        Assert.Equal(runs.Select(run => run.Id).Order(), _fixture.Engine.State.ListRuns().Select(run => run.Id).Order());
        Assert.All(_fixture.Engine.State.ListRuns(), run => Assert.Equal(RunStatus.Succeeded, run.Status));
        Assert.All(_fixture.Engine.State.ListFlows(), flow => Assert.Equal(Utc(3, 1, 11), flow.LastSlot));
        Assert.Equal(Enumerable.Range(0, 300).Select(id => (long)id), ManifestRecordIds(Directory.GetFiles(_fixture.SlotFolder("web", Utc(3, 1, 11)), "*manifest*")[0]));
        Assert.Equal(64, Directory.GetFiles(_fixture.Output, "*manifest*", SearchOption.AllDirectories).Length);
    }
}
