using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

/// <summary>
/// Trust on first use through the engine. The export itself (files, manifest, read-back, failures) is covered for
/// every destination kind by <see cref="FlowMatrix.SftpFlowMatrixTests"/>.
/// </summary>
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

    [Fact]
    public async Task Adding_without_a_pin_records_the_servers_key_and_a_later_key_change_fails_runs()
    {
        var port = LoopbackPort.Free();
        _server.StartServer(port: port);
        var remoteBase = Path.Combine(_server.HomePath, _folder);
        Directory.CreateDirectory(remoteBase);
        TestProcess.Run("chown", null, null, $"{_server.UserName}:", remoteBase);
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
