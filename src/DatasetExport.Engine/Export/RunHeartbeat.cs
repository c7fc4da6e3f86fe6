using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Export;

/// <summary>
/// Keeps this process's runs alive in the state store: every <see cref="Interval"/> each held run gets a heartbeat,
/// including runs recorded for a claimed slot that wait for their turn. A run the store no longer has Running (another
/// process found its heartbeat older than the lease and marked it Abandoned) is lost: its token is cancelled, so the
/// export stops and deletes what it stored instead of committing.
/// </summary>
internal sealed class RunHeartbeat : IDisposable
{
    /// <summary>How often a running export proves it is alive; well inside <see cref="ExportEngine.RunLease"/>.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly IStateStore _state;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Dictionary<Guid, CancellationTokenSource> _held = new();
    private readonly HashSet<Guid> _lost = new();
    private readonly ITimer _timer;
    private bool _disposed;

    public RunHeartbeat(IStateStore state, TimeProvider time)
    {
        _state = state;
        _time = time;
        _timer = time.CreateTimer(_ => BeatAll(), null, Interval, Interval);
    }

    /// <summary>Starts keeping <paramref name="run"/> (recorded Running) alive.</summary>
    public void Hold(RunRecord run)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_held.ContainsKey(run.Id)) _held[run.Id] = new CancellationTokenSource();
        }
    }

    /// <summary>Cancelled when the run is found lost.</summary>
    public CancellationToken LostToken(Guid runId)
    {
        lock (_gate) return _held[runId].Token;
    }

    public bool IsLost(Guid runId)
    {
        lock (_gate) return _lost.Contains(runId);
    }

    /// <summary>A heartbeat now; false when the run is lost.</summary>
    public bool Beat(Guid runId)
    {
        if (_state.Heartbeat(runId, _time.GetUtcNow())) return true;
        Lose(runId);
        return false;
    }

    /// <summary>Stops keeping the run alive (it finished, one way or another).</summary>
    public void Release(Guid runId)
    {
        lock (_gate)
        {
            if (_held.Remove(runId, out var lost)) lost.Dispose();
        }
    }

    private void BeatAll()
    {
        Guid[] runIds;
        lock (_gate)
        {
            if (_disposed) return;
            runIds = _held.Keys.ToArray();
        }
        foreach (var runId in runIds)
        {
            try
            {
                Beat(runId);
            }
            catch (Exception error) when (error is StateException or ObjectDisposedException)
            {
                // A locked or closing store: the next beat tries again, and the lease (5 minutes) allows for many misses.
            }
        }
    }

    private void Lose(Guid runId)
    {
        CancellationTokenSource? lost;
        lock (_gate)
        {
            if (_disposed || !_held.TryGetValue(runId, out lost)) return;
            _lost.Add(runId);
        }
        try
        {
            // Outside the lock: cancellation runs the export's callbacks inline.
            lost.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Released meanwhile: the run already finished.
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _timer.Dispose();
            foreach (var lost in _held.Values) lost.Dispose();
            _held.Clear();
        }
    }
}
