using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using Amazon.S3;
using Amazon.SecurityToken;

namespace DatasetExport.Engine.Destinations.S3;

/// <summary>
/// An Amazon S3 bucket (property Bucket, optional Region), or any S3-compatible store when Endpoint is given.
/// Credentials, first match wins: AccessKeyId + secret SecretAccessKey; ProfileName from the shared credentials and
/// config files; else the SDK's default chain (environment, default profile, container or instance role). With
/// RoleArn (and ExternalId) those credentials assume the role through STS, renewed before it expires.
/// </summary>
public sealed class AmazonS3Destination : S3ProtocolDestination
{
    private const string ServiceName = "Amazon S3";
    private const string DefaultCompatibleRegion = "us-east-1";

    public AmazonS3Destination(DestinationSettings settings) : this(settings, S3TransferOptions.Default)
    {
    }

    internal AmazonS3Destination(DestinationSettings settings, S3TransferOptions transfer)
        : base(Connect(settings, transfer), settings.FolderPath, transfer)
    {
    }

    private static S3Connection Connect(DestinationSettings settings, S3TransferOptions transfer)
    {
        var bucket = S3Configuration.RequireBucket(settings, ServiceName);
        var endpoint = S3Configuration.OptionalEndpoint(settings, ServiceName);
        var profileName = settings.GetProperty(DestinationKeys.ProfileName)?.Trim();
        var profile = string.IsNullOrEmpty(profileName) ? null : FindProfile(settings, profileName);
        var region = settings.GetProperty(DestinationKeys.Region)?.Trim();
        if (string.IsNullOrEmpty(region)) region = profile?.Region?.SystemName;

        AmazonS3Config config;
        if (endpoint is not null)
        {
            config = S3Configuration.CompatibleConfig(endpoint, region ?? DefaultCompatibleRegion);
        }
        else if (transfer.AwsEmulatorUrl is { } emulator)
        {
            config = new AmazonS3Config { ServiceURL = emulator.ToString(), ForcePathStyle = true, AuthenticationRegion = region ?? DefaultCompatibleRegion };
        }
        else
        {
            // Without a Region the SDK looks in the environment, the default profile and instance metadata.
            config = string.IsNullOrEmpty(region) ? new AmazonS3Config() : new AmazonS3Config { RegionEndpoint = RegionEndpoint.GetBySystemName(region) };
        }

        var credentials = S3Configuration.OptionalAccessKey(settings, ServiceName)
            ?? (profile is null ? DefaultChainCredentials(settings, config) : ProfileCredentials(settings, profile));
        var roleArn = settings.GetProperty(DestinationKeys.RoleArn)?.Trim();
        if (string.IsNullOrEmpty(roleArn))
        {
            return new S3Connection(ServiceName, "s3", bucket, config, credentials, S3Compatible: endpoint is not null);
        }
        try
        {
            var roleCredentials = new AssumedRoleCredentials(credentials, StsConfigLike(config), roleArn, NullIfEmpty(settings.GetProperty(DestinationKeys.ExternalId)));
            return new S3Connection(ServiceName, "s3", bucket, config, roleCredentials, S3Compatible: endpoint is not null, OwnsCredentials: true);
        }
        catch (AmazonClientException error)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"Cannot set up STS to assume role '{roleArn}' for the Amazon S3 destination '{settings.Name}': {error.Message}", error);
        }
    }

    /// <summary>STS where the bucket is: the same region, or the same endpoint.</summary>
    private static AmazonSecurityTokenServiceConfig StsConfigLike(AmazonS3Config s3)
    {
        var sts = new AmazonSecurityTokenServiceConfig();
        if (s3.ServiceURL is { } url)
        {
            sts.ServiceURL = url;
            sts.AuthenticationRegion = s3.AuthenticationRegion;
        }
        else if (s3.RegionEndpoint is { } region)
        {
            sts.RegionEndpoint = region;
        }
        return sts;
    }

    private static CredentialProfile FindProfile(DestinationSettings settings, string profileName)
    {
        if (!new CredentialProfileStoreChain().TryGetProfile(profileName, out var profile))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The Amazon S3 destination '{settings.Name}' names profile '{profileName}', which is not in the shared credentials or config files.");
        }
        return profile;
    }

    private static AWSCredentials ProfileCredentials(DestinationSettings settings, CredentialProfile profile)
    {
        if (!AWSCredentialsFactory.TryGetAWSCredentials(profile, new CredentialProfileStoreChain(), out var credentials))
        {
            throw new DestinationException(DestinationFailure.Authentication,
                $"Profile '{profile.Name}' of the Amazon S3 destination '{settings.Name}' holds no usable credentials.");
        }
        return credentials;
    }

    private static AWSCredentials DefaultChainCredentials(DestinationSettings settings, AmazonS3Config config)
    {
        try
        {
            return DefaultAWSCredentialsIdentityResolver.GetCredentials(config);
        }
        catch (Exception error) when (error is AmazonClientException or ProfileNotFoundException)
        {
            throw new DestinationException(DestinationFailure.Authentication,
                $"The Amazon S3 destination '{settings.Name}' has no AccessKeyId or ProfileName, and the default credential chain " +
                "(environment variables, default profile, container or instance role) found no credentials.", error);
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
