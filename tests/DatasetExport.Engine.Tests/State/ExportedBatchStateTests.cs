using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

/// <summary>The batches a flow exported, kept per destination and dataset: committed, looked up, migrated, forgotten.</summary>
public sealed class ExportedBatchStateTests : IDisposable
{
    private readonly TempFolder _home = new("de-state-exported");

    public void Dispose() => _home.Dispose();

    private static BatchKey Key(string name) => new(name, 100, StateSamples.Noon);

    [Fact]
    public void Batches_are_kept_per_destination_and_the_dataset_id_matches_in_any_case()
    {
        using var store = SqliteStateStore.Open(_home.Path);
        var first = StateSamples.Destination("first");
        var second = StateSamples.Destination("second");
        store.AddDestination(first);
        store.AddDestination(second);
        var flow = StateSamples.Flow(first.Id);
        store.AddFlow(flow);
        var toFirst = StateSamples.Run(flow, "Sales.Orders");
        store.AddRun(toFirst);
        store.CommitRun(toFirst, [Key("a.parquet"), Key("b.parquet")]);
        flow.DestinationId = second.Id;
        store.UpdateFlow(flow);
        var toSecond = StateSamples.Run(flow, "sales.orders", StateSamples.Noon.AddHours(1));
        store.AddRun(toSecond);
        store.CommitRun(toSecond, [Key("b.parquet"), Key("c.parquet")]);

        Assert.Equal([Key("a.parquet").Value, Key("b.parquet").Value], store.GetExportedBatches(flow.Id, "SALES.ORDERS", first.Id).Order());
        Assert.Equal([Key("b.parquet").Value, Key("c.parquet").Value], store.GetExportedBatches(flow.Id, "sales.orders", second.Id).Order());
        Assert.Equal(3, store.GetExportedBatches(flow.Id, "sales.ORDERS").Count);
        Assert.Empty(store.GetExportedBatches(flow.Id, "sales.customers"));
        // The runs holding those batches there: on the second destination, b's latest copy is the second run's.
        Assert.Equal([toFirst.Id], store.ListRunsHoldingExportedBatches(flow.Id, "SALES.orders", first.Id));
        Assert.Equal([toSecond.Id], store.ListRunsHoldingExportedBatches(flow.Id, "Sales.Orders", second.Id));
        Assert.Empty(store.ListRunsHoldingExportedBatches(flow.Id, "sales.customers", second.Id));

        // A destination removed takes what was exported there with it: one made anew under its name starts empty.
        store.RemoveDestination(first.Id);
        Assert.Empty(store.GetExportedBatches(flow.Id, "sales.orders", first.Id));
        Assert.Equal(2, store.GetExportedBatches(flow.Id, "sales.orders").Count);
    }

