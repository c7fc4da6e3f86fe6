using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using DatasetExport.Engine.Destinations;

namespace DatasetExport.Engine.Tests.Destinations.Sftp;

[CollectionDefinition(Name)]
public sealed class SftpServerCollection : ICollectionFixture<SftpServerFixture>
{
    public const string Name = "SFTP server";
}

/// <summary>
/// A real OpenSSH sshd (internal-sftp) on a free 127.0.0.1 port, with its own throw-away user, client keys of every
/// supported kind and two host keys, made by tests/servers/sftp/prepare.sh and run by start.sh. Fails (never skips)
/// when sshd is missing or dies. Needs root, as CI runs; the user is removed and every sshd stopped at the end.
/// </summary>
public sealed class SftpServerFixture : IDisposable
{
    public const string HostKey = "host_ed25519";
    public const string RekeyedHostKey = "host_ed25519_rekeyed";

    private readonly TempFolder _root = new("de-sftp");
    private readonly List<SshdServer> _servers = [];
    private bool _userCreated;

    public SftpServerFixture()
    {
        ScriptFolder = TestProcess.FindSftpScriptFolder();
        UserName = "desftp" + Guid.NewGuid().ToString("N")[..8];
        Password = "pw-" + RandomNumberGenerator.GetHexString(24, lowercase: true);
        KeyPassphrase = "pp-" + RandomNumberGenerator.GetHexString(24, lowercase: true);
        try
        {
            RunScript("prepare.sh", Password + "\n", new Dictionary<string, string> { ["KEY_PASSPHRASE"] = KeyPassphrase }, _root.Path, UserName);
            _userCreated = true;
            Server = StartServer();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string ScriptFolder { get; }
    public string UserName { get; }
    public string Password { get; }
    public string KeyPassphrase { get; }
    public SshdServer Server { get; }

    /// <summary>The user's home on this machine's disk: where uploads land, read back independently of SSH.NET.</summary>
    public string HomePath => Path.Combine(_root.Path, "home", UserName);

    public string KeyPath(string name) => Path.Combine(_root.Path, "keys", name);

    /// <summary>The pin of a host key, exactly as <c>ssh-keygen -lf</c> prints it (SHA256:...).</summary>
    public string FingerprintOf(string hostKey) => Fingerprint(Path.Combine(_root.Path, "hostkeys", hostKey + ".pub"));

    /// <summary>A client key's fingerprint, as sshd logs it when it accepts the key.</summary>
    public string ClientKeyFingerprint(string keyName) => Fingerprint(KeyPath(keyName) + ".pub");

    private static string Fingerprint(string publicKeyFile) =>
        TestProcess.Run("ssh-keygen", null, null, "-lf", publicKeyFile).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];

    /// <summary>
    /// Another sshd for the same user: a different host key, extra sshd_config lines (<paramref name="sshdConfig"/>, e.g.
    /// "MaxStartups 3:100:3"), another sftp command (<paramref name="sftpCommand"/>, "" for no sftp Subsystem at all; see
    /// start.sh), extra internal-sftp options, or a fixed port (to restart on it).
    /// </summary>
    public SshdServer StartServer(string hostKey = HostKey, int? port = null, string[]? sshdConfig = null, string? sftpCommand = null, params string[] sftpServerOptions)
    {
        var server = SshdServer.Start(this, hostKey, port, sshdConfig ?? [], sftpCommand, sftpServerOptions);
        lock (_servers) _servers.Add(server);
        return server;
    }

    public void StopServer(int port)
    {
        lock (_servers)
        {
            var server = _servers.Single(s => s.Port == port);
            server.Dispose();
            _servers.Remove(server);
        }
    }

    /// <summary>Settings for the shared server, authenticating with the password and pinned to its real host key.</summary>
    public DestinationSettings Settings(SshdServer? server = null, string remotePath = "", string folderPath = "")
    {
        server ??= Server;
        return new DestinationSettings
        {
            Name = "sftp-test",
            Type = DestinationType.Sftp,
            FolderPath = folderPath,
            Properties =
            {
                [DestinationKeys.HostName] = "127.0.0.1",
                [DestinationKeys.Port] = server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [DestinationKeys.UserName] = UserName,
                [DestinationKeys.RemotePath] = remotePath,
                [DestinationKeys.HostKeyFingerprint] = FingerprintOf(server.HostKey),
            },
            Secrets = { [DestinationKeys.Password] = Password },
        };
    }

    public void Dispose()
    {
        lock (_servers)
        {
            foreach (var server in _servers) server.Dispose();
            _servers.Clear();
        }
        if (_userCreated) RunScript("cleanup.sh", null, null, UserName);
        _root.Dispose();
    }

    internal string RootPath => _root.Path;

    internal string RunScript(string script, string? input, Dictionary<string, string>? environment, params string[] arguments) =>
        TestProcess.Run("bash", input, environment, [Path.Combine(ScriptFolder, script), .. arguments]);
}

/// <summary>One running sshd, started by start.sh (which execs sshd, so the process is sshd itself).</summary>
public sealed class SshdServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private SshdServer(Process process, int port, string hostKey)
    {
        _process = process;
        Port = port;
        HostKey = hostKey;
    }

