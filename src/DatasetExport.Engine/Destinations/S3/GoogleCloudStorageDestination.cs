namespace DatasetExport.Engine.Destinations.S3;

/// <summary>
/// A Google Cloud Storage bucket through its S3-compatible XML API, signed with an HMAC key (property AccessKeyId,
/// secret SecretAccessKey). Endpoint defaults to <c>https://storage.googleapis.com</c>; Region (the signing region)
/// defaults to <c>auto</c>.
/// </summary>
public sealed class GoogleCloudStorageDestination : S3ProtocolDestination
{
    private const string ServiceName = "Google Cloud Storage";
    public static readonly Uri DefaultEndpoint = new("https://storage.googleapis.com");
    private const string DefaultSigningRegion = "auto";

    public GoogleCloudStorageDestination(DestinationSettings settings) : this(settings, S3TransferOptions.Default)
    {
    }

    internal GoogleCloudStorageDestination(DestinationSettings settings, S3TransferOptions transfer)
        : base(Connect(settings), settings.FolderPath, transfer)
    {
    }

    private static S3Connection Connect(DestinationSettings settings)
    {
        var bucket = S3Configuration.RequireBucket(settings, ServiceName);
        var endpoint = S3Configuration.OptionalEndpoint(settings, ServiceName) ?? DefaultEndpoint;
        var hmacKey = S3Configuration.OptionalAccessKey(settings, ServiceName)
            ?? throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The {ServiceName} destination '{settings.Name}' needs an HMAC key: AccessKeyId and SecretAccessKey.");
        var region = settings.GetProperty(DestinationKeys.Region)?.Trim();
        var config = S3Configuration.CompatibleConfig(endpoint, string.IsNullOrEmpty(region) ? DefaultSigningRegion : region);
        return new S3Connection(ServiceName, "gs", bucket, config, hmacKey, S3Compatible: true);
    }
}
