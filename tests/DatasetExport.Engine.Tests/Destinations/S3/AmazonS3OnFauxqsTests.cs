using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>
/// Amazon S3 as AWS is used: no Endpoint, so the SDK's defaults apply (chunked SigV4 payloads, CRC32 checksums).
/// The requests go to fauxqs, which decodes them as AWS does and returns real multipart ETags.
/// </summary>
[Collection(S3ServersCollection.Name)]
public sealed class AmazonS3OnFauxqsTests(S3ServersFixture servers) : S3DestinationContract(servers)
{
    protected override Boto3 Server => Servers.FauxqsClient;
    protected override string UriScheme => "s3";

    internal override S3ProtocolDestination Create(string bucket, string folderPath, S3TransferOptions? transfer = null, Uri? endpoint = null) =>
        new AmazonS3Destination(
            new DestinationSettings
            {
                Name = "aws",
                Type = DestinationType.AmazonS3,
                FolderPath = folderPath,
                Properties = { [DestinationKeys.Bucket] = bucket, [DestinationKeys.Region] = "eu-west-1", [DestinationKeys.AccessKeyId] = S3ServersFixture.FauxqsKeyId },
                Secrets = { [DestinationKeys.SecretAccessKey] = S3ServersFixture.FauxqsSecret },
            },
            (transfer ?? SmallParts) with { AwsEmulatorUrl = endpoint ?? Servers.FauxqsUrl });

    protected override void AssertUploadedInParts(string etag, int parts) => Assert.EndsWith($"-{parts}", etag);

    [Fact]
    public async Task A_failed_multipart_upload_is_aborted_and_leaves_no_parts_behind()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        // The check below can see an open upload: one started (and then aborted) with boto3.
        var probe = await Server.CreateMultipartUploadAsync(bucket, "probe");
        Assert.Contains(probe, Servers.FauxqsOpenMultipartUploads());
        await Server.AbortMultipartUploadAsync(bucket, "probe", probe);
        var openBefore = Servers.FauxqsOpenMultipartUploads();

        // 1 MiB parts are below S3's 5 MiB minimum: every part is stored, then CompleteMultipartUpload refuses them.
        var tooSmallParts = new S3TransferOptions { MultipartThreshold = 1L << 20, PartSize = 1L << 20, MaxPartsInFlight = 4 };
        await using var destination = Create(bucket, "exports", tooSmallParts);
        var local = WriteRandomFile("big.bin", (3L << 20) + 5);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(local, "big.bin", default));

        Assert.Contains("EntityTooSmall", error.Message);
        Assert.Contains("s3://" + bucket + "/exports/big.bin", error.Message);
        Assert.Equal(openBefore, Servers.FauxqsOpenMultipartUploads());
        Assert.Null(await Server.HeadAsync(bucket, "exports/big.bin"));
    }

    [Fact]
    public async Task A_multipart_upload_cancelled_midway_is_aborted()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        var openBefore = Servers.FauxqsOpenMultipartUploads();
        await using var destination = Create(bucket, "exports", SmallParts);
        var local = WriteRandomFile("big.bin", 40L << 20);
        using var cancellation = new CancellationTokenSource();

        var upload = destination.UploadFileAsync(local, "big.bin", cancellation.Token);
        // Cancel once the server holds a part of the upload, with most of the 8 parts still to go.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!Servers.FauxqsOpenMultipartUploads().Except(openBefore).Any(id => Servers.FauxqsStoredParts(id) > 0))
        {
            Assert.False(upload.IsCompleted, "the upload ended before any part was seen on the server");
            Assert.True(DateTime.UtcNow < deadline, "no part reached the server within 60 s");
            await Task.Delay(10);
        }
        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upload);
        Assert.Equal(openBefore, Servers.FauxqsOpenMultipartUploads());
        Assert.Null(await Server.HeadAsync(bucket, "exports/big.bin"));
    }

    [Fact]
    public async Task With_a_RoleArn_requests_wait_for_STS_and_an_STS_refusal_is_an_authentication_failure()
    {
        // fauxqs accepts any credentials for S3 but has no AssumeRole: were the role ignored, the upload would succeed.
        var bucket = await Servers.NewBucketAsync(Server);
        const string role = "arn:aws:iam::123456789012:role/exporter";
        var settings = new DestinationSettings
        {
            Name = "aws-role",
            Type = DestinationType.AmazonS3,
            Properties =
            {
                [DestinationKeys.Bucket] = bucket, [DestinationKeys.Region] = "eu-west-1", [DestinationKeys.AccessKeyId] = S3ServersFixture.FauxqsKeyId,
                [DestinationKeys.RoleArn] = role, [DestinationKeys.ExternalId] = "tenant-42",
            },
            Secrets = { [DestinationKeys.SecretAccessKey] = S3ServersFixture.FauxqsSecret },
        };
        await using var destination = new AmazonS3Destination(settings, SmallParts with { AwsEmulatorUrl = Servers.FauxqsUrl });

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(WriteRandomFile("x.bin", 10), "x.bin", default));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains($"Assuming role '{role}' through STS failed", error.Message);
        Assert.DoesNotContain(S3ServersFixture.FauxqsSecret, error.ToString());
        Assert.Empty(await Server.ListAsync(bucket));
    }

    [Fact]
    public async Task Uploading_again_replaces_the_object()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = Create(bucket, "", SmallParts);
        await destination.UploadFileAsync(WriteRandomFile("first.bin", 7L << 20), "same.bin", default);
        var second = WriteRandomFile("second.bin", 300);

        await destination.UploadFileAsync(second, "same.bin", default);

        var (sha256, size) = await Server.ReadAsync(bucket, "same.bin", Work.Combine("read.bin"));
        Assert.Equal((Sha256Of(second), 300L), (sha256, size));
    }
}
