using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

/// <summary>A whole flow run through the engine into an Azurite container, read back with the admin client.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureBlobFlowExportTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TempFolder _root = new("de-azure-flow");

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData(FileType.Json, CompressionKind.None)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy)]
    public async Task Flow_export_writes_parts_and_manifest_under_the_dataset_and_export_time(FileType fileType, CompressionKind compression)
    {
        var lake = _root.Combine("lake");
        for (var batch = 0; batch < 4; batch++)
        {
            SampleLake.WriteEvents(Path.Combine(lake, "web", $"b{batch}.jsonl{(batch % 2 == 1 ? ".gz" : "")}"), batch * 6000, 6000, gzip: batch % 2 == 1);
        }
        var container = await azurite.CreateContainerAsync();
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        var destination = new DestinationSettings
        {
            Name = "azure",
            Type = DestinationType.AzureBlob,
            FileType = fileType,
            Compression = compression,
            MaxFileSizeMB = 1,
            FolderPath = "exports",
            Properties = { [DestinationKeys.Container] = container.Name },
            Secrets = { [DestinationKeys.ConnectionString] = azurite.ConnectionString },
        };
        await engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "nightly", DestinationId = destination.Id, DatasetIds = ["web"], Mode = ExportMode.Full };
        engine.AddFlow(flow);

        var run = Assert.Single(await engine.RunFlowAsync(flow, lake, new DateTimeOffset(2026, 11, 26, 1, 30, 0, TimeSpan.Zero), null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        const string folder = "exports/web/exportTime=202611260130/";
        var stored = new List<string>();
        await foreach (var item in container.GetBlobsAsync())
        {
            stored.Add(item.Name);
        }
        var manifestName = $"{folder}manifest-{destination.Id:D}-{run.Id:D}.json";
        Assert.Equal(run.Files.Select(file => "exports/" + file.RelativePath).Append(manifestName).Order(StringComparer.Ordinal), stored.Order(StringComparer.Ordinal));
        var extension = Regex.Escape(FormatCatalog.FileExtension(fileType, compression));
        Assert.All(run.Files, file => Assert.Matches($"^{Regex.Escape(folder)}part-\\d{{5}}-[0-9a-f-]{{36}}{extension}$", "exports/" + file.RelativePath));
        Assert.All(run.Files, file => Assert.Equal($"{azurite.ServiceUri}/{container.Name}/exports/{file.RelativePath}", file.SinkPath));

        using var manifest = JsonDocument.Parse((await container.GetBlobClient(manifestName).DownloadContentAsync()).Value.Content.ToArray());
        Assert.Equal(24000, manifest.RootElement.GetProperty("recordCount").GetInt64());
        Assert.Equal(run.Files.Select(file => file.Sha256), manifest.RootElement.GetProperty("exportResults").EnumerateArray().Select(result => result.GetProperty("sha256").GetString()));

        var ids = new List<long>();
        foreach (var file in run.Files)
        {
            var local = _root.Combine(file.Name);
            await container.GetBlobClient("exports/" + file.RelativePath).DownloadToAsync(local);
            Assert.Equal(file.Sha256, (await ExportRunner.HashFileAsync(local, default)).Sha256);
            ids.AddRange(await ReadIdsAsync(local, fileType));
        }
        Assert.Equal(Enumerable.Range(0, 24000).Select(id => (long)id), ids.Order());

        var verification = await engine.VerifyRunAsync(run, default);
        Assert.True(verification.IsValid, verification.Problem);
    }

    private static async Task<List<long>> ReadIdsAsync(string path, FileType fileType)
    {
        if (fileType == FileType.Json)
        {
            return SampleLake.Ids(SampleLake.ReadJsonLines(path));
        }
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var schema = await reader.ReadSchemaAsync(path, false, default);
        var ids = new List<long>();
        await foreach (var chunk in reader.ReadAsync(path, false, schema, default))
        {
            ids.AddRange(chunk.Records.Select(record => (long)record["id"]!));
        }
        return ids;
    }
}
