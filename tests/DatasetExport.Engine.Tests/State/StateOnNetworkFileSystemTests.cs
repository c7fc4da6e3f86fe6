using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.State;

/// <summary>
/// The state home on a network file system: a real one, the test sshd's folder mounted with sshfs (FUSE, as root, which
/// CI is; tests/servers/sftp/install.sh installs sshfs), where SQLite's locks hold only within one machine.
/// </summary>
[Collection(SftpServerCollection.Name)]
public sealed class StateOnNetworkFileSystemTests : IDisposable
{
    private readonly SftpServerFixture _server;
    private readonly TempFolder _root = new("de-state-network");
    private readonly string _remoteFolder = "share-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _mount;

    public StateOnNetworkFileSystemTests(SftpServerFixture server)
    {
        _server = server;
        Directory.CreateDirectory(Path.Combine(server.HomePath, _remoteFolder));
        TestProcess.Run("chown", null, null, "-R", server.UserName, Path.Combine(server.HomePath, _remoteFolder));
        _mount = _root.Combine("mnt");
        Directory.CreateDirectory(_mount);
        TestProcess.Run("sshfs", null, null, "-p", server.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-o", $"IdentityFile={server.KeyPath("id_ed25519")},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes",
            $"{server.UserName}@127.0.0.1:{Path.Combine(server.HomePath, _remoteFolder)}", _mount);
    }

    public void Dispose()
    {
        try
        {
            TestProcess.Run("fusermount", null, null, "-u", _mount);
        }
        catch (InvalidOperationException)
        {
            // Not mounted.
        }
        _root.Dispose();
    }

    [Fact]
    public async Task A_state_home_on_a_network_file_system_is_refused_before_anything_is_made_there_and_a_local_one_may_export_to_it()
    {
        var networkHome = Path.Combine(_mount, "team", "state");

        var refused = Assert.Throws<StateException>(() => ExportEngine.Open(new EngineOptions { StateHome = networkHome }));

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains($"The state folder '{networkHome}' is on a network file system (fuse.sshfs)", refused.Message);
        Assert.Contains("$env:DATASETEXPORT_HOME at a folder on a local disk", refused.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_server.HomePath, _remoteFolder)));

        // Destinations may write there: an export from a local state home to a Local destination on the mount.
        SampleLake.WriteEvents(_root.Combine("lake", "web", "a.jsonl"), 0, 100);
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        var destination = new DestinationSettings
        {
            Name = "share",
            Type = DestinationType.Local,
            FileType = FileType.Json,
            IncludeManifest = true,
            Properties = { [LocalFolderDestination.PathProperty] = Path.Combine(_mount, "exports") },
        };
        await engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "to-share", DestinationId = destination.Id, DatasetIds = ["web"] };
        engine.AddFlow(flow);
        var run = Assert.Single(await engine.RunFlowAsync(flow, _root.Combine("lake"), null, default));
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True((await engine.VerifyRunAsync(run, default)).IsValid);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i),
            SampleLake.Ids(SampleLake.ReadJsonLines(Assert.Single(Directory.GetFiles(Path.Combine(_server.HomePath, _remoteFolder, "exports"),
                Path.GetFileName(Assert.Single(run.Files).SinkPath), SearchOption.AllDirectories)))));
    }

    [Theory]
    [InlineData(@"\\fileserver\backups\state", true)]
    [InlineData(@"\\?\UNC\fileserver\backups\state", true)]
    [InlineData(@"\\?\C:\ProgramData\DatasetExport", false)]
    [InlineData(@"\\.\C:\ProgramData\DatasetExport", false)]
    [InlineData("/var/lib/datasetexport", false)]
    public void Windows_network_share_paths_are_known_by_their_form(string path, bool isShare) =>
        Assert.Equal(isShare, NetworkFileSystem.IsUncPath(path));
}
