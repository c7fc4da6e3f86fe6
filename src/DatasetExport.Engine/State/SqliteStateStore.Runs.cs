using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.State;

public sealed partial class SqliteStateStore
{
    public const string AbandonedRunError = "The process running it stopped responding; a later run exports its batches again.";

    public void AddRun(RunRecord run)
    {
        ArgumentNullException.ThrowIfNull(run);
        Write(() => InsertRun(run));
    }

    public void AddRuns(IReadOnlyCollection<RunRecord> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        Write(() =>
        {
            // A dataset still Running fails its insert; the exception rolls back the runs inserted before it.
            foreach (var run in runs) InsertRun(run);
        });
    }

    public bool TryAddSlotRun(RunRecord run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return Write(() =>
        {
            // The redo would put the dataset into an older exportTime= folder than a later export's: the debt stays, superseded.
            if (Superseded(run)) return false;
            // The redo owed since the slot's run was abandoned is paid once: the run's insert (or its InUse refusal) goes with it.
            if (!SettleSlotRedo(run)) return false;
            InsertRun(run);
            return true;
        });
    }

    public IReadOnlyList<string> ListSlotRedos(Guid flowId, DateTimeOffset slot) => Read(() => ReadAll(
        "SELECT dataset_id FROM slot_redos WHERE flow_id = $flow_id AND slot = $slot ORDER BY dataset_id",
        row => row.Text("dataset_id"), ("$flow_id", IdText(flowId)), ("$slot", DateText(slot))));

    public IReadOnlyList<LatestExport> ListLatestExportsAfter(Guid flowId, Guid destinationId, DateTimeOffset after) => Read(() => ReadAll("""
        SELECT * FROM latest_exports WHERE flow_id = $flow_id AND destination_id = $destination_id AND scheduled_time > $after
        ORDER BY dataset_id
        """, row => new LatestExport(row.Text("dataset_id"), row.Id("run_id"), row.Date("scheduled_time"), row.Date("started_at"), row.Text("export_path")),
        ("$flow_id", IdText(flowId)), ("$destination_id", IdText(destinationId)), ("$after", DateText(after))));

    /// <summary>
    /// Whether a run of <paramref name="run"/>'s flow for a later time exported its dataset to its destination
    /// (<see cref="ListLatestExportsAfter"/>, committed since the caller read it: <paramref name="run"/> would go into an older
    /// exportTime= folder); inside the transaction that would record <paramref name="run"/>.
    /// </summary>
    private bool Superseded(RunRecord run) => Scalar("""
        SELECT 1 FROM latest_exports
        WHERE flow_id = $flow_id AND destination_id = $destination_id AND dataset_id = $dataset_id AND scheduled_time > $slot
        """, ("$flow_id", IdText(run.FlowId)), ("$destination_id", IdText(run.DestinationId)), ("$dataset_id", run.DatasetId),
        ("$slot", DateText(run.ScheduledTime))) is not null;

    /// <summary>Deletes the redo the run's slot owed its dataset, if any (whether one was owed); inside a write transaction.</summary>
    private bool SettleSlotRedo(RunRecord run) =>
        Execute("DELETE FROM slot_redos WHERE flow_id = $flow_id AND dataset_id = $dataset_id AND slot = $slot",
            ("$flow_id", IdText(run.FlowId)), ("$dataset_id", run.DatasetId), ("$slot", DateText(run.ScheduledTime))) > 0;

