using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;

namespace DatasetExport.Engine.Tests.Destinations.Local;

/// <summary>The Local destination at its edges: replacing a file, odd names, a file where a folder should be.</summary>
public sealed class LocalFolderDestinationEdgeTests : IDisposable
{
    private readonly TempFolder _folder = new("de-local-edge");

    public void Dispose() => _folder.Dispose();

    private LocalFolderDestination Destination(string folderPath = "") => new(new DestinationSettings
    {
        Name = "local",
        Type = DestinationType.Local,
        FolderPath = folderPath,
        Properties = { [LocalFolderDestination.PathProperty] = _folder.Combine("root") },
    });

    private string LocalFile(string content)
    {
        var path = _folder.Combine(Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public async Task Uploading_again_replaces_the_file_like_every_other_destination()
    {
        // S3, Azure and SFTP replace; the engine deletes whatever is under a name whose upload failed, so a
        // refused replacement would lose the file already there.
        await using var destination = Destination();
        await destination.UploadFileAsync(LocalFile("first"), "a/b.json", default);
        await destination.UploadFileAsync(LocalFile("second, longer"), "a/b.json", default);

        Assert.Equal("second, longer", File.ReadAllText(destination.GetSinkPath("a/b.json")));
        Assert.Equal(["b.json"], Directory.GetFiles(Path.GetDirectoryName(destination.GetSinkPath("a/b.json"))!).Select(Path.GetFileName));
    }

    [Fact]
    public async Task An_empty_file_and_names_needing_escaping_elsewhere_land_byte_for_byte_where_the_sink_path_says()
    {
        await using var destination = Destination("exports/with space");
        var names = new[] { "d+1/x%20y#?&=.json", "caf\u00e9/..dots../z.json", "caf\u0065\u0301/nfd.json" };
        foreach (var name in names)
        {
            await destination.UploadFileAsync(LocalFile(name), name, default);
            Assert.Equal(name, File.ReadAllText(destination.GetSinkPath(name)));
            Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(name), (await destination.GetFileInfoAsync(name, default))!.Size);
        }
        await destination.UploadFileAsync(LocalFile(""), "empty.json", default);
        Assert.Equal(0, (await destination.GetFileInfoAsync("empty.json", default))!.Size);
    }

    [Fact]
    public async Task A_file_where_a_folder_should_be_fails_clearly_and_leaves_nothing_behind()
    {
        await using var destination = Destination();
        Directory.CreateDirectory(_folder.Combine("root"));
        File.WriteAllText(_folder.Combine("root", "a"), "a file, not a folder");

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile("x"), "a/b.json", default));

        Assert.Contains(destination.GetSinkPath("a/b.json"), error.Message);
        Assert.Equal("a file, not a folder", File.ReadAllText(_folder.Combine("root", "a")));
        Assert.Equal(["a"], Directory.GetFileSystemEntries(_folder.Combine("root")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_folder_is_no_file_and_deleting_a_missing_file_is_fine()
    {
        await using var destination = Destination();
        await destination.UploadFileAsync(LocalFile("x"), "a/b.json", default);

        Assert.Null(await destination.GetFileInfoAsync("a", default));
        await destination.DeleteAsync("a/missing.json", default);
        await destination.DeleteAsync("no-folder/missing.json", default);
    }
}
