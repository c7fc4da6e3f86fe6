using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.State;

public sealed partial class SqliteStateStore
{
    public void AddDestination(DestinationSettings destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ValidateName(destination.Name, "destination");
        var parameters = DestinationParameters(destination);
        Write(() =>
        {
            try
            {
                Execute("""
                    INSERT INTO destinations (id, name, name_key, type, file_type, compression, include_manifest, max_file_size_mb,
                                              folder_path, properties, protected_secrets, created_at, modified_at)
                    VALUES ($id, $name, $name_key, $type, $file_type, $compression, $include_manifest, $max_file_size_mb,
                            $folder_path, $properties, $protected_secrets, $created_at, $modified_at)
                    """, parameters);
            }
            catch (SqliteException error) when (IsUniqueViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"A destination named '{destination.Name}' already exists.", error);
            }
            catch (SqliteException error) when (IsPrimaryKeyViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"A destination with id {destination.Id} already exists.", error);
            }
        });
    }

    /// <summary>Replaces every setting of the destination with this id; its CreatedAt is kept.</summary>
    public void UpdateDestination(DestinationSettings destination, DateTimeOffset? readModifiedAt = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ValidateName(destination.Name, "destination");
        // Writing no secrets would drop the stored ones for good, which a restored key folder could still read.
        if (destination.Secrets.Count == 0) destination.ThrowIfSecretsUnreadable();
        var parameters = DestinationParameters(destination);
        Write(() =>
        {
            int changed;
            try
            {
                changed = Execute("""
                    UPDATE destinations
                    SET name = $name, name_key = $name_key, type = $type, file_type = $file_type, compression = $compression,
                        include_manifest = $include_manifest, max_file_size_mb = $max_file_size_mb, folder_path = $folder_path,
                        properties = $properties, protected_secrets = $protected_secrets, modified_at = $modified_at
                    WHERE id = $id AND ($read_modified_at IS NULL OR modified_at = $read_modified_at)
                    """, [.. parameters, ("$read_modified_at", DateText(readModifiedAt))]);
            }
            catch (SqliteException error) when (IsUniqueViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"Another destination is already named '{destination.Name}'.", error);
            }
            if (changed == 1) return;
            if (Scalar("SELECT modified_at FROM destinations WHERE id = $id", ("$id", IdText(destination.Id))) is string storedAt)
            {
                throw ChangedSinceRead("Destination", destination.Name, storedAt);
            }
            throw DestinationNotFound(destination.Id, destination.Name);
        });
    }

    public void RenameDestination(Guid id, string newName, DateTimeOffset readModifiedAt, DateTimeOffset modifiedAt)
    {
        ValidateName(newName, "destination");
        Write(() =>
        {
            int changed;
            try
            {
                changed = Execute("""
                    UPDATE destinations SET name = $name, name_key = $name_key, modified_at = $modified_at
                    WHERE id = $id AND modified_at = $read_modified_at
                    """, ("$id", IdText(id)), ("$name", newName), ("$name_key", NameKey(newName)), ("$modified_at", DateText(modifiedAt)),
                    ("$read_modified_at", DateText(readModifiedAt)));
            }
            catch (SqliteException error) when (IsUniqueViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"Another destination is already named '{newName}'.", error);
            }
            if (changed == 1) return;
            var stored = ReadAll("SELECT name, modified_at FROM destinations WHERE id = $id", row => (Name: row.Text("name"), At: row.Text("modified_at")),
                ("$id", IdText(id))).SingleOrDefault();
            throw stored.At is null ? DestinationNotFound(id, null) : ChangedSinceRead("Destination", stored.Name, stored.At);
        });
    }

    public void RemoveDestination(Guid id) => Write(() =>
    {
        if (Scalar("SELECT name FROM destinations WHERE id = $id", ("$id", IdText(id))) is not string name)
        {
            throw DestinationNotFound(id, null);
        }
        var flows = ReadAll("SELECT name FROM flows WHERE destination_id = $id ORDER BY name_key", row => row.Text("name"), ("$id", IdText(id)));
        if (flows.Count > 0)
        {
            throw new StateException(StateFailure.InUse,
                $"Destination '{name}' is used by flow {string.Join(", ", flows.Select(flow => $"'{flow}'"))}: " +
                "remove those flows or point them at another destination first.");
        }
        // A run keeps the destination it started with, even when its flow has been pointed elsewhere since.
        var running = ReadRuns(RunningRunsOfDestination, ("$id", IdText(id))).OrderBy(run => run.StartedAt).ToList();
        if (running.Count > 0)
        {
            throw new StateException(StateFailure.InUse,
                $"Destination '{name}' is written to by {string.Join(", ", running.Select(run => $"run {run.Id} of flow '{run.FlowName}' for dataset '{run.DatasetId}'"))}, " +
                "still Running: remove it once that has finished (a run whose process died is taken over " +
                $"{ExportEngine.RunLease.TotalMinutes:0} minutes after it was last seen).");
        }
        // What flows exported there is history now: a flow pointed at a destination made anew exports everything to it.
        Execute(ExportedBatchesOfDestinationDelete, ("$id", IdText(id)));
        Execute("DELETE FROM latest_exports WHERE destination_id = $id", ("$id", IdText(id)));
        Execute("DELETE FROM destinations WHERE id = $id", ("$id", IdText(id)));
    });

    /// <summary>
    /// The Running runs that write to destination $id: 'Running' is a literal, as in the partial index runs_one_running, so only
    /// those are read, not every run of the history (they are put in order once read: an ORDER BY has SQLite walk every run in
    /// order of runs_by_start instead).
    /// </summary>
    internal const string RunningRunsOfDestination = "SELECT * FROM runs WHERE destination_id = $id AND status = 'Running'";

    /// <summary>
    /// Deletes what flows exported to destination $id. Every row's flow exists (exported_batches.flow_id references flows, and
    /// removing a flow deletes its rows), so naming the flows lets each be found by the primary key (flow, destination, ...)
    /// instead of a scan of every flow's exported batches (millions, in the write lock).
    /// </summary>
    internal const string ExportedBatchesOfDestinationDelete = "DELETE FROM exported_batches WHERE flow_id IN (SELECT id FROM flows) AND destination_id = $id";

    public DestinationSettings? FindDestination(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return ReadDestinations("WHERE name_key = $name_key", ("$name_key", NameKey(name))).SingleOrDefault();
    }

    public DestinationSettings? GetDestination(Guid id) => ReadDestinations("WHERE id = $id", ("$id", IdText(id))).SingleOrDefault();

    public IReadOnlyList<DestinationSettings> ListDestinations() => ReadDestinations("ORDER BY name_key");

    public IReadOnlyList<(Guid Id, string Name)> ListDestinationNames() =>
        Read(() => ReadAll("SELECT id, name FROM destinations ORDER BY name_key", row => (row.Id("id"), row.Text("name"))));

    public string? GetDestinationName(Guid id) =>
        Read(() => ReadAll("SELECT name FROM destinations WHERE id = $id", row => row.Text("name"), ("$id", IdText(id)))).SingleOrDefault();

    private List<DestinationSettings> ReadDestinations(string condition, params (string Name, object? Value)[] parameters)
    {
        // Secrets are decrypted after the rows are read: a failure then names the destination. Settings whose secrets cannot
        // be read are still returned, saying why, so they can be listed, removed or given new secrets.
        var rows = Read(() => ReadAll($"SELECT * FROM destinations {condition}", row => (Settings: ReadDestination(row), Secrets: row.NullableText("protected_secrets")), parameters));
        foreach (var (settings, protectedSecrets) in rows)
        {
            if (protectedSecrets is null) continue;
            try
            {
                settings.Secrets = UnprotectSecrets(settings, protectedSecrets);
            }
            catch (StateException unreadable)
            {
                settings.UnreadableSecrets = unreadable.Message;
            }
        }
        return rows.Select(row => row.Settings).ToList();
    }

    private static DestinationSettings ReadDestination(SqliteDataReader row) => new()
    {
        Id = row.Id("id"),
        Name = row.Text("name"),
        Type = row.Enum<DestinationType>("type"),
        FileType = row.Enum<FileType>("file_type"),
        Compression = row.Enum<CompressionKind>("compression"),
        IncludeManifest = row.Flag("include_manifest"),
        MaxFileSizeMB = row.Int32("max_file_size_mb"),
        FolderPath = row.Text("folder_path"),
        Properties = ReadDictionary(row.Text("properties")),
        CreatedAt = row.Date("created_at"),
        ModifiedAt = row.Date("modified_at"),
    };

    /// <summary>The row's values; the secrets become one protected payload (no secrets: NULL, so no key is needed).</summary>
    private (string, object?)[] DestinationParameters(DestinationSettings destination) =>
    [
        ("$id", IdText(destination.Id)),
        ("$name", destination.Name),
        ("$name_key", NameKey(destination.Name)),
        ("$type", destination.Type.ToString()),
        ("$file_type", destination.FileType.ToString()),
        ("$compression", destination.Compression.ToString()),
        ("$include_manifest", destination.IncludeManifest),
        ("$max_file_size_mb", destination.MaxFileSizeMB),
        ("$folder_path", destination.FolderPath),
        ("$properties", JsonSerializer.Serialize(destination.Properties, StateJson.Default.DictionaryStringString)),
        ("$protected_secrets", destination.Secrets.Count == 0 ? null : _secrets.Protect(JsonSerializer.Serialize(destination.Secrets, StateJson.Default.DictionaryStringString))),
        ("$created_at", DateText(destination.CreatedAt)),
        ("$modified_at", DateText(destination.ModifiedAt)),
    ];

    private Dictionary<string, string> UnprotectSecrets(DestinationSettings destination, string protectedSecrets)
    {
        try
        {
            return ReadDictionary(_secrets.Unprotect(protectedSecrets));
        }
        catch (StateException error)
        {
            throw new StateException(error.Failure, $"The secrets of destination '{destination.Name}' (id {destination.Id}) cannot be read. {error.Message}", error);
        }
    }

    private static Dictionary<string, string> ReadDictionary(string json) =>
        new(JsonSerializer.Deserialize(json, StateJson.Default.DictionaryStringString) ?? [], StringComparer.OrdinalIgnoreCase);

    private static StateException DestinationNotFound(Guid id, string? name) => new(StateFailure.NotFound,
        name is null ? $"No destination with id {id} exists." : $"Destination '{name}' (id {id}) does not exist; it may have been removed.");
}
