using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.State;

/// <summary>
/// Two sessions (engines on one state home, each with its own connection) changing the same destination or flow: each
/// reads the stored record, changes what its command was given, and writes the record back, as the Set- cmdlets do.
/// </summary>
public sealed class ConcurrentEditTests : IDisposable
{
    private readonly TempFolder _root = new("de-edit");
    private readonly ExportEngine _admin;
    private readonly ExportEngine _runbook;

    public ConcurrentEditTests()
    {
        _admin = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        _runbook = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    public void Dispose()
    {
        _admin.Dispose();
        _runbook.Dispose();
        _root.Dispose();
    }

    [Fact]
    public async Task A_destination_changed_by_another_session_since_it_was_read_is_not_overwritten_with_the_stale_record()
    {
        await _admin.AddDestinationAsync(Destination(), skipValidation: true, default);
        // The admin's Set-ExportDestination -MaxFileSizeMB reads the destination, then validates it (seconds, on a network)...
        var adminCopy = _admin.State.FindDestination("d")!;
        adminCopy.MaxFileSizeMB = 256;
        // ...while a runbook rotates its secret.
        var runbookCopy = _runbook.State.FindDestination("d")!;
        runbookCopy.Secrets["Password"] = "rotated";
        await _runbook.UpdateDestinationAsync(runbookCopy, skipValidation: true, default);

        var refused = await Assert.ThrowsAsync<StateException>(() => _admin.UpdateDestinationAsync(adminCopy, skipValidation: true, default));

        Assert.Equal(StateFailure.InUse, refused.Failure);
        Assert.Contains("Destination 'd' was changed by another session", refused.Message);
        Assert.DoesNotContain("rotated", refused.Message);
        var stored = _admin.State.FindDestination("d")!;
        Assert.Equal(("rotated", 100), (stored.Secrets["Password"], stored.MaxFileSizeMB));

        // Read again, the change goes through.
        var fresh = _admin.State.FindDestination("d")!;
        fresh.MaxFileSizeMB = 256;
        await _admin.UpdateDestinationAsync(fresh, skipValidation: true, default);
        stored = _runbook.State.FindDestination("d")!;
        Assert.Equal(("rotated", 256), (stored.Secrets["Password"], stored.MaxFileSizeMB));
    }

    [Fact]
    public async Task A_flow_changed_by_another_session_since_it_was_read_is_not_overwritten_with_the_stale_record()
    {
        var destination = Destination();
        await _admin.AddDestinationAsync(destination, skipValidation: true, default);
        _admin.AddFlow(new FlowRecord { Name = "f", DestinationId = destination.Id, DatasetIds = ["web"] });
        var adminCopy = _admin.State.FindFlow("f")!;
        adminCopy.DatasetIds = ["web", "app"];
        var runbookCopy = _runbook.State.FindFlow("f")!;
        runbookCopy.Enabled = false;
        _runbook.UpdateFlow(runbookCopy);

        var refused = Assert.Throws<StateException>(() => _admin.UpdateFlow(adminCopy));

        Assert.Equal(StateFailure.InUse, refused.Failure);
        Assert.Contains("Flow 'f' was changed by another session", refused.Message);
        var stored = _admin.State.FindFlow("f")!;
        Assert.False(stored.Enabled);
        Assert.Equal(["web"], stored.DatasetIds);
    }

    private DestinationSettings Destination() => new()
    {
        Name = "d",
        Type = DestinationType.Local,
        MaxFileSizeMB = 100,
        Properties = { [LocalFolderDestination.PathProperty] = _root.Combine("out") },
        Secrets = { ["Password"] = "first" },
    };
}
