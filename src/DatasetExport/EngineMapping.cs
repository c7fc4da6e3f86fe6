using System.Collections.ObjectModel;
using System.Globalization;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Retry;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using EngineCompression = DatasetExport.Engine.Formats.CompressionKind;
using EngineDestinationType = DatasetExport.Engine.Destinations.DestinationType;
using EngineExportMode = DatasetExport.Engine.State.ExportMode;
using EngineFileType = DatasetExport.Engine.Formats.FileType;
using EngineRunStatus = DatasetExport.Engine.State.RunStatus;

namespace DatasetExport;

/// <summary>Turns engine results into the module's output types, and the module's enums into the engine's (by name).</summary>
internal static class EngineMapping
{
    /// <summary>Destination properties shown as their own output properties (Encrypted, EncryptionKey, ...) rather than in Settings.</summary>
    /// <summary>Settings that have their own property on <see cref="ExportDestination"/>, so Settings does not repeat them.</summary>
    private static readonly HashSet<string> ShownSeparately = new(StringComparer.OrdinalIgnoreCase)
    {
        DestinationKeys.PgpPublicKey, DestinationKeys.PgpEncryptManifest, DestinationKeys.FolderTemplate,
    };

    public static EngineDestinationType ToEngine(this DestinationType value) => Enum.Parse<EngineDestinationType>(value.ToString());
    public static EngineFileType ToEngine(this FileType value) => Enum.Parse<EngineFileType>(value.ToString());
    public static EngineCompression ToEngine(this Compression value) => Enum.Parse<EngineCompression>(value.ToString());
    public static EngineExportMode ToEngine(this ExportMode value) => Enum.Parse<EngineExportMode>(value.ToString());
    public static EngineRunStatus ToEngine(this RunStatus value) => Enum.Parse<EngineRunStatus>(value.ToString());

    public static EligibleDataset ToOutput(DatasetInfo dataset) => new()
    {
        Id = dataset.Id,
        Name = dataset.Name,
        Description = dataset.Description,
        Path = dataset.Path,
        BatchCount = dataset.Batches.Count,
        SizeBytes = dataset.SizeBytes,
        RecordCount = dataset.RecordCount,
        Format = dataset.Format,
        LastModified = dataset.LastModified,
        Schema = dataset.Schema?.Fields.Select(f => new DatasetColumn { Name = f.Name, Type = f.TypeName, Nullable = f.Nullable }).ToArray() ?? [],
        IsEligible = dataset.IsEligible,
        Reason = dataset.Reason,
        BatchProblems = dataset.BatchProblems.Select(p => new BatchProblem { Path = p.Batch.RelativePath, Problem = p.Problem, Records = p.Records }).ToArray(),
    };

    public static ExportDestination ToOutput(DestinationSettings destination) => new()
    {
        Id = destination.Id,
        Name = destination.Name,
        Type = Enum.Parse<DestinationType>(destination.Type.ToString()),
        Location = DescribeLocation(destination),
        FileType = Enum.Parse<FileType>(destination.FileType.ToString()),
        Compression = Enum.Parse<Compression>(destination.Compression.ToString()),
        IncludeManifest = destination.IncludeManifest,
        MaxFileSizeMB = destination.MaxFileSizeMB,
        FolderPath = destination.FolderPath,
        FolderTemplate = destination.GetProperty(DestinationKeys.FolderTemplate) ?? global::DatasetExport.Engine.Export.FolderTemplate.Default,
        Credential = DescribeCredential(destination),
        HostKeyFingerprint = destination.GetProperty(DestinationKeys.HostKeyFingerprint),
        Encrypted = destination.GetProperty(DestinationKeys.PgpPublicKey) is not null,
        EncryptionKey = destination.GetProperty(DestinationKeys.PgpPublicKey) is { } armored ? DescribeKey(armored) : null,
        EncryptionKeyExpires = destination.GetProperty(DestinationKeys.PgpPublicKey) is { } key ? KeyExpiry(key) : null,
        EncryptManifest = bool.TryParse(destination.GetProperty(DestinationKeys.PgpEncryptManifest), out var encryptManifest) && encryptManifest,
        PgpPublicKey = destination.GetProperty(DestinationKeys.PgpPublicKey),
        RetryCount = IntProperty(destination, DestinationKeys.RetryCount, RetryPolicy.DefaultRetryCount),
        RetryTimeoutSeconds = IntProperty(destination, DestinationKeys.RetryTimeoutSeconds, RetryPolicy.DefaultTimeoutSeconds),
        Settings = new ReadOnlyDictionary<string, string>(destination.Properties
            .Where(property => !ShownSeparately.Contains(property.Key))
            .ToDictionary(property => property.Key, property => property.Value, StringComparer.OrdinalIgnoreCase)),
        CreatedAt = destination.CreatedAt,
        ModifiedAt = destination.ModifiedAt,
    };

