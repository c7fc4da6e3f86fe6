using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Destinations.Azure;
using static DatasetExport.Engine.Tests.Scheduling.ScheduleFixture;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>Invoke-ExportSchedule -ThrottleLimit with flows to a real server (Azurite), one to a server that is down, and a local folder, all at once.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class ThrottledRemoteScheduleTests(AzuriteFixture azurite) : IDisposable
{
    private readonly ScheduleFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task Flows_to_Azurite_a_server_down_and_a_local_folder_at_once_each_end_as_alone_the_same_dataset_in_two_of_them()
    {
        _fixture.WriteBatch("web", "a.jsonl", 0, 500);
        _fixture.WriteBatch("web", "b.jsonl", 500, 500);
        _fixture.WriteBatch("shop", "a.jsonl", 2000, 300);
        var container = await azurite.CreateContainerAsync();
        var blob = AzureDestination("azurite", azurite.ServiceUri, container.Name);
        await _fixture.Engine.AddDestinationAsync(blob, skipValidation: false, default);
        var down = AzureDestination("down", new Uri($"http://127.0.0.1:{AzuriteFixture.ClosedPort()}/{AzuriteFixture.AccountName}"), container.Name);
        down.Properties[DestinationKeys.RetryCount] = "0";
        await _fixture.Engine.AddDestinationAsync(down, skipValidation: true, default);
        foreach (var (name, destination, datasets) in new[] { ("to-blob", blob, new[] { "web", "shop" }), ("to-down", down, ["shop"]), ("to-local", _fixture.Destination, ["web"]) })
        {
            _fixture.Engine.AddFlow(new FlowRecord
            {
                Name = name, DestinationId = destination.Id, DatasetIds = [.. datasets],
                ScheduleKind = ScheduleKind.Hourly, EveryHours = 1, StartTime = Utc(3, 1, 11),
            });
        }
        _fixture.SetNow(Utc(3, 1, 11));

        var runs = await _fixture.Engine.RunDueFlowsAsync(_fixture.Lake, null, null, default, throttleLimit: 3);

        Assert.Equal(
            [("to-blob", "web", RunStatus.Succeeded, 1000L), ("to-blob", "shop", RunStatus.Succeeded, 300L), ("to-down", "shop", RunStatus.Failed, 0L), ("to-local", "web", RunStatus.Succeeded, 1000L)],
            runs.Select(run => (run.FlowName, run.DatasetId, run.Status, run.RecordsWritten)));
        Assert.DoesNotContain(_fixture.Engine.State.ListRuns(), run => run.Status == RunStatus.Running);
        // Every file of each successful run is where it says, with its size and hash.
        foreach (var run in runs.Where(run => run.Status == RunStatus.Succeeded))
        {
            var verification = await _fixture.Engine.VerifyRunAsync(run, default);
            Assert.True(verification.IsValid, $"{run.FlowName}/{run.DatasetId}");
        }
        Assert.Equal(Enumerable.Range(0, 1000).Select(id => (long)id), ManifestRecordIds(Directory.GetFiles(_fixture.SlotFolder("web", Utc(3, 1, 11)), "*manifest*").Single()));
    }

    private static DestinationSettings AzureDestination(string name, Uri serviceUri, string containerName) => new()
    {
        Name = name,
        Type = DestinationType.AzureBlob,
        FileType = FileType.Json,
        Compression = CompressionKind.None,
        IncludeManifest = true,
        FolderPath = "exports",
        Properties = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [DestinationKeys.Container] = containerName,
            [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
            [DestinationKeys.ServiceUri] = serviceUri.ToString(),
        },
        Secrets = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey },
    };
}
