using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Threading.Channels;
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

    /// <summary>Where runs write their part files before storing them: one folder per run, named by its id.</summary>
    private static string StagingRoot => Path.Combine(Path.GetTempPath(), "DatasetExport");

    /// <summary>
    /// Deletes staging folders of this state store's runs that are no longer running: a process that died mid-run could
    /// not remove its own. Folders of running runs, and of runs the store does not know (another state home sharing the
    /// temp folder), are left alone. Best effort.
    /// </summary>
    public static void SweepStaging(IStateStore state)
    {
        try
        {
            if (!Directory.Exists(StagingRoot)) return;
            foreach (var folder in Directory.EnumerateDirectories(StagingRoot))
            {
                if (Guid.TryParseExact(Path.GetFileName(folder), "N", out var runId) && state.GetRun(runId) is { Status: not RunStatus.Running })
                {
                    TryDeleteFolder(folder);
                }
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // The temp folder cannot be listed: the leftovers stay, as they would without the sweep.
        }
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
            FolderPath = destination.FolderPath,
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
        var staging = Directory.CreateDirectory(Path.Combine(StagingRoot, run.Id.ToString("N"))).FullName;
        try
        {
            // A run recorded with the others of its flow may have waited for its turn: make sure it is still ours, and count
            // its time (Duration) from now.
            ThrowIfLost(run, heartbeat);
            run.StartedAt = _time.GetUtcNow();
            // Removed meanwhile by another session, the flow would refuse this run's commit only once all was exported.
            if (_state.GetFlow(run.FlowId) is null)
            {
                throw new StateException(StateFailure.NotFound, $"Flow '{run.FlowName}' was removed before this run started; nothing was exported.");
            }
            await RemoveFilesLeftAsync(run, target, token).ConfigureAwait(false);
            var readOptions = new BatchReadOptions(flow.SkipInvalidRecords, flow.SkipInvalidBatches);
            DatasetInfo dataset;
            List<BatchInfo> exported;
            PgpFileEncryption? encryption;
            try
            {
                (dataset, exported, encryption) = await ExportDatasetAsync(readOptions with { SampleJsonSchemas = true }).ConfigureAwait(false);
            }
            catch (SchemaSampleMisfitException misfit)
            {
                // A line past a batch's first ones holds what they did not show: start over, with schemas of every line
                // (which the state store keeps, so later runs start from them).
                _log?.Invoke($"Run {run.Id}: {misfit.Message} Exporting dataset '{run.DatasetId}' again with its schema inferred from every line.");
                await RemoveStoredFilesAsync(run, target).ConfigureAwait(false);
                run.Files.Clear();
                run.SkippedBatches.Clear();
                run.RecordsRead = run.RecordsWritten = run.RecordsSkipped = run.RecordsFailed = run.OutputBytes = 0;
                TryDeleteFolder(staging);
                Directory.CreateDirectory(staging);
                (dataset, exported, encryption) = await ExportDatasetAsync(readOptions).ConfigureAwait(false);
            }
            if (destination.IncludeManifest && run.Files.Count > 0)
            {
                // Readers follow manifests: never publish one for a run that is no longer ours.
                ThrowIfLost(run, heartbeat);
                await WriteManifestAsync(run, flow, destination, target, dataset, encryption, staging, token).ConfigureAwait(false);
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
            if (!cancelled && IsLost(run, heartbeat, error)) return LostLeavingFiles(run);
            run.Status = RunStatus.Failed;
            run.Error = (cancelled ? "The export was cancelled." : error.Message) + LeftFilesNote(run);
            run.Retries = target.Retries;
            try
            {
                _state.UpdateRun(run);
            }
            catch (StateException refused) when (refused.Failure == StateFailure.NotRunning)
            {
                LostLeavingFiles(run);
            }
            if (cancelled) throw;
            return run;
        }
        finally
        {
            heartbeat.Release(run.Id);
            TryDeleteFolder(staging);
        }

        async Task<(DatasetInfo Dataset, List<BatchInfo> Exported, PgpFileEncryption? Encryption)> ExportDatasetAsync(BatchReadOptions readOptions)
        {
            var exportedBefore = ExportedBefore(flow, run);
            // The batches exported before settle the schema: a new batch that conflicts with them is the one named or skipped.
            var dataset = await lake.GetDatasetAsync(run.DatasetId, readOptions with { ExportedBatchKeys = exportedBefore }, token).ConfigureAwait(false);
            if (!dataset.IsEligible) throw new LakeException(LakeFailure.NotEligible, $"Dataset '{dataset.Id}' cannot be exported: {dataset.Reason}", dataset.Id);
            run.ExportPath = ExportPathOf(flow, destination, dataset.Id, dataset.Name, run.ScheduledTime);
            var batches = dataset.Batches.Where(b => !exportedBefore.Contains(b.Key.Value)).ToList();
            run.BatchCount = batches.Count;
            run.InputBytes = batches.Sum(b => b.SizeBytes);
            // A batch the flow exported before is not this run's to skip, whatever a newer batch conflicts with.
            foreach (var problem in dataset.BatchProblems.Where(p => !exportedBefore.Contains(p.Batch.Key.Value))) RecordSkipped(run, problem);
            // The key is judged at the run's start, for its parts and its manifest alike (and the same on a restart).
            var encryption = PgpFileEncryption.For(destination, run.StartedAt);
            var exported = await WriteFilesAsync(run, destination, target, dataset, batches, readOptions, encryption, staging, progress, token).ConfigureAwait(false);
            return (dataset, exported, encryption);
        }
    }

    /// <summary>
    /// Saves the run with each file it stores, and its manifest before storing it: should this process die before the
    /// commit, the run that next exports the dataset deletes them (<see cref="RemoveFilesLeftAsync"/>) rather than
    /// leave them, uncommitted, beside its own (in the folder of the slot it redoes, where a reader would count their
    /// records twice). A busy store only leaves them unknown; a run no longer Running is lost and ends here (NotRunning).
    /// </summary>
    private void KeepStoredFiles(RunRecord run)
    {
        // Saving writes every field: a heartbeat of now, not the run's start, or another process takes the run for dead.
        run.HeartbeatAt = _time.GetUtcNow();
        try
        {
            _state.UpdateRun(run);
        }
        catch (StateException error) when (error.Failure != StateFailure.NotRunning)
        {
            // The export goes on: only a death before the commit would leave these files unknown, as they were before.
        }
    }

    /// <summary>
    /// Deletes the files (parts and manifest) that earlier runs of this flow and dataset left on this destination uncommitted
    /// (<see cref="RunRecord.FilesToRemove"/>: their process died, or their destination failed their deletes too), then
    /// forgets them. When a delete fails, or the run is cancelled or lost meanwhile, the files left stay recorded for the next
    /// run to try again.
    /// </summary>
    private async Task RemoveFilesLeftAsync(RunRecord run, IExportDestination target, CancellationToken cancellationToken)
    {
        // Files in another folder of the destination (its FolderPath changed since) lie outside this run's reach: the engine
        // deletes those (ExportEngine.RemoveFilesLeftElsewhereAsync).
        var here = _state.ListRunsWithFilesToRemove(run.FlowId).Where(earlier =>
            earlier.StoredIn(run.DestinationId, run.FolderPath!) &&
            string.Equals(earlier.DatasetId, run.DatasetId, StringComparison.OrdinalIgnoreCase));
        await DeleteFilesLeftAsync(_state, here, target, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes through <paramref name="target"/> the <see cref="RunRecord.FilesToRemove"/> of <paramref name="runs"/> (each
    /// run's manifest first, so no reader follows it to parts already gone) and forgets them; stops at the first delete that
    /// fails, leaving the rest recorded for a later try (also when <paramref name="cancellationToken"/> ends the wait).
    /// </summary>
    internal static async Task DeleteFilesLeftAsync(
        IStateStore state, IEnumerable<RunRecord> runs, IExportDestination target, CancellationToken cancellationToken = default)
    {
        foreach (var run in runs)
        {
            var removed = run.FilesToRemove.ToList();
            foreach (var path in removed)
            {
                // A destination that fails now fails the run too, which says why: no point waiting for it file by file.
                if (!await TryDeleteAsync(target, path, cancellationToken).ConfigureAwait(false)) return;
            }
            state.ForgetRemovedFiles(run.Id, removed);
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

    /// <summary>
    /// <see cref="Lost"/>, for a run that deleted what it stored: what its destination failed to delete too is added to the
    /// stored run's <see cref="RunRecord.LeftFiles"/> (the only change the store takes of it now), for the flow's next run.
    /// Files it stored after it was taken over are known to this process only.
    /// </summary>
    private RunRecord LostLeavingFiles(RunRecord run)
    {
        Lost(run);
        if (run.LeftFiles.Count == 0) return run;
        run.Error += LeftFilesNote(run);
        try
        {
            _state.KeepLeftFiles(run.Id, run.LeftFiles);
        }
        catch (StateException)
        {
            // A store that cannot take it now leaves them unknown, as a death before the commit would.
        }
        return run;
    }

    /// <summary>
    /// The keys of the dataset's batches the run leaves out as exported already to its destination (a destination the flow
    /// was pointed at later still gets every batch): none for a Full flow.
    /// </summary>
    private IReadOnlySet<string> ExportedBefore(FlowRecord flow, RunRecord run) =>
        flow.Mode == ExportMode.Full ? new HashSet<string>() : _state.GetExportedBatches(flow.Id, run.DatasetId, run.DestinationId);

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
    private static async Task<BatchProblem?> FindReadProblemAsync(BatchInfo batch, ReadPlan plan, CancellationToken cancellationToken)
    {
        // Invalid lines are counted when the batch is written, not here. A line past the schema sample that does not fit
        // it is no problem of the batch's: the misfit ends the read, and the export starts over.
        var (schema, options, _, _, samples) = plan;
        var reader = FormatCatalog.GetReader(batch.Format, options.SkipInvalidRecords ? _ => { } : null, new RowGroupPools(), samples.GetValueOrDefault(batch.FullPath));
        try
        {
            await foreach (var chunk in reader.ReadAsync(batch.FullPath, batch.Gzipped, schema, cancellationToken).ConfigureAwait(false)) chunk.Release();
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

    /// <summary>
    /// Throws when a batch's file, read to its end, is no longer what the lake listed (its size or last-write time moved):
    /// the read may hold records the listed identity does not, and committing that identity would have the next run export
    /// them again. The run fails and commits nothing; the next one exports the batch as it is then. A file deleted since
    /// (retention, compaction) is no change: what was read is all there is of it, and no later run can export it again.
    /// </summary>
    private static void ThrowIfChangedSinceListed(BatchInfo batch)
    {
        var file = new FileInfo(batch.FullPath);
        if (!file.Exists || (file.Length == batch.SizeBytes && file.LastWriteTimeUtc == batch.LastWriteUtc.UtcDateTime)) return;
        throw new BatchReadException(batch.FullPath, "",
            $"the batch changed while it was exported (listed with {batch.SizeBytes} bytes, last written {batch.LastWriteUtc.UtcDateTime:O}; " +
            $"now {file.Length} bytes, last written {file.LastWriteTimeUtc:O}). Nothing of this run is committed; the next run exports the batch as it is then.");
    }

    /// <summary>
    /// Writes the batches into part files and stores them; returns the batches written (all of them, unless some were skipped).
    /// Three stages overlap on their own tasks: <see cref="ReadAhead"/> reads the next chunks while this flow writes, and
    /// <see cref="PartUploads"/> stores a full part while the next one is written. Only this flow changes the run.
    /// </summary>
    private async Task<List<BatchInfo>> WriteFilesAsync(
        RunRecord run, DestinationSettings destination, IExportDestination target, DatasetInfo dataset,
        IReadOnlyList<BatchInfo> batches, BatchReadOptions readOptions, PgpFileEncryption? encryption, string staging, ProgressScope progress,
        CancellationToken cancellationToken)
    {
        var exported = new List<BatchInfo>(batches.Count);
        var schema = dataset.Schema!;
        var maxBytes = destination.MaxFileSizeBytes;
        var extension = FormatCatalog.FileExtension(destination.FileType, destination.Compression);
        PartFile? part = null;
        // Parts are numbered when opened: run.Files lags behind while a part is uploading.
        var partsOpened = 0;
        var batchesDone = 0;
        // Parts are written one after the other: each one's buffers serve the next.
        var shelf = new WriterShelf();
        var uploads = new PartUploads(run, target, file =>
        {
            KeepStoredFiles(run);
            progress.Report(run, batchesDone, batches.Count, "Stored " + file.Name);
        }, cancellationToken);
        var reading = new ReadAhead(batches, new ReadPlan(schema, readOptions, destination, new RowGroupPools(oneRowGroupAtATime: true), dataset.SchemaSamples), cancellationToken);
        try
        {
            await foreach (var read in reading.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                var batch = batches[read.BatchIndex];
                run.RecordsSkipped += read.RecordsSkipped;
                if (read.Problem is { } problem)
                {
                    RecordSkipped(run, problem);
                    run.BatchCount--;
                    run.InputBytes -= batch.SizeBytes;
                    progress.Report(run, ++batchesDone, batches.Count, "Skipped " + batch.RelativePath);
                    continue;
                }
                if (read.RowGroup is { } rowGroup)
                {
                    using (rowGroup)
                    {
                        // Copied row groups are small against the limit: roll over before one would pass it.
                        if (part is not null && part.Writer.RecordsWritten > 0 && part.Writer.BytesWritten + rowGroup.Length > maxBytes)
                        {
                            await StorePartAsync().ConfigureAwait(false);
                        }
                        part ??= PartFile.Open(staging, partsOpened++, extension, schema, destination, encryption, shelf);
                        var parquet = part.Writer as ParquetFileWriter
                            ?? throw new InvalidOperationException("A Parquet row group was copied for a destination that does not write Parquet.");
                        await parquet.WriteAsync(rowGroup, cancellationToken).ConfigureAwait(false);
                        run.RecordsRead += rowGroup.RowCount;
                    }
                    await uploads.CollectStoredAsync().ConfigureAwait(false);
                    progress.Report(run, batchesDone, batches.Count, "Copying " + batch.RelativePath);
                    continue;
                }
                if (read.Chunk is not { } chunk)
                {
                    batchesDone++;
                    exported.Add(batch);
                    continue;
                }
                var offset = 0;
                while (offset < chunk.RowCount)
                {
                    part ??= PartFile.Open(staging, partsOpened++, extension, schema, destination, encryption, shelf);
                    var take = RecordsThatFit(part.Writer, maxBytes, chunk.RowCount - offset);
                    await part.Writer.WriteAsync(chunk.Slice(offset, take), cancellationToken).ConfigureAwait(false);
                    offset += take;
                    run.RecordsRead += take;
                    if (part.Writer.BytesWritten >= maxBytes) await StorePartAsync().ConfigureAwait(false);
                }
                // Written (writers copy or encode what they keep): its reader may reuse the memory.
                chunk.Release();
                await uploads.CollectStoredAsync().ConfigureAwait(false);
                progress.Report(run, batchesDone, batches.Count, "Writing " + batch.RelativePath);
            }
            if (part is not null) await StorePartAsync().ConfigureAwait(false);
            await uploads.FinishAsync().ConfigureAwait(false);
            progress.Report(run, batchesDone, batches.Count, "Written");
            return exported;
        }
        finally
        {
            await reading.DisposeAsync().ConfigureAwait(false);
            if (part is not null) await part.DisposeAsync().ConfigureAwait(false);
            await uploads.DisposeAsync().ConfigureAwait(false);
        }

        // The part goes to the uploads, which complete and close it: the cleanup above no longer owns it.
        Task StorePartAsync()
        {
            var full = part!;
            part = null;
            return uploads.StartAsync(full);
        }
    }

    /// <summary>
    /// Chunks read ahead of the writer: one keeps it busy while the reader decodes the next. A Parquet chunk is a view of
    /// its whole decoded row group, so each chunk more can hold another row group in memory (measured: no faster, more memory).
    /// </summary>
    private const int ReadAheadChunks = 1;

    /// <summary>
    /// One step of reading, in batch order: a chunk of a batch, a row group copied from it still encoded, the end of a batch
    /// (none of these), or a batch left out under SkipInvalidBatches (its problem). Carries the invalid records skipped while
    /// reading it, so only the writer's flow counts them in the run.
    /// </summary>
    private readonly record struct BatchRead(int BatchIndex, RecordChunk? Chunk, EncodedRowGroup? RowGroup, BatchProblem? Problem, long RecordsSkipped);

    /// <summary>
    /// What the batches are read as: the dataset's schema, the flow's options, and the destination's files (whose row groups a
    /// Parquet batch may be copied into). Copied and decoded row groups take their buffers from the run's <paramref name="Pools"/>,
    /// one row group alive at a time whichever way each batch goes.
    /// </summary>
    private sealed record ReadPlan(
        DatasetSchema Schema, BatchReadOptions Options, DestinationSettings Destination, RowGroupPools Pools, IReadOnlyDictionary<string, JsonSchemaSample> Samples);

    /// <summary>
    /// Reads the batches on a task of its own, up to <see cref="ReadAheadChunks"/> chunks ahead of the writer, so reading
    /// and writing use two cores. Under SkipInvalidBatches each batch is first read dry (<see cref="FindReadProblemAsync"/>).
    /// </summary>
    private sealed class ReadAhead : IAsyncDisposable
    {
        private readonly Channel<BatchRead> _reads = Channel.CreateBounded<BatchRead>(
            new BoundedChannelOptions(ReadAheadChunks) { SingleReader = true, SingleWriter = true });
        private readonly CancellationTokenSource _stop;
        private readonly Task _reading;
        private ExceptionDispatchInfo? _failure;

        public ReadAhead(IReadOnlyList<BatchInfo> batches, ReadPlan plan, CancellationToken cancellationToken)
        {
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _reading = Task.Run(() => ReadAsync(batches, plan, _stop.Token), CancellationToken.None);
        }

        /// <summary>
        /// What was read, in order. A read failure comes after everything read before it, as the very exception the
        /// reader threw, as when reading and writing took turns.
        /// </summary>
        public async IAsyncEnumerable<BatchRead> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            while (await _reads.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (_reads.Reader.TryRead(out var read))
                {
                    // Read ahead or not, a cancelled run writes no further chunk.
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return read;
                }
            }
            await _reading.ConfigureAwait(false);
            _failure?.Throw();
        }

        /// <summary>
        /// Never fails: a failure is kept for <see cref="ReadAllAsync"/>, behind what was read before it. JSON Lines batches
        /// are parsed two at a time (parsing is what bounds them; each holds one chunk); Parquet batches one at a time,
        /// since each holds a decoded row group and the writer, not the reader, bounds them.
        /// </summary>
        private async Task ReadAsync(IReadOnlyList<BatchInfo> batches, ReadPlan plan, CancellationToken cancellationToken)
        {
            var started = new Queue<BatchReading>();
            var next = 0;
            try
            {
                while (true)
                {
                    while (next < batches.Count && started.Count < (batches[next].Format == BatchFormat.JsonLines ? ParallelJsonBatches : 1))
                    {
                        started.Enqueue(BatchReading.Start(next, batches[next], plan, cancellationToken));
                        next++;
                    }
                    if (!started.TryPeek(out var current)) break;
                    await foreach (var read in current.Reads.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                    {
                        await _reads.Writer.WriteAsync(read, cancellationToken).ConfigureAwait(false);
                    }
                    await current.Task.ConfigureAwait(false);
                    started.Dequeue();
                    if (current.Failure is not null)
                    {
                        _failure = current.Failure;
                        break;
                    }
                }
            }
            catch (Exception error)
            {
                _failure = ExceptionDispatchInfo.Capture(error);
            }
            finally
            {
                // Batches read ahead of a failure or a cancellation stop with it; none outlives the run.
                _stop.Cancel();
                foreach (var reading in started) await reading.Task.ConfigureAwait(false);
                _reads.Writer.Complete();
            }
        }

        /// <summary>Stops the reading and waits for it, so no reading outlives the run.</summary>
        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await _reading.ConfigureAwait(false);
            _stop.Dispose();
        }
    }

    /// <summary>JSON Lines batches parsed at once by <see cref="ReadAhead"/>.</summary>
    private const int ParallelJsonBatches = 2;

    /// <summary>
    /// Chunks a JSON Lines batch parses ahead of the writer (4,096 lines each, in the export's pools): a Parquet row group's
    /// worth (50,000 records, 13 chunks) and some, so the parsing goes on while the writer encodes a full row group on both
    /// cores. With four, it stopped a third of the way through each encode: sixteen measured 15-20% less wall time than
    /// four (1 M and 10 M lines) for ~40 MB more; one (the second core idle) 10% more than four. The reader also stops
    /// while its chunks not yet written hold more than <see cref="JsonLinesBatchReader.DefaultBytesAhead"/> (chunks of
    /// wide lines, each up to <see cref="JsonLinesBatchReader.DefaultChunkBytes"/>; sixteen of the web events' hold 26 MB).
    /// </summary>
    private const int JsonChunksAhead = 16;

    /// <summary>One batch read on a task of its own into its own bounded channel, in the order <see cref="ReadAhead"/> forwards.</summary>
    private sealed class BatchReading
    {
        private readonly Channel<BatchRead> _reads;

        private BatchReading(int capacity)
        {
            _reads = Channel.CreateBounded<BatchRead>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
        }

        public ChannelReader<BatchRead> Reads => _reads.Reader;
        public Task Task { get; private set; } = Task.CompletedTask;

        /// <summary>Why the batch could not be read, after its chunks read before the failure; set when <see cref="Task"/> ends.</summary>
        public ExceptionDispatchInfo? Failure { get; private set; }

        public static BatchReading Start(int index, BatchInfo batch, ReadPlan plan, CancellationToken cancellationToken)
        {
            var reading = new BatchReading(batch.Format == BatchFormat.JsonLines ? JsonChunksAhead : ReadAheadChunks);
            reading.Task = Task.Run(() => reading.ReadAsync(index, batch, plan, cancellationToken), CancellationToken.None);
            return reading;
        }

        private async Task ReadAsync(int index, BatchInfo batch, ReadPlan plan, CancellationToken cancellationToken)
        {
            try
            {
                var (schema, options, destination, pools, samples) = plan;
                if (options.SkipInvalidBatches && await FindReadProblemAsync(batch, plan, cancellationToken).ConfigureAwait(false) is { } problem)
                {
                    await _reads.Writer.WriteAsync(new BatchRead(index, null, null, problem, 0), cancellationToken).ConfigureAwait(false);
                    return;
                }
                if (await FormatCatalog.TryCopyRowGroupsAsync(batch, schema, destination.FileType, destination.Compression, destination.MaxFileSizeBytes, pools, cancellationToken).ConfigureAwait(false) is { } copier)
                {
                    await foreach (var rowGroup in copier.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        await _reads.Writer.WriteAsync(new BatchRead(index, null, rowGroup, null, 0), cancellationToken).ConfigureAwait(false);
                    }
                    ThrowIfChangedSinceListed(batch);
                    await _reads.Writer.WriteAsync(new BatchRead(index, null, null, null, 0), cancellationToken).ConfigureAwait(false);
                    return;
                }
                // The reader calls back on this task only, between the chunks it hands over.
                long skipped = 0;
                var reader = FormatCatalog.GetReader(batch.Format, options.SkipInvalidRecords ? _ => skipped++ : null, pools, samples.GetValueOrDefault(batch.FullPath));
                await foreach (var chunk in reader.ReadAsync(batch.FullPath, batch.Gzipped, schema, cancellationToken).ConfigureAwait(false))
                {
                    var skippedBefore = skipped;
                    skipped = 0;
                    await _reads.Writer.WriteAsync(new BatchRead(index, chunk, null, null, skippedBefore), cancellationToken).ConfigureAwait(false);
                }
                ThrowIfChangedSinceListed(batch);
                await _reads.Writer.WriteAsync(new BatchRead(index, null, null, null, skipped), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error)
            {
                Failure = ExceptionDispatchInfo.Capture(error);
            }
            finally
            {
                _reads.Writer.Complete();
            }
        }
    }

    /// <summary>
    /// Stores full parts in the background while the next one is written, one upload at a time. A part's file is recorded in
    /// the run once its upload is awaited, on the writer's flow: run.Files stays in part order and the run's counters have
    /// one writer.
    /// </summary>
    private sealed class PartUploads : IAsyncDisposable
    {
        private readonly RunRecord _run;
        private readonly IExportDestination _target;
        private readonly Action<RunFileRecord> _stored;
        private readonly CancellationToken _cancellationToken;
        private readonly CancellationTokenSource _stop;
        private Task<RunFileRecord>? _uploading;
        private string? _uploadingPath;
        /// <summary>Set by a failed upload whose delete failed too (on its task; read once it is awaited).</summary>
        private string? _leftBehind;

        /// <param name="stored">Called on the writer's flow when a file is recorded in the run (not when cleaning up after a failure).</param>
        public PartUploads(RunRecord run, IExportDestination target, Action<RunFileRecord> stored, CancellationToken cancellationToken)
        {
            _run = run;
            _target = target;
            _stored = stored;
            _cancellationToken = cancellationToken;
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        }

        /// <summary>Completes the part's file, waits for the upload before it (recording its file), then uploads this one in the background.</summary>
        public async Task StartAsync(PartFile part)
        {
            var records = await CompletePartAsync(part, _cancellationToken).ConfigureAwait(false);
            await FinishAsync().ConfigureAwait(false);
            var relativePath = $"{_run.ExportPath}/{part.FileName}";
            _uploadingPath = part.LocalPath;
            _uploading = Task.Run(() => StoreFileAsync(_target, part.LocalPath, relativePath, records, left => _leftBehind = left, _stop.Token), CancellationToken.None);
        }

        /// <summary>Records a file stored meanwhile without waiting for one still uploading; a failed upload throws here.</summary>
        public Task CollectStoredAsync() => _uploading is { IsCompleted: true } ? FinishAsync() : Task.CompletedTask;

        /// <summary>Waits for the upload in flight, if any, and records its file in the run.</summary>
        public async Task FinishAsync()
        {
            if (await RecordUploadAsync().ConfigureAwait(false) is { } file) _stored(file);
        }

        private async Task<RunFileRecord?> RecordUploadAsync()
        {
            if (_uploading is null) return null;
            var uploading = _uploading;
            var localPath = _uploadingPath!;
            _uploading = null;
            _uploadingPath = null;
            RunFileRecord file;
            try
            {
                file = await uploading.ConfigureAwait(false);
            }
            catch
            {
                // Whatever arrived under its name stays for the flow's next run to delete.
                if (_leftBehind is { } left) _run.LeftFiles.Add(left);
                _leftBehind = null;
                throw;
            }
            // Recorded as soon as it is known stored, so a failure later in the run knows to remove it.
            _run.Files.Add(file);
            _run.RecordsWritten += file.Records;
            _run.OutputBytes += file.Size;
            File.Delete(localPath);
            return file;
        }

        /// <summary>
        /// After a failure elsewhere, stops the upload in flight and waits for it: a file it stored all the same is recorded,
        /// so the run's cleanup removes it. No upload outlives the run.
        /// </summary>
        public async ValueTask DisposeAsync()
        {
            try
            {
                _stop.Cancel();
                await RecordUploadAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The failure that ended the run is the one reported; a failed upload removed what it sent (UploadAsync).
            }
            finally
            {
                _stop.Dispose();
            }
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

    /// <summary>Finishes a full part's file (footer, trailer, encryption) and closes it; returns its record count.</summary>
    private static async Task<long> CompletePartAsync(PartFile part, CancellationToken cancellationToken)
    {
        await using (part.ConfigureAwait(false))
        {
            await part.Writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
            return part.Writer.RecordsWritten;
        }
    }

    /// <summary>
    /// Hashes and uploads a completed part's file, the two at once (both only read the finished file; the last part's
    /// hash and upload are on the run's critical path); the record of it, for the run. When it fails and what may have
    /// arrived cannot be deleted either, <paramref name="leftBehind"/> gets the path.
    /// </summary>
    private static async Task<RunFileRecord> StoreFileAsync(
        IExportDestination target, string localPath, string relativePath, long records, Action<string> leftBehind, CancellationToken cancellationToken)
    {
        // Hashed while it uploads; stopped only when the upload fails. Once the file is stored its hash (a local read, done by
        // then or nearly) is finished even if the run is cancelled meanwhile, so the file is recorded and the run's cleanup
        // removes it with the rest.
        using var hashing = new CancellationTokenSource();
        var hash = Task.Run(() => HashFileAsync(localPath, hashing.Token), CancellationToken.None);
        var uploaded = false;
        long size;
        string sha256;
        try
        {
            await UploadAsync(target, localPath, relativePath, cancellationToken, leftBehind).ConfigureAwait(false);
            uploaded = true;
            (size, sha256) = await hash.ConfigureAwait(false);
        }
        catch
        {
            await hashing.CancelAsync().ConfigureAwait(false);
            await ((Task)hash).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            // Stored but not hashed (the local file could not be read): nothing may stay behind unrecorded.
            if (uploaded && !await TryDeleteAsync(target, relativePath).ConfigureAwait(false)) leftBehind(relativePath);
            throw;
        }
        return new RunFileRecord { RelativePath = relativePath, SinkPath = target.GetSinkPath(relativePath), Size = size, Records = records, Sha256 = sha256 };
    }

    private async Task WriteManifestAsync(
        RunRecord run, FlowRecord flow, DestinationSettings destination, IExportDestination target, DatasetInfo dataset,
        PgpFileEncryption? encryption, string staging, CancellationToken cancellationToken)
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
        if (encryption is { EncryptManifest: true }) fileName += PgpFileEncryption.Suffix;
        var localPath = Path.Combine(staging, fileName);
        await using (var file = new FileStream(localPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        await using (var output = encryption is { EncryptManifest: true } ? encryption.Open(file, ExportManifest.FileName(destination.Id, run.Id)) : file)
        {
            await output.WriteAsync(manifest.ToUtf8Json(), cancellationToken).ConfigureAwait(false);
        }
        (_, run.ManifestSha256) = await HashFileAsync(localPath, cancellationToken).ConfigureAwait(false);
        // Saved before it is stored: a manifest whose process dies before the commit is deleted with the parts it lists.
        run.ManifestPath = $"{run.ExportPath}/{fileName}";
        KeepStoredFiles(run);
        await UploadAsync(target, localPath, run.ManifestPath, cancellationToken).ConfigureAwait(false);
    }

    private static string LeftFilesNote(RunRecord run) => run.LeftFiles.Count == 0 ? "" :
        $" {run.LeftFiles.Count} file(s) it may have left could not be deleted (LeftFiles); the flow's next run on destination '{run.DestinationName}' tries again.";

    /// <summary>
    /// A failed run leaves no data behind that a reader could mistake for an export: deletes what it stored, manifest first.
    /// What its destination fails to delete too is kept in <see cref="RunRecord.LeftFiles"/> for the flow's next run.
    /// </summary>
    private static async Task RemoveStoredFilesAsync(RunRecord run, IExportDestination target)
    {
        foreach (var path in run.StoredPaths)
        {
            if (!await TryDeleteAsync(target, path).ConfigureAwait(false)) run.LeftFiles.Add(path);
        }
        run.ManifestPath = null;
        run.ManifestSha256 = null;
    }

    /// <summary>
    /// Stores a file; when that fails, deletes whatever may have arrived under its name (best effort): some
    /// S3-compatible servers (s3rver) keep the received part of an interrupted upload as the object, and an upload can fail
    /// after the file arrived (the answer lost). When the delete fails too, <paramref name="leftBehind"/> gets the path.
    /// </summary>
    private static async Task UploadAsync(
        IExportDestination target, string localPath, string relativePath, CancellationToken cancellationToken, Action<string>? leftBehind = null)
    {
        try
        {
            await target.UploadFileAsync(localPath, relativePath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            if (!await TryDeleteAsync(target, relativePath).ConfigureAwait(false)) leftBehind?.Invoke(relativePath);
            throw;
        }
    }

    /// <summary>Deletes a stored file; false when that failed and the file may still be there.</summary>
    private static async Task<bool> TryDeleteAsync(IExportDestination target, string relativePath, CancellationToken cancellationToken = default)
    {
        try
        {
            await target.DeleteAsync(relativePath, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DestinationException error) when (error.Failure == DestinationFailure.NotFound)
        {
            // Gone with its folder (Local) or its bucket or container.
            return true;
        }
        catch (Exception)
        {
            // The destination may be the very thing that failed; the files stay uncommitted (no manifest, no recorded batches).
            return false;
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
        public static PartFile Open(
            string staging, int index, string extension, DatasetSchema schema, DestinationSettings destination, PgpFileEncryption? encryption,
            WriterShelf shelf)
        {
            var plainName = $"part-{index:D5}-{Guid.NewGuid():D}{extension}";
            var fileName = encryption is null ? plainName : plainName + PgpFileEncryption.Suffix;
            var localPath = Path.Combine(staging, fileName);
            var stream = new FileStream(localPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            var encrypting = encryption?.Open(stream, plainName);
            return new PartFile(localPath, fileName, stream, encrypting, FormatCatalog.CreateWriter(encrypting ?? stream, schema, destination.FileType, destination.Compression, destination.MaxFileSizeBytes, shelf));
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
