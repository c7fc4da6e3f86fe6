using Azure.Storage.Blobs;
using Azure.Storage.Sas;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Destinations;
using DatasetExport.Engine.Tests.Destinations.Azure;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>
/// Runs to a Data Landing Zone (container SAS URI) on Azurite that fail or retry, through the engine: the retry log,
/// the run's Error and the state home's files name the container URL, never the signature. The shared fault
/// scenarios sign with an account key; a SAS is the one credential that travels in every request's URL.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class SasFaultTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TempFolder _root = new("de-sas-faults");
    private readonly List<string> _log = [];

    public void Dispose() => _root.Dispose();

    private string Lake => _root.Combine("lake");

    private string StateHome => _root.Combine("state");

    [Fact]
    public async Task An_outage_is_retried_and_logged_naming_the_container_but_never_the_signature()
    {
        var (container, sasUri) = await ContainerWithSasAsync(BlobContainerSasPermissions.All);
        await using var proxy = new FaultProxy(azurite.Port);
        using var engine = OpenEngine();
        var flow = await AddFlowAsync(engine, ThroughProxy(sasUri, proxy));
        proxy.DropConnections(afterBytes: 0);
        engine.Log += _ => proxy.Heal(); // back once the SDK gave up and the engine waits to retry

        var run = await RunAsync(engine, flow);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Retries >= 1);
        var retry = _log.First();
        Assert.StartsWith($"Retry 1 of 4 for upload to http://127.0.0.1:{proxy.Port}/{AzuriteFixture.AccountName}/{container.Name}/web/exportTime=", retry);
        Assert.Contains("Connection reset by peer", retry);
        SecretAssert.Absent(string.Join('\n', _log), Signature(sasUri));
        Assert.NotEmpty(await ListAsync(container));
    }

    [Fact]
    public async Task A_persistent_fault_fails_the_run_naming_the_container_and_stores_no_signature()
    {
        var (container, sasUri) = await ContainerWithSasAsync(BlobContainerSasPermissions.All);
        await using var proxy = new FaultProxy(azurite.Port);
        RunRecord run;
        using (var engine = OpenEngine())
        {
            var settings = ThroughProxy(sasUri, proxy);
            settings.Properties[DestinationKeys.RetryCount] = "1";
            var flow = await AddFlowAsync(engine, settings);
            proxy.DropConnections(afterBytes: 0);

            run = await RunAsync(engine, flow);

            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains($"Cannot reach http://127.0.0.1:{proxy.Port}/{AzuriteFixture.AccountName}/{container.Name}: Connection reset by peer", run.Error);
            Assert.Contains("Gave up after 2 attempts", run.Error);
            Assert.Equal(run.Error, engine.State.GetRun(run.Id)!.Error);
            Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
        }
        SecretAssert.Absent(run.Error!, Signature(sasUri));
        SecretAssert.Absent(string.Join('\n', _log), Signature(sasUri));
        SecretAssert.NotInFiles(StateHome, Signature(sasUri));
        Assert.Empty(await ListAsync(container));
    }

    /// <summary>A SAS the service refuses is permanent: no retries, the run says why, nothing stays in the container.</summary>
    [Theory]
    [InlineData("expired", "expired at")]
    [InlineData("read-only", "lacks write ('w'/'c') permission (it grants 'rl')")]
    public async Task A_refused_sas_fails_the_run_at_once_saying_why_without_the_signature(string sas, string because)
    {
        var (container, sasUri) = sas == "expired"
            ? await ContainerWithSasAsync(BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddMinutes(-5))
            : await ContainerWithSasAsync(BlobContainerSasPermissions.Read | BlobContainerSasPermissions.List);
        RunRecord run;
        using (var engine = OpenEngine())
        {
            var flow = await AddFlowAsync(engine, Settings(sasUri));

            run = await RunAsync(engine, flow);

            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.Contains(because, run.Error);
            Assert.Contains($"{azurite.ServiceUri}/{container.Name}", run.Error);
            Assert.Equal(0, run.Retries);
            Assert.Empty(_log);
            Assert.Empty(engine.State.GetExportedBatches(flow.Id, "web"));
        }
        SecretAssert.Absent(run.Error!, Signature(sasUri));
        SecretAssert.NotInFiles(StateHome, Signature(sasUri));
        Assert.Empty(await ListAsync(container));
    }

    private ExportEngine OpenEngine()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 3000);
        var engine = ExportEngine.Open(new EngineOptions { StateHome = StateHome, DestinationFactory = settings => new DataLandingZoneDestination(settings, AzureTarget.Tuning) });
        engine.Log = message =>
        {
            lock (_log) _log.Add(message);
        };
        return engine;
    }

    private static async Task<FlowRecord> AddFlowAsync(ExportEngine engine, DestinationSettings settings)
    {
        await engine.AddDestinationAsync(settings, skipValidation: true, default);
        var flow = new FlowRecord { Name = "sas-faults", DestinationId = settings.Id, DatasetIds = ["web"], Mode = ExportMode.Full };
        engine.AddFlow(flow);
        return flow;
    }

    private async Task<RunRecord> RunAsync(ExportEngine engine, FlowRecord flow) =>
        Assert.Single(await engine.RunFlowAsync(flow, Lake, null, default));

    private async Task<(BlobContainerClient Container, string SasUri)> ContainerWithSasAsync(BlobContainerSasPermissions permissions, DateTimeOffset? expiresOn = null)
    {
        var container = await azurite.CreateContainerAsync();
        return (container, AzuriteFixture.ContainerSas(container, permissions, expiresOn ?? DateTimeOffset.UtcNow.AddHours(1)));
    }

    private DestinationSettings ThroughProxy(string sasUri, FaultProxy proxy) =>
        Settings(sasUri.Replace($"127.0.0.1:{azurite.Port}/", $"127.0.0.1:{proxy.Port}/", StringComparison.Ordinal));

    private static DestinationSettings Settings(string sasUri) => new()
    {
        Name = "landing-zone",
        Type = DestinationType.DataLandingZone,
        Secrets = { [DestinationKeys.SasUri] = sasUri },
    };

    private static string Signature(string sasUri) => BlobRoundTrip.Signature(sasUri);

    private static async Task<List<string>> ListAsync(BlobContainerClient container)
    {
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync()) names.Add(blob.Name);
        return names;
    }
}
