using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Tests.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.FlowMatrix;

/// <summary>
/// The flow matrix for S3-protocol kinds, read back with boto3. Multipart starts above 6 MiB with 5 MiB parts (the S3
/// minimum), so the 7 MB JSON files go up in two parts.
/// </summary>
public abstract class S3FlowMatrix(S3ServersFixture servers) : FlowMatrixContract
{
    private const string UnknownKeyId = "NOT-A-KNOWN-KEY";
    private const string WrongSecret = "wJalrXUtnFEMI-wrong-secret-K7MDENG";

    protected S3ServersFixture Servers => servers;

    /// <summary>The independent client for the server this kind writes to, with its admin key.</summary>
    protected abstract Boto3 Client { get; }
    protected abstract string UriScheme { get; }
    protected abstract string KeyId { get; }
    protected abstract string Secret { get; }

    /// <summary>Points the settings at a URL where nothing listens.</summary>
    protected abstract void UseEndpoint(DestinationSettings settings, Uri endpoint);

    protected override long UploadSplitThreshold => S3DestinationContract.SmallParts.MultipartThreshold;

    protected override async Task<DestinationSettings> NewDestinationAsync()
    {
        var settings = new DestinationSettings
        {
            Name = "matrix-" + UriScheme,
            Type = DestinationType.AmazonS3,
            Properties = { [DestinationKeys.Bucket] = await Servers.NewBucketAsync(Client), [DestinationKeys.AccessKeyId] = KeyId },
            Secrets = { [DestinationKeys.SecretAccessKey] = Secret },
        };
        Configure(settings);
        return settings;
    }

    /// <summary>Sets the kind's type and where its server is.</summary>
    protected abstract void Configure(DestinationSettings settings);

    protected override async Task<Dictionary<string, long>?> ListAsync(DestinationSettings settings)
    {
        var bucket = Bucket(settings);
        return await Client.BucketExistsAsync(bucket) ? await Client.ListAsync(bucket) : null;
    }

    protected override Task DownloadAsync(DestinationSettings settings, string key, string localPath) => Client.ReadAsync(Bucket(settings), key, localPath);

    protected override string ExpectedSinkPath(DestinationSettings settings, string key) => $"{UriScheme}://{Bucket(settings)}/{key}";

    protected override Task<ExpectedFailure> BreakAsync(DestinationSettings settings, Breakage breakage) => Task.FromResult(Break(settings, breakage));

    private ExpectedFailure Break(DestinationSettings settings, Breakage breakage)
    {
        switch (breakage)
        {
            case Breakage.WrongCredentials:
                settings.Properties[DestinationKeys.AccessKeyId] = UnknownKeyId;
                settings.Secrets[DestinationKeys.SecretAccessKey] = WrongSecret;
                return new(DestinationFailure.Authentication, ["rejected the credentials", $"bucket '{Bucket(settings)}'", "InvalidAccessKeyId"], [WrongSecret]);
            case Breakage.MissingContainer:
                settings.Properties[DestinationKeys.Bucket] = "missing-" + Guid.NewGuid().ToString("N");
                return new(DestinationFailure.NotFound, [$"bucket '{Bucket(settings)}' does not exist"], [Secret]);
            default:
                var closed = S3ServersFixture.ClosedPortUrl();
                UseEndpoint(settings, closed);
                return new(DestinationFailure.Unreachable, [$"127.0.0.1:{closed.Port}", $"bucket '{Bucket(settings)}'"], [Secret]);
        }
    }

    protected static string Bucket(DestinationSettings settings) => settings.Properties[DestinationKeys.Bucket];
}