    /// <summary>Inserts a new run in the current transaction; the unique index refuses a second Running run of a flow and dataset.</summary>
    private void InsertRun(RunRecord run)
    {
        try
        {
            Execute("""
                INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time,
                                  started_at, completed_at, heartbeat_at, records_read, records_written, records_skipped, input_bytes,
                                  output_bytes, batch_count, export_path, manifest_path, error,
                                  records_failed, skipped_batches, manifest_sha256, retries, folder_path, left_files)
                VALUES ($id, $flow_id, $flow_name, $dataset_id, $destination_id, $destination_name, $status, $mode, $scheduled_time,
                        $started_at, $completed_at, $heartbeat_at, $records_read, $records_written, $records_skipped, $input_bytes,
                        $output_bytes, $batch_count, $export_path, $manifest_path, $error,
                        $records_failed, $skipped_batches, $manifest_sha256, $retries, $folder_path, $left_files)
                """, RunParameters(run));
            InsertFiles(run, from: 0);
            // A run of an abandoned slot's time (an export by hand in the slot's minute shares its folder) is that slot's run.
            SettleSlotRedo(run);
        }
        catch (SqliteException error) when (IsUniqueViolation(error))
        {
            throw AlreadyRunning(run, error);
        }
        catch (SqliteException error) when (IsPrimaryKeyViolation(error))
        {
            throw new StateException(StateFailure.AlreadyExists, $"A run with id {run.Id} already exists.", error);
        }
    }

    /// <summary>
    /// Running runs whose heartbeat is older than $before, read at each export and schedule. 'Running' is a literal, as in the
    /// partial index runs_one_running, so the statement is planned on that index (the few Running runs) as it is written; with
    /// the status a parameter, only SQLite's re-planning with the bound value kept it from scanning every run of the history.
    /// </summary>
    internal const string StaleRunsCondition = "WHERE status = 'Running' AND heartbeat_at < $before";

    public IReadOnlyList<RunRecord> AbandonStaleRuns(DateTimeOffset heartbeatBefore) => Write(() =>
    {
        (string, object?)[] parameters = [("$before", DateText(heartbeatBefore))];
        var runs = ReadRuns($"SELECT * FROM runs {StaleRunsCondition}", parameters);
        Execute($"UPDATE runs SET status = $abandoned, error = $error {StaleRunsCondition}",
            [.. parameters, ("$abandoned", nameof(RunStatus.Abandoned)), ("$error", AbandonedRunError)]);
        foreach (var run in runs)
        {
            run.Status = RunStatus.Abandoned;
            run.Error = AbandonedRunError;
            // A run of its flow's last slot owes the slot a redo, unless another run of the dataset there is alive or
            // finished (a redo already, or an export by hand in the slot's minute, which shares its folder), or one for the
            // slot's time succeeded (recorded at its commit, should it have been removed from the history since). Dataset ids
            // are matched case-insensitively, as in slot_redos and latest_exports (a flow's dataset respelled meanwhile).
            Execute("""
                INSERT OR IGNORE INTO slot_redos (flow_id, dataset_id, slot)
                SELECT $flow_id, $dataset_id, $slot WHERE EXISTS (SELECT 1 FROM flows WHERE id = $flow_id AND last_slot = $slot)
                  AND NOT EXISTS (SELECT 1 FROM runs WHERE flow_id = $flow_id AND dataset_id = $dataset_id COLLATE NOCASE
                                                       AND scheduled_time = $slot AND status <> 'Abandoned')
                  AND NOT EXISTS (SELECT 1 FROM latest_exports WHERE flow_id = $flow_id AND dataset_id = $dataset_id AND scheduled_time = $slot)
                """, ("$flow_id", IdText(run.FlowId)), ("$dataset_id", run.DatasetId), ("$slot", DateText(run.ScheduledTime)));
        }
        return (IReadOnlyList<RunRecord>)runs;
    });

    public void UpdateRun(RunRecord run)
    {
        ArgumentNullException.ThrowIfNull(run);
        Write(() => SaveRun(run));
    }

    // The third condition is the partial index runs_holding_files_to_remove's, word for word (literals, not parameters), so
    // the index is used; the fourth leaves out Abandoned runs whose files were removed.
    public IReadOnlyList<RunRecord> ListRunsWithFilesToRemove(Guid flowId) => ListRunsWithFilesToRemove("flow_id", flowId);

    public IReadOnlyList<RunRecord> ListRunsWithFilesToRemoveOn(Guid destinationId) => ListRunsWithFilesToRemove("destination_id", destinationId);