    public int Port { get; }
    public string HostKey { get; }

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    internal static SshdServer Start(SftpServerFixture fixture, string hostKey, int? fixedPort, string[] sshdConfig, string? sftpCommand, string[] sftpServerOptions)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = fixedPort ?? LoopbackPort.Free();
            var start = new ProcessStartInfo("bash")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            if (sshdConfig.Length > 0) start.Environment["SSHD_CONFIG_EXTRA"] = string.Join('\n', sshdConfig);
            if (sftpCommand is not null) start.Environment["SSHD_SFTP_COMMAND"] = sftpCommand;
            foreach (var argument in (string[])[Path.Combine(fixture.ScriptFolder, "start.sh"), fixture.RootPath, fixture.UserName, port.ToString(), hostKey, .. sftpServerOptions])
            {
                start.ArgumentList.Add(argument);
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start start.sh.");
            var server = new SshdServer(process, port, hostKey);
            process.OutputDataReceived += (_, e) => server.Append(e.Data);
            process.ErrorDataReceived += (_, e) => server.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (server.WaitUntilReady()) return server;
            server.Dispose();
            // Another process may have taken the free port between our probe and sshd's bind.
            if (fixedPort is null && attempt < 3 && server.Log.Contains("Address already in use", StringComparison.Ordinal)) continue;
            throw new InvalidOperationException($"sshd did not start on 127.0.0.1:{port}:\n{server.Log}");
        }
    }

    /// <summary>Kills the session processes (sshd's children) so clients see their connections drop; the listener keeps running.</summary>
    public void DropConnections()
    {
        foreach (var child in Descendants(_process.Id))
        {
            try
            {
                using var process = Process.GetProcessById(child);
                process.Kill();
                process.WaitForExit(5000);
            }
            catch (ArgumentException)
            {
                // Already exited.
            }
        }
    }

    /// <summary>Stops sessions, then the listener with SIGTERM (so it removes its pid file), killing it if it lingers.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                DropConnections();
                using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()])) kill.WaitForExit();
                if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    private bool WaitUntilReady()
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // flushes the redirected output into the log
                return false;
            }
            if (AnswersWithBanner()) return true;
            Thread.Sleep(100);
        }
        return false;
    }

    private bool AnswersWithBanner()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, Port);
            client.ReceiveTimeout = 2000;
            using var reader = new StreamReader(client.GetStream(), Encoding.ASCII);
            return reader.ReadLine()?.StartsWith("SSH-2.0-", StringComparison.Ordinal) == true;
        }
        catch (Exception error) when (error is SocketException or IOException)
        {
            return false;
        }
    }

    private static List<int> Descendants(int pid)
    {
        var result = new List<int>();
        var pending = new Queue<int>([pid]);
        while (pending.TryDequeue(out var parent))
        {
            string[] children;
            try
            {
                children = Directory.EnumerateDirectories($"/proc/{parent}/task")
                    .SelectMany(task => File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    .ToArray();
            }
            catch (IOException)
            {
                continue; // The process exited meanwhile.
            }
            foreach (var child in children.Select(int.Parse))
            {
                result.Add(child);
                pending.Enqueue(child);
            }
        }
        return result;
    }
}
