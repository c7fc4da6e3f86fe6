using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

using DatasetExport.Engine.Tests;

namespace DatasetExport.Module.Tests;

/// <summary>
/// A real OpenSSH sshd (internal-sftp) for the module tests, made and run by the same scripts the engine's SFTP tests
/// use (tests/servers/sftp: prepare.sh, start.sh, cleanup.sh): a throw-away user with a password, two host keys, one
/// sshd per <see cref="Start"/> on a free 127.0.0.1 port. Needs root, as CI runs; fails (never skips) when sshd is
/// missing. Everything is stopped and the user removed on dispose.
/// </summary>
public sealed class SftpServer : IDisposable
{
    public const string HostKey = "host_ed25519";
    public const string RekeyedHostKey = "host_ed25519_rekeyed";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly TempFolder _root = new("de-sftp");
    private readonly string _scripts = TestProcess.FindSftpScriptFolder();
    private readonly List<Process> _servers = [];
    private readonly bool _userCreated;

    public SftpServer()
    {
        // cleanup.sh also removes users of this form left behind by crashed runs.
        UserName = "desftp" + Guid.NewGuid().ToString("N")[..8];
        Password = "pw-" + RandomNumberGenerator.GetHexString(24, lowercase: true);
        try
        {
            TestProcess.Run("bash", Password + "\n", new() { ["KEY_PASSPHRASE"] = KeyPassphrase }, Path.Combine(_scripts, "prepare.sh"), _root.Path, UserName);
            _userCreated = true;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string UserName { get; }
    public string Password { get; }

    /// <summary>The passphrase of the protected client keys (id_ed25519_protected, id_rsa_pem_protected).</summary>
    public string KeyPassphrase => "kp-" + Password;

    /// <summary>A client key prepare.sh made (id_ed25519, id_ed25519_protected, ...), authorized for the user.</summary>
    public string KeyPath(string name) => Path.Combine(_root.Path, "keys", name);

    /// <summary>The user's home on this machine's disk, where uploads land.</summary>
    public string HomePath => Path.Combine(_root.Path, "home", UserName);

    /// <summary>A host key's pin exactly as <c>ssh-keygen -lf</c> prints it (SHA256:...).</summary>
    public string FingerprintOf(string hostKey) =>
        TestProcess.Run("ssh-keygen", null, null, "-lf", Path.Combine(_root.Path, "hostkeys", hostKey + ".pub")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];

    /// <summary>
    /// Starts an sshd presenting <paramref name="hostKey"/>, with another sftp command when <paramref name="sftpCommand"/> is
    /// given ("" for no sftp Subsystem at all; see start.sh); returns its port once it answers with an SSH banner.
    /// </summary>
    public int Start(string hostKey = HostKey, string? sftpCommand = null)
    {
        var port = LoopbackPort.Free();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (sftpCommand is not null) start.Environment["SSHD_SFTP_COMMAND"] = sftpCommand;
        foreach (var argument in new[] { Path.Combine(_scripts, "start.sh"), _root.Path, UserName, port.ToString(), hostKey }) start.ArgumentList.Add(argument);
        var log = new StringBuilder();
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start start.sh.");
        lock (_servers) _servers.Add(process);
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            if (AnswersWithBanner(port)) return port;
            Thread.Sleep(100);
        }
        lock (log) throw new InvalidOperationException($"sshd did not start on 127.0.0.1:{port}:\n{log}");
    }

    public void Dispose()
    {
        lock (_servers)
        {
            foreach (var process in _servers)
            {
                // start.sh execs sshd, so this is sshd: SIGTERM lets it remove its pid file; kill it if it lingers.
                if (!process.HasExited)
                {
                    using (var term = Process.Start("kill", ["-TERM", process.Id.ToString()])) term.WaitForExit();
                    if (!process.WaitForExit(5000)) process.Kill(entireProcessTree: true);
                    process.WaitForExit();
                }
                process.Dispose();
            }
            _servers.Clear();
        }
        if (_userCreated) TestProcess.Run("bash", null, null, Path.Combine(_scripts, "cleanup.sh"), UserName);
        _root.Dispose();
    }

    private static bool AnswersWithBanner(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            client.ReceiveTimeout = 2000;
            using var reader = new StreamReader(client.GetStream(), Encoding.ASCII);
            return reader.ReadLine()?.StartsWith("SSH-2.0-", StringComparison.Ordinal) == true;
        }
        catch (Exception error) when (error is SocketException or IOException)
        {
            return false;
        }
    }

}
