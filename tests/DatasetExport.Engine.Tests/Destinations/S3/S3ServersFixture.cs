using System.Diagnostics;
using System.Text;

namespace DatasetExport.Engine.Tests.Destinations.S3;

[CollectionDefinition(Name)]
public sealed class S3ServersCollection : ICollectionFixture<S3ServersFixture>
{
    public const string Name = "S3 servers";
}

/// <summary>
/// Starts the real S3 servers once for the collection, on 127.0.0.1 and free ports, and stops them at the end:
/// fauxqs (AWS S3 emulator that accepts the SDK's default chunked, checksummed requests) and s3rver (a plain
/// S3-compatible server, standing in for S3-compatible stores and Google Cloud Storage's XML API). Their packages
/// come from <c>tests/servers/s3/install.sh</c>; when they are missing the fixture fails, it never skips.
/// </summary>
public sealed class S3ServersFixture : IAsyncLifetime
{
    /// <summary>s3rver's built-in account; it checks that a request's key id exists, not its signature.</summary>
    public const string S3rverKeyId = "S3RVER";
    public const string S3rverSecret = "S3RVER";
    public const string FauxqsKeyId = "fauxqs-test-key";
    public const string FauxqsSecret = "fauxqs-test-secret";

    private readonly TempFolder _data = new("de-s3-servers");
    private readonly List<ServerProcess> _servers = [];

    public Uri FauxqsUrl { get; private set; } = null!;
    public Uri S3rverUrl { get; private set; } = null!;
    public Boto3 FauxqsClient { get; private set; } = null!;
    public Boto3 S3rverClient { get; private set; } = null!;
    public string FauxqsStorage => _data.Combine("fauxqs");

    public async Task InitializeAsync()
    {
        var serversFolder = FindServersFolder();
        var node = Path.Combine(serversFolder, "node_modules", ".bin", "node");
        var s3rver = Path.Combine(serversFolder, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(node) || !File.Exists(s3rver) || !Directory.Exists(Path.Combine(serversFolder, "node_modules", "fauxqs")))
        {
            throw new InvalidOperationException($"The S3 test servers are not installed in {serversFolder}/node_modules: run tests/servers/s3/install.sh.");
        }

        Directory.CreateDirectory(FauxqsStorage);
        var fauxqsPort = LoopbackPort.Free();
        FauxqsUrl = new Uri($"http://127.0.0.1:{fauxqsPort}/");
        await StartAsync("fauxqs", serversFolder, node, [Path.Combine(serversFolder, "start-fauxqs.mjs"), fauxqsPort.ToString(), FauxqsStorage],
            new Uri(FauxqsUrl, "health"));

        var s3rverData = _data.Combine("s3rver");
        Directory.CreateDirectory(s3rverData);
        var s3rverPort = LoopbackPort.Free();
        S3rverUrl = new Uri($"http://127.0.0.1:{s3rverPort}/");
        await StartAsync("s3rver", serversFolder, node, [s3rver, "-d", s3rverData, "-a", "127.0.0.1", "-p", s3rverPort.ToString(), "--silent"], S3rverUrl);

        FauxqsClient = new Boto3(FauxqsUrl, FauxqsKeyId, FauxqsSecret);
        S3rverClient = new Boto3(S3rverUrl, S3rverKeyId, S3rverSecret);
    }

    public Task DisposeAsync()
    {
        foreach (var server in _servers) server.Stop();
        _data.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A new, empty bucket with a unique name on the given server.</summary>
    public async Task<string> NewBucketAsync(Boto3 server)
    {
        var bucket = "b" + Guid.NewGuid().ToString("N");
        await server.CreateBucketAsync(bucket);
        return bucket;
    }

    /// <summary>
    /// Multipart uploads fauxqs holds open (neither completed nor aborted). fauxqs routes ListMultipartUploads to
    /// ListObjects, so the uploads are read from where it keeps them: one folder per upload under <c>_multipart</c>.
    /// </summary>
    public IReadOnlyList<string> FauxqsOpenMultipartUploads() =>
        Directory.GetDirectories(Path.Combine(FauxqsStorage, "_multipart")).Select(Path.GetFileName).ToList()!;

    /// <summary>How many parts fauxqs has stored for an open multipart upload.</summary>
    public int FauxqsStoredParts(string uploadId)
    {
        var parts = Path.Combine(FauxqsStorage, "_multipart", uploadId, "parts");
        return Directory.Exists(parts) ? Directory.GetFileSystemEntries(parts).Length : 0;
    }

    /// <summary>A loopback URL where nothing listens.</summary>
    public static Uri ClosedPortUrl() => new($"http://127.0.0.1:{LoopbackPort.Free()}/");

    private async Task StartAsync(string name, string workingDirectory, string executable, string[] arguments, Uri readiness)
    {
        var server = new ServerProcess(name, executable, arguments, workingDirectory);
        _servers.Add(server);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with code {server.ExitCode} before it was ready:\n{server.Output}");
            }
            try
            {
                using var response = await http.GetAsync(readiness);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{name} did not answer {readiness} within 60 s:\n{server.Output}");
            }
            await Task.Delay(100);
        }
    }

    private static string FindServersFolder()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "tests", "servers", "s3");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        throw new InvalidOperationException($"No tests/servers/s3 folder above {AppContext.BaseDirectory}.");
    }

    /// <summary>A server process whose output is kept for error messages.</summary>
    private sealed class ServerProcess
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        public ServerProcess(string name, string executable, string[] arguments, string workingDirectory)
        {
            var start = new ProcessStartInfo(executable)
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in arguments) start.ArgumentList.Add(argument);
            _process = new Process { StartInfo = start };
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            if (!_process.Start()) throw new InvalidOperationException($"{name} did not start.");
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool HasExited => _process.HasExited;
        public int ExitCode => _process.ExitCode;

        public string Output
        {
            get
            {
                // After an exit, wait for the output readers to drain so the last lines (the error) are kept.
                if (_process.HasExited) _process.WaitForExit();
                lock (_output) return _output.ToString();
            }
        }

        public void Stop()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
        }
    }
}
