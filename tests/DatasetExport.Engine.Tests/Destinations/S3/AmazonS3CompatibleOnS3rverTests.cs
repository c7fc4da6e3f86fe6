using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>An Amazon S3 destination with an Endpoint: an S3-compatible store, played by s3rver.</summary>
[Collection(S3ServersCollection.Name)]
public sealed class AmazonS3CompatibleOnS3rverTests(S3ServersFixture servers) : S3rverDestinationContract(servers)
{
    protected override string UriScheme => "s3";

    internal override S3ProtocolDestination CreateWithKey(string bucket, string accessKeyId, string secretAccessKey, string folderPath, S3TransferOptions transfer, Uri endpoint) =>
        new AmazonS3Destination(
            new DestinationSettings
            {
                Name = "compatible",
                Type = DestinationType.AmazonS3,
                FolderPath = folderPath,
                Properties = { [DestinationKeys.Bucket] = bucket, [DestinationKeys.Endpoint] = endpoint.ToString(), [DestinationKeys.AccessKeyId] = accessKeyId },
                Secrets = { [DestinationKeys.SecretAccessKey] = secretAccessKey },
            },
            transfer);

    [Fact]
    public async Task The_S3_compatible_settings_are_what_keeps_objects_intact()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        var local = WriteRandomFile("data.bin", 50_000);

        // The same upload with AWS's defaults (chunked payload signing, CRC32 trailer) sent to the same server.
        var awsDefaults = new AmazonS3Destination(
            new DestinationSettings
            {
                Name = "aws-defaults",
                Type = DestinationType.AmazonS3,
                Properties = { [DestinationKeys.Bucket] = bucket, [DestinationKeys.Region] = "us-east-1", [DestinationKeys.AccessKeyId] = S3ServersFixture.S3rverKeyId },
                Secrets = { [DestinationKeys.SecretAccessKey] = S3ServersFixture.S3rverSecret },
            },
            SmallParts with { AwsEmulatorUrl = Servers.S3rverUrl });
        await using (awsDefaults)
        {
            await awsDefaults.UploadFileAsync(local, "defaults.bin", default);
        }
        await using (var compatible = Create(bucket, "", SmallParts))
        {
            await compatible.UploadFileAsync(local, "compatible.bin", default);
        }

        var (defaultsSha256, defaultsSize) = await Server.ReadAsync(bucket, "defaults.bin", Work.Combine("defaults.read"));
        var (compatibleSha256, compatibleSize) = await Server.ReadAsync(bucket, "compatible.bin", Work.Combine("compatible.read"));
        Assert.Equal((Sha256Of(local), 50_000L), (compatibleSha256, compatibleSize));
        Assert.NotEqual(Sha256Of(local), defaultsSha256);
        Assert.NotEqual(50_000L, defaultsSize);
        Assert.Contains("chunk-signature", File.ReadAllText(Work.Combine("defaults.read")));
    }
}
