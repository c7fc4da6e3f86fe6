using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Destinations.Sftp;

namespace DatasetExport.Engine.Destinations;

/// <summary>The one place that maps a destination type to the class that implements it and how it takes new credentials.</summary>
public static class DestinationRegistry
{
    private sealed record Kind(Func<DestinationSettings, IExportDestination> Create, CredentialRenewal? Credentials);

    private static readonly Dictionary<DestinationType, Kind> Kinds = new()
    {
        [DestinationType.Local] = new(settings => new LocalFolderDestination(settings), null),
        [DestinationType.AzureBlob] = new(settings => new AzureBlobDestination(settings), new AzureStorageCredentials()),
        [DestinationType.AzureDataLakeGen2] = new(settings => new AzureDataLakeGen2Destination(settings), new AzureStorageCredentials()),
        [DestinationType.DataLandingZone] = new(settings => new DataLandingZoneDestination(settings), new LandingZoneCredentials()),
        [DestinationType.Sftp] = new(settings => new SftpDestination(settings), new SftpCredentials()),
        [DestinationType.AmazonS3] = new(settings => new AmazonS3Destination(settings), new S3Credentials()),
        [DestinationType.GoogleCloudStorage] = new(settings => new GoogleCloudStorageDestination(settings), new S3Credentials()),
    };

    public static bool IsSupported(DestinationType type) => Kinds.ContainsKey(type);

    public static IExportDestination Create(DestinationSettings settings)
    {
        if (!Kinds.TryGetValue(settings.Type, out var kind))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"Destination type {settings.Type} is not supported yet.");
        }
        PropertySecrets.ThrowIfAny(settings);
        return kind.Create(settings);
    }

    /// <summary>How the type takes new credentials; null for a type that stores none (Local).</summary>
    public static CredentialRenewal? CredentialsOf(DestinationType type) => Kinds.TryGetValue(type, out var kind) ? kind.Credentials : null;
}