    /// <summary>A stored whole-number setting, or its default when unset; a value edited out of range behind the module shows in Settings and fails the next run.</summary>
    private static int IntProperty(DestinationSettings destination, string key, int defaultValue) =>
        int.TryParse(destination.GetProperty(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : defaultValue;

    public static ExportFlow ToOutput(FlowStatus status, string destinationName)
    {
        var flow = status.Flow;
        return new()
        {
            Id = flow.Id,
            Name = flow.Name,
            Destination = destinationName,
            Datasets = flow.DatasetIds.ToArray(),
            Mode = Enum.Parse<ExportMode>(flow.Mode.ToString()),
            Enabled = flow.Enabled,
            SkipInvalidRecords = flow.SkipInvalidRecords,
            SkipInvalidBatches = flow.SkipInvalidBatches,
            Schedule = status.Schedule,
            ScheduleKind = Enum.Parse<ScheduleKind>(flow.ScheduleKind.ToString()),
            Every = flow.EveryHours,
            At = flow.At,
            Cron = flow.Cron,
            StartTime = flow.StartTime,
            EndTime = flow.EndTime,
            TimeZone = flow.TimeZone,
            NextRunTime = status.NextRunTime,
            LastRunTime = status.LastRunTime,
            LastStatus = status.LastStatus is { } last ? Enum.Parse<RunStatus>(last.ToString()) : null,
            Completed = status.Completed,
            CreatedAt = flow.CreatedAt,
            ModifiedAt = flow.ModifiedAt,
        };
    }

    public static ExportRun ToOutput(RunRecord run) => new()
    {
        Id = run.Id,
        Flow = run.FlowName,
        FlowId = run.FlowId,
        DatasetId = run.DatasetId,
        Destination = run.DestinationName,
        DestinationId = run.DestinationId,
        Status = Enum.Parse<RunStatus>(run.Status.ToString()),
        Mode = Enum.Parse<ExportMode>(run.Mode.ToString()),
        ScheduledTime = run.ScheduledTime,
        StartedAt = run.StartedAt,
        CompletedAt = run.CompletedAt,
        Duration = run.CompletedAt - run.StartedAt,
        RecordsRead = run.RecordsRead,
        RecordsWritten = run.RecordsWritten,
        RecordsSkipped = run.RecordsSkipped,
        RecordsFailed = run.RecordsFailed,
        BatchesSkipped = run.BatchesSkipped,
        SkippedBatches = run.SkippedBatches.Select(b => new BatchProblem { Path = b.RelativePath, Problem = b.Problem }).ToArray(),
        Retries = run.Retries,
        InputBytes = run.InputBytes,
        OutputBytes = run.OutputBytes,
        FileCount = run.Files.Count,
        Files = run.Files.Select(f => new ExportRunFile
        {
            Name = f.Name,
            RelativePath = f.RelativePath,
            SinkPath = f.SinkPath,
            Size = f.Size,
            Records = f.Records,
            Sha256 = f.Sha256,
        }).ToArray(),
        LeftFiles = run.LeftFiles.ToArray(),
        ExportPath = run.ExportPath,
        ManifestPath = run.ManifestPath,
        ManifestSha256 = run.ManifestSha256,
        Error = run.Error,
    };

    public static ExportRunVerification ToOutput(RunVerification verification) => new()
    {
        RunId = verification.Run.Id,
        IsValid = verification.IsValid,
        ManifestFound = verification.ManifestFound,
        FileCount = verification.Files.Count,
        InvalidFiles = verification.Files.Where(f => !f.IsValid).Select(f => f.RelativePath).ToArray(),
        Problem = verification.Problem,
    };

    /// <summary>Where the destination writes, as users know it. Built from plain properties only.</summary>
    public static string DescribeLocation(DestinationSettings destination)
    {
        string? Get(string key) => destination.GetProperty(key);
        return destination.Type switch
        {
            EngineDestinationType.Local => Get(DestinationKeys.Path) ?? "",
            EngineDestinationType.AmazonS3 => $"s3://{Get(DestinationKeys.Bucket)}",
            EngineDestinationType.GoogleCloudStorage => $"gs://{Get(DestinationKeys.Bucket)}",
            EngineDestinationType.AzureBlob => Get(DestinationKeys.ServiceUri) is { } serviceUri
                ? $"{serviceUri.TrimEnd('/')}/{Get(DestinationKeys.Container)}"
                : Get(DestinationKeys.AccountName) is { } account
                    ? $"https://{account}.blob.core.windows.net/{Get(DestinationKeys.Container)}"
                    : Get(DestinationKeys.Container) ?? "",
            EngineDestinationType.AzureDataLakeGen2 => $"abfss://{Get(DestinationKeys.FileSystem)}@{Get(DestinationKeys.AccountName)}.dfs.core.windows.net",
            EngineDestinationType.DataLandingZone => Get(DestinationKeys.ServiceUri) ?? "",
            EngineDestinationType.Sftp => $"sftp://{Get(DestinationKeys.HostName)}:{Get(DestinationKeys.Port)}/{Get(DestinationKeys.RemotePath)?.TrimStart('/')}",
            _ => "",
        };
    }

    /// <summary>The key's user id and fingerprint; a stored key that no longer parses (state edited by hand) says so rather than failing the listing.</summary>
    private static string DescribeKey(string armored)
    {
        try
        {
            return PgpKeys.Describe(armored);
        }
        catch (ArgumentException error)
        {
            return $"(unreadable: {error.Message})";
        }
    }

    /// <summary>When the key in use now expires; null when it does not, or when no key can encrypt now (that is warned about).</summary>
    private static DateTimeOffset? KeyExpiry(string armored)
    {
        try
        {
            return PgpKeys.ExpiresAt(armored, DateTimeOffset.UtcNow);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The public half of the credential (key id, client id, user name), or "****" when only a secret is stored.</summary>
    public static string? DescribeCredential(DestinationSettings destination)
    {
        var identity = destination.GetProperty(DestinationKeys.AccessKeyId)
            ?? destination.GetProperty(DestinationKeys.ClientId)
            ?? destination.GetProperty(DestinationKeys.UserName);
        if (identity is not null) return identity;
        return destination.Secrets.Count > 0 || destination.UnreadableSecrets is not null ? "****" : null;
    }
}
