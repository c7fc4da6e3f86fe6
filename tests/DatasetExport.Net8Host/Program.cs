using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Destinations.S3;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using Parquet;
using Parquet.Schema;

// Runs the engine on .NET 8 against one destination, as Net8HostTests asks: the job (destination settings, secrets
// included) arrives as JSON on stdin, never on the command line. It generates a small lake (JSON Lines and Parquet
// batches) under the job's work folder, adds the destination with validation (the probe) once per output format,
// exports both datasets, verifies every run and, with ScheduleTimeZone, runs a scheduled flow as Invoke-ExportSchedule
// does; it prints what it did, and last "result " + JSON for the test.
// Exit codes: 0 every run succeeded and verified, 1 a run failed or did not verify, 2 a DestinationException
// (e.g. rejected credentials, printed as "failure <kind>: <message>"), 3 anything else.
var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
var job = JsonSerializer.Deserialize<Job>(Console.In.ReadToEnd(), options) ?? throw new InvalidOperationException("No job on stdin.");

Console.WriteLine($"runtime {Environment.Version} ({RuntimeInformation.FrameworkDescription}, {RuntimeInformation.RuntimeIdentifier})");
var result = new Dictionary<string, object?>
{
    ["runtime"] = Environment.Version.ToString(),
    ["framework"] = RuntimeInformation.FrameworkDescription,
};
try
{
    var lake = Path.Combine(job.Work, "lake");
    WriteLake(lake, job.JsonRecords, job.ParquetRows);
    Console.WriteLine($"lake {lake}: events ({job.JsonRecords} JSON Lines records, 2 batches, one gzip), metrics ({job.ParquetRows} Parquet rows, 2 batches)");

    using var engine = ExportEngine.Open(new EngineOptions { StateHome = Path.Combine(job.Work, "state"), DestinationFactory = CreateDestination });
    var outputs = new List<(string Label, FileType FileType, CompressionKind Compression, string? PgpPublicKey)>
    {
        ("parquet-zstd", FileType.Parquet, CompressionKind.Zstd, null),
        ("json-gzip", FileType.Json, CompressionKind.Gzip, null),
    };
    if (job.PgpPublicKey is { } key) outputs.Add(("json-gzip-pgp", FileType.Json, CompressionKind.Gzip, key));

    var exports = new List<object>();
    var allGood = true;
    foreach (var (label, fileType, compression, pgpPublicKey) in outputs)
    {
        var settings = new DestinationSettings
        {
            Name = "net8-" + label,
            Type = Enum.Parse<DestinationType>(job.Destination.Type),
            FileType = fileType,
            Compression = compression,
            FolderPath = $"{job.Destination.FolderPath}/{label}".TrimStart('/'),
            Properties = new(job.Destination.Properties, StringComparer.OrdinalIgnoreCase),
            Secrets = new(job.Destination.Secrets, StringComparer.OrdinalIgnoreCase),
        };
        if (pgpPublicKey is not null) settings.Properties[DestinationKeys.PgpPublicKey] = pgpPublicKey;
        await engine.AddDestinationAsync(settings, skipValidation: false, CancellationToken.None);
        Console.WriteLine($"added destination {settings.Name} ({settings.Type}, {fileType} {compression}{(pgpPublicKey is null ? "" : ", OpenPGP")}), validated");

        var flow = new FlowRecord { Name = "net8-" + label, DestinationId = settings.Id, DatasetIds = ["events", "metrics"] };
        engine.AddFlow(flow);
        var runs = new List<object>();
        foreach (var run in await engine.RunFlowAsync(flow, lake, null, CancellationToken.None))
        {
            var verification = await engine.VerifyRunAsync(engine.State.GetRun(run.Id)!, CancellationToken.None);
            Console.WriteLine($"  run {run.DatasetId}: {run.Status}, {run.RecordsWritten} records in {run.Files.Count} file(s), manifest {run.ManifestPath}; " +
                              $"verified {verification.IsValid}{(verification.Problem is null ? "" : ": " + verification.Problem)}{(run.Error is null ? "" : "; error: " + run.Error)}");
            allGood &= run.Status == RunStatus.Succeeded && verification.IsValid;
            runs.Add(new
            {
                dataset = run.DatasetId,
                status = run.Status.ToString(),
                error = run.Error,
                recordsWritten = run.RecordsWritten,
                manifestPath = run.ManifestPath,
                verified = verification.IsValid,
                problem = verification.Problem,
                files = run.Files.Select(file => new { relativePath = file.RelativePath, size = file.Size, sha256 = file.Sha256, records = file.Records }).ToList(),
            });
        }
        exports.Add(new { label, folderPath = settings.FolderPath, runs });
    }
    result["exports"] = exports;

    if (job.ScheduleTimeZone is { } timeZone)
    {
        // Invoke-ExportSchedule's engine call on .NET 8: an hourly cron flow in the job's time zone, started three hours
        // ago, runs its latest due slot (the top of the hour there), to a Local folder of its own.
        var local = new DestinationSettings
        {
            Name = "net8-scheduled",
            Type = DestinationType.Local,
            FileType = FileType.Parquet,
            Compression = CompressionKind.Snappy,
            Properties = { [DestinationKeys.Path] = Path.Combine(job.Work, "scheduled-out") },
        };
        await engine.AddDestinationAsync(local, skipValidation: false, CancellationToken.None);
        var flow = new FlowRecord
        {
            Name = "net8-scheduled", DestinationId = local.Id, DatasetIds = ["events"],
            ScheduleKind = ScheduleKind.Cron, Cron = "0 * * * *", TimeZone = timeZone, StartTime = DateTimeOffset.UtcNow.AddHours(-3),
        };
        engine.AddFlow(flow);
        var scheduledRuns = new List<object>();
        foreach (var run in await engine.RunDueFlowsAsync(lake, [flow.Name], null, CancellationToken.None))
        {
            var verification = await engine.VerifyRunAsync(engine.State.GetRun(run.Id)!, CancellationToken.None);
            Console.WriteLine($"scheduled run {run.DatasetId} for slot {run.ScheduledTime:O}: {run.Status}, {run.RecordsWritten} records; verified {verification.IsValid}");
            allGood &= run.Status == RunStatus.Succeeded && verification.IsValid;
            scheduledRuns.Add(new { dataset = run.DatasetId, status = run.Status.ToString(), scheduledTime = run.ScheduledTime, recordsWritten = run.RecordsWritten, verified = verification.IsValid });
        }
        var status = engine.GetFlowStatus(engine.State.FindFlow(flow.Name)!);
        Console.WriteLine($"schedule \"{status.Schedule}\", next run {status.NextRunTime:O}");
        result["scheduled"] = new { runs = scheduledRuns, schedule = status.Schedule, nextRunTime = status.NextRunTime };
    }
    Console.WriteLine("result " + JsonSerializer.Serialize(result, options));
    return allGood ? 0 : 1;
}
catch (DestinationException error)
{
    Console.WriteLine($"failure {error.Failure}: {error.Message}");
    result["failure"] = error.Failure.ToString();
    result["message"] = error.Message;
    Console.WriteLine("result " + JsonSerializer.Serialize(result, options));
    return 2;
}
catch (Exception error)
{
    Console.WriteLine($"error {error.GetType().FullName}: {error.Message}");
    Console.Error.WriteLine(error);
    return 3;
}

