using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Sftp;
using DatasetExport.Engine.Tests.Destinations.Sftp;

namespace DatasetExport.Engine.Tests.Destinations.FlowMatrix;

/// <summary>
/// The flow matrix on the real sshd, password sign-in and a pinned host key; what was stored is read back from the
/// server's disk. SSH.NET writes in 32 KiB SFTP requests, so every multi-megabyte file takes many of them.
/// </summary>
[Collection(SftpServerCollection.Name)]
public sealed class SftpFlowMatrixTests(SftpServerFixture server) : FlowMatrixContract
{
    private const string WrongPassword = "pw-wrong-must-not-leak";

    protected override long UploadSplitThreshold => 32 * 1024;

    internal override IExportDestination Create(DestinationSettings settings) => new SftpDestination(settings);

    protected override Task<DestinationSettings> NewDestinationAsync()
    {
        var remotePath = "matrix-" + Guid.NewGuid().ToString("N")[..8];
        var folder = Path.Combine(server.HomePath, remotePath);
        Directory.CreateDirectory(folder);
        TestProcess.Run("chown", null, null, $"{server.UserName}:", folder);
        var settings = server.Settings(remotePath: remotePath);
        settings.Name = "matrix-sftp";
        return Task.FromResult(settings);
    }

    protected override Task<Dictionary<string, long>?> ListAsync(DestinationSettings settings)
    {
        var root = OnDisk(settings);
        return Task.FromResult(Directory.Exists(root)
            ? Directory.GetFiles(root, "*", SearchOption.AllDirectories).ToDictionary(path => Path.GetRelativePath(root, path).Replace('\\', '/'), path => new FileInfo(path).Length)
            : null);
    }

    protected override Task DownloadAsync(DestinationSettings settings, string key, string localPath)
    {
        File.Copy(Path.Combine(OnDisk(settings), key), localPath);
        return Task.CompletedTask;
    }

    protected override string ExpectedSinkPath(DestinationSettings settings, string key) =>
        $"sftp://{server.UserName}@127.0.0.1:{settings.Properties[DestinationKeys.Port]}/~/{settings.Properties[DestinationKeys.RemotePath]}/{key}";

    protected override Task<ExpectedFailure> BreakAsync(DestinationSettings settings, Breakage breakage) => Task.FromResult(Break(settings, breakage));

    private ExpectedFailure Break(DestinationSettings settings, Breakage breakage)
    {
        switch (breakage)
        {
            case Breakage.WrongCredentials:
                settings.Secrets[DestinationKeys.Password] = WrongPassword;
                return new(DestinationFailure.Authentication, [$"127.0.0.1:{server.Server.Port}", $"rejected user '{server.UserName}'"], [WrongPassword]);
            case Breakage.MissingContainer:
                var missing = "missing-" + Guid.NewGuid().ToString("N")[..8];
                settings.Properties[DestinationKeys.RemotePath] = missing;
                return new(DestinationFailure.NotFound, [$"/~/{missing}", "does not exist"], [server.Password]);
            default:
                var closedPort = LoopbackPort.Free().ToString(System.Globalization.CultureInfo.InvariantCulture);
                settings.Properties[DestinationKeys.Port] = closedPort;
                return new(DestinationFailure.Unreachable, [$"127.0.0.1:{closedPort}"], [server.Password]);
        }
    }

    private string OnDisk(DestinationSettings settings) => Path.Combine(server.HomePath, settings.Properties[DestinationKeys.RemotePath]);
}
