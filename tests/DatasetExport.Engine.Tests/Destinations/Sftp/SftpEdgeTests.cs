using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

/// <summary>The SFTP destination at its edges against OpenSSH: empty files, odd names, files and links where folders are expected.</summary>
[Collection(SftpServerCollection.Name)]
public sealed class SftpEdgeTests : IDisposable
{
    private readonly SftpServerFixture _server;
    private readonly TempFolder _local = new("de-sftp-edge");
    private readonly string _folder = "edge-" + Guid.NewGuid().ToString("N")[..8];

    public SftpEdgeTests(SftpServerFixture server)
    {
        _server = server;
        Directory.CreateDirectory(OnDisk());
        TestProcess.Run("chown", null, null, $"{_server.UserName}:", OnDisk());
    }

    public void Dispose() => _local.Dispose();

    private string OnDisk(params string[] relative) => Path.Combine([_server.HomePath, _folder, .. relative]);

    private SftpDestination Destination(string folderPath = "") => new(_server.Settings(remotePath: _folder, folderPath: folderPath));

    private string LocalFile(int size)
    {
        var path = _local.Combine(Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(size));
        return path;
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public async Task An_empty_file_and_names_with_special_characters_land_exactly_as_named()
    {
        await using var destination = Destination("with space+plus");
        string[] names = ["empty.json", "d+1/x%20y #?&=;.json", "caf\u00e9/nfc.json", "cafe\u0301/nfd.json", "Case/A.json", "case/a.json", "..lead/trail../.dot.json"];
        foreach (var name in names)
        {
            var local = LocalFile(name == "empty.json" ? 0 : 1000);
            await destination.UploadFileAsync(local, name, default);

            Assert.Equal(Sha256(local), Sha256(OnDisk(["with space+plus", .. name.Split('/')])));
            Assert.Equal(new FileInfo(local).Length, (await destination.GetFileInfoAsync(name, default))!.Size);
        }
        Assert.Empty(Directory.GetFiles(OnDisk(), "*.part", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_folder_is_no_file_and_deleting_in_a_missing_folder_is_fine()
    {
        await using var destination = Destination();
        await destination.UploadFileAsync(LocalFile(10), "ds/a.json", default);

        Assert.Null(await destination.GetFileInfoAsync("ds", default));
        await destination.DeleteAsync("no-folder/missing.json", default);
    }

    [Fact]
    public async Task A_file_where_a_folder_should_be_fails_naming_it_and_leaves_it_untouched()
    {
        File.WriteAllText(OnDisk("ds"), "a file, not a folder");
        await using var destination = Destination();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "ds/a.json", default));

        Assert.Contains($"/~/{_folder}/ds", error.Message, StringComparison.Ordinal);
        Assert.Contains("not a folder", error.Message);
        Assert.Equal("a file, not a folder", File.ReadAllText(OnDisk("ds")));
    }

    [Fact]
    public async Task A_remote_path_that_is_a_file_is_refused_naming_it()
    {
        File.WriteAllText(OnDisk("file"), "x");
        await using var destination = new SftpDestination(_server.Settings(remotePath: $"{_folder}/file"));

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "a.json", default));

        Assert.Equal(DestinationFailure.NotFound, error.Failure);
        Assert.Contains("is not a folder", error.Message);
    }

    [Fact]
    public async Task A_symlinked_folder_is_written_through()
    {
        Directory.CreateDirectory(OnDisk("real"));
        TestProcess.Run("chown", null, null, $"{_server.UserName}:", OnDisk("real"));
        File.CreateSymbolicLink(OnDisk("link"), OnDisk("real"));
        await using var viaSubfolder = Destination();
        await using var viaRemotePath = new SftpDestination(_server.Settings(remotePath: $"{_folder}/link"));
        var local = LocalFile(5000);

        await viaSubfolder.UploadFileAsync(local, "link/a.json", default);
        await viaRemotePath.UploadFileAsync(local, "b.json", default);

        Assert.Equal(Sha256(local), Sha256(OnDisk("real", "a.json")));
        Assert.Equal(Sha256(local), Sha256(OnDisk("real", "b.json")));
    }
}
