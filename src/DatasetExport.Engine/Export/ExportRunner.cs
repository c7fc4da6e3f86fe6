using System.Security.Cryptography;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.Destinations.Retry;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Export;

/// <summary>
/// Exports one dataset for one flow: reads its batches, writes part files in the destination's format
/// (rolling over at the size limit), stores each file, then the manifest, then commits the run and its
/// batches in one state transaction. A failed run deletes what it stored and records no batch. A run another
/// process marked Abandoned meanwhile (this process was taken for dead) stops and deletes what it stored too: the
/// store refuses to commit it, and its slot is redone by whoever abandoned it.
/// </summary>
internal sealed class ExportRunner
{
    public const string LostRunError =
        "Another process marked this run Abandoned while it was still exporting (its heartbeat was late): it stopped " +
        "without committing and removed its files; its slot is exported again by a later run.";

    private readonly IStateStore _state;
    private readonly TimeProvider _time;
    private readonly Action<string>? _log;

    /// <param name="log">Receives retry messages (never secrets), on the engine's threads.</param>
    public ExportRunner(IStateStore state, TimeProvider time, Action<string>? log)
    {
        _state = state;
        _time = time;
        _log = log;
    }

    /// <summary>The exportTime= folder value for a slot: UTC, minute precision.</summary>
    public static string ExportTimeValue(DateTimeOffset scheduledTime) => scheduledTime.UtcDateTime.ToString("yyyyMMddHHmm", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A new Running run of the flow for one dataset and slot, not yet recorded.</summary>
    public static RunRecord NewRun(FlowRecord flow, DestinationSettings destination, string datasetId, DateTimeOffset scheduledTime, DateTimeOffset now)
    {
        var slot = FlowSchedule.TruncateToMinute(scheduledTime);
        return new RunRecord
        {
            FlowId = flow.Id,
            FlowName = flow.Name,
            DatasetId = datasetId,
            DestinationId = destination.Id,
            DestinationName = destination.Name,
            Mode = flow.Mode,
            ScheduledTime = slot,
            StartedAt = now,
            HeartbeatAt = now,
            ExportPath = ExportPathOf(flow, destination, datasetId, datasetId, slot),
        };
    }

    /// <summary>The run's folder from the destination's folder template (the dataset's name is known once the lake is read).</summary>
    private static string ExportPathOf(FlowRecord flow, DestinationSettings destination, string datasetId, string datasetName, DateTimeOffset slot) =>
        FolderTemplate.Expand(
            destination.GetProperty(DestinationKeys.FolderTemplate) ?? FolderTemplate.Default,
            new FolderTemplateValues(datasetId, datasetName, destination.Name, flow.Name, slot));

    /// <summary>
    /// Exports <paramref name="run"/>, which is recorded Running and held by <paramref name="heartbeat"/>. Returns it
    /// Succeeded, Failed (with Error), or Abandoned when another process took it over; throws only when cancelled.
    /// Every operation on <paramref name="destinationClient"/> is retried by the destination's retry policy, counted per run.
    /// </summary>
    public async Task<RunRecord> RunAsync(
        FlowRecord flow,
        DestinationSettings destination,
        IExportDestination destinationClient,
        FolderLake lake,
        RunRecord run,
        RunHeartbeat heartbeat,
        ProgressScope progress,
        CancellationToken cancellationToken)
    {
        var target = new RetryingDestination(destinationClient, RetryPolicy.From(destination), _log);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, heartbeat.LostToken(run.Id));
        var token = stopping.Token;
        var staging = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "DatasetExport", run.Id.ToString("N"))).FullName;
        try
        {
            // A run recorded for a claimed slot may have waited for its turn: make sure it is still ours.
            ThrowIfLost(run, heartbeat);
            var readOptions = new BatchReadOptions(flow.SkipInvalidRecords, flow.SkipInvalidBatches);
            var dataset = await lake.GetDatasetAsync(run.DatasetId, readOptions, token).ConfigureAwait(false);
            if (!dataset.IsEligible) throw new LakeException(LakeFailure.NotEligible, $"Dataset '{dataset.Id}' cannot be exported: {dataset.Reason}", dataset.Id);
            run.ExportPath = ExportPathOf(flow, destination, dataset.Id, dataset.Name, run.ScheduledTime);
            var batches = SelectBatches(flow, dataset);
            run.BatchCount = batches.Count;
            run.InputBytes = batches.Sum(b => b.SizeBytes);
            foreach (var problem in dataset.BatchProblems) RecordSkipped(run, problem);

            var exported = await WriteFilesAsync(run, destination, target, dataset, batches, readOptions, staging, progress, token).ConfigureAwait(false);
            if (destination.IncludeManifest && run.Files.Count > 0)
            {
                // Readers follow manifests: never publish one for a run that is no longer ours.
                ThrowIfLost(run, heartbeat);
                await WriteManifestAsync(run, flow, destination, target, dataset, staging, token).ConfigureAwait(false);
            }
            run.CompletedAt = _time.GetUtcNow();
            run.Retries = target.Retries;
            _state.CommitRun(run, exported.Select(b => b.Key).ToList());
            return run;
        }
        catch (Exception error)
        {
            // Cancelled by the caller; a cancellation by the heartbeat means the run was lost.
            var cancelled = error is OperationCanceledException && cancellationToken.IsCancellationRequested;
            run.CompletedAt = _time.GetUtcNow();
            await RemoveStoredFilesAsync(run, target).ConfigureAwait(false);
            if (!cancelled && IsLost(run, heartbeat, error)) return Lost(run);
            run.Status = RunStatus.Failed;
            run.Error = cancelled ? "The export was cancelled." : error.Message;
            run.Retries = target.Retries;
            try
            {
                _state.UpdateRun(run);
            }
            catch (StateException refused) when (refused.Failure == StateFailure.NotRunning)
            {
                Lost(run);
            }
            if (cancelled) throw;
            return run;
        }
        finally
        {
            heartbeat.Release(run.Id);
            TryDeleteFolder(staging);
        }
    }

    private static void ThrowIfLost(RunRecord run, RunHeartbeat heartbeat)
    {
        if (!heartbeat.Beat(run.Id)) throw new OperationCanceledException(LostRunError);
    }

    private static bool IsLost(RunRecord run, RunHeartbeat heartbeat, Exception error) =>
        heartbeat.IsLost(run.Id) || error is StateException { Failure: StateFailure.NotRunning };

    /// <summary>The stored run stays as the other process marked it (Abandoned); this copy says what happened here.</summary>
    private static RunRecord Lost(RunRecord run)
    {
        run.Status = RunStatus.Abandoned;
        run.Error = LostRunError;
        return run;
    }

    private IReadOnlyList<BatchInfo> SelectBatches(FlowRecord flow, DatasetInfo dataset)
    {
        if (flow.Mode == ExportMode.Full) return dataset.Batches;
        var exported = _state.GetExportedBatches(flow.Id, dataset.Id);
        return dataset.Batches.Where(b => !exported.Contains(b.Key.Value)).ToList();
    }

    /// <summary>A batch the lake or <see cref="FindReadProblemAsync"/> found unexportable, left out under SkipInvalidBatches.</summary>
    private static void RecordSkipped(RunRecord run, BatchProblem problem)
    {
        run.SkippedBatches.Add(new SkippedBatchRecord(problem.Batch.RelativePath, problem.Problem));
        run.RecordsFailed += problem.Records ?? 0;
    }

    /// <summary>
    /// Reads a batch to its end without writing anything: under SkipInvalidBatches no record of a batch that fails half-way
    /// may reach a part file (parts hold records of several batches and cannot be taken back). The problem, or null.
    /// </summary>
    private static async Task<BatchProblem?> FindReadProblemAsync(BatchInfo batch, DatasetSchema schema, BatchReadOptions options, CancellationToken cancellationToken)
    {
        // Invalid lines are counted when the batch is written, not here.
        var reader = FormatCatalog.GetReader(batch.Format, options.SkipInvalidRecords ? _ => { } : null);
        try
        {
            await foreach (var _ in reader.ReadAsync(batch.FullPath, batch.Gzipped, schema, cancellationToken).ConfigureAwait(false)) { }
            return null;
        }
        catch (BatchReadException error)
        {
            long? records = null;
            try
            {
                records = await reader.ReadRecordCountAsync(batch.FullPath, batch.Gzipped, cancellationToken).ConfigureAwait(false);
            }
            catch (BatchReadException)
            {
                // No count to report: the file does not say.
            }
            return new BatchProblem(batch, $"Batch '{batch.RelativePath}' cannot be exported: {error.Message}", records);
        }
    }

    /// <summary>Writes the batches into part files and stores them; returns the batches written (all of them, unless some were skipped).</summary>
    private async Task<List<BatchInfo>> WriteFilesAsync(
        RunRecord run, DestinationSettings destination, IExportDestination target, DatasetInfo dataset,
        IReadOnlyList<BatchInfo> batches, BatchReadOptions readOptions, string staging, ProgressScope progress, CancellationToken cancellationToken)
    {
        var exported = new List<BatchInfo>(batches.Count);
        var schema = dataset.Schema!;
        var maxBytes = destination.MaxFileSizeBytes;
        var encryption = PgpFileEncryption.For(destination);
        var extension = FormatCatalog.FileExtension(destination.FileType, destination.Compression);
        PartFile? part = null;
        var batchesDone = 0;
        try
        {
            foreach (var batch in batches)
            {
                if (readOptions.SkipInvalidBatches && await FindReadProblemAsync(batch, schema, readOptions, cancellationToken).ConfigureAwait(false) is { } problem)
                {
                    RecordSkipped(run, problem);
                    run.BatchCount--;
                    run.InputBytes -= batch.SizeBytes;
                    progress.Report(run, ++batchesDone, batches.Count, "Skipped " + batch.RelativePath);
                    continue;
                }
                var reader = FormatCatalog.GetReader(batch.Format, readOptions.SkipInvalidRecords ? _ => run.RecordsSkipped++ : null);
                await foreach (var chunk in reader.ReadAsync(batch.FullPath, batch.Gzipped, schema, cancellationToken).ConfigureAwait(false))
                {
                    var offset = 0;
                    while (offset < chunk.RowCount)
                    {
                        part ??= PartFile.Open(staging, run.Files.Count, extension, schema, destination, encryption);
                        var take = RecordsThatFit(part.Writer, maxBytes, chunk.RowCount - offset);
                        await part.Writer.WriteAsync(chunk.Slice(offset, take), cancellationToken).ConfigureAwait(false);
                        offset += take;
                        run.RecordsRead += take;
                        if (part.Writer.BytesWritten >= maxBytes)
                        {
                            var full = part;
                            part = null;
                            await StorePartAsync(run, target, full, cancellationToken).ConfigureAwait(false);
                        }
                    }
                    progress.Report(run, batchesDone, batches.Count, "Writing " + batch.RelativePath);
                }
                batchesDone++;
                exported.Add(batch);
            }
            if (part is not null)
            {
                var last = part;
                part = null;
                await StorePartAsync(run, target, last, cancellationToken).ConfigureAwait(false);
            }
            progress.Report(run, batchesDone, batches.Count, "Written");
            return exported;
        }
        finally
        {
            if (part is not null) await part.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The most records handed to a writer at once, so the size check between writes comes often enough; writers
    /// buffer internally, so this costs little.
    /// </summary>
    private const int MaxRecordsPerWrite = 1000;

    /// <summary>
    /// How many of the next <paramref name="available"/> records to write so the file stops near its size limit
    /// rather than a whole chunk past it, estimated from the bytes per record written so far. Writers that emit
    /// bytes only at row-group boundaries (Parquet) roll over at those boundaries.
    /// </summary>
    private static int RecordsThatFit(IFormatWriter writer, long maxBytes, int available)
    {
        var most = Math.Min(available, MaxRecordsPerWrite);
        if (writer.RecordsWritten == 0 || writer.BytesWritten == 0) return most;
        var bytesPerRecord = Math.Max(1.0, (double)writer.BytesWritten / writer.RecordsWritten);
        var fit = (long)Math.Ceiling((maxBytes - writer.BytesWritten) / bytesPerRecord);
        return (int)Math.Clamp(fit, 1, most);
    }

    private static async Task StorePartAsync(RunRecord run, IExportDestination target, PartFile part, CancellationToken cancellationToken)
    {
        long records;
        await using (part.ConfigureAwait(false))
        {
            await part.Writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
            records = part.Writer.RecordsWritten;
        }

        var (size, sha256) = await HashFileAsync(part.LocalPath, cancellationToken).ConfigureAwait(false);
        var relativePath = $"{run.ExportPath}/{part.FileName}";
        await UploadAsync(target, part.LocalPath, relativePath, cancellationToken).ConfigureAwait(false);
        // Recorded as soon as it is stored, so a failure later in the run knows to remove it.
        run.Files.Add(new RunFileRecord { RelativePath = relativePath, SinkPath = target.GetSinkPath(relativePath), Size = size, Records = records, Sha256 = sha256 });
        run.RecordsWritten += records;
        run.OutputBytes += size;
        File.Delete(part.LocalPath);
    }

    private async Task WriteManifestAsync(
        RunRecord run, FlowRecord flow, DestinationSettings destination, IExportDestination target, DatasetInfo dataset,
        string staging, CancellationToken cancellationToken)
    {
        var manifest = new ExportManifest
        {
            FlowRunId = run.Id.ToString("D"),
            FlowId = flow.Id.ToString("D"),
            FlowName = flow.Name,
            DatasetId = dataset.Id,
            DestinationId = destination.Id.ToString("D"),
            DestinationName = destination.Name,
            ScheduledTime = run.ScheduledTime,
            ExportTime = ExportTimeValue(run.ScheduledTime),
            FileType = destination.FileType.ToString(),
            Compression = destination.Compression.ToString(),
            RecordCount = run.RecordsWritten,
            Schema = dataset.Schema!.Fields.Select(f => new ManifestColumn(f.Name, f.TypeName, f.Nullable)).ToList(),
            ExportResults = run.Files.Select(ManifestFile.From).ToList(),
            CreatedAt = _time.GetUtcNow(),
        };
        var fileName = ExportManifest.FileName(destination.Id, run.Id);
        var encryption = PgpFileEncryption.For(destination);
        if (encryption is { EncryptManifest: true }) fileName += PgpFileEncryption.Suffix;
        var localPath = Path.Combine(staging, fileName);
        await using (var file = new FileStream(localPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        await using (var output = encryption is { EncryptManifest: true } ? encryption.Open(file, ExportManifest.FileName(destination.Id, run.Id)) : file)
        {
            await output.WriteAsync(manifest.ToUtf8Json(), cancellationToken).ConfigureAwait(false);
        }
        var relativePath = $"{run.ExportPath}/{fileName}";
        (_, run.ManifestSha256) = await HashFileAsync(localPath, cancellationToken).ConfigureAwait(false);
        await UploadAsync(target, localPath, relativePath, cancellationToken).ConfigureAwait(false);
        run.ManifestPath = relativePath;
    }

    /// <summary>Best effort: a failed run leaves no data behind that a reader could mistake for an export.</summary>
    private static async Task RemoveStoredFilesAsync(RunRecord run, IExportDestination target)
    {
        var stored = run.Files.Select(f => f.RelativePath).ToList();
        if (run.ManifestPath is not null) stored.Insert(0, run.ManifestPath);
        foreach (var path in stored)
        {
            await TryDeleteAsync(target, path).ConfigureAwait(false);
        }
        run.ManifestPath = null;
        run.ManifestSha256 = null;
    }

    /// <summary>
    /// Stores a file; when that fails, deletes whatever may have arrived under its name (best effort): some
    /// S3-compatible servers (s3rver) keep the received part of an interrupted upload as the object.
    /// </summary>
    private static async Task UploadAsync(IExportDestination target, string localPath, string relativePath, CancellationToken cancellationToken)
    {
        try
        {
            await target.UploadFileAsync(localPath, relativePath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            await TryDeleteAsync(target, relativePath).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task TryDeleteAsync(IExportDestination target, string relativePath)
    {
        try
        {
            await target.DeleteAsync(relativePath, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The destination may be the very thing that failed; the files stay uncommitted (no manifest, no recorded batches).
        }
    }

    internal static async Task<(long Size, string Sha256)> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return (stream.Length, await Sha256HexAsync(stream, cancellationToken).ConfigureAwait(false));
    }

    internal static async Task<string> Sha256HexAsync(Stream stream, CancellationToken cancellationToken) =>
        Convert.ToHexString(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)).ToLowerInvariant();

    private static void TryDeleteFolder(string path)
    {
        try { Directory.Delete(path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>One output file being written in the staging folder.</summary>
    private sealed class PartFile : IAsyncDisposable
    {
        private readonly FileStream _stream;
        private readonly Stream? _encrypting;

        private PartFile(string localPath, string fileName, FileStream stream, Stream? encrypting, IFormatWriter writer)
        {
            LocalPath = localPath;
            FileName = fileName;
            _stream = stream;
            _encrypting = encrypting;
            Writer = writer;
        }

        public string LocalPath { get; }
        public string FileName { get; }
        public IFormatWriter Writer { get; }

        /// <summary>With <paramref name="encryption"/>, the writer's bytes are encrypted on their way to the file, named with the .gpg suffix.</summary>
        public static PartFile Open(string staging, int index, string extension, DatasetSchema schema, DestinationSettings destination, PgpFileEncryption? encryption)
        {
            var plainName = $"part-{index:D5}-{Guid.NewGuid():D}{extension}";
            var fileName = encryption is null ? plainName : plainName + PgpFileEncryption.Suffix;
            var localPath = Path.Combine(staging, fileName);
            var stream = new FileStream(localPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            var encrypting = encryption?.Open(stream, plainName);
            return new PartFile(localPath, fileName, stream, encrypting, FormatCatalog.CreateWriter(encrypting ?? stream, schema, destination.FileType, destination.Compression, destination.MaxFileSizeBytes));
        }

        /// <summary>Closing the encrypting stream (after the writer) finishes the OpenPGP message in the file.</summary>
        public async ValueTask DisposeAsync()
        {
            await Writer.DisposeAsync().ConfigureAwait(false);
            if (_encrypting is not null) await _encrypting.DisposeAsync().ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Turns a run's counters into <see cref="ExportProgress"/> reports for one dataset of a flow.</summary>
internal sealed record ProgressScope(IProgress<ExportProgress>? Sink, string FlowName, string DatasetId, int DatasetIndex, int DatasetCount)
{
    public void Report(RunRecord run, int batchesDone, int batchCount, string activity) =>
        Sink?.Report(new ExportProgress(FlowName, DatasetId, DatasetIndex, DatasetCount, batchesDone, batchCount, run.Files.Count, run.RecordsRead, run.OutputBytes, activity));
}
