using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using static DatasetExport.Engine.Tests.Destinations.Azure.BlobRoundTrip;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

/// <summary>The blob destinations at their edges on Azurite: sizes around the split, a bad container name, prefixes and long names.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobEdgeTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TempFolder _local = new("de-azure-edge");

    public void Dispose() => _local.Dispose();

    private AzureBlobDestination Destination(string container, string folderPath = "") =>
        new(Settings(DestinationType.AzureBlob, folderPath, new() { [DestinationKeys.Container] = container },
            new() { [DestinationKeys.ConnectionString] = azurite.ConnectionString }), SmallBlocks);

    private string RandomFile(long size)
    {
        var path = _local.Combine($"f-{size}-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes((int)size));
        return path;
    }

    [Fact]
    public async Task Sizes_around_the_single_upload_limit_and_a_block_boundary_read_back_byte_for_byte()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = Destination(container.Name, "sizes");
        long limit = SmallBlocks.SingleUploadLimitBytes, block = SmallBlocks.BlockSizeBytes;
        // 0 bytes; exactly the limit (one Put Blob); limit + 1 (blocks, the last one byte); 5 blocks + 1.
        long[] sizes = [0, limit, limit + 1, 5 * block + 1];

        foreach (var size in sizes)
        {
            var local = RandomFile(size);
            await destination.UploadFileAsync(local, $"f-{size}.bin", CancellationToken.None);

            var stored = await container.GetBlobClient($"sizes/f-{size}.bin").DownloadContentAsync();
            Assert.Equal(Sha256(File.ReadAllBytes(local)), Sha256(stored.Value.Content.ToArray()));
            Assert.Equal(new StoredFileInfo($"f-{size}.bin", size), await destination.GetFileInfoAsync($"f-{size}.bin", CancellationToken.None));
        }
    }

    [Fact]
    public async Task An_uppercase_container_name_is_refused_as_configuration_naming_it()
    {
        await using var destination = Destination("Exports");

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(_local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("Exports", error.Message);
    }

    [Fact]
    public async Task A_folder_prefix_is_no_file_and_deleting_a_missing_blob_is_fine()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = Destination(container.Name, "out");
        await destination.UploadFileAsync(SmallFile(_local), "ds/a.json", CancellationToken.None);

        Assert.Null(await destination.GetFileInfoAsync("ds", CancellationToken.None));
        await destination.DeleteAsync("ds/missing.json", CancellationToken.None);
        Assert.NotNull(await destination.GetFileInfoAsync("ds/a.json", CancellationToken.None));
    }

    [Fact]
    public async Task Unicode_names_keep_their_normalization_and_case_and_a_1024_character_name_fits()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = Destination(container.Name, "out");
        string[] names = ["caf\u00e9.json", "cafe\u0301.json", "Case.json", "case.json", ".dot/trailing..json", new string('n', 1024 - "out/".Length)];
        foreach (var name in names)
        {
            await destination.UploadFileAsync(RandomFile(100), name, CancellationToken.None);
        }

        var stored = new List<string>();
        await foreach (var item in container.GetBlobsAsync()) stored.Add(item.Name);
        Assert.Equal(names.Select(name => "out/" + name).Order(StringComparer.Ordinal), stored.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_sink_path_of_a_name_needing_escaping_is_a_url_that_reads_the_blob()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = Destination(container.Name, "with space+plus");
        const string name = "d+1/x%20y #?&=;'@caf\u00e9.json";
        var local = RandomFile(100);
        await destination.UploadFileAsync(local, name, CancellationToken.None);

        var blob = new global::Azure.Storage.Blobs.BlobClient(new Uri(destination.GetSinkPath(name)),
            new global::Azure.Storage.StorageSharedKeyCredential(AzuriteFixture.AccountName, AzuriteFixture.AccountKey));

        Assert.Equal("with space+plus/" + name, blob.Name);
        Assert.Equal(Sha256(File.ReadAllBytes(local)), Sha256((await blob.DownloadContentAsync()).Value.Content.ToArray()));
    }
}
