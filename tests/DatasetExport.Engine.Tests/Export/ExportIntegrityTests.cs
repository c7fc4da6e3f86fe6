using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// Every record of every batch arrives exactly once, across runs, when the lake changes under an export: the runs here
/// change a batch file while the run reads the dataset (through a progress report, on the writer's flow) and check what
/// the destination holds against what the lake holds, run after run.
/// </summary>
public sealed class ExportIntegrityTests : IDisposable
{
    private static readonly DateTimeOffset FirstSlot = new(2026, 7, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _root = new("de-integrity");
    private readonly ExportEngine _engine;

    public ExportIntegrityTests()
    {
        _engine = ExportEngine.Open(new EngineOptions
        {
            StateHome = _root.Combine("state"),
            DestinationFactory = settings => new HookedDestination(new LocalFolderDestination(settings), relativePath => _afterUpload(relativePath),
                relativePath => _beforeDelete(settings.Name, relativePath), (relativePath, token) => _whileDeleting(settings.Name, relativePath, token)),
        });
    }

    /// <summary>What happens after each file is stored, by its relative path; nothing by default.</summary>
    private Action<string> _afterUpload = _ => { };

    /// <summary>What happens before each delete, by destination name and relative path; nothing by default.</summary>
    private Action<string, string> _beforeDelete = (_, _) => { };

    /// <summary>What a delete waits for (a destination that does not answer), by destination name, relative path and the delete's token; nothing by default.</summary>
    private Func<string, string, CancellationToken, Task> _whileDeleting = (_, _, _) => Task.CompletedTask;

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");
    private string Dataset(string file) => Path.Combine(Lake, "web", file);

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    private async Task<FlowRecord> CreateFlowAsync(
        ExportMode mode = ExportMode.Incremental, bool includeManifest = true, FileType fileType = FileType.Json, CompressionKind compression = CompressionKind.None,
        int maxFileSizeMB = 256, bool skipRecords = false, bool skipBatches = false)
    {
        var destination = new DestinationSettings
        {
            Name = "local-integrity",
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = compression,
            MaxFileSizeMB = maxFileSizeMB,
            IncludeManifest = includeManifest,
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: true, default);
        var flow = new FlowRecord
        {
            Name = "integrity", DestinationId = destination.Id, DatasetIds = ["web"], Mode = mode, SkipInvalidRecords = skipRecords, SkipInvalidBatches = skipBatches,
        };
        _engine.AddFlow(flow);
        return flow;
    }

    private async Task<RunRecord> RunAsync(FlowRecord flow, int slot, IProgress<ExportProgress>? progress = null) =>
        Assert.Single(await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(slot), progress, default));

    /// <summary>Four batches of 6,000 records: about five 1 MB parts.</summary>
    private void WriteFourBigBatches()
    {
        for (var batch = 0; batch < 4; batch++) SampleLake.WriteEvents(Dataset($"b{batch}.jsonl"), batch * 6000, 6000);
    }

    /// <summary>Ten batches of 100 records, ids 0-999 in path order.</summary>
    private void WriteTenBatches()
    {
        for (var batch = 0; batch < 10; batch++) SampleLake.WriteEvents(Dataset($"b{batch}.jsonl"), batch * 100, 100);
    }

    /// <summary>
    /// Runs <paramref name="change"/> once, at the run's first report of <paramref name="activity"/> ("Writing " a chunk,
    /// "Copying " a Parquet row group): the reader is then a batch or two ahead at most (its channels are bounded), so the
    /// last batches are listed but not read yet.
    /// </summary>
    private static SynchronousProgress WhenWritingStarts(Action change, string activity = "Writing ")
    {
        var changed = false;
        return new SynchronousProgress(report =>
        {
            if (changed || !report.Activity.StartsWith(activity, StringComparison.Ordinal)) return;
            changed = true;
            change();
        });
    }

    /// <summary>The run failed naming the batch that changed, stored nothing (no part, no manifest) and committed no batch.</summary>
    private void AssertFailedBecauseChanged(FlowRecord flow, RunRecord run, string batch)
    {
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains(batch, run.Error);
        Assert.Contains("changed while it was exported", run.Error);
        Assert.Null(run.ManifestPath);
        Assert.Empty(Directory.Exists(Output) ? Directory.GetFiles(Output, "*", SearchOption.AllDirectories) : []);
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
    }

    private static List<long> ExportedIds(params RunRecord[] runs) =>
        runs.SelectMany(r => r.Files).SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order().ToList();

    private static IEnumerable<long> Range(int first, int count) => Enumerable.Range(first, count).Select(i => (long)i);

    [Fact]
    public async Task A_batch_appended_to_while_the_run_reads_the_dataset_is_exported_once_with_all_its_records()
    {
        WriteTenBatches();
        var flow = await CreateFlowAsync();

        // b9 grows by 50 records after it was listed (its size as listed is what the run would record) and before it is read.
        var first = await RunAsync(flow, 0, WhenWritingStarts(() => File.AppendAllLines(Dataset("b9.jsonl"), Enumerable.Range(1000, 50).Select(SampleLake.EventJson))));
        // What was read of b9 is not what its listing said: the run fails rather than commit b9 as listed (the next run
        // would export the 50 records again), and leaves nothing behind.
        AssertFailedBecauseChanged(flow, first, "b9.jsonl");
        var second = await RunAsync(flow, 1);
        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        Assert.Equal(Range(0, 1050), ExportedIds(second));
        Assert.Equal((1050L, 1050L, 10), (second.RecordsRead, second.RecordsWritten, second.BatchCount));
        Assert.Equal(0, (await RunAsync(flow, 2)).RecordsWritten);
    }

