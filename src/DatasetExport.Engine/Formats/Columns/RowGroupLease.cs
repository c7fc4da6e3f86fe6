namespace DatasetExport.Engine.Formats;

/// <summary>
/// The arrays one decoded Parquet row group (or one JSON Lines chunk) is held in, rented from a reader's or an export's
/// pools (<see cref="RowGroupPools"/>) and given back once every chunk made from it is released
/// (<see cref="RecordChunk.Release"/>) and the reader has moved on. Row groups are decoded
/// into arrays of several MB; without reuse each one is a large-object-heap allocation freed only by a full collection,
/// and a long export's peak memory grows with its number of row groups. Chunks nobody releases leave their arrays to the GC.
/// <paramref name="released"/> runs once all are released (<see cref="RowGroupPools.LeaseAsync"/>).
/// </summary>
internal sealed class RowGroupLease(RowGroupPools pools, Action? released)
{
    private readonly List<Action> _returns = [];
    // The reader's own hold, dropped when it has handed out the row group's last chunk.
    private int _holders = 1;

    /// <summary>The pools its arrays come from, for buffers the reader rents and returns itself.</summary>
    public RowGroupPools Pools => pools;

    /// <summary>An array of at least <paramref name="length"/> items (only the first <paramref name="length"/> are meant), returned with the lease.</summary>
    public T[] Rent<T>(int length)
    {
        if (length == 0) return [];
        var array = pools.Rent<T>(length);
        pools.ReturnWith(this, array);
        return array;
    }

    /// <summary>Runs <paramref name="giveBack"/> when the arrays go back (<see cref="RowGroupPools.ReturnWith"/>).</summary>
    public void OnRelease(Action giveBack)
    {
        lock (_returns) _returns.Add(giveBack);
    }

    /// <summary>One more chunk that must be released before the arrays go back.</summary>
    public void Hold() => Interlocked.Increment(ref _holders);

    public void Release()
    {
        var left = Interlocked.Decrement(ref _holders);
        if (left > 0) return;
        if (left < 0) throw new InvalidOperationException("A row group's arrays were released more often than they were held.");
        lock (_returns)
        {
            foreach (var giveBack in _returns) giveBack();
            _returns.Clear();
        }
        released?.Invoke();
    }
}