// The engine's own factory, except as the engine tests do: an Amazon S3 destination without an Endpoint (the AWS path,
// SDK defaults) is sent to the AWS S3 emulator the job names, and with SmallUploads files above 64 KiB go up to S3 in
// 32 KiB parts and to Azure in 32 KiB blocks (multipart uploads and staged blocks on .NET 8 with a small lake).
IExportDestination CreateDestination(DestinationSettings settings)
{
    var transfer = job.SmallUploads ? S3TransferOptions.Default with { MultipartThreshold = Job.SmallUploadLimit, PartSize = Job.SmallUploadLimit / 2 } : S3TransferOptions.Default;
    var tuning = job.SmallUploads ? AzureClientTuning.Default with { SingleUploadLimitBytes = Job.SmallUploadLimit, BlockSizeBytes = Job.SmallUploadLimit / 2 } : AzureClientTuning.Default;
    if (job.AwsEmulatorUrl is { } emulator && settings.Type == DestinationType.AmazonS3 && string.IsNullOrEmpty(settings.GetProperty(DestinationKeys.Endpoint)))
    {
        transfer = transfer with { AwsEmulatorUrl = new Uri(emulator) };
    }
    if (!job.SmallUploads && transfer.AwsEmulatorUrl is null) return DestinationRegistry.Create(settings);
    return settings.Type switch
    {
        DestinationType.AmazonS3 => new AmazonS3Destination(settings, transfer),
        DestinationType.GoogleCloudStorage => new GoogleCloudStorageDestination(settings, transfer),
        DestinationType.AzureBlob => new AzureBlobDestination(settings, tuning),
        DestinationType.AzureDataLakeGen2 => new AzureDataLakeGen2Destination(settings, tuning),
        DestinationType.DataLandingZone => new DataLandingZoneDestination(settings, tuning),
        _ => DestinationRegistry.Create(settings),
    };
}

