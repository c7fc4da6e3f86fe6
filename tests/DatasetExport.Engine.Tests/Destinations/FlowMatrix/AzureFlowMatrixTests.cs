using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Tests.Destinations.Azure;

namespace DatasetExport.Engine.Tests.Destinations.FlowMatrix;

/// <summary>
/// The flow matrix for the Azure kinds on Azurite, read back with a separate BlobContainerClient holding the account
/// key. Files above 1 MiB are staged in 1 MiB blocks.
/// </summary>
public abstract class AzureFlowMatrix(AzuriteFixture azurite) : FlowMatrixContract
{
    private static readonly AzureClientTuning SmallBlocks = BlobRoundTrip.SmallBlocks with { SingleUploadLimitBytes = 1 << 20, BlockSizeBytes = 1 << 20 };

    protected AzuriteFixture Azurite => azurite;

    protected override long UploadSplitThreshold => SmallBlocks.SingleUploadLimitBytes;

    /// <summary>The container (file system) the settings write to.</summary>
    protected abstract string ContainerOf(DestinationSettings settings);

    /// <summary>Settings of this kind for <paramref name="container"/> on <paramref name="serviceUri"/>.</summary>
    protected abstract DestinationSettings Settings(string container, Uri serviceUri);

    internal abstract IExportDestination Create(DestinationSettings settings, AzureClientTuning tuning);

    internal override IExportDestination Create(DestinationSettings settings) => Create(settings, SmallBlocks);

    protected override async Task<DestinationSettings> NewDestinationAsync() => Settings((await Azurite.CreateContainerAsync()).Name, Azurite.ServiceUri);

    protected override async Task<Dictionary<string, long>?> ListAsync(DestinationSettings settings)
    {
        var container = Azurite.AdminClient.GetBlobContainerClient(ContainerOf(settings));
        if (!(await container.ExistsAsync()).Value) return null;
        var stored = new Dictionary<string, long>();
        await foreach (var item in container.GetBlobsAsync())
        {
            stored[item.Name] = item.Properties.ContentLength ?? 0;
        }
        return stored;
    }

    protected override async Task DownloadAsync(DestinationSettings settings, string key, string localPath) =>
        await Azurite.AdminClient.GetBlobContainerClient(ContainerOf(settings)).GetBlobClient(key).DownloadToAsync(localPath);

    protected override string ExpectedSinkPath(DestinationSettings settings, string key) => $"{Azurite.ServiceUri}/{ContainerOf(settings)}/{key}";

    protected override async Task AssertStoredInPartsAsync(DestinationSettings settings, string key, long size)
    {
        var blob = Azurite.AdminClient.GetBlobContainerClient(ContainerOf(settings)).GetBlockBlobClient(key);
        var blocks = (await blob.GetBlockListAsync(BlockListTypes.Committed)).Value.CommittedBlocks.ToList();
        Assert.Equal((size + SmallBlocks.BlockSizeBytes - 1) / SmallBlocks.BlockSizeBytes, blocks.Count);
    }

    protected override Task<ExpectedFailure> BreakAsync(DestinationSettings settings, Breakage breakage) => Task.FromResult(Break(settings, breakage));

    private ExpectedFailure Break(DestinationSettings settings, Breakage breakage)
    {
        var container = ContainerOf(settings);
        switch (breakage)
        {
            case Breakage.WrongCredentials:
                return UseWrongCredentials(settings);
            case Breakage.MissingContainer:
                var missing = $"missing{Guid.NewGuid():N}";
                Replace(settings, Settings(missing, Azurite.ServiceUri));
                return new(DestinationFailure.NotFound, [$"{Azurite.ServiceUri}/{missing}", "does not exist"], Secrets(settings));
            default:
                var closed = new UriBuilder(Azurite.ServiceUri) { Port = AzuriteFixture.ClosedPort() }.Uri;
                Replace(settings, Settings(container, closed));
                return new(DestinationFailure.Unreachable, [$"{closed.ToString().TrimEnd('/')}/{container}"], Secrets(settings));
        }
    }

    /// <summary>Makes the credentials wrong (a random key, a forged signature) and returns what must be reported.</summary>
    protected abstract ExpectedFailure UseWrongCredentials(DestinationSettings settings);

    /// <summary>The secrets the settings hold, and the parts of them that must not leak either.</summary>
    protected abstract string[] Secrets(DestinationSettings settings);

    protected static string RandomAccountKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));

    private static void Replace(DestinationSettings settings, DestinationSettings with)
    {
        settings.Properties = with.Properties;
        settings.Secrets = with.Secrets;
    }
}