/// <summary>
/// Amazon S3 as AWS is used (no Endpoint: chunked SigV4 payloads, CRC32 checksums), played by fauxqs. fauxqs checks
/// no credentials at all, so the wrong-key case sends the same AWS-path requests to s3rver, which checks key ids.
/// </summary>
[Collection(S3ServersCollection.Name)]
public sealed class AmazonS3OnFauxqsFlowMatrixTests(S3ServersFixture servers) : S3FlowMatrix(servers)
{
    // The AWS path has no Endpoint property: the emulator's URL reaches the destination through its transfer options.
    private Uri _awsUrl = servers.FauxqsUrl;
    private Boto3 _client = servers.FauxqsClient;

    protected override Boto3 Client => _client;
    protected override string UriScheme => "s3";
    protected override string KeyId => S3ServersFixture.FauxqsKeyId;
    protected override string Secret => S3ServersFixture.FauxqsSecret;

    protected override void Configure(DestinationSettings settings) => settings.Properties[DestinationKeys.Region] = "eu-west-1";

    protected override void UseEndpoint(DestinationSettings settings, Uri endpoint) => _awsUrl = endpoint;

    protected override async Task<ExpectedFailure> BreakAsync(DestinationSettings settings, Breakage breakage)
    {
        if (breakage == Breakage.WrongCredentials)
        {
            await Servers.S3rverClient.CreateBucketAsync(Bucket(settings));
            (_awsUrl, _client) = (Servers.S3rverUrl, Servers.S3rverClient);
        }
        return await base.BreakAsync(settings, breakage);
    }

    internal override IExportDestination Create(DestinationSettings settings) =>
        new AmazonS3Destination(settings, S3DestinationContract.SmallParts with { AwsEmulatorUrl = _awsUrl });

    /// <summary>fauxqs returns real multipart ETags: the MD5 of the parts' MD5s, then '-' and the part count.</summary>
    protected override async Task AssertStoredInPartsAsync(DestinationSettings settings, string key, long size)
    {
        var (_, etag) = (await Client.HeadAsync(settings.Properties[DestinationKeys.Bucket], key))!.Value;
        var parts = (size + S3DestinationContract.SmallParts.PartSize - 1) / S3DestinationContract.SmallParts.PartSize;
        Assert.EndsWith($"-{parts}", etag);
    }
}

/// <summary>The kinds played by s3rver, reached through their Endpoint property with s3rver's key.</summary>
public abstract class S3rverFlowMatrix(S3ServersFixture servers) : S3FlowMatrix(servers)
{
    protected override Boto3 Client => Servers.S3rverClient;
    protected override string KeyId => S3ServersFixture.S3rverKeyId;
    protected override string Secret => S3ServersFixture.S3rverSecret;

    protected override void Configure(DestinationSettings settings) => UseEndpoint(settings, Servers.S3rverUrl);

    protected override void UseEndpoint(DestinationSettings settings, Uri endpoint) => settings.Properties[DestinationKeys.Endpoint] = endpoint.ToString();
}

/// <summary>An Amazon S3 destination with an Endpoint (an S3-compatible store), played by s3rver.</summary>
[Collection(S3ServersCollection.Name)]
public sealed class AmazonS3CompatibleOnS3rverFlowMatrixTests(S3ServersFixture servers) : S3rverFlowMatrix(servers)
{
    protected override string UriScheme => "s3";

    internal override IExportDestination Create(DestinationSettings settings) => new AmazonS3Destination(settings, S3DestinationContract.SmallParts);
}

/// <summary>Google Cloud Storage's XML API with an HMAC key, played by s3rver at an overridden Endpoint.</summary>
[Collection(S3ServersCollection.Name)]
public sealed class GoogleCloudStorageOnS3rverFlowMatrixTests(S3ServersFixture servers) : S3rverFlowMatrix(servers)
{
    protected override string UriScheme => "gs";

    protected override void Configure(DestinationSettings settings)
    {
        settings.Type = DestinationType.GoogleCloudStorage;
        base.Configure(settings);
    }

    internal override IExportDestination Create(DestinationSettings settings) => new GoogleCloudStorageDestination(settings, S3DestinationContract.SmallParts);
}
