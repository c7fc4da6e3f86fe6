using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Destinations.Sftp;

namespace DatasetExport.Engine.Destinations;

/// <summary>The one place that maps a destination type to the class that implements it.</summary>
public static class DestinationRegistry
{
    private static readonly Dictionary<DestinationType, Func<DestinationSettings, IExportDestination>> Factories = new()
    {
        [DestinationType.Local] = settings => new LocalFolderDestination(settings),
        [DestinationType.AzureBlob] = settings => new AzureBlobDestination(settings),
        [DestinationType.AzureDataLakeGen2] = settings => new AzureDataLakeGen2Destination(settings),
        [DestinationType.DataLandingZone] = settings => new DataLandingZoneDestination(settings),
        [DestinationType.Sftp] = settings => new SftpDestination(settings),
        [DestinationType.AmazonS3] = settings => new AmazonS3Destination(settings),
        [DestinationType.GoogleCloudStorage] = settings => new GoogleCloudStorageDestination(settings),
    };

    public static bool IsSupported(DestinationType type) => Factories.ContainsKey(type);

    public static IExportDestination Create(DestinationSettings settings)
    {
        if (!Factories.TryGetValue(settings.Type, out var factory))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"Destination type {settings.Type} is not supported yet.");
        }
        PropertySecrets.ThrowIfAny(settings);
        return factory(settings);
    }
}