    private List<RunRecord> ListRunsWithFilesToRemove(string idColumn, Guid id) => Read(() => ReadRuns($"""
        SELECT * FROM runs
        WHERE {idColumn} = $id AND status <> 'Running'
          AND (left_files <> '[]' OR status = 'Abandoned')
          AND (left_files <> '[]' OR manifest_path IS NOT NULL OR EXISTS (SELECT 1 FROM run_files WHERE run_id = runs.id))
        ORDER BY started_at
        """, ("$id", IdText(id))));

    public void ForgetRemovedFiles(Guid runId, IReadOnlyCollection<string> removed) => Write(() =>
    {
        // An Abandoned run's file list and manifest no longer change; its left files may (KeepLeftFiles).
        (string, object?)[] abandoned = [("$id", IdText(runId)), ("$abandoned", nameof(RunStatus.Abandoned))];
        Execute("DELETE FROM run_files WHERE run_id = $id AND EXISTS (SELECT 1 FROM runs WHERE id = $id AND status = $abandoned)", abandoned);
        Execute("UPDATE runs SET manifest_path = NULL, manifest_sha256 = NULL WHERE id = $id AND status = $abandoned", abandoned);
        ChangeLeftFiles(runId, left => left.RemoveAll(removed.Contains));
    });

    public void KeepLeftFiles(Guid runId, IReadOnlyCollection<string> paths) => Write(() =>
        ChangeLeftFiles(runId, left => left.AddRange(paths.Except(left).ToList())));

    /// <summary>Changes the left files of a run that is no longer Running; inside a write transaction.</summary>
    private void ChangeLeftFiles(Guid runId, Action<List<string>> change)
    {
        (string, object?)[] run = [("$id", IdText(runId)), ("$running", nameof(RunStatus.Running))];
        if (ReadAll("SELECT left_files FROM runs WHERE id = $id AND status <> $running", row => row.Text("left_files"), run).SingleOrDefault() is not { } stored) return;
        var left = JsonSerializer.Deserialize(stored, StateJson.Default.ListString) ?? [];
        change(left);
        Execute("UPDATE runs SET left_files = $left_files WHERE id = $id", [.. run, ("$left_files", JsonSerializer.Serialize(left, StateJson.Default.ListString))]);
    }

    public bool Heartbeat(Guid runId, DateTimeOffset at) => Write(() =>
    {
        var alive = Execute("UPDATE runs SET heartbeat_at = $at WHERE id = $id AND status = $running",
            ("$at", DateText(at)), ("$id", IdText(runId)), ("$running", nameof(RunStatus.Running))) == 1;
        if (!alive && StoredStatus(runId) is null) throw RunNotFound(runId);
        return alive;
    });

