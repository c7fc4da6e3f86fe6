using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.State;

public sealed class DestinationAndFlowStateTests : IDisposable
{
    private readonly TempFolder _home = new("de-state");
    private readonly IStateStore _store;

    public DestinationAndFlowStateTests() => _store = SqliteStateStore.Open(_home.Path);

    public void Dispose()
    {
        _store.Dispose();
        _home.Dispose();
    }

    [Fact]
    public void Options_are_case_insensitive_and_null_removes_them()
    {
        Assert.Null(_store.GetOption("LakePath"));
        _store.SetOption("LakePath", "/data/lake");
        Assert.Equal("/data/lake", _store.GetOption("lakepath"));
        _store.SetOption("LAKEPATH", "/data/other");
        Assert.Equal("/data/other", _store.GetOption("LakePath"));
        _store.SetOption("LakePath", null);
        Assert.Null(_store.GetOption("LakePath"));
    }

    [Fact]
    public void Every_destination_field_round_trips()
    {
        var saved = StateSamples.Destination();
        _store.AddDestination(saved);

        using var reopened = SqliteStateStore.Open(_home.Path);
        var read = reopened.GetDestination(saved.Id)!;
        AssertSameDestination(saved, read);
        AssertSameDestination(saved, reopened.FindDestination("ARCHIVE")!);
        Assert.Equal("lake-exports", read.GetProperty("BUCKET"));
        Assert.Equal(saved.Secrets["SecretAccessKey"], read.GetSecret("secretaccesskey"));
    }

    [Fact]
    public void Update_replaces_every_destination_field_but_keeps_created_at()
    {
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        var changed = new DestinationSettings
        {
            Id = destination.Id,
            Name = "Cold storage",
            Type = DestinationType.Sftp,
            FileType = FileType.Json,
            Compression = CompressionKind.Gzip,
            IncludeManifest = true,
            MaxFileSizeMB = 512,
            FolderPath = "",
            Properties = new(StringComparer.OrdinalIgnoreCase) { ["Host"] = "127.0.0.1" },
            Secrets = new(StringComparer.OrdinalIgnoreCase) { ["Password"] = "hunter2-but-longer" },
            CreatedAt = StateSamples.Noon,
            ModifiedAt = StateSamples.Noon.AddHours(1),
        };

        _store.UpdateDestination(changed);

        var read = _store.GetDestination(destination.Id)!;
        Assert.Equal(destination.CreatedAt, read.CreatedAt);
        changed.CreatedAt = destination.CreatedAt;
        AssertSameDestination(changed, read);
        Assert.Null(_store.FindDestination("Archive"));
    }

    [Fact]
    public void A_destination_without_secrets_reads_back_with_none()
    {
        var destination = StateSamples.Destination();
        destination.Secrets.Clear();
        _store.AddDestination(destination);
        Assert.Empty(_store.GetDestination(destination.Id)!.Secrets);
    }

    [Fact]
    public void Destination_names_are_unique_case_insensitively()
    {
        _store.AddDestination(StateSamples.Destination("Archive"));
        var duplicate = Assert.Throws<StateException>(() => _store.AddDestination(StateSamples.Destination("ARCHIVE")));
        Assert.Equal(StateFailure.AlreadyExists, duplicate.Failure);
        Assert.Contains("'ARCHIVE'", duplicate.Message);

        // Beyond ASCII too, where SQLite's NOCASE would not fold.
        _store.AddDestination(StateSamples.Destination("Ålesund"));
        Assert.Equal(StateFailure.AlreadyExists, Assert.Throws<StateException>(() => _store.AddDestination(StateSamples.Destination("åLESUND"))).Failure);
        Assert.NotNull(_store.FindDestination("ÅLESUND"));

        var other = StateSamples.Destination("Other");
        _store.AddDestination(other);
        other.Name = "archive";
        var renamed = Assert.Throws<StateException>(() => _store.UpdateDestination(other));
        Assert.Equal(StateFailure.AlreadyExists, renamed.Failure);
        Assert.Contains("'archive'", renamed.Message);
        Assert.Equal(["Archive", "Other", "Ålesund"], _store.ListDestinations().Select(d => d.Name));
    }

