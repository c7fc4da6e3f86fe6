namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// A Data Landing Zone: a Blob container reached only through the container SAS URI the platform hands out
/// (secret SasUri). Writing needs the SAS to grant 'w' (or 'c' for new blobs); verifying runs needs 'r'. Failures
/// name the container URL without its query, never the signature.
/// </summary>
public sealed class DataLandingZoneDestination : BlobContainerDestination
{
    private const string Kind = "DataLandingZone";

    public DataLandingZoneDestination(DestinationSettings settings) : this(settings, AzureClientTuning.Default)
    {
    }

    public DataLandingZoneDestination(DestinationSettings settings, AzureClientTuning tuning) : base(Connect(settings, tuning), settings.FolderPath, tuning)
    {
    }

    /// <summary>The blob's https URL, without the SAS.</summary>
    public override string GetSinkPath(string relativePath) => BlobUrl(relativePath);

    private static AzureBlobConnection Connect(DestinationSettings settings, AzureClientTuning tuning)
    {
        var sasUri = settings.GetSecret(DestinationKeys.SasUri);
        if (string.IsNullOrEmpty(sasUri))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {Kind} destination '{settings.Name}' needs the container SasUri.");
        }
        return AzureBlobConnection.FromSasUri(sasUri, settings.GetProperty(DestinationKeys.Container), Kind, tuning);
    }
}
