using Amazon;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>
/// Where an Amazon S3 destination finds its credentials, proven against s3rver, which refuses unknown key ids:
/// explicit keys, then a named profile in the shared credentials file, then the SDK's default chain. The AWS_*
/// variables and the SDK's profiles location are set for each test and restored; instance metadata lookups are
/// turned off so nothing leaves the machine. (The SDK reads AWS_SHARED_CREDENTIALS_FILE once per process, so the
/// test file is given through <see cref="AWSConfigs.AWSProfilesLocation"/>.)
/// </summary>
[Collection(S3ServersCollection.Name)]
public sealed class AmazonS3CredentialTests : IDisposable
{
    private readonly S3ServersFixture _servers;
    private readonly TempFolder _work = new("de-s3-credentials");
    private readonly Dictionary<string, string?> _savedEnvironment = new();
    private readonly string? _savedProfilesLocation = AWSConfigs.AWSProfilesLocation;

    public AmazonS3CredentialTests(S3ServersFixture servers)
    {
        _servers = servers;
        var credentials = _work.Combine("credentials");
        File.WriteAllText(credentials, $"""
            [exporter]
            aws_access_key_id = {S3ServersFixture.S3rverKeyId}
            aws_secret_access_key = {S3ServersFixture.S3rverSecret}

            [revoked]
            aws_access_key_id = REVOKED-KEY-ID
            aws_secret_access_key = revoked-secret
            """);
        AWSConfigs.AWSProfilesLocation = credentials;
        SetEnvironment("AWS_EC2_METADATA_DISABLED", "true");
        SetEnvironment("AWS_PROFILE", null);
        SetEnvironment("AWS_ACCESS_KEY_ID", null);
        SetEnvironment("AWS_SECRET_ACCESS_KEY", null);
        SetEnvironment("AWS_SESSION_TOKEN", null);
    }

    public void Dispose()
    {
        foreach (var (name, value) in _savedEnvironment) Environment.SetEnvironmentVariable(name, value);
        AWSConfigs.AWSProfilesLocation = _savedProfilesLocation;
        _work.Dispose();
    }

    [Fact]
    public async Task A_named_profile_from_the_shared_credentials_file_signs_the_requests()
    {
        var bucket = await _servers.NewBucketAsync(_servers.S3rverClient);

        await UploadAsync(Settings(bucket, (DestinationKeys.ProfileName, "exporter")));

        Assert.Contains("probe.txt", (await _servers.S3rverClient.ListAsync(bucket)).Keys);
    }

    [Fact]
    public async Task A_profile_with_an_unknown_key_is_an_authentication_failure()
    {
        var bucket = await _servers.NewBucketAsync(_servers.S3rverClient);

        var error = await Assert.ThrowsAsync<DestinationException>(() => UploadAsync(Settings(bucket, (DestinationKeys.ProfileName, "revoked"))));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.DoesNotContain("revoked-secret", error.ToString());
    }

    [Fact]
    public void A_profile_that_does_not_exist_is_a_configuration_error()
    {
        var error = Assert.Throws<DestinationException>(() => new AmazonS3Destination(Settings("any-bucket", (DestinationKeys.ProfileName, "nobody"))));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("'nobody'", error.Message);
    }

    [Fact]
    public async Task Explicit_keys_win_over_the_profile()
    {
        var bucket = await _servers.NewBucketAsync(_servers.S3rverClient);
        var settings = Settings(bucket, (DestinationKeys.ProfileName, "revoked"), (DestinationKeys.AccessKeyId, S3ServersFixture.S3rverKeyId));
        settings.Secrets[DestinationKeys.SecretAccessKey] = S3ServersFixture.S3rverSecret;

        await UploadAsync(settings);

        Assert.Contains("probe.txt", (await _servers.S3rverClient.ListAsync(bucket)).Keys);
    }

    [Fact]
    public async Task Without_keys_or_profile_the_default_chain_reads_the_environment()
    {
        var bucket = await _servers.NewBucketAsync(_servers.S3rverClient);
        SetEnvironment("AWS_ACCESS_KEY_ID", S3ServersFixture.S3rverKeyId);
        SetEnvironment("AWS_SECRET_ACCESS_KEY", S3ServersFixture.S3rverSecret);

        await UploadAsync(Settings(bucket));
        Assert.Contains("probe.txt", (await _servers.S3rverClient.ListAsync(bucket)).Keys);

        SetEnvironment("AWS_ACCESS_KEY_ID", "ROTATED-AWAY-KEY");
        var error = await Assert.ThrowsAsync<DestinationException>(() => UploadAsync(Settings(bucket)));
        Assert.Equal(DestinationFailure.Authentication, error.Failure);
    }

    private DestinationSettings Settings(string bucket, params (string Key, string Value)[] properties)
    {
        var settings = new DestinationSettings
        {
            Name = "credentials",
            Type = DestinationType.AmazonS3,
            Properties = { [DestinationKeys.Bucket] = bucket, [DestinationKeys.Endpoint] = _servers.S3rverUrl.ToString() },
        };
        foreach (var (key, value) in properties) settings.Properties[key] = value;
        return settings;
    }

    private async Task UploadAsync(DestinationSettings settings)
    {
        var local = _work.Combine("probe.txt");
        File.WriteAllText(local, "credentials probe");
        await using var destination = new AmazonS3Destination(settings);
        await destination.UploadFileAsync(local, "probe.txt", default);
    }

    private void SetEnvironment(string name, string? value)
    {
        _savedEnvironment.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
    }
}
