using System.Security.Cryptography;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Tests.Destinations.Azure;
using DatasetExport.Engine.Tests.Destinations.S3;
using DatasetExport.Engine.Tests.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>The fault scenarios against s3rver (S3-compatible), plus the multipart resume proof.</summary>
[Collection(S3ServersCollection.Name)]
public sealed class S3FaultTests(S3ServersFixture servers) : HttpFaultScenarios
{
    protected override int SdkAttempts => 4;
    protected override string CredentialsRejected => "rejected the credentials";
    protected override (int Seen, int MostWithoutRetries) Attempts(FaultProxy proxy) => (proxy.HttpRequests, 2);
    protected override (int Status, string Reason, string Code) Throttling => (503, "Slow Down", "SlowDown");
    protected override int FailuresToExhaustTheSdk => SdkAttempts + 1; // the 1 MB files go up in one PutObject each

    protected override async Task<FaultTarget> CreateTargetAsync() =>
        new S3Target(servers.S3rverUrl, await servers.NewBucketAsync(servers.S3rverClient), servers.S3rverClient);

    protected override async Task<(FaultTarget Target, Action Kill, Func<Task> Restart)> CreateKillableTargetAsync()
    {
        var bucket = "b" + Guid.NewGuid().ToString("N");
        var server = await KillableServer.StartS3rverAsync(Root.Combine("s3rver"), bucket);
        Cleanup(server.Dispose);
        var url = new Uri($"http://127.0.0.1:{server.Port}/");
        return (new S3Target(url, bucket, new Boto3(url, S3ServersFixture.S3rverKeyId, S3ServersFixture.S3rverSecret)), server.Kill, server.StartAsync);
    }

    [Fact]
    public async Task A_multipart_part_dropped_mid_upload_is_sent_again_alone()
    {
        var bucket = await servers.NewBucketAsync(servers.S3rverClient);
        var target = new S3Target(servers.S3rverUrl, bucket, servers.S3rverClient);
        await using var proxy = new FaultProxy(target.ServerPort);
        var size = (11L << 20) + 123; // parts of 5 + 5 + 1 MiB
        var local = Root.Combine("big.bin");
        File.WriteAllBytes(local, RandomNumberGenerator.GetBytes((int)size));
        await using var destination = target.Create(target.Settings(proxy.Port));
        proxy.DropOnceAtTotal(9L << 20); // inside the first two parts, which are in flight together

        await destination.UploadFileAsync(local, "big.bin", default);

        Assert.Equal(1, proxy.FaultsInjected);
        // Restarting the file would send at least 9 MiB + the whole file; the SDK re-sends only the broken part.
        Assert.InRange(proxy.UpstreamBytes, size, size + S3Target.Transfer.PartSize + (256 << 10));
        var (sha256, storedSize) = await servers.S3rverClient.ReadAsync(bucket, FaultTarget.Folder + "/big.bin", Root.Combine("read-back.bin"));
        Assert.Equal((Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(local))).ToLowerInvariant(), size), (sha256, storedSize));
    }
}

/// <summary>The fault scenarios against Azurite, plus the block resume proof.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureFaultTests(AzuriteFixture azurite) : HttpFaultScenarios
{
    protected override int SdkAttempts => AzureTarget.Tuning.MaxRetries + 1;
    protected override string CredentialsRejected => "rejected the credentials";
    protected override (int Seen, int MostWithoutRetries) Attempts(FaultProxy proxy) => (proxy.HttpRequests, AzureTarget.Tuning.MaxConcurrentBlocks + 1);
    protected override (int Status, string Reason, string Code) Throttling => (503, "The server is busy.", "ServerBusy");
    protected override int FailuresToExhaustTheSdk => (SdkAttempts - 1) * AzureTarget.Tuning.MaxConcurrentBlocks + 1; // blocks in parallel

    protected override async Task<FaultTarget> CreateTargetAsync() => new AzureTarget(azurite.ServiceUri, await azurite.CreateContainerAsync());

    protected override async Task<(FaultTarget Target, Action Kill, Func<Task> Restart)> CreateKillableTargetAsync()
    {
        var server = await KillableServer.StartAzuriteAsync(Root.Combine("azurite"));
        Cleanup(server.Dispose);
        var serviceUri = new Uri($"http://127.0.0.1:{server.Port}/{AzuriteFixture.AccountName}");
        var admin = new global::Azure.Storage.Blobs.BlobServiceClient(serviceUri, new global::Azure.Storage.StorageSharedKeyCredential(AzuriteFixture.AccountName, AzuriteFixture.AccountKey))
            .GetBlobContainerClient("c" + Guid.NewGuid().ToString("N"));
        await admin.CreateAsync();
        // Azurite keeps its metadata in memory and saves it now and then, so a SIGKILL loses recent containers (Azure
        // Storage does not): the restart brings the container back, as the storage account would still have it.
        return (new AzureTarget(serviceUri, admin), server.Kill, async () =>
        {
            await server.StartAsync();
            await admin.CreateIfNotExistsAsync();
        });
    }

    [Fact]
    public async Task A_block_dropped_mid_upload_is_staged_again_alone()
    {
        var target = new AzureTarget(azurite.ServiceUri, await azurite.CreateContainerAsync());
        await using var proxy = new FaultProxy(target.ServerPort);
        var size = (2L << 20) + 123; // 17 blocks of 128 KiB
        var local = Root.Combine("big.bin");
        File.WriteAllBytes(local, RandomNumberGenerator.GetBytes((int)size));
        await using var destination = target.Create(target.Settings(proxy.Port));
        proxy.DropOnceAtTotal(3L << 19); // 1.5 MiB: a block in the second half

        await destination.UploadFileAsync(local, "big.bin", default);

        Assert.Equal(1, proxy.FaultsInjected);
        // Restarting the file would send 1.5 MiB + the whole file; the SDK stages only the broken block again.
        Assert.InRange(proxy.UpstreamBytes, size, size + AzureTarget.Tuning.BlockSizeBytes + (64 << 10));
        var stored = (await target.ListAsync()).Single();
        Assert.Equal("big.bin", stored);
        await using var read = await destination.OpenReadAsync("big.bin", default);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(local)), await SHA256.HashDataAsync(read));
    }
}

/// <summary>The fault scenarios against a real sshd.</summary>
[Collection(SftpServerCollection.Name)]
public sealed class SftpFaultTests(SftpServerFixture sshd) : FaultScenarios
{
    /// <summary>The destination reconnects once by itself when the connection drops.</summary>
    protected override int SdkAttempts => 2;
    protected override string CredentialsRejected => "rejected user";
    protected override (int Seen, int MostWithoutRetries) Attempts(FaultProxy proxy) => (proxy.ConnectionCount, 2);

    protected override Task<FaultTarget> CreateTargetAsync() => Task.FromResult<FaultTarget>(new SftpTarget(sshd, sshd.Server));

    protected override Task<(FaultTarget Target, Action Kill, Func<Task> Restart)> CreateKillableTargetAsync()
    {
        var server = sshd.StartServer();
        var running = true;
        Cleanup(() =>
        {
            if (running) sshd.StopServer(server.Port);
        });
        return Task.FromResult<(FaultTarget, Action, Func<Task>)>((new SftpTarget(sshd, server),
            () =>
            {
                sshd.StopServer(server.Port);
                running = false;
            },
            () =>
            {
                sshd.StartServer(port: server.Port);
                running = true;
                return Task.CompletedTask;
            }));
    }
}
