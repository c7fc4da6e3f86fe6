using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

/// <summary>A whole flow through the engine into the real sshd: data files, manifest, run record, verification.</summary>
[Collection(SftpServerCollection.Name)]
public sealed class SftpExportFlowTests : IDisposable
{
    private readonly SftpServerFixture _server;
    private readonly TempFolder _root = new("de-sftp-flow");
    private readonly ExportEngine _engine;
    private readonly string _folder = "flow-" + Guid.NewGuid().ToString("N")[..8];

    public SftpExportFlowTests(SftpServerFixture server)
    {
        _server = server;
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task A_multi_file_dataset_is_exported_with_its_manifest_and_verifies(FileType fileType, CompressionKind compression)
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 600);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "b.jsonl.gz"), 600, 400, gzip: true);
        var remoteBase = Path.Combine(_server.HomePath, _folder);
        Directory.CreateDirectory(remoteBase);
        SftpServerFixture.Run("chown", null, null, $"{_server.UserName}:", remoteBase);
        var destination = _server.Settings(remotePath: _folder, folderPath: "exports");
        destination.Name = "sftp-" + fileType;
        destination.FileType = fileType;
        destination.Compression = compression;
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "nightly", DestinationId = destination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(flow);

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 5, 6, 7, 8, 30, TimeSpan.Zero), null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var folder = Path.Combine(remoteBase, "exports", "web", "exportTime=202605060708");
        var dataFiles = Directory.GetFiles(folder, "part-*");
        Assert.NotEmpty(dataFiles);
        Assert.Equal(dataFiles.Length, run.Files.Count);
        Assert.All(run.Files, f => Assert.StartsWith($"sftp://{_server.UserName}@127.0.0.1:{_server.Server.Port}/~/{_folder}/exports/web/exportTime=202605060708/part-", f.SinkPath));
        Assert.Empty(Directory.GetFiles(remoteBase, "*.part", SearchOption.AllDirectories));

        var ids = new List<long>();
        foreach (var file in dataFiles)
        {
            if (fileType == FileType.Json)
            {
                ids.AddRange(SampleLake.Ids(SampleLake.ReadJsonLines(file)));
                continue;
            }
            var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
            var schema = await reader.ReadSchemaAsync(file, false, default);
            await foreach (var chunk in reader.ReadAsync(file, false, schema, default))
            {
                ids.AddRange(chunk.Records.Select(r => (long)r["id"]!));
            }
        }
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), ids.Order());

        var manifestPath = Assert.Single(Directory.GetFiles(folder, "manifest-*.json"));
        Assert.Equal($"manifest-{destination.Id:D}-{run.Id:D}.json", Path.GetFileName(manifestPath));
        using (var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(manifestPath)))
        {
            Assert.Equal(run.Id.ToString("D"), manifest.RootElement.GetProperty("flowRunId").GetString());
            Assert.Equal(1000, manifest.RootElement.GetProperty("recordCount").GetInt64());
        }

        // Verification reads every file back over SFTP and compares sizes and hashes.
        var verification = await _engine.VerifyRunAsync(run, default);
        Assert.True(verification.IsValid, verification.Problem);
        Assert.Equal(run.Files.Count, verification.Files.Count);
    }

    [Fact]
    public async Task Adding_without_a_pin_records_the_servers_key_and_a_later_key_change_fails_runs()
    {
        var port = SshdServer.FreePort();
        _server.StartServer(port: port);
        var remoteBase = Path.Combine(_server.HomePath, _folder);
        Directory.CreateDirectory(remoteBase);
        SftpServerFixture.Run("chown", null, null, $"{_server.UserName}:", remoteBase);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 10);
        var destination = _server.Settings(_server.Server, remotePath: _folder);
        destination.Properties[DestinationKeys.Port] = port.ToString();
        destination.Properties.Remove(DestinationKeys.HostKeyFingerprint);

        await _engine.AddDestinationAsync(destination, skipValidation: false, default);

        var stored = _engine.State.FindDestination(destination.Name)!;
        Assert.Equal(_server.FingerprintOf(SftpServerFixture.HostKey), stored.GetProperty(DestinationKeys.HostKeyFingerprint));

        _server.StopServer(port);
        _server.StartServer(SftpServerFixture.RekeyedHostKey, port);
        var flow = new FlowRecord { Name = "after-rekey", DestinationId = stored.Id, DatasetIds = ["web"] };
        _engine.AddFlow(flow);

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        var probe = await Assert.ThrowsAsync<DestinationException>(() => _engine.TestDestinationAsync(stored, default));

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains(_server.FingerprintOf(SftpServerFixture.RekeyedHostKey), run.Error, StringComparison.Ordinal);
        Assert.Equal(DestinationFailure.HostKeyMismatch, probe.Failure);
        Assert.Empty(Directory.GetFileSystemEntries(remoteBase));
    }
}
