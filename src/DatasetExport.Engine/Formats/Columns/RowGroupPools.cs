using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// The pools the arrays of decoded and of copied Parquet row groups (<see cref="ParquetRowGroupCopier"/>) and of JSON Lines
/// chunks are rented from (<see cref="RowGroupLease"/>), one per element type, shared by the batches of one export (or the
/// chunks of one JSON Lines read) and dropped with it: the arrays of a row group, once all its chunks are released, serve
/// the next ones, whatever threads read and wrote them (<see cref="StepPool{T}"/>).
/// <para>
/// With <see cref="OneRowGroupAtATime"/> (an export's, whose writer releases every chunk and disposes every copied row
/// group), a row group is decoded or copied only once the one before is released: the reader would otherwise prepare the
/// next while the writer, which is slower, still holds the last, and an export held two row groups' arrays where one of
/// 1 M rows (a row group per batch) held one; its copy queues held up to six row groups at 10 M rows. Preparing the next
/// copied row group while the last is written (two alive) measured no faster (Parquet snappy, 10 M rows, three runs each:
/// 1.5–2.9 s with one, 1.9–2.9 s with two) for 8 MB more. Readers whose chunks may be kept unreleased (a test's, a
/// caller's) must not wait for them.
/// </para>
/// </summary>
internal sealed class RowGroupPools(bool oneRowGroupAtATime = false)
{
    private readonly ConcurrentDictionary<Type, object> _pools = new();
    private readonly SemaphoreSlim? _turn = oneRowGroupAtATime ? new SemaphoreSlim(1, 1) : null;

    public bool OneRowGroupAtATime => _turn is not null;

    public ArrayPool<T> Of<T>() => (ArrayPool<T>)_pools.GetOrAdd(typeof(T), static _ => new StepPool<T>());

    /// <summary>An array of at least <paramref name="minimumLength"/> items, not cleared.</summary>
    public T[] Rent<T>(int minimumLength) => Of<T>().Rent(minimumLength);

    /// <summary>Takes <paramref name="array"/> (from <see cref="Rent{T}"/>) back; nobody may use it afterwards.</summary>
    // Arrays of memory slices are cleared, so a kept array does not keep text alive.
    public void Return<T>(T[] array) => Of<T>().Return(array, clearArray: RuntimeHelpers.IsReferenceOrContainsReferences<T>());

    /// <summary>Gives <paramref name="array"/> back when <paramref name="lease"/> is released.</summary>
    public void ReturnWith<T>(RowGroupLease lease, T[] array)
    {
        if (array.Length > 0) lease.OnRelease(() => Return(array));
    }

    /// <summary>A lease for the next row group's arrays, once the row group before it is released (<see cref="OneRowGroupAtATime"/>).</summary>
    public async Task<RowGroupLease> LeaseAsync(CancellationToken cancellationToken)
    {
        if (_turn is null) return new RowGroupLease(this, null);
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new RowGroupLease(this, () => _turn.Release());
    }
}
