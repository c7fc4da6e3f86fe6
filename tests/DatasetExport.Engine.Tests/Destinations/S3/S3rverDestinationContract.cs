using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>The contract on s3rver, which also checks that a request's access key id exists.</summary>
public abstract class S3rverDestinationContract(S3ServersFixture servers) : S3DestinationContract(servers)
{
    protected const string SecretThatMustNotLeak = "wJalrXUtnFEMI-must-not-leak-K7MDENG";

    protected override Boto3 Server => Servers.S3rverClient;

    internal override S3ProtocolDestination Create(string bucket, string folderPath, S3TransferOptions? transfer = null, Uri? endpoint = null) =>
        CreateWithKey(bucket, S3ServersFixture.S3rverKeyId, S3ServersFixture.S3rverSecret, folderPath, transfer ?? SmallParts, endpoint ?? Servers.S3rverUrl);

    internal abstract S3ProtocolDestination CreateWithKey(string bucket, string accessKeyId, string secretAccessKey, string folderPath, S3TransferOptions transfer, Uri endpoint);

    [Fact]
    public async Task An_unknown_access_key_id_is_an_authentication_failure_that_never_shows_the_secret()
    {
        var bucket = await Servers.NewBucketAsync(Server);
        await using var destination = CreateWithKey(bucket, "NOT-A-KNOWN-KEY", SecretThatMustNotLeak, "exports", SmallParts, Servers.S3rverUrl);
        var local = WriteRandomFile("x.bin", 100);

        var upload = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(local, "x.bin", default));
        var info = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.bin", default));
        var delete = await Assert.ThrowsAsync<DestinationException>(() => destination.DeleteAsync("x.bin", default));

        Assert.Contains("InvalidAccessKeyId", upload.Message);
        foreach (var error in new[] { upload, info, delete })
        {
            Assert.Equal(DestinationFailure.Authentication, error.Failure);
            Assert.Contains(bucket, error.Message);
            Assert.DoesNotContain(SecretThatMustNotLeak, error.ToString());
        }
        Assert.Empty(await Server.ListAsync(bucket));
    }
}
