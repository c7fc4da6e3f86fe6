using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Retry;
using DatasetExport.Engine.Destinations.Sftp;
using DatasetExport.Engine.Tests.Faults;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

/// <summary>
/// Signing in to OpenSSH: whose turn it is to connect (one server under several spellings, the host key read for trust on
/// first use), and a server that signs the user in but does not start SFTP.
/// </summary>
[Collection(SftpServerCollection.Name)]
public sealed class SftpSignInTests : IDisposable
{
    private readonly SftpServerFixture _server;
    private readonly TempFolder _local = new("de-sftp-signin");
    private readonly string _folder = "signin-" + Guid.NewGuid().ToString("N")[..8];

    public SftpSignInTests(SftpServerFixture server)
    {
        _server = server;
        Directory.CreateDirectory(OnDisk());
        TestProcess.Run("chown", null, null, $"{_server.UserName}:", OnDisk());
    }

    public void Dispose() => _local.Dispose();

    private string OnDisk(params string[] relative) => Path.Combine([_server.HomePath, _folder, .. relative]);

    /// <summary>Settings for the shared server's test folder, reached as <paramref name="hostName"/> on <paramref name="port"/> (a proxy in front of it).</summary>
    private DestinationSettings Settings(string hostName, int port, SshdServer? server = null)
    {
        var settings = _server.Settings(server, remotePath: _folder);
        settings.Properties[DestinationKeys.HostName] = hostName;
        settings.Properties[DestinationKeys.Port] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    private string LocalFile(int size)
    {
        var path = _local.Combine(Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(size));
        return path;
    }

    /// <summary>
    /// Starts a sign-in to the server behind <paramref name="proxy"/> as 127.0.0.1 that the proxy holds (it forwards none of
    /// the client's bytes), so that sign-in keeps the server's turn until <see cref="FaultProxy.EndStalls"/> resets its
    /// connection; returns the sign-in, failing then, once the proxy holds it.
    /// </summary>
    private async Task<Task> HoldASignInAsync(FaultProxy proxy)
    {
        proxy.StallConnections(afterBytes: 0, stall: TimeSpan.FromMinutes(2), times: 1);
        var held = new SftpDestination(Settings("127.0.0.1", proxy.Port));
        var signIn = Task.Run(async () =>
        {
            await using (held)
            {
                await held.GetFileInfoAsync("x.json", default);
            }
        });
        while (proxy.FaultsInjected == 0)
        {
            Assert.False(signIn.IsCompleted, $"The held sign-in ended early: {signIn.Exception}");
            await Task.Delay(20);
        }
        return signIn;
    }

    /// <summary>Ends the held sign-in: its connection reset, it fails as Unreachable, and its turn passes on.</summary>
    private static async Task EndAsync(FaultProxy proxy, Task held)
    {
        proxy.EndStalls();
        var error = await Assert.ThrowsAsync<DestinationException>(() => held);
        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
    }

    /// <summary>
    /// sshd drops connections not yet signed in beyond MaxStartups, so one process signs in to one server one connection at a
    /// time. The server is what the name resolves to: <c>localhost</c> waits while a sign-in to <c>127.0.0.1</c> (the same
    /// server) is under way, and goes once it ended. Before, the turns were per spelling: <c>localhost</c> connected at once,
    /// beside it.
    /// </summary>
    [Fact]
    public async Task A_name_and_its_address_share_the_servers_turn_to_sign_in()
    {
        await using var proxy = new FaultProxy(_server.Server.Port);
        var held = await HoldASignInAsync(proxy);
        var local = LocalFile(1_000);
        await using var byName = new SftpDestination(Settings("localhost", proxy.Port));

        var upload = byName.UploadFileAsync(local, "by-name.bin", default);
        // The sign-in by name may only connect once the held one ends: give it the time it needs to connect if it could.
        await Task.WhenAny(upload, Task.Delay(TimeSpan.FromSeconds(1)));
        var connectionsWhileHeld = proxy.ConnectionCount;
        await EndAsync(proxy, held);
        await upload;

        Assert.Equal(1, connectionsWhileHeld);
        Assert.Equal(2, proxy.ConnectionCount);
        Assert.Equal(File.ReadAllBytes(local), File.ReadAllBytes(OnDisk("by-name.bin")));
    }

    /// <summary>
    /// Validating a destination without a pin (New-ExportDestination, trust on first use) connects to read the host key;
    /// that connection counts against MaxStartups like a sign-in, so it waits for the server's turn too. Before, it
    /// connected at once beside the exports signing in.
    /// </summary>
    [Fact]
    public async Task Reading_the_host_key_for_trust_on_first_use_waits_for_the_servers_turn()
    {
        await using var proxy = new FaultProxy(_server.Server.Port);
        var held = await HoldASignInAsync(proxy);
        var unpinned = Settings("127.0.0.1", proxy.Port);
        unpinned.Properties.Remove(DestinationKeys.HostKeyFingerprint);

        var read = SftpDestination.ReadHostKeyFingerprintAsync(unpinned, default);
        await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(1)));
        var connectionsWhileHeld = proxy.ConnectionCount;
        await EndAsync(proxy, held);

