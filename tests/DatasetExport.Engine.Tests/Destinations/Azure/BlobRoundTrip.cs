using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

/// <summary>The checks every Azure destination kind goes through, read back with an independent admin client.</summary>
internal static class BlobRoundTrip
{
    /// <summary>Small blocks so a 1 MB file is staged in many blocks; one quick retry keeps failure tests short.</summary>
    public static readonly AzureClientTuning SmallBlocks = new()
    {
        SingleUploadLimitBytes = 256 * 1024,
        BlockSizeBytes = 64 * 1024,
        MaxConcurrentBlocks = 3,
        MaxRetries = 1,
        RetryDelay = TimeSpan.FromMilliseconds(50),
    };

    public const int BigFileSize = 1024 * 1024 + 123;

    public static readonly (string RelativePath, int Size)[] Files =
    [
        ("a.json", 1000),
        ("ds1/exportTime=202611260100/part-00001.parquet", 10_000),
        ("ds1/exportTime=202611260100/part-00002.json.gz", BigFileSize),
    ];

    /// <summary>Writes <see cref="Files"/> with random content into <paramref name="folder"/>.</summary>
    public static void WriteLocalFiles(TempFolder folder)
    {
        foreach (var (relativePath, size) in Files)
        {
            var path = folder.Combine(relativePath.Split('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(size));
        }
    }

    /// <summary>
    /// Uploads <see cref="Files"/>, checks names (FolderPath/relativePath), content (sha256 via the admin client),
    /// that the big file was staged in blocks, then GetFileInfo, OpenRead and Delete through the destination.
    /// </summary>
    public static async Task UploadReadBackAndDeleteAsync(IExportDestination destination, BlobContainerClient admin, string folderPath)
    {
        using var local = new TempFolder("de-azure");
        WriteLocalFiles(local);
        foreach (var (relativePath, _) in Files)
        {
            await destination.UploadFileAsync(local.Combine(relativePath.Split('/')), relativePath, CancellationToken.None);
        }

        var prefix = folderPath.Trim('/').Length == 0 ? "" : folderPath.Trim('/') + "/";
        var stored = new List<string>();
        await foreach (var item in admin.GetBlobsAsync())
        {
            stored.Add(item.Name);
        }
        Assert.Equal(Files.Select(file => prefix + file.RelativePath).Order(StringComparer.Ordinal), stored.Order(StringComparer.Ordinal));

        foreach (var (relativePath, size) in Files)
        {
            var localPath = local.Combine(relativePath.Split('/'));
            var download = await admin.GetBlobClient(prefix + relativePath).DownloadContentAsync();
            Assert.Equal(Sha256(File.ReadAllBytes(localPath)), Sha256(download.Value.Content.ToArray()));

            var info = await destination.GetFileInfoAsync(relativePath, CancellationToken.None);
            Assert.Equal(new StoredFileInfo(relativePath, size), info);

            await using var read = await destination.OpenReadAsync(relativePath, CancellationToken.None);
            Assert.Equal(Sha256(File.ReadAllBytes(localPath)), await SHA256.HashDataAsync(read));
        }

        var big = Files.Single(file => file.Size == BigFileSize).RelativePath;
        var blocks = await admin.GetBlockBlobClient(prefix + big).GetBlockListAsync(BlockListTypes.Committed);
        Assert.Equal((BigFileSize + SmallBlocks.BlockSizeBytes - 1) / SmallBlocks.BlockSizeBytes, blocks.Value.CommittedBlocks.Count());
        Assert.All(blocks.Value.CommittedBlocks.SkipLast(1), block => Assert.Equal(SmallBlocks.BlockSizeBytes, block.SizeLong));

        Assert.Null(await destination.GetFileInfoAsync("missing.json", CancellationToken.None));
        var missing = await Assert.ThrowsAsync<DestinationException>(() => destination.OpenReadAsync("missing.json", CancellationToken.None));
        Assert.Equal(DestinationFailure.NotFound, missing.Failure);
        Assert.Contains(prefix + "missing.json", missing.Message);

        await destination.DeleteAsync(big, CancellationToken.None);
        Assert.Null(await destination.GetFileInfoAsync(big, CancellationToken.None));
        Assert.False((await admin.GetBlobClient(prefix + big).ExistsAsync()).Value);
        await destination.DeleteAsync(big, CancellationToken.None);
    }

    public static byte[] Sha256(byte[] content) => SHA256.HashData(content);

    /// <summary>Neither the message nor anything in the exception chain (inner messages, stack, Data) shows a secret.</summary>
    public static void AssertNoSecrets(Exception error, params string[] secrets) =>
        SecretAssert.Absent(SecretAssert.Everything(error), secrets);

    /// <summary>The 'sig' value of a SAS URI.</summary>
    public static string Signature(string sasUri) => Uri.UnescapeDataString(new BlobUriBuilder(new Uri(sasUri)).Sas.Signature);

    public static DestinationSettings Settings(DestinationType type, string folderPath, Dictionary<string, string>? properties = null, Dictionary<string, string>? secrets = null) =>
        new()
        {
            Name = $"{type}-test",
            Type = type,
            FolderPath = folderPath,
            Properties = new Dictionary<string, string>(properties ?? [], StringComparer.OrdinalIgnoreCase),
            Secrets = new Dictionary<string, string>(secrets ?? [], StringComparer.OrdinalIgnoreCase),
        };

    /// <summary>A small local file to upload in failure tests.</summary>
    public static string SmallFile(TempFolder folder)
    {
        var path = folder.Combine("small.json");
        File.WriteAllText(path, "{\"id\":1}\n");
        return path;
    }
}