// events: JSON Lines, ids 0..jsonRecords-1 over two batches (the second gzip); metrics: Parquet written by Parquet.Net,
// ids 0..parquetRows-1 over two batches. Both written ten minutes in the past (a batch still being written is not exported).
static void WriteLake(string lake, int jsonRecords, int parquetRows)
{
    var events = Path.Combine(lake, "events");
    Directory.CreateDirectory(events);
    var half = jsonRecords / 2;
    WriteEvents(Path.Combine(events, "batch-0.jsonl"), 0, half, gzip: false);
    WriteEvents(Path.Combine(events, "batch-1.jsonl.gz"), half, jsonRecords - half, gzip: true);

    var metrics = Path.Combine(lake, "metrics");
    Directory.CreateDirectory(metrics);
    half = parquetRows / 2;
    WriteMetricsAsync(Path.Combine(metrics, "batch-0.parquet"), 0, half).GetAwaiter().GetResult();
    WriteMetricsAsync(Path.Combine(metrics, "batch-1.parquet"), half, parquetRows - half).GetAwaiter().GetResult();

    foreach (var file in Directory.GetFiles(lake, "*", SearchOption.AllDirectories)) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-10));
}

static void WriteEvents(string path, int firstId, int count, bool gzip)
{
    using var file = File.Create(path);
    using Stream output = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
    using var writer = new StreamWriter(output, new UTF8Encoding(false));
    for (var id = firstId; id < firstId + count; id++)
    {
        writer.Write(JsonSerializer.Serialize(new
        {
            id,
            user = $"user-{id % 97}",
            score = id * 0.5,
            active = id % 2 == 0,
            tags = new[] { "t" + id % 3, "x" },
            geo = new { country = id % 2 == 0 ? "FR" : "DE", city = id % 5 == 0 ? null : "c" + id % 7 },
        }));
        writer.Write('\n');
    }
}

static async Task WriteMetricsAsync(string path, int firstId, int count)
{
    var id = new DataField<long>("id");
    var name = new DataField<string>("name", true);
    var value = new DataField<double>("value");
    await using var file = File.Create(path);
    await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, name, value), file);
    using var group = writer.CreateRowGroup();
    await group.WriteAsync<long>(id, Enumerable.Range(firstId, count).Select(i => (long)i).ToArray(), null, null, CancellationToken.None);
    await group.WriteAsync(name, Enumerable.Range(firstId, count).Select(i => i % 10 == 0 ? null : $"metric-{i % 31}").ToArray(), null);
    await group.WriteAsync<double>(value, Enumerable.Range(firstId, count).Select(i => i / 4.0).ToArray(), null, null, CancellationToken.None);
    group.CompleteValidate();
}

/// <summary>What to do: where to work, the destination (secrets included), and the lake's size.</summary>
internal sealed record Job(string Work, JobDestination Destination, string? AwsEmulatorUrl, string? PgpPublicKey, bool SmallUploads = false,
    string? ScheduleTimeZone = null, int JsonRecords = 25_000, int ParquetRows = 2000)
{
    /// <summary>With <see cref="SmallUploads"/>: files above this go up in parts or blocks of half of it.</summary>
    public const int SmallUploadLimit = 64 * 1024;
}

/// <summary>A destination as the test sets it up; each output format is added below <see cref="FolderPath"/> in its own folder.</summary>
internal sealed record JobDestination(string Type, string FolderPath, Dictionary<string, string> Properties, Dictionary<string, string> Secrets);
