using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace DatasetExport.Engine.Destinations.S3;

/// <summary>
/// How one destination kind reaches its bucket: the client configuration, the credentials, and whether the server
/// only speaks the S3 protocol (S3-compatible stores, Google Cloud Storage's XML API) rather than being AWS itself.
/// </summary>
/// <param name="OwnsCredentials">The credentials were made for this destination (an assumed role) and are disposed with it.</param>
internal sealed record S3Connection(string ServiceName, string UriScheme, string Bucket, AmazonS3Config Config, AWSCredentials Credentials, bool S3Compatible,
    bool OwnsCredentials = false);

/// <summary>
/// Everything shared by destinations that speak the S3 protocol. Objects are keyed <c>FolderPath/relativePath</c>.
/// Small files go up as one PutObject; larger ones as a multipart upload whose parts stream from the file, a few at
/// a time, and which is aborted if anything fails. An S3 object appears only when its upload completes, so no
/// temporary name is needed.
/// </summary>
public abstract class S3ProtocolDestination : IExportDestination
{
    private const int MaxPartCount = 10_000;

    /// <summary>Retries of one request by the SDK (4 attempts), before the failure reaches the engine's own retries.</summary>
    private const int SdkMaxErrorRetry = 3;

    private readonly AmazonS3Client _client;
    private readonly S3Connection _connection;
    private readonly string _folder;
    private readonly S3TransferOptions _transfer;

