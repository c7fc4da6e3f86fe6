using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

/// <summary>
/// The SFTP destination against a real OpenSSH server. Uploads are checked on the server's disk (the user's home),
/// independently of SSH.NET, by SHA-256.
/// </summary>
[Collection(SftpServerCollection.Name)]
public sealed class SftpDestinationTests : IDisposable
{
    private readonly SftpServerFixture _server;
    private readonly TempFolder _local = new("de-sftp-local");
    private readonly string _folder = "t-" + Guid.NewGuid().ToString("N")[..8];

    public SftpDestinationTests(SftpServerFixture server)
    {
        _server = server;
    }

    public void Dispose() => _local.Dispose();

    /// <summary>Where a file uploaded by <see cref="SettingsForTest"/> lands on the server's disk.</summary>
    private string OnDisk(params string[] relative) => Path.Combine([_server.HomePath, _folder, .. relative]);

    /// <summary>Password settings whose RemotePath is a fresh folder in the user's home, created on the server's disk.</summary>
    private DestinationSettings SettingsForTest(SshdServer? server = null, string folderPath = "")
    {
        CreateRemoteBaseFolder();
        return _server.Settings(server, remotePath: _folder, folderPath: folderPath);
    }

    private void CreateRemoteBaseFolder()
    {
        var folder = OnDisk();
        if (Directory.Exists(folder)) return;
        Directory.CreateDirectory(folder);
        TestProcess.Run("chown", null, null, $"{_server.UserName}:", folder);
    }

