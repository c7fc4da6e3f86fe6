using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.S3;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>Google Cloud Storage's XML API with an HMAC key, played by s3rver at an overridden Endpoint.</summary>
[Collection(S3ServersCollection.Name)]
public sealed class GoogleCloudStorageOnS3rverTests(S3ServersFixture servers) : S3rverDestinationContract(servers)
{
    protected override string UriScheme => "gs";

    internal override S3ProtocolDestination CreateWithKey(string bucket, string accessKeyId, string secretAccessKey, string folderPath, S3TransferOptions transfer, Uri endpoint) =>
        new GoogleCloudStorageDestination(
            new DestinationSettings
            {
                Name = "gcs",
                Type = DestinationType.GoogleCloudStorage,
                FolderPath = folderPath,
                Properties = { [DestinationKeys.Bucket] = bucket, [DestinationKeys.Endpoint] = endpoint.ToString(), [DestinationKeys.AccessKeyId] = accessKeyId },
                Secrets = { [DestinationKeys.SecretAccessKey] = secretAccessKey },
            },
            transfer);
}
