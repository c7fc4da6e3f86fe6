using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;

namespace DatasetExport.Engine.Destinations.S3;

/// <summary>
/// The credentials of a role assumed through STS with the destination's own credentials, renewed 15 minutes before
/// the session expires. STS is called with the same configuration as the bucket: the destination's region on AWS,
/// or its Endpoint for S3-compatible stores that serve STS there (MinIO does).
/// </summary>
internal sealed class AssumedRoleCredentials : RefreshingAWSCredentials
{
    private readonly AmazonSecurityTokenServiceClient _sts;
    private readonly AssumeRoleRequest _request;

    public AssumedRoleCredentials(AWSCredentials source, AmazonSecurityTokenServiceConfig config, string roleArn, string? externalId)
    {
        _sts = new AmazonSecurityTokenServiceClient(source, config);
        _request = new AssumeRoleRequest { RoleArn = roleArn, ExternalId = externalId, RoleSessionName = $"DatasetExport-{Guid.NewGuid():N}" };
        PreemptExpiryTime = TimeSpan.FromMinutes(15);
    }

    protected override CredentialsRefreshState GenerateNewCredentials() => GenerateNewCredentialsAsync().GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        try
        {
            var session = (await _sts.AssumeRoleAsync(_request).ConfigureAwait(false)).Credentials;
            var expiration = session.Expiration ?? throw new DestinationException(DestinationFailure.Authentication,
                $"STS returned credentials for role '{_request.RoleArn}' without an expiration time.");
            return new CredentialsRefreshState(new ImmutableCredentials(session.AccessKeyId, session.SecretAccessKey, session.SessionToken), expiration.ToUniversalTime());
        }
        catch (AmazonServiceException error) when (error.StatusCode != 0)
        {
            throw new DestinationException(DestinationFailure.Authentication,
                $"Assuming role '{_request.RoleArn}' through STS failed ({(int)error.StatusCode} {error.ErrorCode}: {error.Message}).", error);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _sts.Dispose();
        base.Dispose(disposing);
    }
}
