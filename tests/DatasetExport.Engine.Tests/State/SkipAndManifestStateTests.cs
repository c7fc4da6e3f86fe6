using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

/// <summary>The flow skip options and the run counters, skipped batches and manifest hash: stored, read back, and migrated.</summary>
public sealed class SkipAndManifestStateTests : IDisposable
{
    private readonly TempFolder _home = new("de-state-skip");

    public void Dispose() => _home.Dispose();

    [Fact]
    public void Skip_options_and_skip_counts_round_trip()
    {
        using var store = SqliteStateStore.Open(_home.Path);
        var destination = StateSamples.Destination();
        store.AddDestination(destination);
        var flow = StateSamples.Flow(destination.Id);
        flow.SkipInvalidBatches = true;
        store.AddFlow(flow);
        Assert.Equal((false, true), (store.GetFlow(flow.Id)!.SkipInvalidRecords, store.GetFlow(flow.Id)!.SkipInvalidBatches));
        flow.SkipInvalidRecords = true;
        flow.SkipInvalidBatches = false;
        store.UpdateFlow(flow);
        Assert.Equal((true, false), (store.GetFlow(flow.Id)!.SkipInvalidRecords, store.GetFlow(flow.Id)!.SkipInvalidBatches));

        var run = StateSamples.Run(flow);
        store.AddRun(run);
        run.RecordsSkipped = 3;
        run.RecordsFailed = 70;
        run.SkippedBatches.Add(new SkippedBatchRecord("day=1/b.parquet", "Batch 'day=1/b.parquet' cannot be exported: row group 1: bad page"));
        run.ManifestPath = "sales.orders/exportTime=202603141159/manifest.json.gpg";
        run.ManifestSha256 = new string('a', 64);
        store.CommitRun(run, []);

        var stored = store.GetRun(run.Id)!;
        Assert.Equal((3L, 70L, 1), (stored.RecordsSkipped, stored.RecordsFailed, stored.BatchesSkipped));
        Assert.Equal(run.SkippedBatches, stored.SkippedBatches);
        Assert.Equal(run.ManifestSha256, stored.ManifestSha256);
    }

    [Fact]
    public void A_version_1_database_gets_the_new_columns_with_strict_defaults()
    {
        var path = _home.Combine(SqliteStateStore.DatabaseFileName);
        var (flowId, runId) = (Guid.NewGuid(), Guid.NewGuid());
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, ForeignKeys = false }.ToString()))
        {
            connection.Open();
            StateSchema.Migrate(connection, path, [StateSchema.Migrations[0]]);
            using var insert = connection.CreateCommand();
            insert.CommandText = $"""
                INSERT INTO flows (id, name, name_key, destination_id, dataset_ids, mode, enabled, schedule_kind, time_zone, created_at, modified_at)
                VALUES ('{flowId:D}', 'old', 'OLD', '{Guid.NewGuid():D}', '["web"]', 'Full', 1, 'Manual', 'UTC', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at,
                                  heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count, export_path,
                                  manifest_path, files)
                VALUES ('{runId:D}', '{flowId:D}', 'old', 'web', '{Guid.NewGuid():D}', 'dest', 'Succeeded', 'Full', '2026-01-01T00:00:00.0000000Z',
                        '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', 5, 5, 0, 10, 10, 1, 'web/exportTime=202601010000',
                        'web/exportTime=202601010000/manifest.json', '[]');
                """;
            insert.ExecuteNonQuery();
        }

        using var store = SqliteStateStore.Open(_home.Path);

        var flow = store.GetFlow(flowId)!;
        Assert.Equal((false, false), (flow.SkipInvalidRecords, flow.SkipInvalidBatches));
        var run = store.GetRun(runId)!;
        Assert.Equal((0L, 0), (run.RecordsFailed, run.BatchesSkipped));
        Assert.Empty(run.SkippedBatches);
        Assert.Null(run.ManifestSha256);
        Assert.Equal("web/exportTime=202601010000/manifest.json", run.ManifestPath);
    }
}