    [Fact]
    public async Task A_batch_rewritten_with_other_records_while_the_run_reads_the_dataset_is_exported_as_it_ends_up_and_nothing_twice()
    {
        WriteTenBatches();
        var flow = await CreateFlowAsync();

        // b9 is replaced (same name) by records 5000-5099 before it is read: what the run exports of it must be what a
        // later run will not export again.
        var first = await RunAsync(flow, 0, WhenWritingStarts(() => SampleLake.WriteEvents(Dataset("b9.jsonl"), 5000, 100)));
        AssertFailedBecauseChanged(flow, first, "b9.jsonl");
        var second = await RunAsync(flow, 1);
        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        Assert.Equal(Range(0, 900).Concat(Range(5000, 100)), ExportedIds(second));
        Assert.Equal(0, (await RunAsync(flow, 2)).RecordsWritten);
    }

    [Fact]
    public async Task A_batch_deleted_while_the_run_reads_it_is_exported_whole_and_committed()
    {
        // b0 has far more lines than the reader parses ahead (16 chunks of 4,096), so it is still open when deleted.
        SampleLake.WriteEvents(Dataset("b0.jsonl"), 0, 200_000);
        SampleLake.WriteEvents(Dataset("b1.jsonl"), 200_000, 100);
        var flow = await CreateFlowAsync();

        // Retention removes b0 while it is read: what was read is all there is of it, and nothing can export it again.
        var run = await RunAsync(flow, 0, WhenWritingStarts(() => File.Delete(Dataset("b0.jsonl"))));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.False(File.Exists(Dataset("b0.jsonl")));
        Assert.Equal(Range(0, 200_100), ExportedIds(run));
        Assert.Equal(2, _engine.State.GetExportedBatches(flow.Id, "web").Count);
    }

    [Fact]
    public async Task A_parquet_batch_replaced_while_the_run_copies_the_dataset_row_group_by_row_group_is_exported_once_as_it_ends_up()
    {
        using var duck = new Formats.DuckDb();
        for (var batch = 0; batch < 6; batch++) ParquetBatches.Write(duck, Dataset($"b{batch}.parquet"), batch * 10_000, 10_000);
        ParquetBatches.Write(duck, Dataset("b6-empty.parquet"), 0, 0);
        var flow = await CreateFlowAsync(fileType: FileType.Parquet);

        var first = await RunAsync(flow, 0, WhenWritingStarts(() => ParquetBatches.Write(duck, Dataset("b5.parquet"), 90_000, 12_000), "Copying "));

        AssertFailedBecauseChanged(flow, first, "b5.parquet");
        var second = await RunAsync(flow, 1);
        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        var parts = string.Join(", ", second.Files.Select(f => Formats.DuckDb.Quote(f.SinkPath)));
        Assert.Equal(
            Enumerable.Range(0, 50_000).Concat(Enumerable.Range(90_000, 12_000)).Select(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            duck.Strings($"SELECT id::VARCHAR FROM read_parquet([{parts}]) ORDER BY id"));
        Assert.Equal((62_000L, 62_000L, 7), (second.RecordsRead, second.RecordsWritten, second.BatchCount));
        Assert.Equal(7, _engine.State.GetExportedBatches(flow.Id, "web").Count);
        Assert.Equal(0, (await RunAsync(flow, 2)).BatchCount);
    }

    [Fact]
    public async Task Empty_batches_are_exported_and_recorded_once_and_a_dataset_of_only_empty_batches_writes_nothing()
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 100);
        File.WriteAllText(Dataset("b-empty.jsonl"), "");
        File.WriteAllText(Dataset("c-blank-lines.jsonl"), "\n\n");
        Directory.CreateDirectory(Path.Combine(Lake, "none"));
        File.WriteAllText(Path.Combine(Lake, "none", "a.jsonl"), "");
        var flow = await CreateFlowAsync();
        flow.DatasetIds = ["web", "none"];
        _engine.UpdateFlow(flow);

        var runs = await _engine.RunFlowAsync(flow, Lake, FirstSlot, null, default);