    private string LocalFile(int size, string name = "data.bin")
    {
        var path = _local.Combine(Guid.NewGuid().ToString("N") + "-" + name);
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    private void AssertNoTemporaryFiles() =>
        Assert.Empty(Directory.GetFiles(OnDisk(), "*.part", SearchOption.AllDirectories));

    private void AssertNoSecrets(Exception error) => SecretAssert.Absent(SecretAssert.Everything(error), _server.Password, _server.KeyPassphrase);

    [Fact]
    public async Task Password_upload_creates_nested_folders_and_stores_the_exact_bytes()
    {
        var local = LocalFile(100_000);
        await using var destination = new SftpDestination(SettingsForTest(folderPath: "exports/daily"));

        await destination.UploadFileAsync(local, "web/exportTime=202601020304/part-00000.json", default);

        var stored = OnDisk("exports", "daily", "web", "exportTime=202601020304", "part-00000.json");
        Assert.Equal(Sha256(local), Sha256(stored));
        Assert.Equal(["part-00000.json"], Directory.GetFiles(Path.GetDirectoryName(stored)!).Select(Path.GetFileName));
        AssertNoTemporaryFiles();
    }

    [Theory]
    [InlineData("id_rsa", false)]
    [InlineData("id_rsa_pem", false)]
    [InlineData("id_ecdsa", false)]
    [InlineData("id_ed25519", false)]
    [InlineData("id_ed25519_protected", true)]
    [InlineData("id_rsa_pem_protected", true)]
    public async Task Key_file_authentication_uploads(string keyName, bool passphraseProtected)
    {
        var settings = SettingsForTest();
        settings.Secrets.Clear(); // no password: only the key can get in
        settings.Properties[DestinationKeys.KeyFile] = _server.KeyPath(keyName);
        if (passphraseProtected) settings.Secrets[DestinationKeys.KeyPassphrase] = _server.KeyPassphrase;
        var local = LocalFile(10_000);
        await using var destination = new SftpDestination(settings);

        await destination.UploadFileAsync(local, $"{keyName}/file.parquet", default);

        Assert.Equal(Sha256(local), Sha256(OnDisk(keyName, "file.parquet")));
        // sshd logs the fingerprint of the client key it accepted: this very key got in.
        Assert.Contains($"Accepted publickey for {_server.UserName} from 127.0.0.1", _server.Server.Log, StringComparison.Ordinal);
        Assert.Contains(_server.ClientKeyFingerprint(keyName), _server.Server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_20_MiB_file_arrives_complete_and_never_shows_partly_under_its_final_name()
    {
        const long size = 20 * 1024 * 1024;
        var local = LocalFile((int)size);
        var final = OnDisk("big", "part-00000.parquet");
        await using var destination = new SftpDestination(SettingsForTest());
        var partialSizesSeen = new List<long>();
        using var uploaded = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            // Whenever the final name exists during the upload, it must already hold the whole file.
            while (!uploaded.IsCancellationRequested)
            {
                var file = new FileInfo(final);
                if (file.Exists && file.Length != size) partialSizesSeen.Add(file.Length);
                await Task.Delay(5);
            }
        });

        await destination.UploadFileAsync(local, "big/part-00000.parquet", default);
        await uploaded.CancelAsync();
        await watcher;

        Assert.Empty(partialSizesSeen);
        Assert.Equal(Sha256(local), Sha256(final));
        Assert.Equal(new StoredFileInfo("big/part-00000.parquet", size), await destination.GetFileInfoAsync("big/part-00000.parquet", default));
        AssertNoTemporaryFiles();
    }

    [Fact]
    public async Task File_info_open_read_and_delete_work_on_stored_files()
    {
        var local = LocalFile(5_000);
        await using var destination = new SftpDestination(SettingsForTest());
        await destination.UploadFileAsync(local, "a/b.json", default);

        Assert.Equal(new StoredFileInfo("a/b.json", 5_000), await destination.GetFileInfoAsync("a/b.json", default));
        Assert.Null(await destination.GetFileInfoAsync("a/missing.json", default));
        Assert.Null(await destination.GetFileInfoAsync("missing/folder/x.json", default));
        Assert.Null(await destination.GetFileInfoAsync("a", default)); // a folder is not a file

        await using (var stream = await destination.OpenReadAsync("a/b.json", default))
        using (var copy = new MemoryStream())
        {
            await stream.CopyToAsync(copy);
            Assert.Equal(await File.ReadAllBytesAsync(local), copy.ToArray());
        }

        await destination.DeleteAsync("a/b.json", default);
        Assert.False(File.Exists(OnDisk("a", "b.json")));
        Assert.Null(await destination.GetFileInfoAsync("a/b.json", default));
        await destination.DeleteAsync("a/b.json", default); // deleting twice is fine

        var missing = await Assert.ThrowsAsync<DestinationException>(() => destination.OpenReadAsync("a/b.json", default));
        Assert.Equal(DestinationFailure.NotFound, missing.Failure);
        Assert.Contains("a/b.json", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Uploading_again_replaces_the_file_atomically()
    {
        var first = LocalFile(3_000);
        var second = LocalFile(7_000);
        await using var destination = new SftpDestination(SettingsForTest());

        await destination.UploadFileAsync(first, "manifest.json", default);
        await destination.UploadFileAsync(second, "manifest.json", default);

        Assert.Equal(Sha256(second), Sha256(OnDisk("manifest.json")));
        AssertNoTemporaryFiles();
    }

    [Fact]
    public async Task Servers_refusing_posix_rename_get_a_plain_rename_that_still_replaces()
    {
        // internal-sftp -P posix-rename: the plain SFTP rename left refuses to replace an existing file (checked by hand
        // with OpenSSH's sftp: "rename a b" fails with "Failure" on this server and replaces on the default one).
        var server = _server.StartServer(sftpServerOptions: ["-P", "posix-rename"]);
        var first = LocalFile(3_000);
        var second = LocalFile(4_000);
        await using var destination = new SftpDestination(SettingsForTest(server));

        await destination.UploadFileAsync(first, "x/manifest.json", default);
        await destination.UploadFileAsync(second, "x/manifest.json", default);

        Assert.Equal(Sha256(second), Sha256(OnDisk("x", "manifest.json")));
        AssertNoTemporaryFiles();
    }

    [Fact]
    public async Task Parallel_uploads_on_one_instance_create_shared_folders_once_and_all_arrive()
    {
        var files = Enumerable.Range(0, 8).Select(i => (Local: LocalFile(50_000 + i), Remote: $"p/q/r/part-{i:D5}.json")).ToList();
        await using var destination = new SftpDestination(SettingsForTest());

        await Task.WhenAll(files.Select(f => destination.UploadFileAsync(f.Local, f.Remote, default)));

        foreach (var (local, remote) in files)
        {
            Assert.Equal(Sha256(local), Sha256(OnDisk(remote.Split('/'))));
        }
        AssertNoTemporaryFiles();
    }

    [Fact]
    public async Task A_dropped_connection_is_reopened_for_the_next_upload()
    {
        var server = _server.StartServer();
        await using var destination = new SftpDestination(SettingsForTest(server));
        var first = LocalFile(1_000);
        var second = LocalFile(2_000);
        await destination.UploadFileAsync(first, "one.json", default);

        server.DropConnections();
        await destination.UploadFileAsync(second, "two.json", default);

        Assert.Equal(Sha256(second), Sha256(OnDisk("two.json")));
        Assert.Equal(2, CountOccurrences(server.Log, $"Accepted password for {_server.UserName}"));
    }

    [Fact]
    public async Task A_connection_dropped_mid_upload_is_reopened_the_upload_retried_and_its_temporary_file_removed()
    {
        var server = _server.StartServer();
        await using var destination = new SftpDestination(SettingsForTest(server));
        var local = LocalFile(32 * 1024 * 1024);
        var folder = OnDisk("mid");
        var dropped = false;
        using var uploaded = new CancellationTokenSource();
        var saboteur = Task.Run(async () =>
        {
            // Cut the connection once the first temporary file has started to fill.
            while (!uploaded.IsCancellationRequested && !dropped)
            {
                if (Directory.Exists(folder) && Directory.GetFiles(folder, "*.part").Any(f => new FileInfo(f).Length > 0))
                {
                    server.DropConnections();
                    dropped = true;
                }
                await Task.Delay(1);
            }
        });

        await destination.UploadFileAsync(local, "mid/part-00000.parquet", default);
        await uploaded.CancelAsync();
        await saboteur;

        Assert.True(dropped, "the upload finished before the connection could be cut");
        Assert.Equal(Sha256(local), Sha256(OnDisk("mid", "part-00000.parquet")));
        Assert.Equal(2, CountOccurrences(server.Log, $"Accepted password for {_server.UserName}"));
        Assert.Empty(Directory.GetFiles(folder, "*.part"));
    }

    [Fact]
    public async Task A_cancelled_upload_stops_and_leaves_neither_a_temporary_nor_a_final_file()
    {
        await using var destination = new SftpDestination(SettingsForTest());
        var local = LocalFile(32 * 1024 * 1024);
        var folder = OnDisk("cancel");
        using var cancel = new CancellationTokenSource();
        var upload = destination.UploadFileAsync(local, "cancel/part-00000.json", cancel.Token);
        var sawTemporary = false;
        while (!upload.IsCompleted && !sawTemporary)
        {
            sawTemporary = Directory.Exists(folder) && Directory.GetFiles(folder, "*.part").Any(f => new FileInfo(f).Length > 0);
            await Task.Delay(1);
        }
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upload);

        Assert.True(sawTemporary, "the upload finished before it could be cancelled");
        Assert.Empty(Directory.GetFileSystemEntries(folder));
        // The connection stays usable after a cancellation.
        await destination.UploadFileAsync(LocalFile(10), "cancel/after.json", default);
        Assert.True(File.Exists(OnDisk("cancel", "after.json")));
    }

    [Fact]
    public async Task A_missing_local_file_is_reported_as_such_and_nothing_is_written()
    {
        await using var destination = new SftpDestination(SettingsForTest());
        var missing = _local.Combine("no-such-file.json");

        var error = await Assert.ThrowsAsync<FileNotFoundException>(() => destination.UploadFileAsync(missing, "m/x.json", default));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(OnDisk()));
    }

    [Fact]
    public async Task Wrong_password_is_an_authentication_failure_without_the_password()
    {
        var settings = SettingsForTest();
        settings.Secrets[DestinationKeys.Password] = "wrong-" + _server.Password;
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains(_server.UserName, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(settings.Secrets[DestinationKeys.Password], error.ToString(), StringComparison.Ordinal);
        AssertNoSecrets(error);
    }

    [Fact]
    public async Task Wrong_key_passphrase_is_an_authentication_failure_without_the_passphrase()
    {
        var settings = SettingsForTest();
        settings.Secrets.Clear();
        settings.Properties[DestinationKeys.KeyFile] = _server.KeyPath("id_ed25519_protected");
        settings.Secrets[DestinationKeys.KeyPassphrase] = "not-" + _server.KeyPassphrase;
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains("id_ed25519_protected", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(settings.Secrets[DestinationKeys.KeyPassphrase], error.ToString(), StringComparison.Ordinal);
        AssertNoSecrets(error);
    }

    /// <summary>SSH.NET's own words about a key it cannot read are passed on: they must quote no line of the key.</summary>
    [Theory]
    [InlineData("id_ed25519", "cut in half")]
    [InlineData("id_rsa_pem", "cut in half")]
    [InlineData("id_rsa", "altered")]
    [InlineData("id_rsa_pem_protected", "as it is")]
    [InlineData("id_ed25519.pub", "as it is")]
    public async Task A_key_file_that_cannot_be_used_is_named_by_its_path_without_its_content(string keyName, string damage)
    {
        var original = File.ReadAllText(_server.KeyPath(keyName));
        var content = damage switch
        {
            "cut in half" => original[..(original.Length / 2)],
            "altered" => original.Replace('A', 'B'),
            _ => original,
        };
        var keyFile = _local.Combine($"{keyName}-{damage.Replace(' ', '-')}");
        File.WriteAllText(keyFile, content);
        var settings = SettingsForTest();
        settings.Secrets.Clear();
        settings.Properties[DestinationKeys.KeyFile] = keyFile;
        settings.Secrets[DestinationKeys.KeyPassphrase] = "not-" + _server.KeyPassphrase;
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains($"The KeyFile '{keyFile}' cannot be used", error.Message, StringComparison.Ordinal);
        var keyLines = content.Split('\n', StringSplitOptions.TrimEntries).Where(line => line.Length >= 16 && !line.StartsWith("-----", StringComparison.Ordinal));
        SecretAssert.Absent(SecretAssert.Everything(error), [.. keyLines, settings.Secrets[DestinationKeys.KeyPassphrase]]);
        Assert.False(File.Exists(OnDisk("x.json")));
    }

    [Fact]
    public async Task Encrypted_key_without_passphrase_is_a_configuration_error()
    {
        var settings = SettingsForTest();
        settings.Secrets.Clear();
        settings.Properties[DestinationKeys.KeyFile] = _server.KeyPath("id_ed25519_protected");
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("KeyPassphrase", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_key_file_is_a_configuration_error()
    {
        var settings = SettingsForTest();
        settings.Properties[DestinationKeys.KeyFile] = _server.KeyPath("no-such-key");
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.json", default));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("no-such-key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_pin_is_a_host_key_mismatch_showing_both_fingerprints()
    {
        var settings = SettingsForTest();
        var wrongPin = _server.FingerprintOf(SftpServerFixture.RekeyedHostKey);
        settings.Properties[DestinationKeys.HostKeyFingerprint] = wrongPin;
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.HostKeyMismatch, error.Failure);
        Assert.Contains(wrongPin, error.Message, StringComparison.Ordinal);
        Assert.Contains(_server.FingerprintOf(SftpServerFixture.HostKey), error.Message, StringComparison.Ordinal);
        AssertNoSecrets(error);
    }

    [Fact]
    public async Task Trust_on_first_use_records_the_real_key_and_a_changed_key_is_refused_later()
    {
        var port = LoopbackPort.Free();
        var settings = SettingsForTest(_server.StartServer(port: port));
        settings.Properties.Remove(DestinationKeys.HostKeyFingerprint);
        settings.Secrets[DestinationKeys.Password] = "not-needed-to-read-the-key";

        var recorded = await SftpDestination.ReadHostKeyFingerprintAsync(settings, default);

        Assert.Equal(_server.FingerprintOf(SftpServerFixture.HostKey), recorded);
        settings.Properties[DestinationKeys.HostKeyFingerprint] = recorded;
        settings.Secrets[DestinationKeys.Password] = _server.Password;
        await using (var destination = new SftpDestination(settings))
        {
            await destination.UploadFileAsync(LocalFile(100), "first.json", default);
        }

        // The same address now answers with another key.
        _server.StopServer(port);
        var rekeyed = _server.StartServer(SftpServerFixture.RekeyedHostKey, port);
        await using (var destination = new SftpDestination(settings))
        {
            var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(100), "second.json", default));
            Assert.Equal(DestinationFailure.HostKeyMismatch, error.Failure);
            Assert.Contains(recorded, error.Message, StringComparison.Ordinal);
            Assert.Contains(_server.FingerprintOf(SftpServerFixture.RekeyedHostKey), error.Message, StringComparison.Ordinal);
            AssertNoSecrets(error);
        }
        Assert.DoesNotContain("Accepted password", rekeyed.Log, StringComparison.Ordinal);
        Assert.False(File.Exists(OnDisk("second.json")));
    }

    [Fact]
    public async Task Without_a_pin_nothing_connects()
    {
        var settings = SettingsForTest();
        settings.Properties.Remove(DestinationKeys.HostKeyFingerprint);
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("HostKeyFingerprint", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_closed_port_is_unreachable()
    {
        var settings = _server.Settings();
        settings.Properties[DestinationKeys.Port] = LoopbackPort.Free().ToString();
        await using var destination = new SftpDestination(settings);

        var upload = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));
        var fingerprint = await Assert.ThrowsAsync<DestinationException>(() => SftpDestination.ReadHostKeyFingerprintAsync(settings, default));

        Assert.Equal(DestinationFailure.Unreachable, upload.Failure);
        Assert.Equal(DestinationFailure.Unreachable, fingerprint.Failure);
        Assert.Contains($"127.0.0.1:{settings.Properties[DestinationKeys.Port]}", upload.Message, StringComparison.Ordinal);
        AssertNoSecrets(upload);
    }

    [Fact]
    public async Task A_server_that_accepts_but_never_speaks_ssh_is_unreachable_after_the_connect_timeout()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var settings = _server.Settings();
        settings.Properties[DestinationKeys.Port] = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port.ToString();
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.json", default));

        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
        AssertNoSecrets(error);
    }

    [Fact]
    public async Task Writing_into_a_folder_the_user_cannot_write_is_permission_denied_and_leaves_nothing()
    {
        var settings = _server.Settings(remotePath: "readonly");
        await using var destination = new SftpDestination(settings);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));
        var nested = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "sub/x.json", default));

        Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
        Assert.Equal(DestinationFailure.PermissionDenied, nested.Failure);
        Assert.Contains("/~/readonly/", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_server.HomePath, "readonly")));
        AssertNoSecrets(error);
    }

    [Fact]
    public async Task A_missing_remote_path_is_not_found_and_not_created()
    {
        var missing = Path.Combine(_server.HomePath, "no-such-" + _folder);
        await using var destination = new SftpDestination(_server.Settings(remotePath: missing));

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.Equal(DestinationFailure.NotFound, error.Failure);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public async Task An_absolute_remote_path_works_and_shows_in_the_sink_path()
    {
        CreateRemoteBaseFolder();
        var settings = _server.Settings(remotePath: OnDisk() + "/", folderPath: "out");
        var local = LocalFile(1_234);
        await using var destination = new SftpDestination(settings);

        await destination.UploadFileAsync(local, "d/f.json", default);

        Assert.Equal(Sha256(local), Sha256(OnDisk("out", "d", "f.json")));
        Assert.Equal($"sftp://{_server.UserName}@127.0.0.1:{_server.Server.Port}{OnDisk()}/out/d/f.json", destination.GetSinkPath("d/f.json"));
    }

    [Fact]
    public async Task The_engine_probe_passes_through_the_registry_and_leaves_nothing_behind()
    {
        var settings = SettingsForTest(folderPath: "probe");
        await using var destination = DestinationRegistry.Create(settings);

        await DestinationProbe.RunAsync(destination, default);

        Assert.IsType<SftpDestination>(destination);
        Assert.Empty(Directory.GetFileSystemEntries(OnDisk("probe")));
    }

    private static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var index = text.IndexOf(value, StringComparison.Ordinal); index >= 0; index = text.IndexOf(value, index + value.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }
}
