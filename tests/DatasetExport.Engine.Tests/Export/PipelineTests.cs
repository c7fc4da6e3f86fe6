using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// The export runner reads ahead on one task and uploads a full part on another while it writes the next part. These
/// runs export to a real Local destination with a fault injected into chosen uploads (<see cref="InjectingDestination"/>)
/// and check that overlapping keeps every guarantee: parts stored in order, one upload at a time, exact counts, and a
/// failed or cancelled run leaves no file and no task behind, even a part whose upload was in flight.
/// </summary>
public sealed class PipelineTests : IDisposable
{
    private static readonly DateTimeOffset FirstSlot = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How long a test waits for the runner to reach a point before giving up on it (the test then fails).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly TempFolder _root = new("de-pipeline");
    private readonly ExportEngine _engine;
    private InjectingDestination? _destination;

    public PipelineTests()
    {
        _engine = ExportEngine.Open(new EngineOptions
        {
            StateHome = _root.Combine("state"),
            DestinationFactory = settings => _destination = new InjectingDestination(new LocalFolderDestination(settings), upload => _upload(upload)),
        });
    }

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");
    private string Dataset(string file) => Path.Combine(Lake, "web", file);

    /// <summary>The destination of the run in progress (created by the engine when the run starts).</summary>
    private InjectingDestination Destination => _destination ?? throw new InvalidOperationException("No run has opened the destination yet.");

    /// <summary>What each upload does, by its number (from 0, in the order they start); by default it stores the file.</summary>
    private Func<Upload, Task> _upload = upload => upload.StoreAsync(upload.Token);

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    private async Task<FlowRecord> CreateFlowAsync(bool skipRecords = false, bool skipBatches = false)
    {
        var destination = new DestinationSettings
        {
            Name = "local-pipeline",
            Type = DestinationType.Local,
            FileType = FileType.Json,
            MaxFileSizeMB = 1,
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: true, default);
        var flow = new FlowRecord
        {
            Name = "pipeline", DestinationId = destination.Id, DatasetIds = ["web"], Mode = ExportMode.Incremental,
            SkipInvalidRecords = skipRecords, SkipInvalidBatches = skipBatches,
        };
        _engine.AddFlow(flow);
        return flow;
    }

