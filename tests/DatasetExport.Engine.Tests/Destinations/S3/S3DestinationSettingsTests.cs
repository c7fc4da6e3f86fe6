using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>Settings an S3-protocol destination refuses before it sends any request, and how the registry builds them.</summary>
public sealed class S3DestinationSettingsTests
{
    private static DestinationSettings Settings(DestinationType type, params (string Key, string Value)[] properties)
    {
        var settings = new DestinationSettings { Name = "target", Type = type, FolderPath = "exports" };
        foreach (var (key, value) in properties) settings.Properties[key] = value;
        return settings;
    }

    [Fact]
    public async Task The_registry_builds_each_kind_with_its_own_uri_scheme()
    {
        var aws = Settings(DestinationType.AmazonS3, (DestinationKeys.Bucket, "exports-bucket"), (DestinationKeys.Region, "eu-west-1"),
            (DestinationKeys.AccessKeyId, "AKIDEXAMPLE"));
        aws.Secrets[DestinationKeys.SecretAccessKey] = "secret";
        var gcs = Settings(DestinationType.GoogleCloudStorage, (DestinationKeys.Bucket, "gcs-bucket"), (DestinationKeys.AccessKeyId, "GOOGHMACID"));
        gcs.Secrets[DestinationKeys.SecretAccessKey] = "secret";

        await using var amazon = DestinationRegistry.Create(aws);
        await using var google = DestinationRegistry.Create(gcs);

        Assert.IsType<AmazonS3Destination>(amazon);
        Assert.IsType<GoogleCloudStorageDestination>(google);
        Assert.Equal("s3://exports-bucket/exports/web/part-0.json", amazon.GetSinkPath("web/part-0.json"));
        Assert.Equal("gs://gcs-bucket/exports/web/part-0.json", google.GetSinkPath("web/part-0.json"));
    }

    [Theory]
    [InlineData(DestinationType.AmazonS3)]
    [InlineData(DestinationType.GoogleCloudStorage)]
    public void A_bucket_is_required(DestinationType type)
    {
        var settings = Settings(type, (DestinationKeys.AccessKeyId, "id"));
        settings.Secrets[DestinationKeys.SecretAccessKey] = "secret";

        var error = Assert.Throws<DestinationException>(() => DestinationRegistry.Create(settings));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("needs a Bucket", error.Message);
        Assert.Contains("'target'", error.Message);
    }

    [Theory]
    [InlineData("ftp://files.example.com")]
    [InlineData("storage.example.com")]
    public void An_endpoint_must_be_an_http_or_https_url(string endpoint)
    {
        var settings = Settings(DestinationType.AmazonS3, (DestinationKeys.Bucket, "b-1"), (DestinationKeys.Endpoint, endpoint), (DestinationKeys.AccessKeyId, "id"));
        settings.Secrets[DestinationKeys.SecretAccessKey] = "secret";

        var error = Assert.Throws<DestinationException>(() => DestinationRegistry.Create(settings));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains(endpoint, error.Message);
    }

    [Fact]
    public void An_access_key_id_without_its_secret_is_refused_and_so_is_a_secret_alone()
    {
        var idOnly = Settings(DestinationType.AmazonS3, (DestinationKeys.Bucket, "b-1"), (DestinationKeys.Region, "us-east-1"), (DestinationKeys.AccessKeyId, "AKIDEXAMPLE"));
        var secretOnly = Settings(DestinationType.AmazonS3, (DestinationKeys.Bucket, "b-1"), (DestinationKeys.Region, "us-east-1"));
        secretOnly.Secrets[DestinationKeys.SecretAccessKey] = "only-the-secret";

        foreach (var settings in new[] { idOnly, secretOnly })
        {
            var error = Assert.Throws<DestinationException>(() => DestinationRegistry.Create(settings));
            Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
            Assert.Contains("both AccessKeyId and SecretAccessKey", error.Message);
            Assert.DoesNotContain("only-the-secret", error.ToString());
        }
    }

    [Fact]
    public void Google_Cloud_Storage_needs_an_HMAC_key()
    {
        var error = Assert.Throws<DestinationException>(() => DestinationRegistry.Create(Settings(DestinationType.GoogleCloudStorage, (DestinationKeys.Bucket, "gcs-bucket"))));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("HMAC", error.Message);
    }

    [Fact]
    public async Task A_folder_path_with_dot_segments_is_refused()
    {
        var settings = Settings(DestinationType.GoogleCloudStorage, (DestinationKeys.Bucket, "gcs-bucket"), (DestinationKeys.AccessKeyId, "GOOGHMACID"));
        settings.Secrets[DestinationKeys.SecretAccessKey] = "secret";
        settings.FolderPath = "exports/../other";

        var error = Assert.Throws<DestinationException>(() => DestinationRegistry.Create(settings));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        settings.FolderPath = "";
        await using var atRoot = DestinationRegistry.Create(settings);
        Assert.Equal("gs://gcs-bucket/a.json", atRoot.GetSinkPath("a.json"));
    }
}
