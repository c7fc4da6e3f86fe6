using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.State;

/// <summary>
/// The state database's schema and its forward migrations. <c>PRAGMA user_version</c> holds the number of
/// migrations applied; each migration runs in its own IMMEDIATE transaction together with the version bump, so
/// several processes opening an old database at once apply each step exactly once. Migrations are only ever
/// appended: a released step is never edited.
/// </summary>
internal static class StateSchema
{
    /// <summary>"DSEX": marks the file as DatasetExport state, so another application's SQLite file is never adopted.</summary>
    public const int ApplicationId = 0x44534558;

    internal static readonly IReadOnlyList<string> Migrations =
    [
        // 1: the first schema.
        $"""
        PRAGMA application_id = {ApplicationId};

        CREATE TABLE options (
            name  TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            value TEXT NOT NULL
        );

        -- name_key is the name upper-cased (invariant culture): names are unique case-insensitively, beyond ASCII too.
        CREATE TABLE destinations (
            id                TEXT NOT NULL PRIMARY KEY,
            name              TEXT NOT NULL,
            name_key          TEXT NOT NULL UNIQUE,
            type              TEXT NOT NULL,
            file_type         TEXT NOT NULL,
            compression       TEXT NOT NULL,
            include_manifest  INTEGER NOT NULL,
            max_file_size_mb  INTEGER NOT NULL,
            folder_path       TEXT NOT NULL,
            properties        TEXT NOT NULL,
            protected_secrets TEXT,
            created_at        TEXT NOT NULL,
            modified_at       TEXT NOT NULL
        );

        CREATE TABLE flows (
            id             TEXT NOT NULL PRIMARY KEY,
            name           TEXT NOT NULL,
            name_key       TEXT NOT NULL UNIQUE,
            destination_id TEXT NOT NULL REFERENCES destinations (id),
            dataset_ids    TEXT NOT NULL,
            mode           TEXT NOT NULL,
            enabled        INTEGER NOT NULL,
            schedule_kind  TEXT NOT NULL,
            every_hours    INTEGER,
            at_time        TEXT,
            cron           TEXT,
            start_time     TEXT,
            end_time       TEXT,
            time_zone      TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            modified_at    TEXT NOT NULL
        );
        CREATE INDEX flows_by_destination ON flows (destination_id);

        -- Runs are history: they keep the flow's and destination's names and outlive both.
        CREATE TABLE runs (
            id               TEXT NOT NULL PRIMARY KEY,
            flow_id          TEXT NOT NULL,
            flow_name        TEXT NOT NULL,
            dataset_id       TEXT NOT NULL,
            destination_id   TEXT NOT NULL,
            destination_name TEXT NOT NULL,
            status           TEXT NOT NULL,
            mode             TEXT NOT NULL,
            scheduled_time   TEXT NOT NULL,
            started_at       TEXT NOT NULL,
            completed_at     TEXT,
            heartbeat_at     TEXT NOT NULL,
            records_read     INTEGER NOT NULL,
            records_written  INTEGER NOT NULL,
            records_skipped  INTEGER NOT NULL,
            input_bytes      INTEGER NOT NULL,
            output_bytes     INTEGER NOT NULL,
            batch_count      INTEGER NOT NULL,
            export_path      TEXT NOT NULL,
            manifest_path    TEXT,
            files            TEXT NOT NULL,
            error            TEXT
        );
        -- At most one Running run per flow and dataset, enforced by the database across processes.
        CREATE UNIQUE INDEX runs_one_running ON runs (flow_id, dataset_id) WHERE status = 'Running';
        CREATE INDEX runs_by_start ON runs (started_at);
        CREATE INDEX runs_by_flow ON runs (flow_id, started_at);

        CREATE TABLE exported_batches (
            flow_id    TEXT NOT NULL REFERENCES flows (id),
            dataset_id TEXT NOT NULL,
            batch_key  TEXT NOT NULL,
            run_id     TEXT NOT NULL REFERENCES runs (id),
            PRIMARY KEY (flow_id, dataset_id, batch_key)
        ) WITHOUT ROWID;
        """,
        // 2: scheduled exports. last_slot is the latest slot an invocation claimed (NULL: none yet); runs are looked up
        // by flow, dataset and slot to run each slot exactly once.
        """
        ALTER TABLE flows ADD COLUMN last_slot TEXT;
        CREATE INDEX runs_by_slot ON runs (flow_id, dataset_id, scheduled_time);
        """,
        // 3: bad input handling and encrypted manifests. Flows may skip invalid records or batches; runs count what they
        // skipped, and keep the stored manifest's sha256 (an encrypted manifest can only be verified by its bytes).
        """
        ALTER TABLE flows ADD COLUMN skip_invalid_records INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE flows ADD COLUMN skip_invalid_batches INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN records_failed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN skipped_batches TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE runs ADD COLUMN manifest_sha256 TEXT;
        """,
        // 4: retries of transiently failed destination operations, per run.
        """
        ALTER TABLE runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
        """,
        // 5: batch schemas read from the lake, kept while their file keeps its size and write time (last_write_ticks:
        // UTC ticks), so a run in a new process does not parse an unchanged JSON Lines batch again to infer its schema;
        // stored_at lets old entries (most likely of files gone) be dropped.
        """
        CREATE TABLE batch_schemas (
            full_path            TEXT    NOT NULL,
            skip_invalid_records INTEGER NOT NULL,
            size_bytes           INTEGER NOT NULL,
            last_write_ticks     INTEGER NOT NULL,
            schema_json          TEXT    NOT NULL,
            record_count         INTEGER,
            stored_at            TEXT    NOT NULL,
            PRIMARY KEY (full_path, skip_invalid_records)
        ) WITHOUT ROWID;
        CREATE INDEX batch_schemas_by_age ON batch_schemas (stored_at);
        """,
        // 6: exported batches are kept per destination: a flow pointed at another destination exports everything there,
        // and back at the first one only what that one lacks. A batch's destination is its run's (for a Full flow, the
        // latest run's: the only one kept before).
        """
        CREATE TABLE exported_batches_by_destination (
            flow_id        TEXT NOT NULL REFERENCES flows (id),
            destination_id TEXT NOT NULL,
            dataset_id     TEXT NOT NULL,
            batch_key      TEXT NOT NULL,
            run_id         TEXT NOT NULL REFERENCES runs (id),
            PRIMARY KEY (flow_id, destination_id, dataset_id, batch_key)
        ) WITHOUT ROWID;
        INSERT INTO exported_batches_by_destination (flow_id, destination_id, dataset_id, batch_key, run_id)
            SELECT batches.flow_id, runs.destination_id, batches.dataset_id, batches.batch_key, batches.run_id
            FROM exported_batches AS batches JOIN runs ON runs.id = batches.run_id;
        DROP TABLE exported_batches;
        ALTER TABLE exported_batches_by_destination RENAME TO exported_batches;
        """,
        // 7: a run keeps the destination folder it wrote to, so its files are found there after the folder is changed.
        """
        ALTER TABLE runs ADD COLUMN folder_path TEXT;
        """,
        // 8: a run keeps the files it stored and could not delete after a failure, for the flow's next run to delete. The
        // index holds only runs with files to remove (SqliteStateStore.ListRunsWithFilesToRemove, read by every run).
        """
        ALTER TABLE runs ADD COLUMN left_files TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX runs_holding_files_to_remove ON runs (flow_id, started_at)
            WHERE left_files <> '[]' OR (status = 'Abandoned' AND (files <> '[]' OR manifest_path IS NOT NULL));
        """,
        // 9: a run's files move from the runs.files JSON column into rows of their own, so a running export saves each new
        // file by adding a row instead of rewriting the whole list (quadratic in the files of a run). The index of runs with
        // files to remove now holds every Abandoned run (few: one per process that died) as no index can see run_files.
        """
        CREATE TABLE run_files (
            run_id        TEXT    NOT NULL REFERENCES runs (id),
            position      INTEGER NOT NULL,
            relative_path TEXT    NOT NULL,
            sink_path     TEXT    NOT NULL,
            size          INTEGER NOT NULL,
            records       INTEGER NOT NULL,
            sha256        TEXT    NOT NULL,
            PRIMARY KEY (run_id, position)
        ) WITHOUT ROWID;
        INSERT INTO run_files (run_id, position, relative_path, sink_path, size, records, sha256)
            SELECT runs.id, file.key, json_extract(file.value, '$.RelativePath'), json_extract(file.value, '$.SinkPath'),
                   json_extract(file.value, '$.Size'), json_extract(file.value, '$.Records'), json_extract(file.value, '$.Sha256')
            FROM runs, json_each(runs.files) AS file;
        DROP INDEX runs_holding_files_to_remove;
        ALTER TABLE runs DROP COLUMN files;
        CREATE INDEX runs_holding_files_to_remove ON runs (flow_id, started_at) WHERE left_files <> '[]' OR status = 'Abandoned';
        """,
        // 10: runs can be removed from the history (Remove-ExportRun) while the batches they exported stay recorded as
        // exported, so an exported batch's run_id no longer references a run that must exist.
        """
        CREATE TABLE exported_batches_kept (
            flow_id        TEXT NOT NULL REFERENCES flows (id),
            destination_id TEXT NOT NULL,
            dataset_id     TEXT NOT NULL,
            batch_key      TEXT NOT NULL,
            run_id         TEXT NOT NULL,
            PRIMARY KEY (flow_id, destination_id, dataset_id, batch_key)
        ) WITHOUT ROWID;
        INSERT INTO exported_batches_kept (flow_id, destination_id, dataset_id, batch_key, run_id)
            SELECT flow_id, destination_id, dataset_id, batch_key, run_id FROM exported_batches;
        DROP TABLE exported_batches;
        ALTER TABLE exported_batches_kept RENAME TO exported_batches;
        """,
        // 11: what the scheduler reads to redo a slot and to leave a slot out is kept in tables of its own, not derived from the
        // run history, so that runs can be removed from the history (Remove-ExportRun) without changing what it does.
        // slot_redos: a dataset of a flow's last slot whose run was abandoned, owed one redo (RedoAbandonedSlotAsync).
        // latest_exports: per flow, destination and dataset, the successful run for the latest time (SupersededDatasets).
        // Both start from what the history says now, as the scheduler derived it from the runs (dataset ids matched
        // case-insensitively, as the lake, slot_redos and latest_exports match them).
        """
        CREATE TABLE slot_redos (
            flow_id    TEXT NOT NULL REFERENCES flows (id),
            dataset_id TEXT NOT NULL COLLATE NOCASE,
            slot       TEXT NOT NULL,
            PRIMARY KEY (flow_id, dataset_id, slot)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO slot_redos (flow_id, dataset_id, slot)
            SELECT runs.flow_id, runs.dataset_id, runs.scheduled_time
            FROM runs JOIN flows ON flows.id = runs.flow_id AND flows.last_slot = runs.scheduled_time
            WHERE runs.status = 'Abandoned'
              AND NOT EXISTS (SELECT 1 FROM runs AS other
                              WHERE other.flow_id = runs.flow_id AND other.dataset_id = runs.dataset_id COLLATE NOCASE
                                AND other.scheduled_time = runs.scheduled_time AND other.status <> 'Abandoned');
        CREATE TABLE latest_exports (
            flow_id        TEXT NOT NULL REFERENCES flows (id),
            destination_id TEXT NOT NULL,
            dataset_id     TEXT NOT NULL COLLATE NOCASE,
            run_id         TEXT NOT NULL,
            scheduled_time TEXT NOT NULL,
            started_at     TEXT NOT NULL,
            export_path    TEXT,
            PRIMARY KEY (flow_id, destination_id, dataset_id)
        ) WITHOUT ROWID;
        INSERT INTO latest_exports (flow_id, destination_id, dataset_id, run_id, scheduled_time, started_at, export_path)
            SELECT flow_id, destination_id, dataset_id, id, scheduled_time, started_at, export_path
            FROM (SELECT runs.*, row_number() OVER (PARTITION BY flow_id, destination_id, dataset_id COLLATE NOCASE
                                                    ORDER BY scheduled_time DESC, started_at DESC, rowid DESC) AS latest
                  FROM runs
                  WHERE status = 'Succeeded' AND flow_id IN (SELECT id FROM flows) AND destination_id IN (SELECT id FROM destinations))
            WHERE latest = 1;
        """,
    ];

