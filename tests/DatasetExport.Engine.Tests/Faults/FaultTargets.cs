using Azure.Storage.Blobs;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Destinations.Sftp;
using DatasetExport.Engine.Tests.Destinations.S3;
using DatasetExport.Engine.Tests.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>
/// One real server the fault tests export to, directly or through a <see cref="FaultProxy"/>: settings for a port,
/// a way to break the credentials, destination objects tuned for quick failure (short timeouts, small parts), and
/// a listing with the server's own client.
/// </summary>
public abstract class FaultTarget
{
    /// <summary>Where the exports go below the destination's root.</summary>
    public const string Folder = "exports";

    public abstract int ServerPort { get; }

    /// <summary>Working settings that reach the server at 127.0.0.1:<paramref name="port"/> (the server's or a proxy's).</summary>
    public abstract DestinationSettings Settings(int port);

    /// <summary>Turns working settings into ones the server refuses as unauthenticated.</summary>
    public abstract void BreakCredentials(DestinationSettings settings);

    /// <summary>The destination object for settings, tuned for tests: requests time out after seconds, not minutes.</summary>
    public abstract IExportDestination Create(DestinationSettings settings);

    /// <summary>Every stored file below <see cref="Folder"/>, relative to it, as the server lists it.</summary>
    public abstract Task<IReadOnlyList<string>> ListAsync();
}

/// <summary>A bucket on s3rver, through the Amazon S3 destination with an Endpoint (S3-compatible settings).</summary>
public sealed class S3Target(Uri serverUrl, string bucket, Boto3 admin) : FaultTarget
{
    /// <summary>Multipart from 6 MiB in 5 MiB parts (S3's minimum), two in flight; 3 s per request.</summary>
    internal static readonly S3TransferOptions Transfer = new()
    {
        MultipartThreshold = 6L << 20,
        PartSize = 5L << 20,
        MaxPartsInFlight = 2,
        RequestTimeout = TimeSpan.FromSeconds(3),
    };

    public override int ServerPort => serverUrl.Port;

    public override DestinationSettings Settings(int port) => new()
    {
        Name = "s3-faults",
        Type = DestinationType.AmazonS3,
        FolderPath = Folder,
        Properties =
        {
            [DestinationKeys.Bucket] = bucket,
            [DestinationKeys.Endpoint] = $"http://127.0.0.1:{port}/",
            [DestinationKeys.AccessKeyId] = S3ServersFixture.S3rverKeyId,
        },
        Secrets = { [DestinationKeys.SecretAccessKey] = S3ServersFixture.S3rverSecret },
    };

    public override void BreakCredentials(DestinationSettings settings) => settings.Properties[DestinationKeys.AccessKeyId] = "NOSUCHKEYID";

    public override IExportDestination Create(DestinationSettings settings) => new AmazonS3Destination(settings, Transfer);

    public override async Task<IReadOnlyList<string>> ListAsync() =>
        (await admin.ListAsync(bucket, Folder + "/")).Keys.Select(key => key[(Folder.Length + 1)..]).ToList();
}

/// <summary>A container on Azurite, through the Azure Blob destination signing with the account key.</summary>
public sealed class AzureTarget(Uri serviceUri, BlobContainerClient admin) : FaultTarget
{
    /// <summary>Files above 256 KiB go up in 128 KiB blocks, three in flight; the SDK retries a request 3 times, 3 s each at most.</summary>
    internal static readonly AzureClientTuning Tuning = new()
    {
        SingleUploadLimitBytes = 256 * 1024,
        BlockSizeBytes = 128 * 1024,
        MaxConcurrentBlocks = 3,
        MaxRetries = 3,
        RetryDelay = TimeSpan.FromMilliseconds(50),
        NetworkTimeout = TimeSpan.FromSeconds(3),
    };

    public override int ServerPort => serviceUri.Port;

    public override DestinationSettings Settings(int port) => new()
    {
        Name = "azure-faults",
        Type = DestinationType.AzureBlob,
        FolderPath = Folder,
        Properties =
        {
            [DestinationKeys.Container] = admin.Name,
            [DestinationKeys.AccountName] = Destinations.Azure.AzuriteFixture.AccountName,
            [DestinationKeys.ServiceUri] = new UriBuilder(serviceUri) { Port = port }.Uri.ToString(),
        },
        Secrets = { [DestinationKeys.AccountKey] = Destinations.Azure.AzuriteFixture.AccountKey },
    };

    public override void BreakCredentials(DestinationSettings settings) =>
        settings.Secrets[DestinationKeys.AccountKey] = Convert.ToBase64String(new byte[64]);

    public override IExportDestination Create(DestinationSettings settings) => new AzureBlobDestination(settings, Tuning);

    public override async Task<IReadOnlyList<string>> ListAsync()
    {
        var names = new List<string>();
        await foreach (var blob in admin.GetBlobsAsync(global::Azure.Storage.Blobs.Models.BlobTraits.None, global::Azure.Storage.Blobs.Models.BlobStates.None, Folder + "/", default)) names.Add(blob.Name[(Folder.Length + 1)..]);
        return names;
    }
}

/// <summary>A folder in the test user's home on a real sshd, read back from this machine's disk.</summary>
public sealed class SftpTarget : FaultTarget
{
    private readonly SftpServerFixture _fixture;
    private readonly SshdServer _server;
    private readonly string _remotePath = "faults-" + Guid.NewGuid().ToString("N")[..8];

    public SftpTarget(SftpServerFixture fixture, SshdServer server)
    {
        _fixture = fixture;
        _server = server;
        var folder = Path.Combine(fixture.HomePath, _remotePath);
        Directory.CreateDirectory(folder);
        TestProcess.Run("chown", null, null, $"{fixture.UserName}:", folder);
    }

    public override int ServerPort => _server.Port;

    public override DestinationSettings Settings(int port)
    {
        var settings = _fixture.Settings(_server, remotePath: _remotePath, folderPath: Folder);
        settings.Name = "sftp-faults";
        settings.Properties[DestinationKeys.Port] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    public override void BreakCredentials(DestinationSettings settings) => settings.Secrets[DestinationKeys.Password] = "not-the-password";

    /// <summary>A request unanswered for 3 s fails (the default is 2 minutes).</summary>
    public override IExportDestination Create(DestinationSettings settings) => new SftpDestination(settings, TimeSpan.FromSeconds(3));

    public override Task<IReadOnlyList<string>> ListAsync()
    {
        var root = Path.Combine(_fixture.HomePath, _remotePath, Folder);
        IReadOnlyList<string> files = Directory.Exists(root)
            ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(path => Path.GetRelativePath(root, path).Replace('\\', '/')).ToList()
            : [];
        return Task.FromResult(files);
    }
}