    [Fact]
    public void Missing_destinations_are_reported_not_found()
    {
        Assert.Null(_store.FindDestination("nothing"));
        Assert.Null(_store.GetDestination(Guid.NewGuid()));
        var missing = StateSamples.Destination("Ghost");
        var update = Assert.Throws<StateException>(() => _store.UpdateDestination(missing));
        Assert.Equal(StateFailure.NotFound, update.Failure);
        Assert.Contains("'Ghost'", update.Message);
        var remove = Assert.Throws<StateException>(() => _store.RemoveDestination(missing.Id));
        Assert.Equal(StateFailure.NotFound, remove.Failure);
        Assert.Contains(missing.Id.ToString(), remove.Message);
    }

    [Fact]
    public void A_destination_in_use_by_flows_cannot_be_removed()
    {
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        var nightly = StateSamples.Flow(destination.Id, "Nightly");
        var hourly = StateSamples.Flow(destination.Id, "Hourly");
        _store.AddFlow(nightly);
        _store.AddFlow(hourly);

        var inUse = Assert.Throws<StateException>(() => _store.RemoveDestination(destination.Id));
        Assert.Equal(StateFailure.InUse, inUse.Failure);
        Assert.Contains("'Archive'", inUse.Message);
        Assert.Contains("'Nightly'", inUse.Message);
        Assert.Contains("'Hourly'", inUse.Message);
        Assert.NotNull(_store.GetDestination(destination.Id));

        _store.RemoveFlow(nightly.Id);
        _store.RemoveFlow(hourly.Id);
        _store.RemoveDestination(destination.Id);
        Assert.Null(_store.GetDestination(destination.Id));
    }

    [Fact]
    public void Every_flow_field_round_trips()
    {
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        var full = StateSamples.Flow(destination.Id, "Nightly");
        var sparse = new FlowRecord { Name = "Manual", DestinationId = destination.Id, CreatedAt = StateSamples.Noon, ModifiedAt = StateSamples.Noon };
        _store.AddFlow(full);
        _store.AddFlow(sparse);

        using var reopened = SqliteStateStore.Open(_home.Path);
        AssertSameFlow(full, reopened.GetFlow(full.Id)!);
        AssertSameFlow(full, reopened.FindFlow("nightly")!);
        AssertSameFlow(sparse, reopened.FindFlow("MANUAL")!);
        Assert.Equal(["Manual", "Nightly"], reopened.ListFlows().Select(f => f.Name));
    }

    [Fact]
    public void Update_replaces_every_flow_field_but_keeps_created_at_and_the_last_slot()
    {
        var first = StateSamples.Destination("First");
        var second = StateSamples.Destination("Second");
        _store.AddDestination(first);
        _store.AddDestination(second);
        var flow = StateSamples.Flow(first.Id);
        _store.AddFlow(flow);
        var changed = new FlowRecord
        {
            Id = flow.Id,
            Name = "Renamed",
            DestinationId = second.Id,
            DatasetIds = ["hr.people"],
            Mode = ExportMode.Full,
            Enabled = true,
            ScheduleKind = ScheduleKind.Cron,
            Cron = "0 */4 * * *",
            TimeZone = "UTC",
            LastSlot = null,
            CreatedAt = StateSamples.Noon.AddYears(1),
            ModifiedAt = StateSamples.Noon.AddYears(1),
        };

        _store.UpdateFlow(changed);

        changed.CreatedAt = flow.CreatedAt;
        changed.LastSlot = flow.LastSlot;
        AssertSameFlow(changed, _store.GetFlow(flow.Id)!);
        Assert.Null(_store.FindFlow("Nightly"));
    }