    [Fact]
    public void A_version_5_database_keeps_each_exported_batch_under_the_destination_of_the_run_that_exported_it()
    {
        var path = _home.Combine(SqliteStateStore.DatabaseFileName);
        var (flowId, first, second) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var (firstRun, secondRun) = (Guid.NewGuid(), Guid.NewGuid());
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, ForeignKeys = false }.ToString()))
        {
            connection.Open();
            StateSchema.Migrate(connection, path, StateSchema.Migrations.Take(5).ToList());
            using var insert = connection.CreateCommand();
            insert.CommandText = $"""
                INSERT INTO flows (id, name, name_key, destination_id, dataset_ids, mode, enabled, schedule_kind, time_zone, created_at, modified_at)
                VALUES ('{flowId:D}', 'old', 'OLD', '{second:D}', '["web"]', 'Incremental', 1, 'Manual', 'UTC', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at,
                                  heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count, export_path, files)
                VALUES ('{firstRun:D}', '{flowId:D}', 'old', 'web', '{first:D}', 'first', 'Succeeded', 'Incremental', '2026-01-01T00:00:00.0000000Z',
                        '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', 5, 5, 0, 10, 10, 1, 'web/exportTime=202601010000', '[]'),
                       ('{secondRun:D}', '{flowId:D}', 'old', 'web', '{second:D}', 'second', 'Succeeded', 'Incremental', '2026-01-02T00:00:00.0000000Z',
                        '2026-01-02T00:00:00.0000000Z', '2026-01-02T00:00:00.0000000Z', 5, 5, 0, 10, 10, 1, 'web/exportTime=202601020000', '[]');
                INSERT INTO exported_batches (flow_id, dataset_id, batch_key, run_id)
                VALUES ('{flowId:D}', 'web', 'a.jsonl|10|1', '{firstRun:D}'), ('{flowId:D}', 'web', 'b.jsonl|10|2', '{secondRun:D}');
                """;
            insert.ExecuteNonQuery();
        }

        using var store = SqliteStateStore.Open(_home.Path);

        Assert.Equal(["a.jsonl|10|1"], store.GetExportedBatches(flowId, "web", first));
        Assert.Equal(["b.jsonl|10|2"], store.GetExportedBatches(flowId, "web", second));
        Assert.Null(store.GetRun(firstRun)!.FolderPath); // version 7: older runs do not know their folder
        Assert.Empty(store.GetRun(firstRun)!.LeftFiles); // version 8: nor left files
    }

    [Fact]
    public void A_version_9_database_reads_back_its_runs_files_and_exported_batches_and_its_runs_can_then_be_removed_keeping_them()
    {
        var path = _home.Combine(SqliteStateStore.DatabaseFileName);
        var (flowId, destinationId, done, dead) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, ForeignKeys = false }.ToString()))
        {
            connection.Open();
            StateSchema.Migrate(connection, path, StateSchema.Migrations.Take(9).ToList());
            using var insert = connection.CreateCommand();
            insert.CommandText = $"""
                INSERT INTO destinations (id, name, name_key, type, file_type, compression, include_manifest, max_file_size_mb, folder_path,
                                          properties, created_at, modified_at)
                VALUES ('{destinationId:D}', 'd', 'D', 'Local', 'Json', 'None', 1, 64, 'exports', '[]',
                        '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO flows (id, name, name_key, destination_id, dataset_ids, mode, enabled, schedule_kind, time_zone, created_at, modified_at)
                VALUES ('{flowId:D}', 'old', 'OLD', '{destinationId:D}', '["web"]', 'Incremental', 1, 'Manual', 'UTC', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at, completed_at,
                                  heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count, export_path,
                                  manifest_path, manifest_sha256, folder_path, left_files)
                VALUES ('{done:D}', '{flowId:D}', 'old', 'web', '{destinationId:D}', 'd', 'Succeeded', 'Incremental', '2026-01-01T00:00:00.0000000Z',
                        '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:01:00.0000000Z', '2026-01-01T00:01:00.0000000Z', 5, 5, 0, 10, 10, 2,
                        'web/exportTime=202601010000', 'web/exportTime=202601010000/manifest-1.json', 'abc', 'exports', '[]'),
                       ('{dead:D}', '{flowId:D}', 'old', 'web', '{destinationId:D}', 'd', 'Abandoned', 'Incremental', '2026-01-02T00:00:00.0000000Z',
                        '2026-01-02T00:00:00.0000000Z', NULL, '2026-01-02T00:00:00.0000000Z', 0, 0, 0, 0, 0, 0,
                        'web/exportTime=202601020000', NULL, NULL, 'exports', '["web/exportTime=202601020000/part-9.json"]');
                INSERT INTO run_files (run_id, position, relative_path, sink_path, size, records, sha256)
                VALUES ('{done:D}', 0, 'web/exportTime=202601010000/part-0.json', '/x/part-0.json', 7, 5, 'aa'),
                       ('{dead:D}', 0, 'web/exportTime=202601020000/part-0.json', '/x/part-1.json', 3, 1, 'bb');
                INSERT INTO exported_batches (flow_id, destination_id, dataset_id, batch_key, run_id)
                VALUES ('{flowId:D}', '{destinationId:D}', 'web', 'a.jsonl|10|1', '{done:D}'), ('{flowId:D}', '{destinationId:D}', 'web', 'b.jsonl|10|2', '{done:D}');
                """;
            insert.ExecuteNonQuery();
        }

        using var store = SqliteStateStore.Open(_home.Path);

        var read = store.GetRun(done)!;
        Assert.Equal((RunStatus.Succeeded, 5L, 2, "exports", "abc"), (read.Status, read.RecordsWritten, read.BatchCount, read.FolderPath, read.ManifestSha256));
        Assert.Equal([("web/exportTime=202601010000/part-0.json", 7L, "aa")], read.Files.Select(file => (file.RelativePath, file.Size, file.Sha256)));
        Assert.Equal(["web/exportTime=202601020000/part-0.json", "web/exportTime=202601020000/part-9.json"], store.GetRun(dead)!.FilesToRemove);
        Assert.Equal([dead], store.ListRunsWithFilesToRemove(flowId).Select(run => run.Id));
        Assert.Equal(["a.jsonl|10|1", "b.jsonl|10|2"], store.GetExportedBatches(flowId, "WEB", destinationId).Order());
        Assert.Equal([done], store.ListRunsHoldingExportedBatches(flowId, "web", destinationId));

        // Version 10: the run that exported them can go; what it exported stays.
        var kept = Assert.Single(store.RemoveRuns([done, dead]));
        Assert.Equal((dead, StateFailure.InUse), (kept.RunId, kept.Refusal.Failure));
        Assert.Null(store.GetRun(done));
        Assert.Equal(2, store.GetExportedBatches(flowId, "web", destinationId).Count);
        Assert.Equal([done], store.ListRunsHoldingExportedBatches(flowId, "web", destinationId));
    }
}