    private async Task<RunRecord> RunAsync(FlowRecord flow, IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot, progress, cancellationToken));

    /// <summary>Four batches of 6,000 records: about five 1 MB parts.</summary>
    private void WriteFourBatches()
    {
        for (var batch = 0; batch < 4; batch++) SampleLake.WriteEvents(Dataset($"b{batch}.jsonl"), batch * 6000, 6000);
    }

    /// <summary>The run failed and left nothing: no file (final or temporary), no manifest, no exported batch, no upload running.</summary>
    private void AssertFailedWithNothingLeft(FlowRecord flow, RunRecord run)
    {
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Null(run.ManifestPath);
        Assert.Empty(Directory.Exists(Output) ? Directory.GetFiles(Output, "*", SearchOption.AllDirectories) : []);
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
        Assert.Equal(RunStatus.Failed, _engine.State.GetRun(run.Id)!.Status);
        Assert.Equal(0, Destination.Running);
        Assert.Equal(1, Destination.MostAtOnce);
    }

    [Fact]
    public async Task JSON_batches_parsed_two_at_a_time_reach_the_parts_in_batch_and_line_order()
    {
        WriteFourBatches();
        var flow = await CreateFlowAsync();

        var run = await RunAsync(flow);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var ids = run.Files.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath)));
        Assert.Equal(Enumerable.Range(0, 24000).Select(i => (long)i), ids);
    }

    [Fact]
    public async Task A_JSON_batch_failing_while_read_ahead_fails_the_run_after_the_batches_before_it()
    {
        WriteFourBatches();
        var flow = await CreateFlowAsync();
        // The lake scan has accepted every line; once writing has begun, batch 2 gains a line that is not JSON. Batches 0
        // and 1 are being read by then (two at a time), batch 2 only once batch 0 is done.
        var damaged = false;
        var progress = new SynchronousProgress(report =>
        {
            if (damaged || !report.Activity.StartsWith("Writing ", StringComparison.Ordinal)) return;
            File.AppendAllText(Dataset("b2.jsonl"), "{not json\n");
            damaged = true;
        });

        var run = await RunAsync(flow, progress);

        AssertFailedWithNothingLeft(flow, run);
        Assert.Contains("b2.jsonl", run.Error);
        Assert.Contains("line 6001", run.Error);
        // Every record of batches 0 and 1, then batch 2's good lines up to the failing one (whole chunks of 10,000 or less).
        Assert.InRange(run.RecordsRead, 12000, 18000);
    }

    [Fact]
    public async Task Staging_folders_left_by_ended_runs_are_swept_at_the_next_run_and_others_are_left()
    {
        WriteFourBatches();
        var flow = await CreateFlowAsync();
        _upload = _ => throw new IOException("injected upload failure");
        var failed = await RunAsync(flow);
        Assert.Equal(RunStatus.Failed, failed.Status);
        // What a process killed mid-run leaves: its run's staging folder with a part in it; and a folder of a run
        // another state home knows.
        var staging = Path.Combine(Path.GetTempPath(), "DatasetExport");
        var leftover = Directory.CreateDirectory(Path.Combine(staging, failed.Id.ToString("N"))).FullName;
        File.WriteAllText(Path.Combine(leftover, "part-00000-x.json"), "{}\n");
        var foreign = Directory.CreateDirectory(Path.Combine(staging, Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            _upload = upload => upload.StoreAsync(upload.Token);
            var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(1), null, default));

            Assert.True(run.Status == RunStatus.Succeeded, run.Error);
            Assert.False(Directory.Exists(leftover), "the ended run's staging folder is still there");
            Assert.True(Directory.Exists(foreign), "a folder of a run this state store does not know was removed");
            Assert.False(Directory.Exists(Path.Combine(staging, run.Id.ToString("N"))), "the run left its own staging folder");
        }
        finally
        {
            Directory.Delete(foreign, recursive: true);
            if (Directory.Exists(leftover)) Directory.Delete(leftover, recursive: true);
        }
    }

    [Fact]
    public async Task Parts_are_uploaded_one_at_a_time_in_order_and_every_record_is_written_once()
    {
        WriteFourBatches();
        var flow = await CreateFlowAsync();
        var reports = new List<ExportProgress>();

        var run = await RunAsync(flow, new SynchronousProgress(reports.Add));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 4, $"expected several parts, got {run.Files.Count}");
        Assert.Equal(run.Files.Select((_, i) => $"part-{i:D5}-"), run.Files.Select(f => f.Name[..11]));
        Assert.Equal(1, Destination.MostAtOnce); // read before verifying, which opens a destination of its own
        var ids = run.Files.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order();
        Assert.Equal(Enumerable.Range(0, 24000).Select(i => (long)i), ids);
        Assert.Equal((24000L, 24000L), (run.RecordsRead, run.RecordsWritten));
        Assert.Equal(run.Files.Sum(f => f.Size), run.OutputBytes);
        Assert.True((await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default)).IsValid);

        // Each part is reported once stored, in order, and the run's counters only ever grow; then the run says it ended and
        // the flow's export that it is done.
        Assert.True(reports[^1].IsFlowDone);
        Assert.Equal((run.Id, "Ended", 24000L), (reports[^2].EndedRun?.Id, reports[^2].Activity, reports[^2].RecordsWritten));
        reports.RemoveRange(reports.Count - 2, 2);
        Assert.Equal(run.Files.Select(f => "Stored " + f.Name), reports.Where(r => r.Activity.StartsWith("Stored ", StringComparison.Ordinal)).Select(r => r.Activity));
        Assert.All(reports.Zip(reports.Skip(1)), pair => Assert.True(
            pair.First.FilesWritten <= pair.Second.FilesWritten && pair.First.RecordsWritten <= pair.Second.RecordsWritten && pair.First.BatchesDone <= pair.Second.BatchesDone));
        var last = reports[^1];
        Assert.Equal(("Written", run.Files.Count, 24000L, 4), (last.Activity, last.FilesWritten, last.RecordsWritten, last.BatchesDone));
        Assert.Equal(4, _engine.State.GetExportedBatches(flow.Id, "web").Count);
    }

    [Fact]
    public async Task An_upload_failing_while_the_next_part_is_written_fails_the_run_and_removes_every_stored_part()
    {
        WriteFourBatches();
        var flow = await CreateFlowAsync();
        var nextPartWritten = false;
        _upload = async upload =>
        {
            if (upload.Index != 1)
            {
                await upload.StoreAsync(upload.Token);
                return;
            }
            // Part 1 is uploading: the runner goes on writing part 2 meanwhile, then hears that this upload failed.
            nextPartWritten = await EventuallyAsync(() => StagedParts(upload, "part-00002-").Length > 0);
            throw new DestinationException(DestinationFailure.PermissionDenied, "Injected: the destination refused part 1.");
        };

        var run = await RunAsync(flow);

        Assert.True(nextPartWritten, "part 2 was not written while part 1 uploaded");
        Assert.Contains("Injected: the destination refused part 1.", run.Error);
        Assert.Equal(["part-00000-"], run.Files.Select(f => f.Name[..11])); // stored before the failure, then removed
        Assert.Equal(0, run.Retries);
        AssertFailedWithNothingLeft(flow, run);
    }

    [Fact]
    public async Task A_read_error_while_a_part_uploads_fails_the_run_as_before_and_removes_that_part_too()
    {
        // a.jsonl fills part 0 and starts part 1; b.parquet's row group 1 is unreadable (its footer is fine, so the lake
        // scan does not notice), before part 1 is full.
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 8000);
        long readableRows;
        using (var duck = new DuckDb())
        {
            ParquetBatches.Write(duck, Dataset("b.parquet"), 8000, 10_000);
            readableRows = duck.Count($"SELECT row_group_num_rows FROM parquet_metadata({DuckDb.Quote(Dataset("b.parquet"))}) WHERE row_group_id = 0 LIMIT 1");
            ParquetBatches.CorruptSecondRowGroup(duck, Dataset("b.parquet"));
        }
        var flow = await CreateFlowAsync();
        var uploadingWhenReadFailed = false;
        _upload = async upload =>
        {
            // Arrives whatever the run does meanwhile: the runner may reach the read error before this upload gets going.
            await upload.StoreAsync(CancellationToken.None);
            if (upload.Index != 0) return;
            // Part 0 is stored, but the runner has not heard back yet when b.parquet turns out unreadable: it stops this
            // upload, waits for it, and, since the file arrived all the same, removes it with the rest.
            uploadingWhenReadFailed = await EventuallyAsync(() => upload.Token.IsCancellationRequested);
        };

        var run = await RunAsync(flow);

        Assert.True(uploadingWhenReadFailed, "the upload of part 0 was not in flight when the read failed");
        Assert.Contains("b.parquet", run.Error);
        Assert.Contains("row group 1", run.Error);
        Assert.Equal(8000 + readableRows, run.RecordsRead); // a.jsonl and b.parquet's row group 0, as when reading and writing took turns
        Assert.Equal(["part-00000-"], run.Files.Select(f => f.Name[..11]));
        AssertFailedWithNothingLeft(flow, run);
    }

    [Fact]
    public async Task Cancelling_mid_run_waits_for_the_upload_in_flight_removes_it_and_leaves_no_reading_behind()
    {
        WriteFourBatches();
        var flow = await CreateFlowAsync();
        using var cancel = new CancellationTokenSource();
        _upload = async upload =>
        {
            if (upload.Index != 1)
            {
                await upload.StoreAsync(upload.Token);
                return;
            }
            cancel.Cancel();
            // An upload that does not stop at once: it finishes, stored, after the run was cancelled. The runner must
            // wait for it (or it would outlive the run) and then remove its file.
            await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
            await upload.StoreAsync(CancellationToken.None);
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunAsync(flow, cancellationToken: cancel.Token));

        Assert.Equal(0, Destination.Running);
        Assert.Empty(OpenFilesUnder(Lake));
        var run = Assert.Single(_engine.State.ListRuns(flow.Id));
        Assert.Equal("The export was cancelled.", run.Error);
        AssertFailedWithNothingLeft(flow, run);
    }

    [Fact]
    public async Task Records_and_batches_left_out_while_reading_ahead_are_counted_exactly()
    {
        // Three batches of several chunks each (10,000 lines a chunk) with invalid lines spread through them, and a
        // damaged gzip batch in the middle that is left out whole.
        Directory.CreateDirectory(Path.Combine(Lake, "web"));
        var invalid = 0;
        for (var batch = 0; batch < 3; batch++)
        {
            var lines = Enumerable.Range(batch * 12_000, 12_000).Select(id => id % 997 == 0 ? "not json" : SampleLake.EventJson(id)).ToList();
            invalid += lines.Count(line => line == "not json");
            File.WriteAllLines(Dataset($"b{batch * 2}.jsonl"), lines);
        }
        SampleLake.WriteEvents(Dataset("b1.jsonl.gz"), 100_000, 3000, gzip: true);
        var whole = File.ReadAllBytes(Dataset("b1.jsonl.gz"));
        File.WriteAllBytes(Dataset("b1.jsonl.gz"), whole[..(whole.Length * 2 / 3)]);
        var flow = await CreateFlowAsync(skipRecords: true, skipBatches: true);
        var reports = new List<ExportProgress>();

        var run = await RunAsync(flow, new SynchronousProgress(reports.Add));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 4, $"expected several parts, got {run.Files.Count}");
        var expected = Enumerable.Range(0, 36_000).Where(id => id % 997 != 0).Select(id => (long)id);
        Assert.Equal(expected, run.Files.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order());
        Assert.Equal((36_000L - invalid, 36_000L - invalid, (long)invalid), (run.RecordsRead, run.RecordsWritten, run.RecordsSkipped));
        Assert.Equal((3, 1), (run.BatchCount, run.BatchesSkipped));
        Assert.Equal("b1.jsonl.gz", Assert.Single(run.SkippedBatches).RelativePath);
        Assert.Equal(["b0.jsonl", "b2.jsonl", "b4.jsonl"], _engine.State.GetExportedBatches(flow.Id, "web").Select(key => key.Split('|')[0]).Order());
        var written = reports.Last(report => !report.IsFlowDone && report.EndedRun is null);
        Assert.Equal(("Written", written.BatchCount), (written.Activity, written.BatchesDone));
    }

    /// <summary>Part files of the run in its staging folder (where the upload's local file is), by name prefix.</summary>
    private static string[] StagedParts(Upload upload, string prefix) =>
        Directory.GetFiles(Path.GetDirectoryName(upload.LocalPath)!, prefix + "*");

    /// <summary>Polls until <paramref name="condition"/> holds (true) or <see cref="Patience"/> runs out (false).</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var giveUp = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > giveUp) return false;
            await Task.Delay(10, CancellationToken.None);
        }
        return true;
    }

    /// <summary>Files this process holds open below <paramref name="folder"/> (Linux: /proc/self/fd).</summary>
    private static List<string> OpenFilesUnder(string folder)
    {
        var open = new List<string>();
        foreach (var descriptor in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(descriptor).LinkTarget is { } target && target.StartsWith(folder + "/", StringComparison.Ordinal)) open.Add(target);
            }
            catch (IOException)
            {
                // Closed meanwhile.
            }
        }
        return open;
    }

    /// <summary>One upload the runner asked for: <see cref="StoreAsync"/> stores it for real in the Local destination.</summary>
    private sealed record Upload(int Index, string LocalPath, string RelativePath, CancellationToken Token, Func<CancellationToken, Task> StoreAsync);

    /// <summary>
    /// A real Local destination whose uploads go through the test's <see cref="_upload"/>, which may hold or fail them;
    /// counts the uploads running, and the most running at once.
    /// </summary>
    private sealed class InjectingDestination(LocalFolderDestination local, Func<Upload, Task> onUpload) : IExportDestination
    {
        private readonly Lock _gate = new();
        private int _started;
        private int _running;
        private int _mostAtOnce;

        public int Running { get { lock (_gate) return _running; } }
        public int MostAtOnce { get { lock (_gate) return _mostAtOnce; } }

        public async Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken)
        {
            int index;
            lock (_gate)
            {
                index = _started++;
                _mostAtOnce = Math.Max(_mostAtOnce, ++_running);
            }
            try
            {
                var upload = new Upload(index, localPath, relativePath, cancellationToken, token => local.UploadFileAsync(localPath, relativePath, token));
                await onUpload(upload);
            }
            finally
            {
                lock (_gate) _running--;
            }
        }

        public Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken) => local.OpenReadAsync(relativePath, cancellationToken);
        public Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken) => local.GetFileInfoAsync(relativePath, cancellationToken);
        public Task DeleteAsync(string relativePath, CancellationToken cancellationToken) => local.DeleteAsync(relativePath, cancellationToken);
        public string GetSinkPath(string relativePath) => local.GetSinkPath(relativePath);
        public ValueTask DisposeAsync() => local.DisposeAsync();
    }

    /// <summary>Calls back on the reporting thread, so reports arrive in order.</summary>
    private sealed class SynchronousProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}