    [Fact]
    public void Flow_names_are_unique_and_flows_need_an_existing_destination()
    {
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        _store.AddFlow(StateSamples.Flow(destination.Id, "Nightly"));

        var duplicate = Assert.Throws<StateException>(() => _store.AddFlow(StateSamples.Flow(destination.Id, "NIGHTLY")));
        Assert.Equal(StateFailure.AlreadyExists, duplicate.Failure);
        Assert.Contains("'NIGHTLY'", duplicate.Message);

        var orphan = StateSamples.Flow(Guid.NewGuid(), "Orphan");
        var noDestination = Assert.Throws<StateException>(() => _store.AddFlow(orphan));
        Assert.Equal(StateFailure.NotFound, noDestination.Failure);
        Assert.Contains(orphan.DestinationId.ToString(), noDestination.Message);
        Assert.Null(_store.FindFlow("Orphan"));
    }

    [Fact]
    public void Missing_flows_are_reported_not_found()
    {
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        var missing = StateSamples.Flow(destination.Id, "Ghost");
        Assert.Equal(StateFailure.NotFound, Assert.Throws<StateException>(() => _store.UpdateFlow(missing)).Failure);
        Assert.Equal(StateFailure.NotFound, Assert.Throws<StateException>(() => _store.RemoveFlow(missing.Id)).Failure);
    }

    [Fact]
    public void Removing_a_flow_forgets_its_exported_batches_but_keeps_its_runs()
    {
        var destination = StateSamples.Destination();
        _store.AddDestination(destination);
        var flow = StateSamples.Flow(destination.Id);
        _store.AddFlow(flow);
        var run = StateSamples.Run(flow);
        _store.AddRun(run);
        _store.CommitRun(run, [new BatchKey("sales.orders/batch-1.parquet", 10, StateSamples.Noon)]);

        _store.RemoveFlow(flow.Id);

        Assert.Null(_store.GetFlow(flow.Id));
        Assert.Equal(RunStatus.Succeeded, _store.GetRun(run.Id)!.Status);
        Assert.Single(_store.ListRuns(flow.Id));
        _store.AddFlow(flow);
        Assert.Empty(_store.GetExportedBatches(flow.Id, "sales.orders"));
    }

    private static void AssertSameDestination(DestinationSettings expected, DestinationSettings actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.FileType, actual.FileType);
        Assert.Equal(expected.Compression, actual.Compression);
        Assert.Equal(expected.IncludeManifest, actual.IncludeManifest);
        Assert.Equal(expected.MaxFileSizeMB, actual.MaxFileSizeMB);
        Assert.Equal(expected.FolderPath, actual.FolderPath);
        Assert.Equal(expected.Properties.OrderBy(p => p.Key), actual.Properties.OrderBy(p => p.Key));
        Assert.Equal(expected.Secrets.OrderBy(p => p.Key), actual.Secrets.OrderBy(p => p.Key));
        Assert.Equal(StringComparer.OrdinalIgnoreCase, actual.Properties.Comparer);
        Assert.Equal(StringComparer.OrdinalIgnoreCase, actual.Secrets.Comparer);
        StateAssert.SameInstant(expected.CreatedAt, actual.CreatedAt);
        StateAssert.SameInstant(expected.ModifiedAt, actual.ModifiedAt);
    }

    private static void AssertSameFlow(FlowRecord expected, FlowRecord actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.DestinationId, actual.DestinationId);
        Assert.Equal(expected.DatasetIds, actual.DatasetIds);
        Assert.Equal(expected.Mode, actual.Mode);
        Assert.Equal(expected.Enabled, actual.Enabled);
        Assert.Equal(expected.ScheduleKind, actual.ScheduleKind);
        Assert.Equal(expected.EveryHours, actual.EveryHours);
        Assert.Equal(expected.At, actual.At);
        Assert.Equal(expected.Cron, actual.Cron);
        StateAssert.SameInstant(expected.StartTime, actual.StartTime);
        StateAssert.SameInstant(expected.EndTime, actual.EndTime);
        Assert.Equal(expected.TimeZone, actual.TimeZone);
        StateAssert.SameInstant(expected.LastSlot, actual.LastSlot);
        StateAssert.SameInstant(expected.CreatedAt, actual.CreatedAt);
        StateAssert.SameInstant(expected.ModifiedAt, actual.ModifiedAt);
    }
}