        Assert.All(runs, run => Assert.True(run.Status == RunStatus.Succeeded, run.Error));
        var (web, none) = (runs[0], runs[1]);
        Assert.Equal(Range(0, 100), ExportedIds(web));
        Assert.Equal((100L, 100L, 3), (web.RecordsRead, web.RecordsWritten, web.BatchCount));
        Assert.Equal(3, _engine.State.GetExportedBatches(flow.Id, "web").Count);
        Assert.Equal((0L, 0, 1), (none.RecordsWritten, none.Files.Count, none.BatchCount));
        Assert.Null(none.ManifestPath);
        Assert.True((await _engine.VerifyRunAsync(none, default)).IsValid);
        Assert.Single(_engine.State.GetExportedBatches(flow.Id, "none"));
        var again = await _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(1), null, default);
        Assert.All(again, run => Assert.Equal((RunStatus.Succeeded, 0, 0), (run.Status, run.BatchCount, run.Files.Count)));
    }

    /// <summary>
    /// What the run record says against what its folder holds: the same files (and nothing else but the manifest), each of
    /// the recorded size, sha256 and record count; the run's totals their sums; the manifest the same list and total.
    /// </summary>
    private static async Task AssertRecordMatchesDestinationAsync(RunRecord run, Func<string, long> countRecords)
    {
        var folder = Path.GetDirectoryName(run.Files[0].SinkPath)!;
        var manifest = Path.Combine(folder, Path.GetFileName(run.ManifestPath!));
        Assert.Equal(run.Files.Select(f => f.SinkPath).Append(manifest).Order(), Directory.GetFiles(folder).Order());
        foreach (var file in run.Files)
        {
            Assert.Equal((await ExportRunner.HashFileAsync(file.SinkPath, default)), (file.Size, file.Sha256));
            Assert.Equal(countRecords(file.SinkPath), file.Records);
        }
        Assert.Equal(run.Files.Sum(f => f.Size), run.OutputBytes);
        Assert.Equal(run.Files.Sum(f => f.Records), run.RecordsWritten);
        Assert.Equal(run.RecordsRead, run.RecordsWritten);
        var stored = ExportManifest.Parse(File.ReadAllBytes(manifest));
        Assert.Equal(run.RecordsWritten, stored.RecordCount);
        Assert.Equal(run.Files.Select(ManifestFile.From), stored.ExportResults);
    }

    [Theory]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.None)]
    public async Task A_json_runs_record_matches_its_folder_with_parts_rolled_over_and_invalid_lines_and_batches_left_out(CompressionKind compression)
    {
        // Four batches of 20,000 lines with every 101st invalid, and a truncated gzip batch left out whole.
        Directory.CreateDirectory(Path.Combine(Lake, "web"));
        for (var batch = 0; batch < 4; batch++)
        {
            File.WriteAllLines(Dataset($"b{batch}.jsonl"), Enumerable.Range(batch * 20_000, 20_000).Select(id => id % 101 == 0 ? "{\"id\": " : SampleLake.EventJson(id)));
        }
        SampleLake.WriteEvents(Dataset("b1-cut.jsonl.gz"), 900_000, 5000, gzip: true);
        var whole = File.ReadAllBytes(Dataset("b1-cut.jsonl.gz"));
        File.WriteAllBytes(Dataset("b1-cut.jsonl.gz"), whole[..(whole.Length / 2)]);
        var flow = await CreateFlowAsync(compression: compression, maxFileSizeMB: 1, skipRecords: true, skipBatches: true);

        var run = await RunAsync(flow, 0);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 2, $"expected several parts, got {run.Files.Count}");
        var valid = Enumerable.Range(0, 80_000).Where(id => id % 101 != 0).Select(id => (long)id).ToList();
        Assert.Equal(valid, ExportedIds(run));
        Assert.Equal(((long)valid.Count, 80_000L - valid.Count, 4, 1), (run.RecordsWritten, run.RecordsSkipped, run.BatchCount, run.BatchesSkipped));
        await AssertRecordMatchesDestinationAsync(run, path => SampleLake.ReadJsonLines(path).Count);
        Assert.True((await _engine.VerifyRunAsync(run, default)).IsValid);
    }

    [Fact]
    public async Task A_parquet_runs_record_matches_its_folder_whether_row_groups_were_copied_or_encoded()
    {
        using var duck = new Formats.DuckDb();
        // b0-b2 are copied row group by row group; b3 (INTEGER id) is decoded and encoded; b4 has a corrupt row group, left out.
        for (var batch = 0; batch < 3; batch++) ParquetBatches.Write(duck, Dataset($"b{batch}.parquet"), batch * 40_000, 40_000);
        ParquetBatches.Write(duck, Dataset("b3.parquet"), 120_000, 40_000, idType: "INTEGER");
        ParquetBatches.Write(duck, Dataset("b4.parquet"), 160_000, 20_000);
        ParquetBatches.CorruptSecondRowGroup(duck, Dataset("b4.parquet"));
        var flow = await CreateFlowAsync(fileType: FileType.Parquet, maxFileSizeMB: 1, skipBatches: true);

        var run = await RunAsync(flow, 0);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 3, $"expected several parts, got {run.Files.Count}");
        Assert.Equal((160_000L, 4, 1, 20_000L), (run.RecordsWritten, run.BatchCount, run.BatchesSkipped, run.RecordsFailed));
        await AssertRecordMatchesDestinationAsync(run, path => duck.Count($"SELECT count(*) FROM read_parquet({Formats.DuckDb.Quote(path)})"));
        var parts = string.Join(", ", run.Files.Select(f => Formats.DuckDb.Quote(f.SinkPath)));
        Assert.Equal(160_000, duck.Count($"SELECT count(DISTINCT id) FROM read_parquet([{parts}]) WHERE id < 160000"));
        Assert.True((await _engine.VerifyRunAsync(run, default)).IsValid);
    }

    [Fact]
    public async Task A_run_cancelled_after_its_last_part_before_its_manifest_leaves_nothing_and_commits_nothing()
    {
        WriteTenBatches();
        var flow = await CreateFlowAsync();
        using var cancel = new CancellationTokenSource();
        var cancelWhenWritten = new SynchronousProgress(report =>
        {
            if (report.Activity == "Written") cancel.Cancel();
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _engine.RunFlowAsync(flow, Lake, FirstSlot, cancelWhenWritten, cancel.Token));

        var cancelled = Assert.Single(_engine.State.ListRuns(flow.Id));
        Assert.Equal((RunStatus.Failed, "The export was cancelled.", null), (cancelled.Status, cancelled.Error, cancelled.ManifestPath));
        Assert.Empty(Directory.GetFiles(Output, "*", SearchOption.AllDirectories));
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
        var next = await RunAsync(flow, 1);
        Assert.Equal(Range(0, 1000), ExportedIds(next));
    }

    [Theory]
    [InlineData(ExportMode.Full)]
    [InlineData(ExportMode.Incremental)]
    public async Task Two_runs_in_the_same_minute_share_its_folder_and_each_manifest_lists_only_its_own_parts(ExportMode mode)
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 100);
        var flow = await CreateFlowAsync(mode);
        var first = await RunAsync(flow, 0);
        SampleLake.WriteEvents(Dataset("b.jsonl"), 100, 50);

        var second = await RunAsync(flow, 0);

        Assert.Equal(first.ExportPath, second.ExportPath);
        Assert.Equal(Range(0, 100), ExportedIds(first));
        Assert.Equal(mode == ExportMode.Full ? Range(0, 150) : Range(100, 50), ExportedIds(second));
        foreach (var run in new[] { first, second })
        {
            Assert.True((await _engine.VerifyRunAsync(run, default)).IsValid);
            var manifest = ExportManifest.Parse(File.ReadAllBytes(Path.Combine(Output, run.ManifestPath!)));
            Assert.Equal(run.Files.Select(f => f.SinkPath), manifest.ExportResults.Select(f => f.SinkPath));
        }
    }

    /// <summary>
    /// Leaves what a process killed at some point of a run leaves: <paramref name="savedAtDeath"/> (the run as the state
    /// store held it then) Running with a heartbeat older than the lease, and in its folder the files of
    /// <paramref name="folderAtDeath"/> (a copy of the folder then). Returns that run.
    /// </summary>
    private RunRecord LeaveDeadRun(RunRecord? savedAtDeath, string folderAtDeath)
    {
        Assert.NotNull(savedAtDeath);
        var folder = Path.Combine(Output, savedAtDeath.ExportPath);
        foreach (var file in Directory.GetFiles(folderAtDeath)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        savedAtDeath.Id = Guid.NewGuid();
        savedAtDeath.HeartbeatAt = DateTimeOffset.UtcNow - ExportEngine.RunLease - TimeSpan.FromMinutes(1);
        _engine.State.AddRun(savedAtDeath);
        return savedAtDeath;
    }

    /// <summary>Copies the run's folder aside, as it is now.</summary>
    private string CopyFolderOf(RunRecord run)
    {
        var copy = _root.Combine("at-death");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(Path.Combine(Output, run.ExportPath))) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    /// <summary>
    /// A run of the first slot killed right after its first part was stored and recorded: taken from a real run at that point
    /// (then cancelled) and left as a dead process leaves it (<see cref="LeaveDeadRun"/>).
    /// </summary>
    private async Task<RunRecord> DieAfterFirstPartAsync(FlowRecord flow)
    {
        RunRecord? savedAtDeath = null;
        var folderAtDeath = "";
        using var cancel = new CancellationTokenSource();
        var dieAfterFirstPart = new SynchronousProgress(report =>
        {
            if (savedAtDeath is not null || !report.Activity.StartsWith("Stored ", StringComparison.Ordinal)) return;
            savedAtDeath = _engine.State.ListRuns(flow.Id).Single();
            Assert.Single(savedAtDeath.Files);
            folderAtDeath = CopyFolderOf(savedAtDeath);
            cancel.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _engine.RunFlowAsync(flow, Lake, FirstSlot, dieAfterFirstPart, cancel.Token));
        return LeaveDeadRun(savedAtDeath, folderAtDeath);
    }

    /// <summary>A run of the first slot killed right after its manifest was stored, before its commit (as <see cref="DieAfterFirstPartAsync"/>).</summary>
    private async Task<RunRecord> DieAfterManifestAsync(FlowRecord flow)
    {
        RunRecord? savedAtDeath = null;
        var folderAtDeath = "";
        _afterUpload = relativePath =>
        {
            if (!Path.GetFileName(relativePath).StartsWith("manifest-", StringComparison.Ordinal)) return;
            _afterUpload = _ => { };
            savedAtDeath = _engine.State.ListRuns(flow.Id).Single();
            Assert.Equal(relativePath, savedAtDeath.ManifestPath);
            folderAtDeath = CopyFolderOf(savedAtDeath);
            throw new IOException("The process is killed here.");
        };
        Assert.Equal(RunStatus.Failed, (await RunAsync(flow, 0)).Status);
        return LeaveDeadRun(savedAtDeath, folderAtDeath);
    }

    /// <summary>Points the flow at a new Local destination, "other".</summary>
    private async Task MoveFlowToAnotherDestinationAsync(FlowRecord flow)
    {
        var other = new DestinationSettings { Name = "other", Type = DestinationType.Local, Properties = { [LocalFolderDestination.PathProperty] = _root.Combine("other") } };
        await _engine.AddDestinationAsync(other, skipValidation: true, default);
        flow.DestinationId = other.Id;
        _engine.UpdateFlow(flow);
    }

    /// <summary>
    /// The slot again (as Invoke-ExportSchedule redoes it): the dead run is marked Abandoned, its files deleted and forgotten,
    /// and the folder holds the redo's files only, every record once.
    /// </summary>
    private async Task AssertRedoneOverTheDeadRunAsync(FlowRecord flow, RunRecord dead, int records)
    {
        var redo = await RunAsync(flow, 0);

        Assert.True(redo.Status == RunStatus.Succeeded, redo.Error);
        var forgotten = _engine.State.GetRun(dead.Id)!;
        Assert.Equal((RunStatus.Abandoned, 0, null), (forgotten.Status, forgotten.Files.Count, forgotten.ManifestPath));
        var folder = Path.Combine(Output, redo.ExportPath);
        var parts = redo.Files.Select(f => f.SinkPath).ToList();
        var expected = redo.ManifestPath is null ? parts : parts.Append(Path.Combine(Output, redo.ManifestPath));
        Assert.Equal(expected.Order(), Directory.GetFiles(folder).Order());
        Assert.Equal(Range(0, records), parts.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f))).Order());
        var verified = await _engine.VerifyRunAsync(redo, default);
        Assert.True(verified.IsValid, verified.Problem);
    }

    [Fact]
    public async Task Parts_stored_by_a_run_whose_process_died_are_deleted_by_the_next_run_so_a_folder_without_manifest_holds_each_record_once()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        var dead = await DieAfterFirstPartAsync(flow);

        await AssertRedoneOverTheDeadRunAsync(flow, dead, 24_000);
    }

    [Fact]
    public async Task A_manifest_stored_by_a_run_whose_process_died_before_its_commit_is_deleted_with_its_parts_by_the_next_run()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(maxFileSizeMB: 1);
        // A reader following the dead run's manifest would find every record in it, and again in the redo's.
        var dead = await DieAfterManifestAsync(flow);
        Assert.Contains(Directory.GetFiles(Path.Combine(Output, dead.ExportPath)), file => Path.GetFileName(file).StartsWith("manifest-", StringComparison.Ordinal));

        await AssertRedoneOverTheDeadRunAsync(flow, dead, 24_000);
        Assert.Single(Directory.GetFiles(Path.Combine(Output, dead.ExportPath), "manifest-*"));
    }

    [Fact]
    public async Task A_destination_the_flow_left_whose_settings_cannot_be_read_keeps_a_dead_runs_files_recorded_and_holds_up_no_export()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        var dead = await DieAfterFirstPartAsync(flow);
        var left = flow.DestinationId;
        await MoveFlowToAnotherDestinationAsync(flow);
        // The destination the flow left has secrets this state home can no longer unprotect (its keys were lost).
        using (var connection = new SqliteConnection($"Data Source={_root.Combine("state", SqliteStateStore.DatabaseFileName)};Pooling=False"))
        {
            connection.Open();
            using var damage = connection.CreateCommand();
            damage.CommandText = $"UPDATE destinations SET protected_secrets = 'not a protected secret' WHERE id = '{left:D}'";
            Assert.Equal(1, damage.ExecuteNonQuery());
        }
        Assert.NotNull(_engine.State.GetDestination(left)!.UnreadableSecrets);
        var log = new List<string>();
        _engine.Log = log.Add;

        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error); // was: Failed, every run of the flow, with the secrets' error
        Assert.Equal(dead.Files.Count, _engine.State.GetRun(dead.Id)!.Files.Count);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(Output, dead.ExportPath)));
        Assert.Contains(log, line => line.StartsWith("Flow 'integrity': the files earlier runs left on destination", StringComparison.Ordinal) && line.Contains("cannot be read"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Files_a_dead_run_left_where_the_flow_no_longer_exports_are_deleted_by_its_next_run(bool flowMovedToAnotherDestination)
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(maxFileSizeMB: 1);
        var dead = await DieAfterManifestAsync(flow);
        var deadFolder = Path.Combine(Output, dead.ExportPath);
        Assert.NotEmpty(Directory.GetFiles(deadFolder));

        // Then the flow exports elsewhere: to another destination, or to another folder of its destination.
        if (flowMovedToAnotherDestination)
        {
            await MoveFlowToAnotherDestinationAsync(flow);
        }
        else
        {
            var destination = _engine.State.GetDestination(flow.DestinationId)!;
            destination.FolderPath = "moved";
            await _engine.UpdateDestinationAsync(destination, skipValidation: true, default);
        }
        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.Empty(Directory.GetFiles(deadFolder)); // was: the dead run's parts and manifest stayed, recorded for a run there
        var forgotten = _engine.State.GetRun(dead.Id)!;
        Assert.Equal((RunStatus.Abandoned, 0, null), (forgotten.Status, forgotten.Files.Count, forgotten.ManifestPath));
        Assert.Equal(Range(0, 24_000), next.Files.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order());
    }

    [Fact]
    public async Task A_destination_the_flow_left_that_cannot_delete_keeps_a_dead_runs_files_recorded_and_holds_up_no_export()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        var dead = await DieAfterFirstPartAsync(flow);
        await MoveFlowToAnotherDestinationAsync(flow);
        // The destination the flow left is unreachable now.
        _beforeDelete = (name, _) =>
        {
            if (name == "local-integrity") throw new DestinationException(DestinationFailure.Unreachable, "The old share is offline.");
        };

        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.Equal(dead.Files.Count, _engine.State.GetRun(dead.Id)!.Files.Count);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(Output, dead.ExportPath)));

        // Reachable again: the next run deletes them.
        _beforeDelete = (_, _) => { };
        await RunAsync(flow, 2);
        Assert.Empty(_engine.State.GetRun(dead.Id)!.Files);
        Assert.Empty(Directory.GetFiles(Path.Combine(Output, dead.ExportPath)));
    }

    [Fact]
    public async Task Parts_a_failed_run_could_not_delete_are_deleted_by_the_next_run_so_the_destination_holds_each_record_once()
    {
        WriteFourBigBatches();
        File.AppendAllText(Dataset("b3.jsonl"), "{\"id\": \n"); // the last batch ends in a broken line: the run fails there
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        // The destination stores, then refuses the failed run's deletes (a share turned read-only, a SAS without delete).
        _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");

        var failed = await RunAsync(flow, 0);

        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.Contains("b3.jsonl", failed.Error);
        Assert.EndsWith($" {failed.LeftFiles.Count} file(s) it may have left could not be deleted (LeftFiles); the flow's next run on destination 'local-integrity' tries again.", failed.Error);
        Assert.NotEmpty(failed.Files);
        // Every stored part, and the part whose upload the failure stopped when it was still uploading (it may have arrived).
        var stopped = failed.LeftFiles.Except(failed.Files.Select(f => f.RelativePath)).ToList();
        Assert.Equal(failed.Files.Select(f => f.RelativePath), failed.LeftFiles.Intersect(failed.Files.Select(f => f.RelativePath)));
        Assert.InRange(stopped.Count, 0, 1);
        Assert.All(stopped, path => Assert.StartsWith(failed.ExportPath + "/part-", path));
        Assert.Equal(failed.LeftFiles, _engine.State.GetRun(failed.Id)!.LeftFiles);
        Assert.All(failed.Files, f => Assert.True(File.Exists(f.SinkPath), f.SinkPath));

        // The batch mended and deletes allowed again: the next run, in the next slot's folder, deletes them first.
        SampleLake.WriteEvents(Dataset("b3.jsonl"), 18_000, 6000);
        _beforeDelete = (_, _) => { };
        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.NotEqual(failed.ExportPath, next.ExportPath);
        Assert.All(failed.Files, f => Assert.False(File.Exists(f.SinkPath), f.SinkPath)); // was: they stayed, a second copy of b0-b2
        Assert.Empty(_engine.State.GetRun(failed.Id)!.LeftFiles);
        Assert.Equal(failed.Files.Count, _engine.State.GetRun(failed.Id)!.Files.Count); // still listed as what it stored
        var everyFile = Directory.GetFiles(Output, "*", SearchOption.AllDirectories);
        Assert.Equal(Range(0, 24_000), everyFile.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f))).Order());
    }

    [Fact]
    public async Task Removing_a_flow_deletes_the_files_its_failed_run_left_and_keeps_what_it_exported()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: true, maxFileSizeMB: 1);
        var exported = await RunAsync(flow, 0);
        Assert.True(exported.Status == RunStatus.Succeeded, exported.Error);
        // New batches, the last ending in a broken line; the destination refuses the failed run's deletes.
        for (var batch = 4; batch < 7; batch++) SampleLake.WriteEvents(Dataset($"b{batch}.jsonl"), batch * 6000, 6000);
        File.AppendAllText(Dataset("b6.jsonl"), "{\"id\": \n");
        _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");
        var failed = await RunAsync(flow, 1);
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.NotEmpty(failed.LeftFiles);
        Assert.All(failed.Files, f => Assert.True(File.Exists(f.SinkPath), f.SinkPath));
        _beforeDelete = (_, _) => { };

        var warnings = await _engine.RemoveFlowAsync(flow, default);

        Assert.Empty(warnings);
        Assert.Null(_engine.State.FindFlow(flow.Name));
        Assert.All(failed.Files, f => Assert.False(File.Exists(f.SinkPath), f.SinkPath)); // was: they stayed for good
        Assert.Empty(_engine.State.GetRun(failed.Id)!.LeftFiles);
        // What the flow exported stays, every record once.
        Assert.Equal(exported.Files.Select(f => f.SinkPath).Append(Path.Combine(Output, exported.ManifestPath!)).Order(),
            Directory.GetFiles(Output, "*", SearchOption.AllDirectories).Order());
        Assert.Equal(Range(0, 24_000), exported.Files.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f.SinkPath))).Order());
    }

    [Fact]
    public async Task Removing_a_flow_whose_destination_refuses_to_delete_a_dead_runs_files_warns_and_keeps_them_recorded()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        var dead = await DieAfterFirstPartAsync(flow);
        _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");

        var warnings = await _engine.RemoveFlowAsync(flow, default);

        Assert.Equal(
            "1 file(s) that runs of flow 'integrity' left uncommitted on destination 'local-integrity' could not be deleted: the destination failed " +
            "to delete them. They stay, listed in the flow's runs (LeftFiles; the Files of an Abandoned run).", Assert.Single(warnings));
        Assert.Null(_engine.State.FindFlow(flow.Name));
        // The dead run is taken for dead on the way (its lease is over), and its file stays recorded.
        var stored = _engine.State.GetRun(dead.Id)!;
        Assert.Equal(RunStatus.Abandoned, stored.Status);
        Assert.Equal(dead.Files.Select(f => f.RelativePath), stored.FilesToRemove);
        Assert.True(File.Exists(Assert.Single(dead.Files).SinkPath));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Removing_the_destination_a_removed_flow_left_files_on_deletes_them_or_warns_when_it_cannot(bool refusing)
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        var dead = await DieAfterFirstPartAsync(flow);
        _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");
        Assert.Single(await _engine.RemoveFlowAsync(flow, default));
        if (!refusing) _beforeDelete = (_, _) => { };

        var warnings = await _engine.RemoveDestinationAsync(_engine.State.GetDestination(flow.DestinationId)!, default);

        Assert.Null(_engine.State.GetDestination(flow.DestinationId));
        var stored = _engine.State.GetRun(dead.Id)!;
        if (refusing)
        {
            Assert.Equal(
                "1 file(s) that runs left uncommitted on the removed destination 'local-integrity' could not be deleted: the destination failed " +
                "to delete them. They stay, listed in their runs (LeftFiles; the Files of an Abandoned run).", Assert.Single(warnings));
            Assert.Equal(dead.Files.Select(f => f.RelativePath), stored.FilesToRemove);
            Assert.True(File.Exists(Assert.Single(dead.Files).SinkPath));
            return;
        }
        Assert.Empty(warnings);
        Assert.Empty(stored.FilesToRemove);
        Assert.False(File.Exists(Assert.Single(dead.Files).SinkPath)); // was: nothing was left to delete them once it was gone
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ctrl_C_while_a_run_deletes_files_a_dead_run_left_stops_the_delete_and_keeps_them_recorded(bool flowMovedToAnotherDestination)
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        var dead = await DieAfterFirstPartAsync(flow);
        if (flowMovedToAnotherDestination) await MoveFlowToAnotherDestinationAsync(flow);
        // The destination holding the dead run's files does not answer its first delete; Ctrl+C meanwhile.
        using var ctrlC = new CancellationTokenSource();
        bool? deleteStopped = null;
        _whileDeleting = async (_, _, token) =>
        {
            if (deleteStopped is not null) return;
            deleteStopped = false;
            await ctrlC.CancelAsync();
            try
            {
                // Bounded, so the test ends either way (the budget for another destination is 30 s).
                await Task.Delay(TimeSpan.FromSeconds(20), token);
                throw new DestinationException(DestinationFailure.Unreachable, "The share does not answer.");
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                deleteStopped = true;
                throw;
            }
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _engine.RunFlowAsync(flow, Lake, FirstSlot.AddHours(1), null, ctrlC.Token));

        Assert.True(deleteStopped, "the delete in flight was not told to stop when the export was cancelled"); // was: it waited for the destination
        var cancelled = Assert.Single(_engine.State.ListRuns(flow.Id), run => run.ScheduledTime == FirstSlot.AddHours(1));
        Assert.Equal((RunStatus.Failed, "The export was cancelled."), (cancelled.Status, cancelled.Error));
        Assert.Equal(dead.Files.Count, _engine.State.GetRun(dead.Id)!.Files.Count);
        Assert.All(dead.Files, f => Assert.True(File.Exists(f.SinkPath), f.SinkPath));

        // The next run deletes them.
        _whileDeleting = (_, _, _) => Task.CompletedTask;
        var next = await RunAsync(flow, 2);
        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.Empty(_engine.State.GetRun(dead.Id)!.Files);
        Assert.All(dead.Files, f => Assert.False(File.Exists(f.SinkPath), f.SinkPath));
    }

    [Fact]
    public async Task Parts_a_run_taken_over_by_another_process_could_not_delete_are_recorded_and_deleted_by_the_next_run()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        // Once its second part is stored, another process takes the run for dead (Abandoned) and the destination refuses
        // deletes: the run can no longer save the part it just stored, and cannot delete it either.
        var uploads = 0;
        _afterUpload = _ =>
        {
            if (++uploads != 2) return;
            Assert.Single(_engine.State.AbandonStaleRuns(DateTimeOffset.UtcNow.AddHours(1)));
            _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");
        };

        var lost = await RunAsync(flow, 0);

        Assert.Equal(RunStatus.Abandoned, lost.Status);
        Assert.Equal($"{ExportRunner.LostRunError} {lost.Files.Count} file(s) it may have left could not be deleted (LeftFiles); the flow's next run on destination 'local-integrity' tries again.", lost.Error);
        Assert.True(lost.Files.Count >= 2, $"expected two parts at least, got {lost.Files.Count}");
        Assert.All(lost.Files, f => Assert.True(File.Exists(f.SinkPath), f.SinkPath));
        Assert.Equal(lost.Files.Select(f => f.RelativePath).Order(), _engine.State.GetRun(lost.Id)!.FilesToRemove.Order()); // was: only the first part

        // Deletes allowed again: the next run deletes them all, and the destination holds each record once.
        _afterUpload = _ => { };
        _beforeDelete = (_, _) => { };
        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.All(lost.Files, f => Assert.False(File.Exists(f.SinkPath), f.SinkPath));
        Assert.Empty(_engine.State.GetRun(lost.Id)!.FilesToRemove);
        var everyFile = Directory.GetFiles(Output, "*", SearchOption.AllDirectories);
        Assert.Equal(Range(0, 24_000), everyFile.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f))).Order());
    }

    [Fact]
    public async Task Parts_a_run_restarting_after_a_schema_misfit_could_not_delete_are_deleted_by_the_next_run()
    {
        WriteFourBigBatches();
        // Past the schema sample of the last batch, a line with a field the sample lacks: the run starts over once b0-b2 are stored.
        File.AppendAllText(Dataset("b3.jsonl"), SampleLake.EventJson(24_000)[..^1] + ",\"extra\":\"x\"}\n");
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");

        var restarted = await RunAsync(flow, 0);

        Assert.True(restarted.Status == RunStatus.Succeeded, restarted.Error);
        Assert.NotEmpty(restarted.LeftFiles);
        Assert.Empty(restarted.LeftFiles.Intersect(restarted.Files.Select(f => f.RelativePath)));
        Assert.Equal(restarted.LeftFiles, _engine.State.GetRun(restarted.Id)!.LeftFiles);
        Assert.Equal(Range(0, 24_001), ExportedIds(restarted));

        _beforeDelete = (_, _) => { };
        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.Empty(_engine.State.GetRun(restarted.Id)!.LeftFiles);
        Assert.All(restarted.Files, f => Assert.True(File.Exists(f.SinkPath), f.SinkPath));
        var everyFile = Directory.GetFiles(Output, "*", SearchOption.AllDirectories);
        Assert.Equal(Range(0, 24_001), everyFile.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f))).Order());
        Assert.True((await _engine.VerifyRunAsync(restarted, default)).IsValid);
    }

    [Fact]
    public async Task A_part_that_arrived_though_its_upload_failed_and_could_not_be_deleted_is_deleted_by_the_next_run()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(includeManifest: false, maxFileSizeMB: 1);
        // The second part arrives, but its upload fails (the answer lost), and from then on the destination refuses deletes.
        string? arrived = null;
        _afterUpload = relativePath =>
        {
            if (arrived is not null || !Path.GetFileName(relativePath).StartsWith("part-00001-", StringComparison.Ordinal)) return;
            arrived = relativePath;
            _beforeDelete = (_, _) => throw new DestinationException(DestinationFailure.PermissionDenied, "Deleting is not allowed here now.");
            throw new DestinationException(DestinationFailure.PermissionDenied, "The answer to the upload was lost.");
        };

        var failed = await RunAsync(flow, 0);

        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.NotNull(arrived);
        Assert.DoesNotContain(failed.Files, f => f.RelativePath == arrived); // never known stored
        Assert.True(File.Exists(Path.Combine(Output, arrived)));
        Assert.Equal(failed.Files.Select(f => f.RelativePath).Append(arrived).Order(), _engine.State.GetRun(failed.Id)!.LeftFiles.Order());

        _afterUpload = _ => { };
        _beforeDelete = (_, _) => { };
        var next = await RunAsync(flow, 1);

        Assert.True(next.Status == RunStatus.Succeeded, next.Error);
        Assert.False(File.Exists(Path.Combine(Output, arrived))); // was: it stayed, never recorded, a second copy of its records
        var everyFile = Directory.GetFiles(Output, "*", SearchOption.AllDirectories);
        Assert.Equal(Range(0, 24_000), everyFile.SelectMany(f => SampleLake.Ids(SampleLake.ReadJsonLines(f))).Order());
    }

    [Fact]
    public async Task A_running_run_is_saved_with_each_file_it_stores()
    {
        WriteFourBigBatches();
        var flow = await CreateFlowAsync(maxFileSizeMB: 1);
        var savedWhenStored = new List<(int Reported, RunStatus Status, List<string> Saved)>();
        var progress = new SynchronousProgress(report =>
        {
            if (!report.Activity.StartsWith("Stored ", StringComparison.Ordinal)) return;
            var saved = _engine.State.ListRuns(flow.Id).Single();
            savedWhenStored.Add((report.FilesWritten, saved.Status, saved.Files.Select(f => f.Name).ToList()));
        });

        var run = await RunAsync(flow, 0, progress);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(run.Files.Count, savedWhenStored.Count);
        Assert.Equal(
            run.Files.Select((_, index) => (index + 1, RunStatus.Running, run.Files.Take(index + 1).Select(f => f.Name).ToList())),
            savedWhenStored);
    }

    [Fact]
    public async Task A_manifest_without_a_recorded_hash_is_checked_by_its_record_count_and_dataset_too()
    {
        SampleLake.WriteEvents(Dataset("a.jsonl"), 0, 100);
        var flow = await CreateFlowAsync();
        var run = await RunAsync(flow, 0);
        // As recorded before manifest hashes were kept (state schema version 1): the manifest is checked by its content.
        run.ManifestSha256 = null;
        var manifestPath = Path.Combine(Output, run.ManifestPath!);
        var written = File.ReadAllText(manifestPath);
        Assert.True((await _engine.VerifyRunAsync(run, default)).IsValid);

        File.WriteAllText(manifestPath, written.Replace("\"recordCount\": 100", "\"recordCount\": 200", StringComparison.Ordinal));
        var recordCountEdited = await _engine.VerifyRunAsync(run, default);
        File.WriteAllText(manifestPath, written.Replace("\"datasetId\": \"web\"", "\"datasetId\": \"other\"", StringComparison.Ordinal));
        var datasetEdited = await _engine.VerifyRunAsync(run, default);

        Assert.False(recordCountEdited.IsValid);
        Assert.Equal("The manifest counts 200 records; the run wrote 100.", recordCountEdited.Problem);
        Assert.False(datasetEdited.IsValid);
        Assert.Equal("The manifest names dataset 'other', not 'web'.", datasetEdited.Problem);
    }

    [Fact]
    public async Task Saving_a_running_run_with_a_file_it_stored_keeps_its_latest_heartbeat()
    {
        WriteFourBigBatches();
        var clock = new FakeTimeProvider(FirstSlot);
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state"), TimeProvider = clock });
        var flow = await CreateFlowAsync(maxFileSizeMB: 1);
        var heartbeatsWhenStored = new List<DateTimeOffset>();
        var progress = new SynchronousProgress(report =>
        {
            if (!report.Activity.StartsWith("Stored ", StringComparison.Ordinal)) return;
            heartbeatsWhenStored.Add(engine.State.ListRuns(flow.Id).Single().HeartbeatAt);
            // Four minutes pass between parts; the heartbeat timer beats meanwhile.
            clock.Advance(TimeSpan.FromMinutes(4));
        });

        var run = Assert.Single(await engine.RunFlowAsync(flow, Lake, FirstSlot, progress, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(heartbeatsWhenStored.Count >= 3, $"expected several parts, got {heartbeatsWhenStored.Count}");
        // Each save says the run was alive then: another process abandons runs whose heartbeat is older than the 5-minute lease.
        Assert.Equal(heartbeatsWhenStored.Select((_, part) => FirstSlot + TimeSpan.FromMinutes(4 * part)), heartbeatsWhenStored);
    }

    [Fact]
    public async Task An_exported_batch_that_a_new_batch_now_conflicts_with_is_not_reported_skipped_by_later_runs()
    {
        Directory.CreateDirectory(Path.Combine(Lake, "web"));
        File.WriteAllLines(Dataset("b.jsonl"), ["{\"id\": 1}", "{\"id\": 2}"]);
        var flow = await CreateFlowAsync(skipBatches: true);
        var first = await RunAsync(flow, 0);
        Assert.True(first.Status == RunStatus.Succeeded, first.Error);

        // a.jsonl comes first in path order, but b.jsonl (exported already) settles the schema: the new batch is the one
        // that conflicts, and is left out (not exported with text where the destination holds numbers).
        File.WriteAllLines(Dataset("a.jsonl"), ["{\"id\": \"x\"}"]);
        var second = await RunAsync(flow, 1);

        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        Assert.Equal((0L, 0, 1), (second.RecordsWritten, second.BatchCount, second.BatchesSkipped));
        Assert.Equal("a.jsonl", second.SkippedBatches[0].RelativePath);
        Assert.Equal(["b.jsonl"], _engine.State.GetExportedBatches(flow.Id, "web").Select(key => key.Split('|')[0]));
        var third = await RunAsync(flow, 2);
        Assert.Equal((0L, 0, 1), (third.RecordsWritten, third.BatchCount, third.BatchesSkipped));
        Assert.Equal("a.jsonl", third.SkippedBatches[0].RelativePath);
    }

    /// <summary>A real Local destination that calls the test back after each file it stored.</summary>
    private sealed class HookedDestination(
        LocalFolderDestination local, Action<string> afterUpload, Action<string> beforeDelete, Func<string, CancellationToken, Task> whileDeleting) : IExportDestination
    {
        public async Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken)
        {
            await local.UploadFileAsync(localPath, relativePath, cancellationToken);
            afterUpload(relativePath);
        }

        public Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken) => local.OpenReadAsync(relativePath, cancellationToken);
        public Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken) => local.GetFileInfoAsync(relativePath, cancellationToken);
        public async Task DeleteAsync(string relativePath, CancellationToken cancellationToken)
        {
            beforeDelete(relativePath);
            await whileDeleting(relativePath, cancellationToken);
            await local.DeleteAsync(relativePath, cancellationToken);
        }
        public string GetSinkPath(string relativePath) => local.GetSinkPath(relativePath);
        public ValueTask DisposeAsync() => local.DisposeAsync();
    }

    /// <summary>Calls back on the reporting thread (the run's writer flow), so a change happens at a known point of the run.</summary>
    private sealed class SynchronousProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}
