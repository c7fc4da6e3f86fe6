using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using DuckDB.NET.Data;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Bench;

/// <summary>
/// How the engine copes with an admin's long use at size, not of data but of things (<c>--metadata-scale</c>): a lake of
/// 300 datasets holding 100,000 small batch files (Parquet, JSON Lines, .gz, in date= sub-folders, some datasets named by
/// their _dataset.json), 200 flows, and a state store holding a year of hourly runs of 3 flows and half a year of daily
/// runs of the others (about 80,000 runs with their files, about a million exported-batch rows). The lake and the store are
/// made once under the work folder (the store seeded by SQL in one transaction); each path is then timed, the quick ones
/// as the best of 3.
/// </summary>
internal static class MetadataScaleBenchmark
{
    private const int Datasets = 300;
    private const int BigBatches = 5_000;
    private const int FiftyFlowDatasets = 50;
    private const int HourlyFlows = 3;
    private const int HourlyRuns = 8_760;
    private const int DailyRuns = 180;
    private const int DueFlows = 5;

    public static string Run(string workFolder)
    {
        var root = Path.Combine(workFolder, "metadata-scale");
        var lake = EnsureLake(root);
        var added = Path.Combine(lake, "big", "date=2099-01-01");
        if (Directory.Exists(added)) Directory.Delete(added, recursive: true);
        var home = Path.Combine(root, "state");
        if (Directory.Exists(home)) Directory.Delete(home, recursive: true);
        var output = Path.Combine(root, "out");
        if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        var report = new StringBuilder();
        var clock = Stopwatch.StartNew();
        var seeded = Seed(home, lake, output);
        report.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Lake: {Datasets} datasets, {seeded.LakeFiles:N0} batch files; state: {seeded.Flows} flows, {seeded.Runs:N0} runs, " +
            $"{seeded.RunFiles:N0} run files, {seeded.Batches:N0} exported batches ({new FileInfo(Path.Combine(home, SqliteStateStore.DatabaseFileName)).Length / 1e6:F0} MB), seeded in {clock.Elapsed.TotalSeconds:F1} s."))
            .AppendLine()
            .AppendLine("| path | seconds |")
            .AppendLine("|---|---:|");
        void Row(string path, double seconds)
        {
            var line = string.Create(CultureInfo.InvariantCulture, $"| {path} | {seconds:F4} |");
            Console.WriteLine(line);
            report.AppendLine(line);
        }
        static double Best(int times, Action action)
        {
            var best = double.MaxValue;
            for (var i = 0; i < times; i++)
            {
                var watch = Stopwatch.StartNew();
                action();
                best = Math.Min(best, watch.Elapsed.TotalSeconds);
            }
            return best;
        }
        static double Once(Action action) => Best(1, action);

        Row("open the state store (ExportEngine.Open)", Best(3, () => ExportEngine.Open(new EngineOptions { StateHome = home }).Dispose()));
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = home });
        var state = engine.State;
        Row("Get-EligibleDataset, whole lake, first scan (reads every batch)", Once(() => engine.GetDatasets(lake, true, default)));
        Row("Get-EligibleDataset, whole lake, same session", Best(3, () => engine.GetDatasets(lake, true, default)));
        Row("Get-EligibleDataset, whole lake, new session (schemas from the store)",
            Best(3, () => new FolderLake(lake, state, new BatchSchemaCache(BatchSchemaCache.DefaultCapacity)).ListDatasetsAsync(default).GetAwaiter().GetResult()));
        var bigCache = new BatchSchemaCache(200_000);
        new FolderLake(lake, state, bigCache).ListDatasetsAsync(default).GetAwaiter().GetResult();
        Row("Get-EligibleDataset, whole lake, every schema in a 200,000-entry cache", Best(3, () => new FolderLake(lake, state, bigCache).ListDatasetsAsync(default).GetAwaiter().GetResult()));
        Row("Get-EligibleDataset ds-15*, as before: whole lake, then matched", Best(3, () => engine.GetDatasets(lake, true, default).Where(d => d.Id.StartsWith("ds-15", StringComparison.Ordinal)).ToList()));
        Row("Get-EligibleDataset ds-15* (11 datasets)", Best(3, () => engine.GetDatasets(lake, true, default, (id, name) => id.StartsWith("ds-15", StringComparison.Ordinal))));
        Row("Get-EligibleDataset -Id (folder name)", Best(3, () => engine.GetDataset(lake, "ds-150", default)));
        Row("Get-EligibleDataset -Id (id from _dataset.json)", Best(3, () => engine.GetDataset(lake, "named-dataset-7", default)));

        var flows = state.ListFlows();
        var big = flows.Single(flow => flow.Name == "hourly-0");
        var fifty = flows.Single(flow => flow.Name == "fifty");
        for (var i = 0; i < 10; i++) WriteBatch(Path.Combine(lake, "big", "date=2099-01-01"), $"new-{i:D2}", i % 3);
        Thread.Sleep(3_100); // settled: BatchSchemaCache.SettleTime
        RunRecord? bigRun = null;
        Row("Start-ExportRun, incremental, 1 dataset of 5,010 batches, 10 new", Once(() => bigRun = engine.RunFlowAsync(big, lake, null, default).GetAwaiter().GetResult().Single()));
        Check(bigRun!, 10);
        IReadOnlyList<RunRecord> fiftyRuns = [];
        Row("Start-ExportRun, incremental, 50 datasets, first run (exports every batch)", Once(() => fiftyRuns = engine.RunFlowAsync(fifty, lake, null, default).GetAwaiter().GetResult()));
        foreach (var run in fiftyRuns) Check(run, null);
        Row("Start-ExportRun, incremental, 50 datasets, nothing new", Best(3, () => engine.RunFlowAsync(fifty, lake, null, default).GetAwaiter().GetResult().ToList().ForEach(run => Check(run, 0))));

        var named = flows.Single(flow => flow.Name == "named");
        Row("Start-ExportRun, incremental, 1 dataset named by _dataset.json, first run", Once(() => Check(engine.RunFlowAsync(named, lake, null, default).GetAwaiter().GetResult().Single(), null)));
        Row("Start-ExportRun, incremental, 1 dataset named by _dataset.json, nothing new", Best(3, () => Check(engine.RunFlowAsync(named, lake, null, default).GetAwaiter().GetResult().Single(), 0)));

        Row("finding stale runs (every Start-ExportRun, Invoke-ExportSchedule, Remove-ExportFlow)", Best(3, () => state.AbandonStaleRuns(DateTimeOffset.UtcNow - ExportEngine.RunLease)));
        Row("Invoke-ExportSchedule -WhatIf, 200 flows (GetDueFlows)", Best(3, () => engine.GetDueFlows()));
        IReadOnlyList<RunRecord> dueRuns = [];
        Row($"Invoke-ExportSchedule, 200 flows, {DueFlows} due", Once(() => dueRuns = engine.RunDueFlowsAsync(lake, null, null, default).GetAwaiter().GetResult()));
        if (dueRuns.Count != DueFlows) throw new InvalidOperationException($"{dueRuns.Count} due runs instead of {DueFlows}.");
        Row("Invoke-ExportSchedule, 200 flows, none due", Best(3, () => engine.RunDueFlowsAsync(lake, null, null, default).GetAwaiter().GetResult()));

        Row("Get-ExportRun -Flow hourly-1", Best(3, () => state.ListRuns(flows.Single(f => f.Name == "hourly-1").Id)));
        long held = 0, pagedPeak = 0;
        Row("Get-ExportRun (every run), as before: read in one list", Once(() =>
        {
            var baseline = GC.GetTotalMemory(true);
            var all = state.ListRuns();
            held = GC.GetTotalMemory(true) - baseline;
            GC.KeepAlive(all);
        }));
        Row(string.Create(CultureInfo.InvariantCulture, $"... ({held / 1e6:F0} MB held by the list)"), 0);
        var listedRuns = 0;
        Row("Get-ExportRun (every run)", Once(() => listedRuns = state.EnumerateRuns().Count()));
        Once(() =>
        {
            var baseline = GC.GetTotalMemory(true);
            var count = 0;
            foreach (var _ in state.EnumerateRuns())
            {
                if (++count % 5000 == 0) pagedPeak = Math.Max(pagedPeak, GC.GetTotalMemory(true) - baseline);
            }
        });
        Row(string.Create(CultureInfo.InvariantCulture, $"... ({listedRuns:N0} runs; at most {pagedPeak / 1e6:F1} MB held while reading them a page at a time)"), 0);
        Row("Get-ExportRun -Flow hourly-* -Last 20, as before: every run read, then matched",
            Best(3, () => state.ListRuns().Where(run => run.FlowName.StartsWith("hourly-", StringComparison.Ordinal)).Take(20).ToList()));
        Row("Get-ExportRun -Flow hourly-* -Last 20", Best(3, () => state.EnumerateRuns(flowNameMatches: name => name.StartsWith("hourly-", StringComparison.Ordinal), last: 20).ToList()));
        Row("Get-ExportRun -Flow daily-* -Status Failed", Best(3, () => state.EnumerateRuns(null, RunStatus.Failed, name => name.StartsWith("daily-", StringComparison.Ordinal)).ToList()));
        Row("Get-ExportRun -Last 20", Best(3, () => state.ListRuns(last: 20)));
        Row("Get-ExportRun -Status Failed", Best(3, () => state.ListRuns(status: RunStatus.Failed)));
        Row("Get-ExportRun -Status Failed -Last 20", Best(3, () => state.ListRuns(status: RunStatus.Failed, last: 20)));
        Row("Get-ExportRun -Flow daily-9 -Status Failed -Last 5", Best(3, () => state.ListRuns(flows.Single(f => f.Name == "daily-9").Id, RunStatus.Failed, 5)));
        Row("Get-ExportFlow (status of 200 flows)", Best(3, () => flows.Select(engine.GetFlowStatus).ToList()));
        var holding = 0;
        Row("Test-ExportRun -Flow hourly-0: the runs to verify", Best(3, () => holding = engine.GetRunsHoldingExports(big).Sum(pair => pair.Runs.Count)));
        Row($"... ({holding:N0} runs; verifying them reads each from the destination)", 0);
        var yearOfRuns = state.ListRuns(flows.Single(f => f.Name == "hourly-1").Id).Select(run => run.Id).ToList();
        var kept = 0;
        // As Get-ExportRun | Remove-ExportRun: the runs come listed, and the store reads each as it removes it.
        Row(string.Create(CultureInfo.InvariantCulture, $"Remove-ExportRun, a year of hourly-1 ({yearOfRuns.Count:N0} runs): removed 500 per transaction"), Once(() =>
        {
            foreach (var chunk in yearOfRuns.Chunk(500)) kept += engine.RemoveRuns(chunk).Count;
        }));
        Row($"... ({kept} kept)", 0);
        Row("Remove-ExportFlow daily-20 (180 runs of history)", Once(() => engine.RemoveFlowAsync(flows.Single(f => f.Name == "daily-20"), default).GetAwaiter().GetResult()));
        Row("Remove-ExportFlow hourly-2 (8,760 runs of history)", Once(() => engine.RemoveFlowAsync(flows.Single(f => f.Name == "hourly-2"), default).GetAwaiter().GetResult()));
        Row($"Remove-ExportDestination (no flow, {seeded.RetiredBatches:N0} exported batches)", Once(() => engine.RemoveDestinationAsync(state.FindDestination("retired")!, default).GetAwaiter().GetResult()));
        return report.ToString();
    }

    private static void Check(RunRecord run, int? batches)
    {
        if (run.Status != RunStatus.Succeeded || (batches is { } expected && run.BatchCount != expected))
        {
            throw new InvalidOperationException($"Run of {run.DatasetId}: {run.Status}, {run.BatchCount} batches, {run.Error}");
        }
    }

    private sealed record Seeded(int LakeFiles, int Flows, int Runs, int RunFiles, int Batches, int RetiredBatches);

    /// <summary>
    /// 300 datasets: 'big' (5,000 batches), fifty-00..49 (150 each), due-0..4 (3 each), and ds-NNN sharing the rest of
    /// 100,000; every 20th ds-NNN is named by its _dataset.json (named-dataset-N). Formats rotate: Parquet, JSON Lines, .jsonl.gz.
    /// </summary>
    private static string EnsureLake(string root)
    {
        var lake = Path.Combine(root, "lake");
        if (File.Exists(Path.Combine(lake, ".complete"))) return lake;
        if (Directory.Exists(lake)) Directory.Delete(lake, recursive: true);
        Directory.CreateDirectory(lake);
        ParquetTemplate = Path.Combine(root, "template.parquet");
        using (var connection = new DuckDBConnection("DataSource=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"COPY (SELECT 1::BIGINT AS id, 'a' AS user) TO {Sql.Quote(ParquetTemplate)} (FORMAT parquet)";
            command.ExecuteNonQuery();
        }
        var datasets = new List<(string Folder, int Batches)> { ("big", BigBatches) };
        datasets.AddRange(Enumerable.Range(0, FiftyFlowDatasets).Select(i => ($"fifty-{i:D2}", 150)));
        datasets.AddRange(Enumerable.Range(0, DueFlows).Select(i => ($"due-{i}", 3)));
        var rest = Datasets - datasets.Count;
        var left = 100_000 - datasets.Sum(d => d.Batches);
        datasets.AddRange(Enumerable.Range(0, rest).Select(i => ($"ds-{i:D3}", left / rest + (i < left % rest ? 1 : 0))));
        foreach (var (folder, batches) in datasets)
        {
            var path = Path.Combine(lake, folder);
            Directory.CreateDirectory(path);
            if (folder.StartsWith("ds-", StringComparison.Ordinal) && int.Parse(folder[3..], CultureInfo.InvariantCulture) % 20 == 7)
            {
                File.WriteAllText(Path.Combine(path, FolderLake.MetadataFileName), $$"""{"id":"named-dataset-{{int.Parse(folder[3..], CultureInfo.InvariantCulture) / 20}}"}""");
            }
            var format = folder.GetHashCode(StringComparison.Ordinal) & 0x7fffffff;
            for (var batch = 0; batch < batches; batch++)
            {
                WriteBatch(Path.Combine(path, $"date=2026-{1 + batch / 500 % 12:D2}-{1 + batch / 20 % 25:D2}"), $"batch-{batch:D5}", folder == "big" ? batch % 3 : format % 3);
            }
        }
        // Written more than SettleTime ago once the benchmark runs: every batch's schema may be kept.
        File.WriteAllText(Path.Combine(lake, ".complete"), "");
        return lake;
    }

    private static string? ParquetTemplate;

    private static void WriteBatch(string folder, string name, int format)
    {
        Directory.CreateDirectory(folder);
        const string lines = "{\"id\":1,\"user\":\"a\"}\n{\"id\":2,\"user\":\"b\"}\n";
        switch (format)
        {
            case 0:
                File.Copy(ParquetTemplate ?? Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(folder))!)!, "template.parquet"), Path.Combine(folder, name + ".parquet"));
                break;
            case 1:
                File.WriteAllText(Path.Combine(folder, name + ".jsonl"), lines);
                break;
            default:
                using (var gzip = new GZipStream(File.Create(Path.Combine(folder, name + ".jsonl.gz")), CompressionLevel.Fastest))
                {
                    gzip.Write(Encoding.UTF8.GetBytes(lines));
                }
                break;
        }
    }

    /// <summary>
    /// Destinations, flows and runs. Flows through the store; the history by SQL, as the store writes it: hourly-0..2 (one
    /// dataset each: 'big' for hourly-0, whose runs exported the 5,000 batches 'big' holds, 10 per run from the oldest), daily
    /// flows of one or two ds-NNN datasets, 'fifty' (manual, the fifty-NN datasets), due-0..4 (hourly, a slot due). One run in
    /// 50 failed, one in 1,000 was abandoned. A 'retired' destination no flow uses holds 100,000 exported batches of daily flows
    /// pointed away from it.
    /// </summary>
    private static Seeded Seed(string home, string lake, string output)
    {
        var now = DateTimeOffset.UtcNow;
        var thisHour = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero);
        var flows = new List<FlowRecord>();
        Guid destinationId, retiredId;
        using (var store = SqliteStateStore.Open(home))
        {
            var destination = new DestinationSettings { Name = "local", Type = DestinationType.Local, Properties = { [DestinationKeys.Path] = output } };
            store.AddDestination(destination);
            var retired = new DestinationSettings { Name = "retired", Type = DestinationType.Local, Properties = { [DestinationKeys.Path] = output + "-retired" } };
            store.AddDestination(retired);
            (destinationId, retiredId) = (destination.Id, retired.Id);
            FlowRecord Flow(string name, List<string> datasets, ExportMode mode, ScheduleKind kind, DateTimeOffset? lastSlot) => new()
            {
                Name = name, DestinationId = destination.Id, DatasetIds = datasets, Mode = mode, ScheduleKind = kind,
                EveryHours = kind == ScheduleKind.Hourly ? 1 : null, At = kind == ScheduleKind.Daily ? "02:00" : null,
                LastSlot = lastSlot, CreatedAt = now, ModifiedAt = now,
            };
            for (var i = 0; i < HourlyFlows; i++) flows.Add(Flow($"hourly-{i}", [i == 0 ? "big" : $"ds-{i:D3}"], ExportMode.Incremental, ScheduleKind.Hourly, thisHour.AddHours(1)));
            for (var i = 0; flows.Count < 200 - 2 - DueFlows; i++)
            {
                List<string> datasets = i % 2 == 0 ? [$"ds-{10 + i:D3}"] : [$"ds-{10 + i:D3}", $"ds-{200 + i % 80:D3}"];
                flows.Add(Flow($"daily-{i}", datasets, i % 3 == 0 ? ExportMode.Full : ExportMode.Incremental, ScheduleKind.Daily, now.AddDays(1)));
            }
            flows.Add(Flow("named", ["named-dataset-7"], ExportMode.Incremental, ScheduleKind.Manual, null));
            flows.Add(Flow("fifty", Enumerable.Range(0, FiftyFlowDatasets).Select(i => $"fifty-{i:D2}").ToList(), ExportMode.Incremental, ScheduleKind.Manual, null));
            for (var i = 0; i < DueFlows; i++) flows.Add(Flow($"due-{i}", [$"due-{i}"], ExportMode.Incremental, ScheduleKind.Hourly, thisHour.AddHours(-3)));
            foreach (var flow in flows) store.AddFlow(flow);
        }

        var bigKeys = new FolderLakeKeys(Path.Combine(lake, "big")).Keys;
        int runs = 0, files = 0, batches = 0, retiredBatches = 0;
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(home, SqliteStateStore.DatabaseFileName), Pooling = false }.ToString());
        connection.Open();
        using var transaction = connection.BeginTransaction();
        var insertRun = Prepare(connection, transaction, """
            INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at,
                              completed_at, heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count,
                              export_path, manifest_path, error, folder_path)
            VALUES ($id, $flow_id, $flow_name, $dataset_id, $destination_id, 'local', $status, $mode, $time, $time, $time, $time, 20, 20, 0, 2000, 1000, 10,
                    $export_path, $manifest_path, $error, '')
            """, "$id", "$flow_id", "$flow_name", "$dataset_id", "$destination_id", "$status", "$mode", "$time", "$export_path", "$manifest_path", "$error");
        var insertFile = Prepare(connection, transaction, """
            INSERT INTO run_files (run_id, position, relative_path, sink_path, size, records, sha256)
            VALUES ($run_id, 0, $path, $sink, 1000, 20, '00000000000000000000000000000000000000000000000000000000000000aa')
            """, "$run_id", "$path", "$sink");
        var insertBatch = Prepare(connection, transaction, """
            INSERT INTO exported_batches (flow_id, destination_id, dataset_id, batch_key, run_id) VALUES ($flow_id, $destination_id, $dataset_id, $key, $run_id)
            ON CONFLICT DO UPDATE SET run_id = excluded.run_id
            """, "$flow_id", "$destination_id", "$dataset_id", "$key", "$run_id");
        // Whether the run succeeded (its keys are recorded).
        bool AddRun(FlowRecord flow, string datasetId, DateTimeOffset slot, int index, IEnumerable<string> keys, Guid destination)
        {
            var id = Guid.NewGuid().ToString("D");
            var status = index % 1000 == 999 ? "Abandoned" : index % 50 == 49 ? "Failed" : "Succeeded";
            var exportPath = $"{datasetId}/exportTime={slot.UtcDateTime:yyyyMMddHHmm}";
            Bind(insertRun, id, flow.Id.ToString("D"), flow.Name, datasetId, destination.ToString("D"), status, flow.Mode.ToString(),
                slot.UtcDateTime.ToString(SqliteStateStore.DateFormat, CultureInfo.InvariantCulture), exportPath, $"{exportPath}/manifest.json",
                status == "Failed" ? "Upload failed: 503 Service Unavailable" : status == "Abandoned" ? SqliteStateStore.AbandonedRunError : null);
            insertRun.ExecuteNonQuery();
            runs++;
            if (status == "Failed") return false;
            Bind(insertFile, id, $"{exportPath}/part-00000.json", Path.Combine(output, exportPath, "part-00000.json"));
            insertFile.ExecuteNonQuery();
            files++;
            if (status != "Succeeded") return false;
            foreach (var key in keys)
            {
                Bind(insertBatch, flow.Id.ToString("D"), destination.ToString("D"), datasetId, key, id);
                insertBatch.ExecuteNonQuery();
                batches++;
                if (destination == retiredId) retiredBatches++;
            }
            return true;
        }
        foreach (var flow in flows)
        {
            if (flow.Name.StartsWith("hourly-", StringComparison.Ordinal))
            {
                // A failed or abandoned run's batches are exported by the next run.
                var pending = 0;
                for (var i = 0; i < HourlyRuns; i++)
                {
                    var slot = thisHour.AddHours(i - HourlyRuns);
                    var upTo = flow.Name == "hourly-0" ? (i + 1) * BigBatches / HourlyRuns : 0;
                    var keys = flow.Name == "hourly-0"
                        ? bigKeys.Skip(pending).Take(upTo - pending).ToList()
                        : Enumerable.Range(0, 10).Select(b => $"date=x/batch-{i:D5}-{b}.jsonl|40|{slot.UtcTicks}").ToList();
                    if (AddRun(flow, flow.DatasetIds[0], slot, i, keys, destinationId)) pending = upTo;
                }
            }
            else if (flow.Name.StartsWith("daily-", StringComparison.Ordinal))
            {
                var index = int.Parse(flow.Name[6..], CultureInfo.InvariantCulture);
                for (var day = 0; day < DailyRuns; day++)
                {
                    var slot = thisHour.Date.AddDays(day - DailyRuns).AddHours(2);
                    foreach (var datasetId in flow.DatasetIds)
                    {
                        // The first 20 daily flows exported to 'retired' before they were pointed at 'local'.
                        var to = index < 20 && day < 90 ? retiredId : destinationId;
                        AddRun(flow, datasetId, new DateTimeOffset(slot, TimeSpan.Zero), day, Enumerable.Range(0, 28).Select(b => $"date=x/batch-{day:D3}-{b}.parquet|400|{slot.Ticks}"), to);
                    }
                }
            }
        }
        transaction.Commit();
        return new Seeded(Directory.EnumerateFiles(lake, "*", SearchOption.AllDirectories).Count(file => !Path.GetFileName(file).StartsWith('.') && !Path.GetFileName(file).StartsWith('_')),
            flows.Count, runs, files, batches, retiredBatches);
    }

    /// <summary>The batch keys of a dataset folder as the lake lists them.</summary>
    private sealed class FolderLakeKeys(string folder)
    {
        public IReadOnlyList<string> Keys { get; } = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(file => !Path.GetFileName(file).StartsWith('_'))
            .Select(file => new FileInfo(file))
            .Select(info => new BatchKey(Path.GetRelativePath(folder, info.FullName).Replace(Path.DirectorySeparatorChar, '/'), info.Length,
                new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero)).Value)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static SqliteCommand Prepare(SqliteConnection connection, SqliteTransaction transaction, string sql, params string[] names)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var name in names) command.Parameters.Add(new SqliteParameter { ParameterName = name });
        command.Prepare();
        return command;
    }

    private static void Bind(SqliteCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++) command.Parameters[i].Value = values[i] ?? DBNull.Value;
    }
}
