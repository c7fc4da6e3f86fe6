using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using DatasetExport.Engine.Tests;

namespace DatasetExport.Module.Tests;

/// <summary>
/// One Azurite blob server (tests/servers/azure, installed by its install.sh) on a free 127.0.0.1 port for the module
/// tests. This project has no Azure SDK (it would sit in the default load context beside the module's isolated one),
/// so containers and SAS URIs are made here with the dev account key by hand: Shared Key for Create Container, a
/// service SAS (sv=2020-12-06) for containers. Fails, never skips, when Azurite is missing or dies.
/// </summary>
public sealed class AzuriteServer : IDisposable
{
    public const string AccountName = "devstoreaccount1";

    /// <summary>Azurite's well-known development account key (published in its documentation).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const string ApiVersion = "2020-12-06";
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public AzuriteServer()
    {
        var folder = FindServerFolder();
        var azurite = Path.Combine(folder, "node_modules", ".bin", "azurite-blob");
        if (!File.Exists(azurite)) throw new InvalidOperationException($"Azurite is not installed at {azurite}: run tests/servers/azure/install.sh first.");
        Port = LoopbackPort.Free();
        var start = new ProcessStartInfo(azurite) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = folder };
        foreach (var argument in new[] { "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(CultureInfo.InvariantCulture), "--location", Data.Path,
                     "--skipApiVersionCheck", "--disableTelemetry", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {azurite}.");
        _process.OutputDataReceived += (_, line) => { lock (_output) _output.AppendLine(line.Data); };
        _process.ErrorDataReceived += (_, line) => { lock (_output) _output.AppendLine(line.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"Azurite exited before it was ready:\n{Output()}");
            try
            {
                // Any answer (403 without credentials) means it listens.
                using var response = http.GetAsync($"{ServiceUri}?comp=list").GetAwaiter().GetResult();
                return;
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                Dispose();
                throw new InvalidOperationException($"Azurite did not answer on port {Port} within 60 s:\n{Output()}");
            }
            Thread.Sleep(100);
        }
    }

    public int Port { get; }

    /// <summary>Where Azurite keeps the blobs (and their metadata) on disk.</summary>
    public TempFolder Data { get; } = new("de-azurite");

    /// <summary>The dev account's blob endpoint, e.g. http://127.0.0.1:PORT/devstoreaccount1.</summary>
    public string ServiceUri => $"http://127.0.0.1:{Port}/{AccountName}";

    public string ConnectionString(string accountKey, string? serviceUri = null) =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={accountKey};BlobEndpoint={serviceUri ?? ServiceUri};";

    /// <summary>Creates a container with a fresh name (Shared Key signed) and returns its name.</summary>
    public string CreateContainer()
    {
        var name = "c" + Guid.NewGuid().ToString("N");
        var date = DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture);
        var toSign = $"PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{ApiVersion}\n/{AccountName}/{AccountName}/{name}\nrestype:container";
        using var request = new HttpRequestMessage(HttpMethod.Put, $"{ServiceUri}/{name}?restype=container") { Content = new ByteArrayContent([]) };
        request.Headers.Add("x-ms-date", date);
        request.Headers.Add("x-ms-version", ApiVersion);
        request.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {AccountName}:{Sign(toSign)}");
        using var http = new HttpClient();
        using var response = http.Send(request);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"Create container answered {(int)response.StatusCode}: {response.Content.ReadAsStringAsync().GetAwaiter().GetResult()}");
        }
        return name;
    }

    /// <summary>A container SAS URI granting read, add, create, write, delete and list for an hour.</summary>
    public string ContainerSas(string container)
    {
        const string permissions = "racwdl";
        var expiry = DateTime.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var toSign = string.Join('\n', permissions, "", expiry, $"/blob/{AccountName}/{container}", "", "", "", ApiVersion, "c", "", "", "", "", "", "", "");
        return $"{ServiceUri}/{container}?sv={ApiVersion}&se={Uri.EscapeDataString(expiry)}&sr=c&sp={permissions}&sig={Uri.EscapeDataString(Sign(toSign))}";
    }

    /// <summary>
    /// Freezes Azurite (SIGSTOP): requests to it are accepted by the kernel but wait unanswered until <see cref="Resume"/>;
    /// a latch that holds an export to it while a test watches what else happens.
    /// </summary>
    public void Suspend() => Signal(SignalStop);

    /// <summary>Lets a suspended Azurite answer again (SIGCONT), the requests that waited first.</summary>
    public void Resume() => Signal(SignalContinue);

    private const int SignalContinue = 18, SignalStop = 19; // Linux x86-64 and arm64

    private void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}.");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
        Data.Dispose();
    }

    private static string Sign(string text)
    {
        using var hmac = new HMACSHA256(Convert.FromBase64String(AccountKey));
        return Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(text)));
    }

    private string Output()
    {
        lock (_output) return _output.ToString();
    }

    private static string FindServerFolder()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "tests", "servers", "azure");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        throw new InvalidOperationException($"No tests/servers/azure folder above {AppContext.BaseDirectory}.");
    }
}
