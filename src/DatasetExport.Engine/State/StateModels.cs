namespace DatasetExport.Engine.State;

public enum ExportMode
{
    /// <summary>Every run exports every batch.</summary>
    Full,
    /// <summary>The first run exports every batch; later runs only batches the flow has not exported yet.</summary>
    Incremental,
}

public enum ScheduleKind
{
    /// <summary>No schedule: runs only when started by hand.</summary>
    Manual,
    Once,
    Hourly,
    Daily,
    Cron,
}

public enum RunStatus
{
    Running,
    Succeeded,
    Failed,
    /// <summary>The process running it died; its work is redone by a later run.</summary>
    Abandoned,
}

/// <summary>Binds datasets to a destination with a mode and a schedule.</summary>
public sealed class FlowRecord
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    public Guid DestinationId { get; set; }
    public List<string> DatasetIds { get; set; } = new();
    public ExportMode Mode { get; set; } = ExportMode.Full;
    public bool Enabled { get; set; } = true;
    public ScheduleKind ScheduleKind { get; set; } = ScheduleKind.Manual;
    public int? EveryHours { get; set; }
    /// <summary>Time of day for daily schedules, "HH:mm".</summary>
    public string? At { get; set; }
    public string? Cron { get; set; }
    public DateTimeOffset? StartTime { get; set; }
    public DateTimeOffset? EndTime { get; set; }
    public string TimeZone { get; set; } = "UTC";
    /// <summary>Leave out JSON lines that are not a JSON object (counted in <see cref="RunRecord.RecordsSkipped"/>) instead of failing the run.</summary>
    public bool SkipInvalidRecords { get; set; }
    /// <summary>
    /// Leave out batches that cannot be read or do not fit the dataset's schema (counted in <see cref="RunRecord.BatchesSkipped"/>)
    /// instead of failing the run; they are not recorded as exported, so the next run tries them again.
    /// </summary>
    public bool SkipInvalidBatches { get; set; }
    /// <summary>
    /// The latest slot a scheduled invocation claimed (<see cref="IStateStore.TryClaimSlot"/>); null before the first.
    /// Only claiming moves it: <see cref="IStateStore.UpdateFlow"/> never writes it.
    /// </summary>
    public DateTimeOffset? LastSlot { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ModifiedAt { get; set; }
}

/// <summary>One written file of a run, as listed in its manifest.</summary>
public sealed class RunFileRecord
{
    /// <summary>Path relative to the destination's folder, '/'-separated.</summary>
    public required string RelativePath { get; set; }
    public required string SinkPath { get; set; }
    public string Name => RelativePath[(RelativePath.LastIndexOf('/') + 1)..];
    public long Size { get; set; }
    public long Records { get; set; }
    public required string Sha256 { get; set; }
}

/// <summary>One export of one dataset by one flow.</summary>
public sealed class RunRecord
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid FlowId { get; set; }
    public required string FlowName { get; set; }
    public required string DatasetId { get; set; }
    public Guid DestinationId { get; set; }
    public required string DestinationName { get; set; }
    public RunStatus Status { get; set; } = RunStatus.Running;
    public ExportMode Mode { get; set; }
    /// <summary>The slot this run exports (UTC, minute precision); names the exportTime= folder.</summary>
    public DateTimeOffset ScheduledTime { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    /// <summary>Last sign of life from the process running it.</summary>
    public DateTimeOffset HeartbeatAt { get; set; }
    public long RecordsRead { get; set; }
    public long RecordsWritten { get; set; }
    /// <summary>Invalid records left out under <see cref="FlowRecord.SkipInvalidRecords"/>; their batches count as exported.</summary>
    public long RecordsSkipped { get; set; }
    /// <summary>Records in the batches left out under <see cref="FlowRecord.SkipInvalidBatches"/>, as far as their files tell (Parquet footers); a lower bound.</summary>
    public long RecordsFailed { get; set; }
    /// <summary>Batches left out under <see cref="FlowRecord.SkipInvalidBatches"/>; not recorded as exported, so retried by the next run.</summary>
    public List<SkippedBatchRecord> SkippedBatches { get; set; } = new();
    public int BatchesSkipped => SkippedBatches.Count;
    public long InputBytes { get; set; }
    public long OutputBytes { get; set; }
    public int BatchCount { get; set; }
    /// <summary>
    /// The destination's <see cref="Destinations.DestinationSettings.FolderPath"/> when the run started: its files stay
    /// there when the folder is changed later. Null for runs recorded before state version 7 (the current folder applies).
    /// </summary>
    public string? FolderPath { get; set; }

    /// <summary>Whether the run's files lie on <paramref name="destinationId"/> in <paramref name="folderPath"/>, that destination's current folder.</summary>
    public bool StoredIn(Guid destinationId, string folderPath) => DestinationId == destinationId && (FolderPath ?? folderPath) == folderPath;

    /// <summary>Folder of this run's files, relative to the destination's folder.</summary>
    public string ExportPath { get; set; } = "";
    /// <summary>Relative path of the manifest, when one was written.</summary>
    public string? ManifestPath { get; set; }
    /// <summary>sha256 of the manifest's bytes as stored (encrypted, when the destination encrypts it).</summary>
    public string? ManifestSha256 { get; set; }
    public List<RunFileRecord> Files { get; set; } = new();
    /// <summary>
    /// Files (relative paths, manifest first) this run stored, or may have stored in an upload that failed, and then failed
    /// to delete, its destination failing too: no commit owns them, so the flow's next run on this destination deletes them
    /// (or the flow's removal, <see cref="ExportEngine.RemoveFlowAsync"/>).
    /// </summary>
    public List<string> LeftFiles { get; set; } = new();

    /// <summary>The paths of the files and manifest this run recorded as stored, manifest first: no reader may follow it to parts already deleted.</summary>
    public IEnumerable<string> StoredPaths => Files.Select(file => file.RelativePath).Prepend(ManifestPath).OfType<string>();

    /// <summary>
    /// What this run stored that no commit owns and that is still to be deleted, manifest first: an Abandoned run's files and
    /// manifest (its process died before it could delete them) and any run's <see cref="LeftFiles"/>.
    /// </summary>
    public IEnumerable<string> FilesToRemove =>
        (Status == RunStatus.Abandoned ? StoredPaths : []).Concat(LeftFiles).Distinct();

    public string? Error { get; set; }
    /// <summary>How often a destination operation of this run failed transiently and was tried again.</summary>
    public int Retries { get; set; }
}

/// <summary>A batch a run left out under <see cref="FlowRecord.SkipInvalidBatches"/>: its path in the dataset folder and why.</summary>
public sealed record SkippedBatchRecord(string RelativePath, string Problem);

/// <summary>A lake batch as recorded when a run commits it: identity is path + size + last-write time.</summary>
public sealed record BatchKey(string RelativePath, long Size, DateTimeOffset LastWriteUtc)
{
    public string Value => $"{RelativePath}|{Size}|{LastWriteUtc.UtcTicks}";
}

/// <summary>
/// The successful run of a flow's dataset on a destination for the latest time (<see cref="RunRecord.ScheduledTime"/>), as
/// recorded when it committed: kept when that run is removed from the history, since the scheduler reads it to leave out a
/// slot older than it.
/// </summary>
public sealed record LatestExport(string DatasetId, Guid RunId, DateTimeOffset ScheduledTime, DateTimeOffset StartedAt, string ExportPath);