    /// <summary>
    /// Sets <paramref name="run"/>'s Status to Succeeded and saves it with its batches in one transaction, only while the
    /// stored run is still Running (NotRunning otherwise: a run marked Abandoned meanwhile is redone elsewhere).
    /// </summary>
    public void CommitRun(RunRecord run, IReadOnlyCollection<BatchKey> batches)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(batches);
        var previousStatus = run.Status;
        run.Status = RunStatus.Succeeded;
        try
        {
            Write(() =>
            {
                SaveRun(run);
                // What the scheduler reads to leave out a slot older than this run (kept when the run is removed from the history).
                Execute("""
                    INSERT INTO latest_exports (flow_id, destination_id, dataset_id, run_id, scheduled_time, started_at, export_path)
                    SELECT $flow_id, $destination_id, $dataset_id, $run_id, $scheduled_time, $started_at, $export_path
                    WHERE EXISTS (SELECT 1 FROM flows WHERE id = $flow_id)
                    ON CONFLICT (flow_id, destination_id, dataset_id) DO UPDATE SET
                        run_id = excluded.run_id, scheduled_time = excluded.scheduled_time, started_at = excluded.started_at,
                        export_path = excluded.export_path
                    WHERE excluded.scheduled_time >= latest_exports.scheduled_time
                    """,
                    ("$flow_id", IdText(run.FlowId)), ("$destination_id", IdText(run.DestinationId)), ("$dataset_id", run.DatasetId),
                    ("$run_id", IdText(run.Id)), ("$scheduled_time", DateText(run.ScheduledTime)), ("$started_at", DateText(run.StartedAt)),
                    ("$export_path", run.ExportPath));
                foreach (var batch in batches)
                {
                    try
                    {
                        // A Full flow exports a batch again on every run: the latest run that exported it is recorded.
                        Execute("""
                            INSERT INTO exported_batches (flow_id, destination_id, dataset_id, batch_key, run_id)
                            VALUES ($flow_id, $destination_id, $dataset_id, $batch_key, $run_id)
                            ON CONFLICT (flow_id, destination_id, dataset_id, batch_key) DO UPDATE SET run_id = excluded.run_id
                            """,
                            ("$flow_id", IdText(run.FlowId)), ("$destination_id", IdText(run.DestinationId)), ("$dataset_id", run.DatasetId),
                            ("$batch_key", batch.Value), ("$run_id", IdText(run.Id)));
                    }
                    catch (SqliteException error) when (IsForeignKeyViolation(error))
                    {
                        throw new StateException(StateFailure.NotFound,
                            $"Run {run.Id} cannot be committed: its flow '{run.FlowName}' (id {run.FlowId}) has been removed.", error);
                    }
                }
            });
        }
        catch
        {
            run.Status = previousStatus;
            throw;
        }
    }

    public IReadOnlyList<(Guid RunId, StateException Refusal)> RemoveRuns(IReadOnlyCollection<Guid> runIds)
    {
        ArgumentNullException.ThrowIfNull(runIds);
        return Write(() =>
        {
            var kept = new List<(Guid, StateException)>();
            foreach (var id in runIds.Distinct())
            {
                if ((StoredRun(id) is not { } stored ? RunNotFound(id) : WhyKept(stored)) is { } refusal)
                {
                    kept.Add((id, refusal));
                    continue;
                }
                Execute("DELETE FROM run_files WHERE run_id = $id", ("$id", IdText(id)));
                Execute("DELETE FROM runs WHERE id = $id", ("$id", IdText(id)));
            }
            return (IReadOnlyList<(Guid, StateException)>)kept;
        });
    }

    /// <summary>Why a stored run must stay in the history (<see cref="RemoveRuns"/>), or null; inside a write transaction.</summary>
    private StateException? WhyKept(RunRecord run)
    {
        var which = $"Run {run.Id} (flow '{run.FlowName}', dataset '{run.DatasetId}')";
        if (run.Status == RunStatus.Running) return new(StateFailure.InUse, $"{which} is still running.");
        // Deleted through its destination only (the flow's next run there, Remove-ExportFlow, Remove-ExportDestination): once
        // that is removed, nothing will delete them, and the run may go.
        if (run.FilesToRemove.Any() && Scalar("SELECT 1 FROM destinations WHERE id = $id", ("$id", IdText(run.DestinationId))) is not null)
        {
            return new(StateFailure.InUse, $"{which} left files on destination '{run.DestinationName}' that no manifest lists; it is kept " +
                "until they are deleted, which the flow's next run, Remove-ExportFlow or Remove-ExportDestination does.");
        }
        return null;
    }

    public RunRecord? GetRun(Guid id) => Read(() => StoredRun(id));

    /// <summary>The run with this id, with its files, or null; inside a read or write.</summary>
    private RunRecord? StoredRun(Guid id) => ReadRuns("SELECT * FROM runs WHERE id = $id", ("$id", IdText(id))).SingleOrDefault();

    public IReadOnlyList<RunRecord> GetRuns(IReadOnlyCollection<Guid> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) return [];
        var idTexts = JsonSerializer.Serialize(ids.Select(IdText).Distinct().ToList(), StateJson.Default.ListString);
        return Read(() => ReadRuns("SELECT * FROM runs WHERE id IN (SELECT value FROM json_each($ids))", ("$ids", idTexts)));
    }

    public IReadOnlyList<RunRecord> ListRuns(Guid? flowId = null, RunStatus? status = null, int? last = null)
    {
        if (last is <= 0) throw new ArgumentOutOfRangeException(nameof(last), last, "The number of runs to list must be positive.");
        var (conditions, parameters) = RunFilter(flowId, status, startedAfter: null, startedBefore: null);
        var where = conditions.Count == 0 ? "" : "WHERE " + string.Join(" AND ", conditions);
        var limit = "";
        if (last is { } count)
        {
            limit = "LIMIT $last";
            parameters.Add(("$last", count));
        }
        // rowid breaks ties between runs started in the same tick: the later insert is the newer run.
        return Read(() => ReadRuns($"SELECT * FROM runs {where} ORDER BY started_at DESC, rowid DESC {limit}", [.. parameters]));
    }

    /// <summary>The WHERE conditions and parameters for runs of one flow, in one state, and/or started within a time range.</summary>
    private static (List<string> Conditions, List<(string Name, object? Value)> Parameters) RunFilter(
        Guid? flowId, RunStatus? status, DateTimeOffset? startedAfter, DateTimeOffset? startedBefore)
    {
        var conditions = new List<string>();
        var parameters = new List<(string Name, object? Value)>();
        if (flowId is { } flow)
        {
            conditions.Add("flow_id = $flow_id");
            parameters.Add(("$flow_id", IdText(flow)));
        }
        if (status is { } wanted)
        {
            conditions.Add("status = $status");
            parameters.Add(("$status", wanted.ToString()));
        }
        if (startedAfter is { } after)
        {
            conditions.Add("started_at > $started_after");
            parameters.Add(("$started_after", DateText(after)));
        }
        if (startedBefore is { } before)
        {
            conditions.Add("started_at < $started_before");
            parameters.Add(("$started_before", DateText(before)));
        }
        return (conditions, parameters);
    }

    public IEnumerable<RunRecord> EnumerateRuns(Guid? flowId = null, RunStatus? status = null, Func<string, bool>? flowNameMatches = null, int? last = null,
        DateTimeOffset? startedAfter = null, DateTimeOffset? startedBefore = null, IReadOnlySet<Guid>? orFlowIds = null)
    {
        if (last is <= 0) throw new ArgumentOutOfRangeException(nameof(last), last, "The number of runs to list must be positive.");
        var (conditions, parameters) = RunFilter(flowId, status, startedAfter, startedBefore);
        return EnumerateRunPages(conditions, parameters, flowNameMatches, last, orFlowIds);
    }

    private IEnumerable<RunRecord> EnumerateRunPages(List<string> conditions, List<(string Name, object? Value)> parameters, Func<string, bool>? flowNameMatches, int? last,
        IReadOnlySet<Guid>? orFlowIds)
    {
        var firstPage = conditions.Count == 0 ? "" : "WHERE " + string.Join(" AND ", conditions);
        // Each next page starts after the last row the previous one scanned, in the order of the runs_by_start / runs_by_flow indexes.
        var nextPage = "WHERE " + string.Join(" AND ", conditions.Append("(started_at, rowid) < ($after_started_at, $after_rowid)"));
        var returned = 0;
        (string StartedAt, long RowId)? after = null;
        while (last is null || returned < last)
        {
            var (page, scanned, lastScanned) = Read(() =>
            {
                using var command = Command(
                    $"SELECT rowid AS page_rowid, * FROM runs {(after is null ? firstPage : nextPage)} ORDER BY started_at DESC, rowid DESC LIMIT $page_size",
                    [.. parameters, ("$after_started_at", after?.StartedAt), ("$after_rowid", after?.RowId), ("$page_size", RunPageSize)]);
                using var reader = command.ExecuteReader();
                var (flowName, startedAt, rowId) = (reader.GetOrdinal("flow_name"), reader.GetOrdinal("started_at"), reader.GetOrdinal("page_rowid"));
                var flowIdColumn = reader.GetOrdinal("flow_id");
                var runs = new List<RunRecord>();
                var rows = 0;
                (string, long)? lastRow = null;
                while ((last is null || returned + runs.Count < last) && reader.Read())
                {
                    rows++;
                    lastRow = (reader.GetString(startedAt), reader.GetInt64(rowId));
                    // Only the runs whose flow name matches are read whole (with their files).
                    if (flowNameMatches is null || flowNameMatches(reader.GetString(flowName))
                        || (orFlowIds is not null && orFlowIds.Contains(Guid.Parse(reader.GetString(flowIdColumn)))))
                    {
                        runs.Add(ReadRun(reader));
                    }
                }
                AddFiles(runs);
                return (runs, rows, lastRow);
            });
            foreach (var run in page) yield return run;
            returned += page.Count;
            if (scanned < RunPageSize) yield break;
            after = lastScanned;
        }
    }

    public IReadOnlySet<string> GetExportedBatches(Guid flowId, string datasetId, Guid? destinationId = null) =>
        new HashSet<string>(ReadExportedBatches("batch_key", flowId, datasetId, destinationId), StringComparer.Ordinal);

    public IReadOnlyList<Guid> ListRunsHoldingExportedBatches(Guid flowId, string datasetId, Guid destinationId) =>
        ReadExportedBatches("run_id", flowId, datasetId, destinationId).Distinct(StringComparer.Ordinal).Select(Guid.Parse).ToList();

    /// <summary>One column (batch_key or run_id) of the exported batches of a flow's dataset, to one destination or to any.</summary>
    private List<string> ReadExportedBatches(string column, Guid flowId, string datasetId, Guid? destinationId)
    {
        ArgumentNullException.ThrowIfNull(datasetId);
        var scope = destinationId is null ? "flow_id = $flow_id" : "flow_id = $flow_id AND destination_id = $destination_id";
        (string, object?)[] parameters = [("$flow_id", IdText(flowId)), ("$destination_id", destinationId is { } id ? IdText(id) : null)];
        return Read(() =>
        {
            // Dataset ids match case-insensitively, as in the lake: the flow's runs may have recorded the id spelled otherwise.
            // The spellings are found one index seek each (a flow's keys may number millions).
            var spellings = ReadAll($"""
                WITH RECURSIVE spellings (dataset_id) AS (
                    SELECT min(dataset_id) FROM exported_batches WHERE {scope}
                    UNION ALL
                    SELECT (SELECT min(dataset_id) FROM exported_batches WHERE {scope} AND dataset_id > spellings.dataset_id)
                    FROM spellings WHERE spellings.dataset_id IS NOT NULL
                )
                SELECT dataset_id FROM spellings WHERE dataset_id IS NOT NULL
                """, row => row.Text("dataset_id"), parameters)
                .Where(spelling => string.Equals(spelling, datasetId, StringComparison.OrdinalIgnoreCase));
            return spellings.SelectMany(spelling => ReadAll($"SELECT {column} FROM exported_batches WHERE {scope} AND dataset_id = $dataset_id",
                row => row.Text(column), [.. parameters, ("$dataset_id", spelling)])).ToList();
        });
    }

    /// <summary>Writes every field of a run that is still Running in the store; never touches exported batches.</summary>
    private void SaveRun(RunRecord run)
    {
        int changed;
        try
        {
            changed = Execute("""
                UPDATE runs
                SET flow_id = $flow_id, flow_name = $flow_name, dataset_id = $dataset_id, destination_id = $destination_id,
                    destination_name = $destination_name, status = $status, mode = $mode, scheduled_time = $scheduled_time,
                    started_at = $started_at, completed_at = $completed_at, heartbeat_at = $heartbeat_at, records_read = $records_read,
                    records_written = $records_written, records_skipped = $records_skipped, input_bytes = $input_bytes,
                    output_bytes = $output_bytes, batch_count = $batch_count, export_path = $export_path, manifest_path = $manifest_path,
                    error = $error, retries = $retries,
                    records_failed = $records_failed, skipped_batches = $skipped_batches, manifest_sha256 = $manifest_sha256,
                    folder_path = $folder_path, left_files = $left_files
                WHERE id = $id AND status = $stored_status
                """, [.. RunParameters(run), ("$stored_status", nameof(RunStatus.Running))]);
        }
        catch (SqliteException error) when (IsUniqueViolation(error))
        {
            throw AlreadyRunning(run, error);
        }
        if (changed == 1)
        {
            SaveFiles(run);
            return;
        }
        var status = StoredStatus(run.Id) ?? throw RunNotFound(run.Id);
        var why = status == nameof(RunStatus.Abandoned)
            ? "another process took its process for dead and marked it Abandoned, so its slot is exported again by a later run"
            : $"it already finished as {status}";
        throw new StateException(StateFailure.NotRunning,
            $"Run {run.Id} of flow '{run.FlowName}' for dataset '{run.DatasetId}' is no longer running ({why}); it was left unchanged.");
    }

    private string? StoredStatus(Guid runId) => Scalar("SELECT status FROM runs WHERE id = $id", ("$id", IdText(runId))) as string;

    private static StateException RunNotFound(Guid runId) => new(StateFailure.NotFound, $"No run with id {runId} exists.");

    /// <summary>Names the run that holds the flow and dataset, read in the same transaction that was refused.</summary>
    private StateException AlreadyRunning(RunRecord run, Exception inner)
    {
        var holder = ReadRuns("SELECT * FROM runs WHERE flow_id = $flow_id AND dataset_id = $dataset_id AND status = $running",
            ("$flow_id", IdText(run.FlowId)), ("$dataset_id", run.DatasetId), ("$running", nameof(RunStatus.Running))).Single();
        return new StateException(StateFailure.InUse,
            $"Flow '{run.FlowName}' is already exporting dataset '{run.DatasetId}': run {holder.Id} started at {holder.StartedAt:u} " +
            $"and was last seen at {holder.HeartbeatAt:u} (a run whose process died is taken over {ExportEngine.RunLease.TotalMinutes:0} minutes after that).", inner);
    }

    private static RunRecord ReadRun(SqliteDataReader row) => new()
    {
        Id = row.Id("id"),
        FlowId = row.Id("flow_id"),
        FlowName = row.Text("flow_name"),
        DatasetId = row.Text("dataset_id"),
        DestinationId = row.Id("destination_id"),
        DestinationName = row.Text("destination_name"),
        Status = row.Enum<RunStatus>("status"),
        Mode = row.Enum<ExportMode>("mode"),
        ScheduledTime = row.Date("scheduled_time"),
        StartedAt = row.Date("started_at"),
        CompletedAt = row.NullableDate("completed_at"),
        HeartbeatAt = row.Date("heartbeat_at"),
        RecordsRead = row.Int64("records_read"),
        RecordsWritten = row.Int64("records_written"),
        RecordsSkipped = row.Int64("records_skipped"),
        InputBytes = row.Int64("input_bytes"),
        OutputBytes = row.Int64("output_bytes"),
        BatchCount = row.Int32("batch_count"),
        FolderPath = row.NullableText("folder_path"),
        ExportPath = row.Text("export_path"),
        ManifestPath = row.NullableText("manifest_path"),
        Error = row.NullableText("error"),
        RecordsFailed = row.Int64("records_failed"),
        SkippedBatches = JsonSerializer.Deserialize(row.Text("skipped_batches"), StateJson.Default.ListSkippedBatchRecord) ?? [],
        ManifestSha256 = row.NullableText("manifest_sha256"),
        Retries = row.Int32("retries"),
        LeftFiles = JsonSerializer.Deserialize(row.Text("left_files"), StateJson.Default.ListString) ?? [],
    };

    private static (string, object?)[] RunParameters(RunRecord run) =>
    [
        ("$id", IdText(run.Id)),
        ("$flow_id", IdText(run.FlowId)),
        ("$flow_name", run.FlowName),
        ("$dataset_id", run.DatasetId),
        ("$destination_id", IdText(run.DestinationId)),
        ("$destination_name", run.DestinationName),
        ("$status", run.Status.ToString()),
        ("$mode", run.Mode.ToString()),
        ("$scheduled_time", DateText(run.ScheduledTime)),
        ("$started_at", DateText(run.StartedAt)),
        ("$completed_at", DateText(run.CompletedAt)),
        ("$heartbeat_at", DateText(run.HeartbeatAt)),
        ("$records_read", run.RecordsRead),
        ("$records_written", run.RecordsWritten),
        ("$records_skipped", run.RecordsSkipped),
        ("$input_bytes", run.InputBytes),
        ("$output_bytes", run.OutputBytes),
        ("$batch_count", run.BatchCount),
        ("$folder_path", run.FolderPath),
        ("$export_path", run.ExportPath),
        ("$manifest_path", run.ManifestPath),
        ("$error", run.Error),
        ("$records_failed", run.RecordsFailed),
        ("$skipped_batches", JsonSerializer.Serialize(run.SkippedBatches, StateJson.Default.ListSkippedBatchRecord)),
        ("$manifest_sha256", run.ManifestSha256),
        ("$retries", run.Retries),
        ("$left_files", JsonSerializer.Serialize(run.LeftFiles, StateJson.Default.ListString)),
    ];

    /// <summary>Runs with their files (rows of run_files, read in one query for all of them).</summary>
    private List<RunRecord> ReadRuns(string sql, params (string Name, object? Value)[] parameters)
    {
        var runs = ReadAll(sql, ReadRun, parameters);
        AddFiles(runs);
        return runs;
    }

    /// <summary>Reads the files of <paramref name="runs"/> (rows of run_files, in one query for all of them) into them.</summary>
    private void AddFiles(List<RunRecord> runs)
    {
        if (runs.Count == 0) return;
        var byId = runs.ToDictionary(run => IdText(run.Id));
        var files = ReadAll("SELECT * FROM run_files WHERE run_id IN (SELECT value FROM json_each($ids)) ORDER BY run_id, position",
            row => (RunId: row.Text("run_id"), File: ReadFile(row)), ("$ids", JsonSerializer.Serialize(byId.Keys.ToList(), StateJson.Default.ListString)));
        foreach (var (runId, file) in files) byId[runId].Files.Add(file);
    }

    private static RunFileRecord ReadFile(SqliteDataReader row) => new()
    {
        RelativePath = row.Text("relative_path"),
        SinkPath = row.Text("sink_path"),
        Size = row.Int64("size"),
        Records = row.Int64("records"),
        Sha256 = row.Text("sha256"),
    };

    /// <summary>
    /// Brings the stored files of a run in line with <see cref="RunRecord.Files"/>, in the current transaction. A run's list only
    /// grows while it runs (or is emptied when its export starts over, with new file names): when the last file stored is still
    /// in its place, only the files after it are added, so each save costs the same however many files the run has. Any other
    /// change rewrites the list.
    /// </summary>
    private void SaveFiles(RunRecord run)
    {
        var runId = IdText(run.Id);
        var last = ReadAll("SELECT * FROM run_files WHERE run_id = $run_id ORDER BY position DESC LIMIT 1",
            row => (Position: row.Int32("position"), File: ReadFile(row)), ("$run_id", runId)).SingleOrDefault();
        var stored = last.File is null ? 0 : last.Position + 1;
        if (stored > run.Files.Count || (stored > 0 && !SameFile(run.Files[stored - 1], last.File!)))
        {
            Execute("DELETE FROM run_files WHERE run_id = $run_id", ("$run_id", runId));
            stored = 0;
        }
        InsertFiles(run, stored);
    }

    /// <summary>Stores the run's files from position <paramref name="from"/> on, in the current transaction.</summary>
    private void InsertFiles(RunRecord run, int from)
    {
        for (var position = from; position < run.Files.Count; position++)
        {
            var file = run.Files[position];
            Execute("""
                INSERT INTO run_files (run_id, position, relative_path, sink_path, size, records, sha256)
                VALUES ($run_id, $position, $relative_path, $sink_path, $size, $records, $sha256)
                """, ("$run_id", IdText(run.Id)), ("$position", position), ("$relative_path", file.RelativePath), ("$sink_path", file.SinkPath),
                ("$size", file.Size), ("$records", file.Records), ("$sha256", file.Sha256));
        }
    }

    private static bool SameFile(RunFileRecord a, RunFileRecord b) =>
        a.RelativePath == b.RelativePath && a.SinkPath == b.SinkPath && a.Size == b.Size && a.Records == b.Records && a.Sha256 == b.Sha256;
}
