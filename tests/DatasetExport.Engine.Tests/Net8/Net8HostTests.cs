using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Tests.Destinations.Azure;
using DatasetExport.Engine.Tests.Destinations.S3;
using DatasetExport.Engine.Tests.Destinations.Sftp;
using Xunit.Abstractions;

namespace DatasetExport.Engine.Tests.Net8;

/// <summary>A Local folder destination, read back from the disk.</summary>
public sealed class Net8LocalHostTests(ITestOutputHelper log) : Net8HostContract(log)
{
    [Fact]
    public async Task The_engine_on_NET_8_exports_to_a_local_folder_and_every_file_reads_back()
    {
        var root = Work.Combine("local-destination");
        Directory.CreateDirectory(root);
        var before = DateTimeOffset.UtcNow;
        var result = await ExportAndReadBackAsync(
            new HostDestination(nameof(DestinationType.Local), "n8", new() { [DestinationKeys.Path] = root }, []),
            local => CopyFolderAsync(root, local),
            scheduleTimeZone: "Asia/Kolkata");

        // Invoke-ExportSchedule's engine call on .NET 8: an hourly cron flow in India (UTC+05:30, from the runtime's time
        // zone data) ran once, for the latest top of the hour there: half past an hour in UTC, within the last hour.
        var scheduled = result.GetProperty("scheduled");
        var run = Assert.Single(scheduled.GetProperty("runs").EnumerateArray().ToList());
        Assert.Equal(("events", "Succeeded", (long)JsonRecords, true),
            (run.GetProperty("dataset").GetString(), run.GetProperty("status").GetString(), run.GetProperty("recordsWritten").GetInt64(), run.GetProperty("verified").GetBoolean()));
        // The host read the clock between before and after: the slot is the latest half past at one of them.
        var slot = run.GetProperty("scheduledTime").GetDateTimeOffset().ToUniversalTime();
        Assert.Contains(slot, new[] { LatestHalfPast(before), LatestHalfPast(DateTimeOffset.UtcNow) });
        Assert.Equal(slot.AddHours(1), scheduled.GetProperty("nextRunTime").GetDateTimeOffset().ToUniversalTime());
    }

