using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.State;

public sealed partial class SqliteStateStore
{
    public void AddFlow(FlowRecord flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ValidateName(flow.Name, "flow");
        Write(() =>
        {
            try
            {
                Execute("""
                    INSERT INTO flows (id, name, name_key, destination_id, dataset_ids, mode, enabled, schedule_kind, every_hours,
                                       at_time, cron, start_time, end_time, time_zone, last_slot, created_at, modified_at,
                                       skip_invalid_records, skip_invalid_batches)
                    VALUES ($id, $name, $name_key, $destination_id, $dataset_ids, $mode, $enabled, $schedule_kind, $every_hours,
                            $at_time, $cron, $start_time, $end_time, $time_zone, $last_slot, $created_at, $modified_at,
                            $skip_invalid_records, $skip_invalid_batches)
                    """, [.. FlowParameters(flow), ("$last_slot", DateText(flow.LastSlot))]);
            }
            catch (SqliteException error) when (IsUniqueViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"A flow named '{flow.Name}' already exists.", error);
            }
            catch (SqliteException error) when (IsPrimaryKeyViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"A flow with id {flow.Id} already exists.", error);
            }
            catch (SqliteException error) when (IsForeignKeyViolation(error))
            {
                throw MissingFlowDestination(flow, error);
            }
        });
    }

    /// <summary>
    /// Replaces every setting of the flow with this id; its CreatedAt is kept, and so is its LastSlot: another process
    /// may have claimed a slot since this record was read, and writing the record's older value back would let the
    /// slot run twice.
    /// </summary>
    public void UpdateFlow(FlowRecord flow, DateTimeOffset? readModifiedAt = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ValidateName(flow.Name, "flow");
        Write(() =>
        {
            int changed;
            try
            {
                changed = Execute("""
                    UPDATE flows
                    SET name = $name, name_key = $name_key, destination_id = $destination_id, dataset_ids = $dataset_ids, mode = $mode,
                        enabled = $enabled, schedule_kind = $schedule_kind, every_hours = $every_hours, at_time = $at_time, cron = $cron,
                        start_time = $start_time, end_time = $end_time, time_zone = $time_zone, modified_at = $modified_at,
                        skip_invalid_records = $skip_invalid_records, skip_invalid_batches = $skip_invalid_batches
                    WHERE id = $id AND ($read_modified_at IS NULL OR modified_at = $read_modified_at)
                    """, [.. FlowParameters(flow), ("$read_modified_at", DateText(readModifiedAt))]);
            }
            catch (SqliteException error) when (IsUniqueViolation(error))
            {
                throw new StateException(StateFailure.AlreadyExists, $"Another flow is already named '{flow.Name}'.", error);
            }
            catch (SqliteException error) when (IsForeignKeyViolation(error))
            {
                throw MissingFlowDestination(flow, error);
            }
            if (changed == 1) return;
            if (Scalar("SELECT modified_at FROM flows WHERE id = $id", ("$id", IdText(flow.Id))) is string storedAt)
            {
                throw ChangedSinceRead("Flow", flow.Name, storedAt);
            }
            throw FlowNotFound(flow.Id, flow.Name);
        });
    }

    public bool TryClaimSlot(Guid flowId, DateTimeOffset slot, IReadOnlyCollection<RunRecord> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return Write(() =>
        {
            // A run for a later time exported one of the datasets to its destination since the caller read what supersedes the
            // slot (ExportEngine.SupersededDatasets): its run here would go into an older exportTime= folder. Nothing is claimed;
            // read again, the caller leaves that dataset out.
            if (runs.Any(Superseded)) return false;
            var claimed = Execute("""
                UPDATE flows SET last_slot = $slot
                WHERE id = $id AND (last_slot IS NULL OR last_slot < $slot)
                """, ("$id", IdText(flowId)), ("$slot", DateText(slot)));
            if (claimed == 0)
            {
                if (Scalar("SELECT 1 FROM flows WHERE id = $id", ("$id", IdText(flowId))) is null) throw FlowNotFound(flowId, null);
                return false;
            }
            // A later slot supersedes the last one: a redo it still owed is not done (RedoAbandonedSlotAsync redoes the last slot only).
            Execute("DELETE FROM slot_redos WHERE flow_id = $id AND slot < $slot", ("$id", IdText(flowId)), ("$slot", DateText(slot)));
            // A dataset still Running fails the insert; the exception rolls the claim back with it.
            foreach (var run in runs) InsertRun(run);
            return true;
        });
    }

    /// <summary>Removes the flow and its record of exported batches and of what its scheduler reads; its runs stay as history.</summary>
    public void RemoveFlow(Guid id) => Write(() =>
    {
        Execute("DELETE FROM exported_batches WHERE flow_id = $id", ("$id", IdText(id)));
        Execute("DELETE FROM slot_redos WHERE flow_id = $id", ("$id", IdText(id)));
        Execute("DELETE FROM latest_exports WHERE flow_id = $id", ("$id", IdText(id)));
        if (Execute("DELETE FROM flows WHERE id = $id", ("$id", IdText(id))) == 0) throw FlowNotFound(id, null);
    });

    public FlowRecord? FindFlow(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return ReadFlows("WHERE name_key = $name_key", ("$name_key", NameKey(name))).SingleOrDefault();
    }

    public FlowRecord? GetFlow(Guid id) => ReadFlows("WHERE id = $id", ("$id", IdText(id))).SingleOrDefault();

    public IReadOnlyList<FlowRecord> ListFlows() => ReadFlows("ORDER BY name_key");

    private List<FlowRecord> ReadFlows(string condition, params (string Name, object? Value)[] parameters) =>
        Read(() => ReadAll($"SELECT * FROM flows {condition}", ReadFlow, parameters));

    private static FlowRecord ReadFlow(SqliteDataReader row) => new()
    {
        Id = row.Id("id"),
        Name = row.Text("name"),
        DestinationId = row.Id("destination_id"),
        DatasetIds = JsonSerializer.Deserialize(row.Text("dataset_ids"), StateJson.Default.ListString) ?? [],
        Mode = row.Enum<ExportMode>("mode"),
        Enabled = row.Flag("enabled"),
        ScheduleKind = row.Enum<ScheduleKind>("schedule_kind"),
        EveryHours = row.NullableInt32("every_hours"),
        At = row.NullableText("at_time"),
        Cron = row.NullableText("cron"),
        StartTime = row.NullableDate("start_time"),
        EndTime = row.NullableDate("end_time"),
        TimeZone = row.Text("time_zone"),
        LastSlot = row.NullableDate("last_slot"),
        CreatedAt = row.Date("created_at"),
        ModifiedAt = row.Date("modified_at"),
        SkipInvalidRecords = row.Flag("skip_invalid_records"),
        SkipInvalidBatches = row.Flag("skip_invalid_batches"),
    };

    private static (string, object?)[] FlowParameters(FlowRecord flow) =>
    [
        ("$id", IdText(flow.Id)),
        ("$name", flow.Name),
        ("$name_key", NameKey(flow.Name)),
        ("$destination_id", IdText(flow.DestinationId)),
        ("$dataset_ids", JsonSerializer.Serialize(flow.DatasetIds, StateJson.Default.ListString)),
        ("$mode", flow.Mode.ToString()),
        ("$enabled", flow.Enabled),
        ("$schedule_kind", flow.ScheduleKind.ToString()),
        ("$every_hours", flow.EveryHours),
        ("$at_time", flow.At),
        ("$cron", flow.Cron),
        ("$start_time", DateText(flow.StartTime)),
        ("$end_time", DateText(flow.EndTime)),
        ("$time_zone", flow.TimeZone),
        ("$created_at", DateText(flow.CreatedAt)),
        ("$modified_at", DateText(flow.ModifiedAt)),
        ("$skip_invalid_records", flow.SkipInvalidRecords),
        ("$skip_invalid_batches", flow.SkipInvalidBatches),
    ];

    private static StateException MissingFlowDestination(FlowRecord flow, Exception inner) => new(StateFailure.NotFound,
        $"Flow '{flow.Name}' refers to destination id {flow.DestinationId}, which does not exist.", inner);

    private static StateException FlowNotFound(Guid id, string? name) => new(StateFailure.NotFound,
        name is null ? $"No flow with id {id} exists." : $"Flow '{name}' (id {id}) does not exist; it may have been removed.");
}