    /// <summary>The schema version this build writes and understands.</summary>
    public static int LatestVersion => Migrations.Count;

    /// <summary>
    /// Checks the file before anything writes to it (damaged, foreign or newer files are refused untouched), then
    /// turns on WAL and foreign keys and applies the missing migrations.
    /// </summary>
    public static void Prepare(SqliteConnection connection, string path, TimeSpan busyTimeout)
    {
        Execute(connection, null, $"PRAGMA busy_timeout = {(int)busyTimeout.TotalMilliseconds};");
        // The first statement that reads the file (a damaged file fails here, before anything is written), and one
        // statement, so the three values come from one snapshot even while another process creates the schema.
        int version, applicationId;
        bool isEmpty;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT (SELECT user_version FROM pragma_user_version()),
                       (SELECT application_id FROM pragma_application_id()),
                       (SELECT count(*) FROM sqlite_schema)
                """;
            using var header = command.ExecuteReader();
            header.Read();
            (version, applicationId, isEmpty) = (header.GetInt32(0), header.GetInt32(1), header.GetInt64(2) == 0);
        }
        if (applicationId != ApplicationId && !(applicationId == 0 && version == 0 && isEmpty))
        {
            throw new StateException(StateFailure.Unusable,
                $"'{path}' is a SQLite database of another application, not DatasetExport state. It was left as it is; " +
                $"move it aside or point $env:{ExportEngine.StateHomeVariable} at another folder.");
        }
        ThrowIfNewer(version, LatestVersion, path);
        Execute(connection, null, "PRAGMA journal_mode = WAL;");
        Execute(connection, null, "PRAGMA foreign_keys = ON;");
        // A current database needs no write lock to open: a session that only reads does not wait for another's writes.
        if (version < LatestVersion) Migrate(connection, path, Migrations);
    }

    /// <summary>Applies the <paramref name="migrations"/> the database lacks, each in its own transaction with its version bump.</summary>
    internal static void Migrate(SqliteConnection connection, string path, IReadOnlyList<string> migrations)
    {
        while (true)
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            // Read again under the write lock: another process may have migrated meanwhile.
            var version = ReadInt(connection, transaction, "PRAGMA user_version;");
            ThrowIfNewer(version, migrations.Count, path);
            if (version == migrations.Count) return;
            Execute(connection, transaction, migrations[version]);
            Execute(connection, transaction, $"PRAGMA user_version = {version + 1};");
            transaction.Commit();
        }
    }

    private static void ThrowIfNewer(int version, int latestVersion, string path)
    {
        if (version <= latestVersion) return;
        throw new StateException(StateFailure.Unusable,
            $"'{path}' was written by a newer version of DatasetExport (schema version {version}); this version " +
            $"understands schema version {latestVersion} at most. It was left as it is: update the DatasetExport module, " +
            $"or point $env:{ExportEngine.StateHomeVariable} at another folder.");
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static int ReadInt(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return Convert.ToInt32(command.ExecuteScalar());
    }
}
