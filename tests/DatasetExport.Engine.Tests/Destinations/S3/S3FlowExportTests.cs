using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Destinations.S3;

/// <summary>
/// Datasets exported through the engine (lake → formats → destination → state) to an S3-compatible bucket and to
/// Google Cloud Storage (both on s3rver), then fetched with boto3 and compared record by record.
/// </summary>
[Collection(S3ServersCollection.Name)]
public sealed class S3FlowExportTests : IDisposable
{
    private readonly S3ServersFixture _servers;
    private readonly TempFolder _root = new("de-s3-flow");
    private readonly ExportEngine _engine;

    public S3FlowExportTests(S3ServersFixture servers)
    {
        _servers = servers;
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        // Two batches of one dataset, one gzipped: 12,000 records, about 2.3 MB as JSON.
        SampleLake.WriteEvents(_root.Combine("lake", "web", "a.jsonl"), 0, RecordCount / 2);
        SampleLake.WriteEvents(_root.Combine("lake", "web", "b.jsonl.gz"), RecordCount / 2, RecordCount / 2, gzip: true);
    }

    private const int RecordCount = 12_000;

    private string Lake => _root.Combine("lake");

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    [Theory]
    [InlineData(DestinationType.AmazonS3, FileType.Json, CompressionKind.None, "s3")]
    [InlineData(DestinationType.GoogleCloudStorage, FileType.Parquet, CompressionKind.Snappy, "gs")]
    public async Task A_dataset_exported_through_the_engine_reads_back_record_for_record(DestinationType type, FileType fileType, CompressionKind compression, string scheme)
    {
        var bucket = await _servers.NewBucketAsync(_servers.S3rverClient);
        var destination = new DestinationSettings
        {
            Name = $"{type}-export",
            Type = type,
            FileType = fileType,
            Compression = compression,
            MaxFileSizeMB = 1,
            FolderPath = "exports",
            Properties =
            {
                [DestinationKeys.Bucket] = bucket,
                [DestinationKeys.Endpoint] = _servers.S3rverUrl.ToString(),
                [DestinationKeys.AccessKeyId] = S3ServersFixture.S3rverKeyId,
            },
            Secrets = { [DestinationKeys.SecretAccessKey] = S3ServersFixture.S3rverSecret },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "to-bucket", DestinationId = destination.Id, DatasetIds = ["web"], Mode = ExportMode.Full };
        _engine.AddFlow(flow);

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, new DateTimeOffset(2026, 5, 6, 7, 8, 30, TimeSpan.Zero), null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var stored = await _servers.S3rverClient.ListAsync(bucket);
        var dataKey = new Regex(@"^exports/web/exportTime=202605060708/part-\d{5}-[0-9a-f-]{36}\.(json|parquet)$");
        var dataKeys = stored.Keys.Where(k => dataKey.IsMatch(k)).Order().ToList();
        Assert.Equal(run.Files.Select(f => "exports/" + f.RelativePath).Order(), dataKeys);
        Assert.Contains($"exports/web/exportTime=202605060708/manifest-{destination.Id:D}-{run.Id:D}.json", stored.Keys);
        Assert.Equal(dataKeys.Count + 1, stored.Count); // the data files and the manifest; the validation probe is gone

        var ids = new List<long>();
        foreach (var file in run.Files)
        {
            Assert.Equal($"{scheme}://{bucket}/exports/{file.RelativePath}", file.SinkPath);
            var local = _root.Combine(Path.GetFileName(file.RelativePath));
            var (sha256, size) = await _servers.S3rverClient.ReadAsync(bucket, "exports/" + file.RelativePath, local);
            Assert.Equal((file.Sha256, file.Size), (sha256, size));
            ids.AddRange(fileType == FileType.Json ? SampleLake.Ids(SampleLake.ReadJsonLines(local)) : await ParquetIdsAsync(local));
        }
        Assert.Equal(Enumerable.Range(0, RecordCount).Select(i => (long)i), ids.Order());

        var manifestPath = _root.Combine("manifest.json");
        await _servers.S3rverClient.ReadAsync(bucket, "exports/" + run.ManifestPath, manifestPath);
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
        Assert.Equal(RecordCount, manifest.RootElement.GetProperty("recordCount").GetInt64());
        Assert.Equal(run.Files.Select(f => f.SinkPath).Order(),
            manifest.RootElement.GetProperty("exportResults").EnumerateArray().Select(r => r.GetProperty("sinkPath").GetString()).Order());

        var verification = await _engine.VerifyRunAsync(run, default);
        Assert.True(verification.IsValid, verification.Problem);
    }

    private static async Task<List<long>> ParquetIdsAsync(string path)
    {
        var reader = FormatCatalog.GetReader(BatchFormat.Parquet);
        var schema = await reader.ReadSchemaAsync(path, false, default);
        var ids = new List<long>();
        await foreach (var chunk in reader.ReadAsync(path, false, schema, default))
        {
            ids.AddRange(chunk.Records.Select(r => (long)r["id"]!));
        }
        return ids;
    }
}
