using System.Diagnostics;
using System.Text;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Sas;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

/// <summary>
/// Runs one Azurite blob server (tests/servers/azure, installed by its install.sh) on a free 127.0.0.1 port for
/// the Azure tests, and stops it at the end. Fails, never skips, when Azurite is missing or dies.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    public const string AccountName = "devstoreaccount1";

    /// <summary>Azurite's well-known development account key (published in its documentation).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly StringBuilder _output = new();
    private Process? _process;
    private string? _dataFolder;

    public int Port { get; private set; }

    /// <summary>The blob endpoint of the dev account, e.g. http://127.0.0.1:PORT/devstoreaccount1.</summary>
    public Uri ServiceUri => new($"http://127.0.0.1:{Port}/{AccountName}");

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={ServiceUri};";

    /// <summary>A client that signs with the account key and shares no code with the destinations under test.</summary>
    public BlobServiceClient AdminClient => new(ServiceUri, new StorageSharedKeyCredential(AccountName, AccountKey));

    public async Task InitializeAsync()
    {
        var serverFolder = FindServerFolder();
        var azurite = Path.Combine(serverFolder, "node_modules", ".bin", "azurite-blob");
        if (!File.Exists(azurite))
        {
            throw new InvalidOperationException($"Azurite is not installed at {azurite}: run tests/servers/azure/install.sh first.");
        }
        _dataFolder = Path.Combine(Path.GetTempPath(), $"de-azurite-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dataFolder);

        // A free port can be taken by another server between probing and binding: then try another one.
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            Port = LoopbackPort.Free();
            if (await TryStartAsync(azurite, serverFolder))
            {
                return;
            }
        }
        throw new InvalidOperationException($"Azurite found its port taken three times:\n{Output()}");
    }

    /// <summary>Starts Azurite on <see cref="Port"/>; false when the port was taken, throws on any other failure.</summary>
    private async Task<bool> TryStartAsync(string azurite, string serverFolder)
    {
        var start = new ProcessStartInfo(azurite)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = serverFolder,
        };
        foreach (var argument in new[] { "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--location", _dataFolder!,
                     "--skipApiVersionCheck", "--disableTelemetry", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }
        lock (_output) _output.Clear();
        _process?.Dispose();
        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {azurite}.");
        _process.OutputDataReceived += (_, line) => Record(line.Data);
        _process.ErrorDataReceived += (_, line) => Record(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync();
                if (Output().Contains("EADDRINUSE", StringComparison.Ordinal))
                {
                    return false;
                }
                throw new InvalidOperationException($"Azurite exited with code {_process.ExitCode} before it was ready:\n{Output()}");
            }
            try
            {
                // Any answer (it is 403 without credentials) means the server listens.
                using var response = await http.GetAsync($"{ServiceUri}?comp=list");
                return true;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            if (deadline.Elapsed > StartTimeout)
            {
                _process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"Azurite did not answer on port {Port} within {StartTimeout.TotalSeconds} s:\n{Output()}");
            }
            await Task.Delay(100);
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        if (_dataFolder is not null)
        {
            try { Directory.Delete(_dataFolder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Creates a container with a fresh name through the admin client.</summary>
    public async Task<BlobContainerClient> CreateContainerAsync()
    {
        var container = AdminClient.GetBlobContainerClient($"c{Guid.NewGuid():N}");
        await container.CreateAsync();
        return container;
    }

    /// <summary>A container SAS URI (signed with the account key) with the given permissions and expiry.</summary>
    public static string ContainerSas(BlobContainerClient container, BlobContainerSasPermissions permissions, DateTimeOffset expiresOn)
    {
        var sas = new BlobSasBuilder(permissions, expiresOn) { BlobContainerName = container.Name, Resource = "c" }
            .ToSasQueryParameters(new StorageSharedKeyCredential(AccountName, AccountKey));
        return new BlobUriBuilder(container.Uri) { Sas = sas }.ToUri().ToString();
    }

    /// <summary>An account SAS URI for the Blob service covering containers and blobs.</summary>
    public string AccountSas(AccountSasPermissions permissions, DateTimeOffset expiresOn)
    {
        var sas = new AccountSasBuilder(permissions, expiresOn, AccountSasServices.Blobs, AccountSasResourceTypes.Container | AccountSasResourceTypes.Object)
            .ToSasQueryParameters(new StorageSharedKeyCredential(AccountName, AccountKey));
        return new UriBuilder(ServiceUri) { Query = sas.ToString() }.Uri.ToString();
    }

    /// <summary>A 127.0.0.1 port nothing listens on (bound, then released).</summary>
    public static int ClosedPort() => LoopbackPort.Free();

    private static string FindServerFolder()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "tests", "servers", "azure");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"No tests/servers/azure folder above {AppContext.BaseDirectory}.");
    }

    private void Record(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private string Output()
    {
        lock (_output) return _output.ToString();
    }
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
