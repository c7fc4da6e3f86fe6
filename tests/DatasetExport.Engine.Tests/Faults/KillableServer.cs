using System.Diagnostics;
using System.Text;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>
/// A server process of its own for the hard-fault tests (the shared fixtures' servers serve other tests): started on
/// a fixed 127.0.0.1 port with a data folder, killed with SIGKILL in the middle of an export, started again on the
/// same port and data folder.
/// </summary>
public sealed class KillableServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly string _name;
    private readonly string _executable;
    private readonly string[] _arguments;
    private readonly Uri _readiness;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private KillableServer(string name, string executable, string[] arguments, Uri readiness)
    {
        _name = name;
        _executable = executable;
        _arguments = arguments;
        _readiness = readiness;
    }

    /// <summary>s3rver on a free port keeping its data in <paramref name="dataFolder"/>, with <paramref name="bucket"/> created.</summary>
    public static async Task<KillableServer> StartS3rverAsync(string dataFolder, string bucket)
    {
        var servers = ServersFolder("s3");
        var port = LoopbackPort.Free();
        var server = new KillableServer("s3rver", Path.Combine(servers, "node_modules", ".bin", "node"),
            [Path.Combine(servers, "node_modules", "s3rver", "bin", "s3rver.js"), "-d", dataFolder, "-a", "127.0.0.1", "-p", port.ToString(), "--silent", "--configure-bucket", bucket],
            new Uri($"http://127.0.0.1:{port}/"));
        await server.StartAsync();
        return server;
    }

    /// <summary>Azurite's blob service on a free port keeping its data in <paramref name="dataFolder"/>.</summary>
    public static async Task<KillableServer> StartAzuriteAsync(string dataFolder)
    {
        var port = LoopbackPort.Free();
        var server = new KillableServer("azurite", Path.Combine(ServersFolder("azure"), "node_modules", ".bin", "azurite-blob"),
            ["--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", dataFolder, "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
            new Uri($"http://127.0.0.1:{port}/devstoreaccount1?comp=list"));
        await server.StartAsync();
        return server;
    }

    public int Port => _readiness.Port;

    /// <summary>Starts the server (again) and waits until it answers HTTP.</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(_executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in _arguments) start.ArgumentList.Add(argument);
        _process?.Dispose();
        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {_name}.");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync();
                throw new InvalidOperationException($"{_name} exited with code {_process.ExitCode} before it was ready:\n{Output}");
            }
            try
            {
                using var response = await http.GetAsync(_readiness);
                return; // any answer: it listens
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (waited.Elapsed > StartTimeout) throw new InvalidOperationException($"{_name} did not answer {_readiness} in time:\n{Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>SIGKILL, as a crash or an out-of-memory kill: no chance to answer or clean up.</summary>
    public void Kill()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _process?.Dispose();
    }

    private string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private static string ServersFolder(string kind)
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "tests", "servers", kind);
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        throw new InvalidOperationException($"No tests/servers/{kind} folder above {AppContext.BaseDirectory}.");
    }
}