    private protected S3ProtocolDestination(S3Connection connection, string folderPath, S3TransferOptions transfer)
    {
        _connection = connection;
        _transfer = transfer;
        _folder = NormalizePath(folderPath, "FolderPath", allowEmpty: true);
        // The SDK retries each request (a PutObject, one multipart part) on throttling, 5xx and dropped connections,
        // so a failed part is sent again alone; the engine's RetryingDestination retries the whole file after that.
        connection.Config.RetryMode = RequestRetryMode.Standard;
        connection.Config.MaxErrorRetry = SdkMaxErrorRetry;
        if (transfer.RequestTimeout is { } timeout) connection.Config.Timeout = timeout;
        try
        {
            _client = new AmazonS3Client(connection.Credentials, connection.Config);
        }
        catch (AmazonClientException error)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"Cannot set up the {connection.ServiceName} client for bucket '{connection.Bucket}': {error.Message}", error);
        }
    }

    public async Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken)
    {
        var key = KeyFor(relativePath);
        var size = new FileInfo(localPath).Length;
        try
        {
            if (size > _transfer.MultipartThreshold)
            {
                await UploadMultipartAsync(localPath, key, size, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _client.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = _connection.Bucket,
                    Key = key,
                    FilePath = localPath,
                    UseChunkEncoding = !_connection.S3Compatible,
                }, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception error) when (S3Errors.IsTranslatable(error, cancellationToken))
        {
            throw S3Errors.Translate(error, _connection, SinkPathOf(key));
        }
    }

    public async Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken)
    {
        var key = KeyFor(relativePath);
        try
        {
            var response = await _client.GetObjectAsync(_connection.Bucket, key, cancellationToken).ConfigureAwait(false);
            return response.ResponseStream;
        }
        catch (Exception error) when (S3Errors.IsTranslatable(error, cancellationToken))
        {
            throw S3Errors.Translate(error, _connection, SinkPathOf(key));
        }
    }

    public async Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken)
    {
        var key = KeyFor(relativePath);
        try
        {
            var metadata = await _client.GetObjectMetadataAsync(_connection.Bucket, key, cancellationToken).ConfigureAwait(false);
            return new StoredFileInfo(relativePath, metadata.ContentLength);
        }
        catch (AmazonS3Exception error) when (error.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // A HEAD response has no body, so a missing object and a missing bucket look alike: ask about the bucket.
            await EnsureBucketExistsAsync(key, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception error) when (S3Errors.IsTranslatable(error, cancellationToken))
        {
            throw S3Errors.Translate(error, _connection, SinkPathOf(key));
        }
    }

    public async Task DeleteAsync(string relativePath, CancellationToken cancellationToken)
    {
        var key = KeyFor(relativePath);
        try
        {
            await _client.DeleteObjectAsync(_connection.Bucket, key, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (S3Errors.IsTranslatable(error, cancellationToken))
        {
            throw S3Errors.Translate(error, _connection, SinkPathOf(key));
        }
    }

    public string GetSinkPath(string relativePath) => SinkPathOf(KeyFor(relativePath));

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (_connection.OwnsCredentials) (_connection.Credentials as IDisposable)?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The object key of a relative path: <c>FolderPath/relativePath</c>, '/' separators, no leading slash.</summary>
    internal string KeyFor(string relativePath)
    {
        var relative = NormalizePath(relativePath, "relative path", allowEmpty: false);
        return _folder.Length == 0 ? relative : _folder + "/" + relative;
    }

    private string SinkPathOf(string key) => $"{_connection.UriScheme}://{_connection.Bucket}/{key}";

    private async Task UploadMultipartAsync(string localPath, string key, long size, CancellationToken cancellationToken)
    {
        // AWS itself gets an explicit CRC32 per part (the SDK default); S3-compatible servers get plain parts.
        var checksum = _connection.S3Compatible ? null : ChecksumAlgorithm.CRC32;
        var started = await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest
        {
            BucketName = _connection.Bucket,
            Key = key,
            ChecksumAlgorithm = checksum,
        }, cancellationToken).ConfigureAwait(false);

        try
        {
            // S3 allows 10,000 parts: very large files get larger parts.
            var partSize = Math.Max(_transfer.PartSize, (size + MaxPartCount - 1) / MaxPartCount);
            var partCount = (int)((size + partSize - 1) / partSize);
            var parts = new PartETag[partCount];
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = _transfer.MaxPartsInFlight, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(Enumerable.Range(1, partCount), parallel, async (partNumber, partCancellation) =>
            {
                var offset = (partNumber - 1) * partSize;
                var uploaded = await _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _connection.Bucket,
                    Key = key,
                    UploadId = started.UploadId,
                    PartNumber = partNumber,
                    FilePath = localPath,
                    FilePosition = offset,
                    PartSize = Math.Min(partSize, size - offset),
                    ChecksumAlgorithm = checksum,
                    UseChunkEncoding = !_connection.S3Compatible,
                }, partCancellation).ConfigureAwait(false);
                parts[partNumber - 1] = new PartETag(uploaded);
            }).ConfigureAwait(false);

            await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _connection.Bucket,
                Key = key,
                UploadId = started.UploadId,
                PartETags = [.. parts],
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            var abortProblem = await TryAbortAsync(key, started.UploadId).ConfigureAwait(false);
            if (abortProblem is null || !S3Errors.IsTranslatable(error, cancellationToken)) throw;
            var failure = S3Errors.Translate(error, _connection, SinkPathOf(key));
            throw new DestinationException(failure.Failure,
                $"{failure.Message} The incomplete multipart upload {started.UploadId} could not be aborted ({abortProblem}); " +
                "a bucket lifecycle rule for incomplete multipart uploads removes it.", error);
        }
    }

    /// <summary>Aborts an unfinished multipart upload so its parts do not linger (and cost); returns why it could not.</summary>
    private async Task<string?> TryAbortAsync(string key, string uploadId)
    {
        try
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
            {
                BucketName = _connection.Bucket,
                Key = key,
                UploadId = uploadId,
            }, CancellationToken.None).ConfigureAwait(false);
            return null;
        }
        catch (Exception error) when (S3Errors.IsTranslatable(error, CancellationToken.None))
        {
            return S3Errors.Translate(error, _connection, SinkPathOf(key)).Message;
        }
    }

    private async Task EnsureBucketExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _client.HeadBucketAsync(new HeadBucketRequest { BucketName = _connection.Bucket }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (S3Errors.IsTranslatable(error, cancellationToken))
        {
            throw S3Errors.Translate(error, _connection, SinkPathOf(key), bucketLevel: true);
        }
    }

    private static string NormalizePath(string path, string what, bool allowEmpty)
    {
        var segments = (path ?? "").Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(segment => segment is "." or ".."))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {what} '{path}' must not contain '.' or '..' segments.");
        }
        if (segments.Length == 0 && !allowEmpty)
        {
            throw new ArgumentException($"The {what} is empty.", nameof(path));
        }
        return string.Join('/', segments);
    }
}
