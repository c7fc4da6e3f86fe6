namespace DatasetExport;

// The enums users name in scripts ([DatasetExport.DestinationType]::AzureBlob). They mirror the engine's enums
// member for member (mapped by name in EngineMapping) because engine types load into an isolated context and
// cannot be named from PowerShell.

/// <summary>Every kind of storage a destination can write to.</summary>
public enum DestinationType
{
    Local,
    AmazonS3,
    GoogleCloudStorage,
    AzureBlob,
    AzureDataLakeGen2,
    DataLandingZone,
    Sftp,
}

/// <summary>The file type a destination writes.</summary>
public enum FileType
{
    Json,
    Parquet,
}

/// <summary>Compression of written files: Gzip for both file types; Snappy and Zstd for Parquet only.</summary>
public enum Compression
{
    None,
    Gzip,
    Snappy,
    Zstd,
}

/// <summary>How a flow chooses batches: every batch, or only batches it has not exported yet.</summary>
public enum ExportMode
{
    Full,
    Incremental,
}

/// <summary>When a flow is due: never by itself (Manual), once, every N hours, daily at a time, or on a cron expression.</summary>
public enum ScheduleKind
{
    Manual,
    Once,
    Hourly,
    Daily,
    Cron,
}

/// <summary>The state of an export run.</summary>
public enum RunStatus
{
    Running,
    Succeeded,
    Failed,
    Abandoned,
}