        Assert.Equal(_server.FingerprintOf(SftpServerFixture.HostKey), await read);
        Assert.Equal(1, connectionsWhileHeld);
    }

    /// <summary>A name that does not resolve keeps its spelling as its turn, and fails as before: Unreachable, naming it.</summary>
    [Fact]
    public async Task A_name_that_does_not_resolve_fails_as_unreachable_naming_it()
    {
        var settings = Settings("no-such-host.invalid", _server.Server.Port);
        await using var destination = new SftpDestination(settings);

        var upload = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));
        var read = await Assert.ThrowsAsync<DestinationException>(() => SftpDestination.ReadHostKeyFingerprintAsync(settings, default));

        Assert.All(new[] { upload, read }, error =>
        {
            Assert.Equal((DestinationFailure.Unreachable, true), (error.Failure, error.IsTransient));
            Assert.Contains("'no-such-host.invalid' cannot be resolved", error.Message, StringComparison.Ordinal);
            SecretAssert.Absent(SecretAssert.Everything(error), _server.Password);
        });
    }

    /// <summary>
    /// A server that signs the user in and then does not start SFTP: it refuses the session (MaxSessions 0), has no sftp
    /// subsystem, or runs one that cannot start (an external sftp-server, which the account's nologin shell refuses to run).
    /// That is the server's setup: InvalidConfiguration (DestinationInvalidConfiguration, InvalidArgument) naming the likely
    /// cause, not retried. Before, each was Other (DestinationFailed, WriteError: "SFTP operation on 127.0.0.1:P failed:
    /// Subsystem 'sftp' could not be executed.", "... Channel was closed.", "... Failed to open a channel after 10
    /// attempts."), also not retried but with no cause named.
    /// </summary>
    [Theory]
    [InlineData("no sftp subsystem", "no 'Subsystem sftp' line")]
    [InlineData("MaxSessions 0", "MaxSessions 0")]
    [InlineData("external sftp-server, nologin shell", "nologin")]
    public async Task A_server_that_signs_in_but_does_not_start_sftp_is_a_configuration_error_naming_the_cause_not_retried(string setup, string cause)
    {
        var server = setup switch
        {
            "no sftp subsystem" => _server.StartServer(sftpCommand: ""),
            "MaxSessions 0" => _server.StartServer(sshdConfig: ["MaxSessions 0"]),
            _ => _server.StartServer(sftpCommand: "/usr/lib/openssh/sftp-server"),
        };
        var settings = Settings("127.0.0.1", server.Port, server);
        var retries = new List<string>();
        await using var sftp = new SftpDestination(settings);
        var destination = new RetryingDestination(sftp, RetryPolicy.From(settings), retries.Add);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(LocalFile(10), "x.json", default));

        Assert.True((DestinationFailure.InvalidConfiguration, false) == (error.Failure, error.IsTransient), error.ToString());
        Assert.Empty(retries);
        Assert.StartsWith($"The SFTP server at 127.0.0.1:{server.Port} signed in user '{_server.UserName}' but ", error.Message, StringComparison.Ordinal);
        Assert.Contains(cause, error.Message, StringComparison.Ordinal);
        Assert.Contains("it is not retried", error.Message, StringComparison.Ordinal);
        SecretAssert.Absent(SecretAssert.Everything(error), _server.Password);
        Assert.Empty(Directory.GetFileSystemEntries(OnDisk()));
    }

    /// <summary>
    /// A connection the server drops right after sign-in, as SFTP starts (its session process killed, as a crash or a
    /// restart does), is not the server's setup: Unreachable, transient, retried, and the upload arrives. It was so
    /// before too (SSH.NET reports the lost connection, not the session).
    /// </summary>
    [Fact]
    public async Task A_connection_dropped_right_after_sign_in_is_unreachable_and_retried()
    {
        var marker = OnDisk(".dropped-once");
        var script = Path.Combine(_server.RootPath, $"drop-once-{Guid.NewGuid():N}.sh");
        // Run as the user (through its shell) in place of internal-sftp: the first time, kill the nearest sshd above (the
        // connection's session process), then serve SFTP.
        File.WriteAllText(script, $$"""
            #!/bin/sh
            if [ ! -e '{{marker}}' ]; then
              touch '{{marker}}'
              pid=$$
              while [ "$pid" -gt 1 ]; do
                pid=$(ps -o ppid= -p "$pid" | tr -d ' ')
                [ "$(ps -o comm= -p "$pid")" = sshd ] && break
              done
              kill -9 "$pid"
            fi
            exec /usr/lib/openssh/sftp-server

            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var server = _server.StartServer(sftpCommand: script);
        var settings = Settings("127.0.0.1", server.Port, server);
        var local = LocalFile(1_000);
        var retries = new List<string>();
        TestProcess.Run("usermod", null, null, "-s", "/bin/sh", _server.UserName);
        try
        {
            await using var sftp = new SftpDestination(settings);
            var destination = new RetryingDestination(sftp, RetryPolicy.From(settings), retries.Add);

            await destination.UploadFileAsync(local, "x.bin", default);
        }
        finally
        {
            TestProcess.Run("usermod", null, null, "-s", "/usr/sbin/nologin", _server.UserName);
        }

        Assert.True(File.Exists(marker), "the script never ran");
        var retry = Assert.Single(retries);
        Assert.Contains($"The connection to the SFTP server at 127.0.0.1:{server.Port} failed", retry, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(local), File.ReadAllBytes(OnDisk("x.bin")));
    }
}