    private static DateTimeOffset LatestHalfPast(DateTimeOffset utc)
    {
        var halfPast = new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 30, 0, TimeSpan.Zero);
        return halfPast > utc ? halfPast.AddHours(-1) : halfPast;
    }

    /// <summary>Copies every file below <paramref name="from"/> into <paramref name="to"/> (the disk as the independent reader).</summary>
    internal static Task CopyFolderAsync(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// The S3-protocol kinds: Amazon S3 as AWS is used (no Endpoint: chunked SigV4 payloads, CRC32 checksums, which is where
/// System.IO.Hashing 11 runs on .NET 8) on fauxqs; an S3-compatible store and Google Cloud Storage's XML API on s3rver,
/// files above 64 KiB in multipart uploads of 32 KiB parts (s3rver takes parts below S3's 5 MiB minimum). Read back with boto3.
/// </summary>
[Collection(S3ServersCollection.Name)]
public sealed class Net8S3HostTests(S3ServersFixture servers, ITestOutputHelper log) : Net8HostContract(log)
{
    [Fact]
    public async Task The_engine_on_NET_8_exports_to_Amazon_S3_with_the_SDK_defaults_and_every_file_reads_back()
    {
        var bucket = await servers.NewBucketAsync(servers.FauxqsClient);
        await ExportAndReadBackAsync(
            new HostDestination(nameof(DestinationType.AmazonS3), "n8",
                new() { [DestinationKeys.Bucket] = bucket, [DestinationKeys.Region] = "eu-west-1", [DestinationKeys.AccessKeyId] = S3ServersFixture.FauxqsKeyId },
                new() { [DestinationKeys.SecretAccessKey] = S3ServersFixture.FauxqsSecret }),
            local => servers.FauxqsClient.DownloadAllAsync(bucket, local),
            // One PutObject per file: fauxqs refuses parts below S3's 5 MiB minimum (EntityTooSmall), as AWS does.
            awsEmulatorUrl: servers.FauxqsUrl);

        // The SDK sent a CRC32 of every object, computed on .NET 8 by System.IO.Hashing 11 (untested there by its
        // makers): fauxqs keeps it without checking it, so it is compared here with zlib's CRC32 of the bytes read back.
        var checksums = await servers.FauxqsClient.Crc32AllAsync(bucket);
        Assert.NotEmpty(checksums);
        Assert.All(checksums, o => Assert.True(o.Stored == o.Computed, $"{o.Key}: stored CRC32 {o.Stored ?? "(none)"}, bytes' CRC32 {o.Computed}"));
    }

    [Theory]
    [InlineData(DestinationType.AmazonS3)]
    [InlineData(DestinationType.GoogleCloudStorage)]
    public async Task The_engine_on_NET_8_exports_to_an_S3_compatible_endpoint_and_every_file_reads_back(DestinationType type)
    {
        var bucket = await servers.NewBucketAsync(servers.S3rverClient);
        await ExportAndReadBackAsync(
            new HostDestination(type.ToString(), "n8", S3rverProperties(bucket, S3ServersFixture.S3rverKeyId), new() { [DestinationKeys.SecretAccessKey] = S3ServersFixture.S3rverSecret }),
            local => servers.S3rverClient.DownloadAllAsync(bucket, local),
            smallUploads: true); // s3rver's multipart ETags are plain MD5s: the parts show only in the content read back
    }

    [Fact]
    public async Task The_engine_on_NET_8_reports_rejected_S3_credentials_without_showing_the_secret()
    {
        // s3rver checks key ids (not signatures): an unknown key id with a wrong secret.
        const string wrongSecret = "net8-wrong-secret-must-not-leak";
        var bucket = await servers.NewBucketAsync(servers.S3rverClient);
        await AssertRejectedAsync(
            new HostDestination(nameof(DestinationType.AmazonS3), "n8", S3rverProperties(bucket, "NOT-A-KNOWN-KEY"), new() { [DestinationKeys.SecretAccessKey] = wrongSecret }),
            ["rejected the credentials", $"bucket '{bucket}'", "InvalidAccessKeyId"],
            [wrongSecret]);
    }

    private Dictionary<string, string> S3rverProperties(string bucket, string keyId) => new()
    {
        [DestinationKeys.Bucket] = bucket,
        [DestinationKeys.Endpoint] = servers.S3rverUrl.ToString(),
        [DestinationKeys.AccessKeyId] = keyId,
    };
}

/// <summary>Azure Blob (connection string), ADLS Gen2 (account key, through the Blob API) and a Data Landing Zone (SAS URI) on Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class Net8AzureHostTests(AzuriteFixture azurite, ITestOutputHelper log) : Net8HostContract(log)
{
    [Theory]
    [InlineData(DestinationType.AzureBlob)]
    [InlineData(DestinationType.AzureDataLakeGen2)]
    [InlineData(DestinationType.DataLandingZone)]
    public async Task The_engine_on_NET_8_exports_to_Azure_storage_and_every_file_reads_back(DestinationType type)
    {
        var container = await azurite.CreateContainerAsync();
        var (properties, secrets) = type switch
        {
            DestinationType.AzureBlob => (new Dictionary<string, string> { [DestinationKeys.Container] = container.Name },
                new Dictionary<string, string> { [DestinationKeys.ConnectionString] = azurite.ConnectionString }),
            DestinationType.AzureDataLakeGen2 => (new()
                {
                    [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
                    [DestinationKeys.FileSystem] = container.Name,
                    [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString(),
                },
                new() { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey }),
            _ => (new(), new() { [DestinationKeys.SasUri] = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1)) }),
        };
        await ExportAndReadBackAsync(
            new HostDestination(type.ToString(), "n8", properties, secrets),
            async local =>
            {
                await foreach (var item in container.GetBlobsAsync())
                {
                    var path = Path.Combine([local, .. item.Name.Split('/')]);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await container.GetBlobClient(item.Name).DownloadToAsync(path);
                }
            },
            smallUploads: true,
            assertStoredInParts: async (key, size) =>
            {
                var blocks = (await container.GetBlockBlobClient(key).GetBlockListAsync(BlockListTypes.Committed)).Value.CommittedBlocks;
                Assert.Equal((size + SmallUploadLimit / 2 - 1) / (SmallUploadLimit / 2), blocks.Count());
            });
    }
}

/// <summary>SFTP on the real sshd: password sign-in, pinned host key; read back from the server's disk.</summary>
[Collection(SftpServerCollection.Name)]
public sealed class Net8SftpHostTests(SftpServerFixture server, ITestOutputHelper log) : Net8HostContract(log)
{
    [Fact]
    public async Task The_engine_on_NET_8_exports_over_SFTP_and_every_file_reads_back()
    {
        var settings = NewRemoteFolder(out var onDisk);
        await ExportAndReadBackAsync(
            new HostDestination(nameof(DestinationType.Sftp), "n8", settings.Properties, settings.Secrets),
            local => Net8LocalHostTests.CopyFolderAsync(onDisk, local));
    }

    /// <summary>
    /// Key sign-in runs SSH.NET's key parsing and signing (BCL RSA and ECDsa, BouncyCastle Ed25519, encrypted PEM) on
    /// .NET 8; the bcrypt-protected Ed25519 key is left to the .NET 10 tests (slow to open, no runtime code of its own).
    /// </summary>
    [Theory]
    [InlineData("id_rsa_pem_protected", true)]
    [InlineData("id_ecdsa", false)]
    [InlineData("id_ed25519", false)]
    public async Task The_engine_on_NET_8_exports_over_SFTP_signed_in_with_a_key_file(string keyName, bool passphraseProtected)
    {
        var settings = NewRemoteFolder(out var onDisk);
        settings.Secrets.Clear(); // no password: only the key can get in
        settings.Properties[DestinationKeys.KeyFile] = server.KeyPath(keyName);
        if (passphraseProtected) settings.Secrets[DestinationKeys.KeyPassphrase] = server.KeyPassphrase;
        await ExportAndReadBackAsync(
            new HostDestination(nameof(DestinationType.Sftp), "n8", settings.Properties, settings.Secrets),
            local => Net8LocalHostTests.CopyFolderAsync(onDisk, local));
        // sshd logs the fingerprint of the client key it accepted: this very key got in.
        Assert.Contains(server.ClientKeyFingerprint(keyName), server.Server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_engine_on_NET_8_reports_a_rejected_SFTP_password_without_showing_it()
    {
        const string wrongPassword = "net8-wrong-password-must-not-leak";
        var settings = NewRemoteFolder(out _);
        settings.Secrets[DestinationKeys.Password] = wrongPassword;
        await AssertRejectedAsync(
            new HostDestination(nameof(DestinationType.Sftp), "n8", settings.Properties, settings.Secrets),
            [$"127.0.0.1:{server.Server.Port}", $"rejected user '{server.UserName}'"],
            [wrongPassword, server.Password]);
    }

    private DestinationSettings NewRemoteFolder(out string onDisk)
    {
        var remotePath = "net8-" + Guid.NewGuid().ToString("N")[..8];
        onDisk = Path.Combine(server.HomePath, remotePath);
        Directory.CreateDirectory(onDisk);
        TestProcess.Run("chown", null, null, $"{server.UserName}:", onDisk);
        return server.Settings(remotePath: remotePath);
    }
}
