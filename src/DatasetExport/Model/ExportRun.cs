namespace DatasetExport;

/// <summary>One export of one dataset by one flow.</summary>
public sealed class ExportRun
{
    public Guid Id { get; init; }
    /// <summary>The flow's name when the run started (a flow renamed since keeps its runs under their old name).</summary>
    public string Flow { get; init; } = "";
    /// <summary>The flow's id: a run piped to a flow parameter stands for this flow, under the name it has now.</summary>
    public Guid FlowId { get; init; }
    public string DatasetId { get; init; } = "";
    /// <summary>The destination's name when the run started.</summary>
    public string Destination { get; init; } = "";
    /// <summary>The destination's id: a run piped to a destination parameter stands for this destination, under the name it has now.</summary>
    public Guid DestinationId { get; init; }
    public RunStatus Status { get; init; }
    public ExportMode Mode { get; init; }
    /// <summary>The slot this run exports (UTC, minute precision); names the exportTime= folder.</summary>
    public DateTimeOffset ScheduledTime { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public TimeSpan? Duration { get; init; }
    public long RecordsRead { get; init; }
    public long RecordsWritten { get; init; }
    /// <summary>Invalid JSON lines left out under the flow's SkipInvalidRecords; their batches count as exported.</summary>
    public long RecordsSkipped { get; init; }
    /// <summary>Records in the batches left out under SkipInvalidBatches, as far as their files tell (Parquet footers); a lower bound.</summary>
    public long RecordsFailed { get; init; }
    /// <summary>How many batches were left out under SkipInvalidBatches.</summary>
    public int BatchesSkipped { get; init; }
    /// <summary>The batches left out under SkipInvalidBatches and why; the next run tries them again.</summary>
    public BatchProblem[] SkippedBatches { get; init; } = [];
    /// <summary>How often a destination operation that failed transiently was tried again during the run.</summary>
    public int Retries { get; init; }
    public long InputBytes { get; init; }
    public long OutputBytes { get; init; }
    public int FileCount { get; init; }
    public ExportRunFile[] Files { get; init; } = [];
    /// <summary>
    /// Relative paths of files the run stored and could not delete (its destination failing too): after it failed, was taken
    /// over by another process, or started over after a schema misfit. The flow's next run on that destination deletes them
    /// and empties this, and so does Remove-ExportFlow.
    /// </summary>
    public string[] LeftFiles { get; init; } = [];
    /// <summary>Folder of the run's files, relative to the destination's folder.</summary>
    public string ExportPath { get; init; } = "";
    /// <summary>Relative path of the manifest, when one was written.</summary>
    public string? ManifestPath { get; init; }
    /// <summary>sha256 of the manifest as stored (encrypted when the destination encrypts it); Test-ExportRun compares it.</summary>
    public string? ManifestSha256 { get; init; }
    public string? Error { get; init; }

    public override string ToString() => Id.ToString();
}

/// <summary>One file written by a run.</summary>
public sealed class ExportRunFile
{
    public string Name { get; init; } = "";
    /// <summary>Path relative to the destination's folder, '/'-separated.</summary>
    public string RelativePath { get; init; } = "";
    /// <summary>The full location as users know it (local path, s3://..., https://...).</summary>
    public string SinkPath { get; init; } = "";
    public long Size { get; init; }
    public long Records { get; init; }
    public string Sha256 { get; init; } = "";

    public override string ToString() => SinkPath;
}

/// <summary>The outcome of re-reading a run's manifest and files from its destination.</summary>
public sealed class ExportRunVerification
{
    public Guid RunId { get; init; }
    public bool IsValid { get; init; }
    public bool ManifestFound { get; init; }
    public int FileCount { get; init; }
    /// <summary>Relative paths of files that are missing or whose size or sha256 differ.</summary>
    public string[] InvalidFiles { get; init; } = [];
    public string? Problem { get; init; }
}
