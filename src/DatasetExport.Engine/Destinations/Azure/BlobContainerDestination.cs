using System.Buffers;
using System.Text;
using Azure.Storage;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Win32.SafeHandles;

namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// The blob layer the Azure destinations share: files become block blobs named <c>&lt;FolderPath&gt;/&lt;relativePath&gt;</c>
/// in one container. Small files go up in one Put Blob; larger ones are read from disk block by block (a few
/// blocks in flight, never the whole file in memory), staged in parallel and committed in one Put Block List,
/// so a reader sees either the previous blob or the complete new one, never a partial file.
/// </summary>
public abstract class BlobContainerDestination : IExportDestination
{
    /// <summary>Blob Storage limits: blocks in one blob, bytes in one Put Blob request (5000 MiB).</summary>
    private const int MaxBlocksPerBlob = 50_000;
    private const long MaxSingleUploadBytes = 5000L * 1024 * 1024;

    private readonly AzureBlobConnection _connection;
    private readonly AzureClientTuning _tuning;
    private readonly string _prefix;

    private protected BlobContainerDestination(AzureBlobConnection connection, string folderPath, AzureClientTuning tuning)
    {
        if (tuning.BlockSizeBytes <= 0 || tuning.MaxConcurrentBlocks <= 0 || tuning.SingleUploadLimitBytes is < 0 or > MaxSingleUploadBytes)
        {
            throw new ArgumentException(
                $"Block size and concurrency must be positive, the single upload limit between 0 and {MaxSingleUploadBytes} bytes.", nameof(tuning));
        }
        _connection = connection;
        _tuning = tuning;
        _prefix = NormalizeFolder(folderPath);
    }

    public async Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken)
    {
        var blobName = BlobName(relativePath);
        var blob = _connection.Container.GetBlockBlobClient(blobName);
        try
        {
            using var file = File.OpenHandle(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
            var length = RandomAccess.GetLength(file);
            if (length <= _tuning.SingleUploadLimitBytes)
            {
                await using var content = new FileStream(file, FileAccess.Read, 1 << 16, isAsync: true);
                // The SDK would split streams above its own threshold; this keeps small files to one request.
                var oneRequest = new BlobUploadOptions { TransferOptions = new StorageTransferOptions { InitialTransferSize = Math.Max(length, 1) } };
                await blob.UploadAsync(content, oneRequest, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await UploadInBlocksAsync(blob, localPath, file, length, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception error) when (AzureErrors.ShouldTranslate(error, cancellationToken))
        {
            throw AzureErrors.Translate(error, BlobAccess.Write, blobName, _connection);
        }
    }

    public async Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken)
    {
        var blobName = BlobName(relativePath);
        try
        {
            var download = await _connection.Container.GetBlobClient(blobName).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return download.Value.Content;
        }
        catch (Exception error) when (AzureErrors.ShouldTranslate(error, cancellationToken))
        {
            throw AzureErrors.Translate(error, BlobAccess.Read, blobName, _connection);
        }
    }

    public async Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken)
    {
        var blobName = BlobName(relativePath);
        try
        {
            var properties = await _connection.Container.GetBlobClient(blobName).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return new StoredFileInfo(relativePath, properties.Value.ContentLength);
        }
        catch (global::Azure.RequestFailedException missing) when (missing.Status == 404 && missing.ErrorCode is "BlobNotFound" or null)
        {
            // A HEAD response has no body; the error code comes from a header, and a missing container says so there.
            return null;
        }
        catch (Exception error) when (AzureErrors.ShouldTranslate(error, cancellationToken))
        {
            throw AzureErrors.Translate(error, BlobAccess.Read, blobName, _connection);
        }
    }

    public async Task DeleteAsync(string relativePath, CancellationToken cancellationToken)
    {
        var blobName = BlobName(relativePath);
        try
        {
            await _connection.Container.GetBlobClient(blobName).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (AzureErrors.ShouldTranslate(error, cancellationToken))
        {
            throw AzureErrors.Translate(error, BlobAccess.Delete, blobName, _connection);
        }
    }

    public abstract string GetSinkPath(string relativePath);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// The blob's URL without any query (so without a SAS). Each name segment is escaped, but characters a URL path
    /// allows as they are stay readable (<c>exportTime=202611260130</c>, not <c>exportTime%3D202611260130</c>).
    /// </summary>
    private protected string BlobUrl(string relativePath) =>
        _connection.Location + "/" + string.Join('/', BlobName(relativePath).Split('/').Select(EscapePathSegment));

    private static string EscapePathSegment(string segment)
    {
        var escaped = Uri.EscapeDataString(segment);
        foreach (var allowed in "=:@!$&'()*+,;")
        {
            escaped = escaped.Replace(Uri.EscapeDataString(allowed.ToString()), allowed.ToString(), StringComparison.Ordinal);
        }
        return escaped;
    }

    /// <summary>The blob's name: the folder, then the relative path with '/' separators.</summary>
    private protected string BlobName(string relativePath)
    {
        var segments = relativePath.Replace('\\', '/').Split('/');
        if (relativePath.Length == 0 || segments.Any(segment => segment is "" or "." or ".."))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The path '{relativePath}' is not a plain relative path (empty, '.' or '..' parts).");
        }
        return _prefix + string.Join('/', segments);
    }

    private async Task UploadInBlocksAsync(BlockBlobClient blob, string localPath, SafeFileHandle file, long length, CancellationToken cancellationToken)
    {
        var blockSize = (int)Math.Max(_tuning.BlockSizeBytes, (length + MaxBlocksPerBlob - 1) / MaxBlocksPerBlob);
        var blockCount = (int)((length + blockSize - 1) / blockSize);
        // Ids unique to this upload (all of one length, as the service requires) so blocks left over from an
        // interrupted earlier attempt at the same name are never committed by mistake.
        var uploadId = Guid.NewGuid().ToString("N");
        var blockIds = Enumerable.Range(0, blockCount)
            .Select(index => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{uploadId}-{index:D6}")))
            .ToArray();

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _tuning.MaxConcurrentBlocks, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, blockCount), parallel, async (index, token) =>
        {
            var offset = (long)index * blockSize;
            var size = (int)Math.Min(blockSize, length - offset);
            var buffer = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                var read = 0;
                while (read < size)
                {
                    var count = await RandomAccess.ReadAsync(file, buffer.AsMemory(read, size - read), offset + read, token).ConfigureAwait(false);
                    if (count == 0) throw new IOException($"'{localPath}' shrank while it was being uploaded.");
                    read += count;
                }
                using var block = new MemoryStream(buffer, 0, size, writable: false);
                await blob.StageBlockAsync(blockIds[index], block, cancellationToken: token).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }).ConfigureAwait(false);

        await blob.CommitBlockListAsync(blockIds, new CommitBlockListOptions(), cancellationToken).ConfigureAwait(false);
    }

    private static string NormalizeFolder(string folderPath)
    {
        var trimmed = folderPath.Replace('\\', '/').Trim('/');
        if (trimmed.Split('/').Any(segment => segment is "." or ".." || (segment.Length == 0 && trimmed.Length > 0)))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The FolderPath '{folderPath}' has empty, '.' or '..' parts.");
        }
        return trimmed.Length == 0 ? "" : trimmed + "/";
    }
}