/// <summary>An Azure Blob container reached with a connection string.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureBlobFlowMatrixTests(AzuriteFixture azurite) : AzureFlowMatrix(azurite)
{
    protected override string ContainerOf(DestinationSettings settings) => settings.Properties[DestinationKeys.Container];

    protected override DestinationSettings Settings(string container, Uri serviceUri) => BlobRoundTrip.Settings(DestinationType.AzureBlob, "",
        new() { [DestinationKeys.Container] = container },
        new() { [DestinationKeys.ConnectionString] = ConnectionString(serviceUri, AzuriteFixture.AccountKey) });

    internal override IExportDestination Create(DestinationSettings settings, AzureClientTuning tuning) => new AzureBlobDestination(settings, tuning);

    protected override ExpectedFailure UseWrongCredentials(DestinationSettings settings)
    {
        var wrongKey = RandomAccountKey();
        settings.Secrets[DestinationKeys.ConnectionString] = ConnectionString(Azurite.ServiceUri, wrongKey);
        return new(DestinationFailure.Authentication, ["rejected the credentials", $"{Azurite.ServiceUri}/{ContainerOf(settings)}"], [wrongKey, .. Secrets(settings)]);
    }

    protected override string[] Secrets(DestinationSettings settings) => [settings.Secrets[DestinationKeys.ConnectionString], AzuriteFixture.AccountKey];

    private static string ConnectionString(Uri serviceUri, string accountKey) =>
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteFixture.AccountName};AccountKey={accountKey};BlobEndpoint={serviceUri};";
}

/// <summary>An ADLS Gen2 file system signed in with the account key, written through the Blob API (Azurite has no dfs endpoint).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureDataLakeGen2FlowMatrixTests(AzuriteFixture azurite) : AzureFlowMatrix(azurite)
{
    protected override string ContainerOf(DestinationSettings settings) => settings.Properties[DestinationKeys.FileSystem];

    protected override DestinationSettings Settings(string container, Uri serviceUri) => BlobRoundTrip.Settings(DestinationType.AzureDataLakeGen2, "",
        new()
        {
            [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
            [DestinationKeys.FileSystem] = container,
            [DestinationKeys.ServiceUri] = serviceUri.ToString(),
        },
        new() { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey });

    internal override IExportDestination Create(DestinationSettings settings, AzureClientTuning tuning) => new AzureDataLakeGen2Destination(settings, tuning);

    protected override string ExpectedSinkPath(DestinationSettings settings, string key) =>
        $"abfss://{ContainerOf(settings)}@{AzuriteFixture.AccountName}.dfs.core.windows.net/{key}";

    protected override ExpectedFailure UseWrongCredentials(DestinationSettings settings)
    {
        var wrongKey = RandomAccountKey();
        settings.Secrets[DestinationKeys.AccountKey] = wrongKey;
        return new(DestinationFailure.Authentication, ["rejected the credentials", $"{Azurite.ServiceUri}/{ContainerOf(settings)}"], [wrongKey]);
    }

    protected override string[] Secrets(DestinationSettings settings) => [AzuriteFixture.AccountKey];
}

/// <summary>A Data Landing Zone: a container reached only through its SAS URI.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class DataLandingZoneFlowMatrixTests(AzuriteFixture azurite) : AzureFlowMatrix(azurite)
{
    protected override string ContainerOf(DestinationSettings settings) => new BlobUriBuilder(new Uri(settings.Secrets[DestinationKeys.SasUri])).BlobContainerName;

    protected override DestinationSettings Settings(string container, Uri serviceUri)
    {
        var sas = AzuriteFixture.ContainerSas(Azurite.AdminClient.GetBlobContainerClient(container), BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        return BlobRoundTrip.Settings(DestinationType.DataLandingZone, "",
            secrets: new() { [DestinationKeys.SasUri] = sas.Replace(Azurite.ServiceUri.ToString(), serviceUri.ToString().TrimEnd('/')) });
    }

    internal override IExportDestination Create(DestinationSettings settings, AzureClientTuning tuning) => new DataLandingZoneDestination(settings, tuning);

    protected override ExpectedFailure UseWrongCredentials(DestinationSettings settings)
    {
        var sasUri = settings.Secrets[DestinationKeys.SasUri];
        var forged = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        settings.Secrets[DestinationKeys.SasUri] = sasUri.Replace(Uri.EscapeDataString(BlobRoundTrip.Signature(sasUri)), Uri.EscapeDataString(forged));
        return new(DestinationFailure.Authentication, ["rejected the credentials", "check the SAS URI", $"{Azurite.ServiceUri}/{ContainerOf(settings)}"], [forged]);
    }

    protected override string[] Secrets(DestinationSettings settings) => [BlobRoundTrip.Signature(settings.Secrets[DestinationKeys.SasUri])];
}
