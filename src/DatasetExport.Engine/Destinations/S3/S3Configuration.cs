using Amazon.Runtime;
using Amazon.S3;

namespace DatasetExport.Engine.Destinations.S3;

/// <summary>Reads the settings every S3-protocol destination shares and builds the client configuration.</summary>
internal static class S3Configuration
{
    public static string RequireBucket(DestinationSettings settings, string service)
    {
        var bucket = settings.GetProperty(DestinationKeys.Bucket);
        if (string.IsNullOrWhiteSpace(bucket))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {service} destination '{settings.Name}' needs a Bucket.");
        }
        return bucket.Trim();
    }

    public static Uri? OptionalEndpoint(DestinationSettings settings, string service)
    {
        var text = settings.GetProperty(DestinationKeys.Endpoint);
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The {service} destination '{settings.Name}' has Endpoint '{text}', which is not an http:// or https:// URL.");
        }
        return endpoint;
    }

    /// <summary>Both parts of an access key, or null when neither is given; one without the other is a mistake.</summary>
    public static BasicAWSCredentials? OptionalAccessKey(DestinationSettings settings, string service)
    {
        var accessKeyId = settings.GetProperty(DestinationKeys.AccessKeyId);
        var secret = settings.GetSecret(DestinationKeys.SecretAccessKey);
        var hasId = !string.IsNullOrWhiteSpace(accessKeyId);
        var hasSecret = !string.IsNullOrEmpty(secret);
        if (hasId != hasSecret)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The {service} destination '{settings.Name}' needs both AccessKeyId and SecretAccessKey, or neither.");
        }
        return hasId ? new BasicAWSCredentials(accessKeyId!.Trim(), secret) : null;
    }

    /// <summary>
    /// A client for a server that speaks the S3 protocol but is not AWS (S3-compatible stores, Google Cloud Storage's
    /// XML API): path-style addressing, and checksums only where the protocol requires them. Uploads there must also
    /// turn chunk encoding off: such servers store the aws-chunked framing as the object's bytes, or reject it.
    /// </summary>
    public static AmazonS3Config CompatibleConfig(Uri endpoint, string signingRegion) => new()
    {
        ServiceURL = endpoint.ToString(),
        AuthenticationRegion = signingRegion,
        ForcePathStyle = true,
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    };
}
