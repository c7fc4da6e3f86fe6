using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// The arrays one reader builds its chunks in (column values and levels, text blocks), reused once a chunk is released
/// (<see cref="RecordChunk.Release"/>). Without reuse a 1 M-line JSON Lines batch set allocated ~600 MB of them, and a
/// list column that outgrew its first array took a new large-object-heap one in nearly every chunk, each freed only by a
/// full collection (239 per 1 M lines, with 16 gen2 collections). Holds only what was given back, so what it keeps is
/// bounded by the chunks in flight at once; it is dropped with its reader. Thread-safe: chunks are released by the writer.
/// </summary>
internal sealed class ChunkArrays
{
    private readonly Dictionary<(Type Type, int Length), Stack<Array>> _free = [];

    /// <summary>An array of at least <paramref name="minimumLength"/> items (a power of two), not cleared.</summary>
    public T[] Rent<T>(int minimumLength)
    {
        var length = (int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(minimumLength, 16)), Array.MaxLength);
        lock (_free)
        {
            if (_free.TryGetValue((typeof(T), length), out var arrays) && arrays.Count > 0) return (T[])arrays.Pop();
        }
        return new T[length];
    }

    /// <summary>Takes <paramref name="array"/> (from <see cref="Rent{T}"/>) back; nobody may use it afterwards.</summary>
    public void Return<T>(T[] array)
    {
        // Memory slices are cleared, so a kept array does not keep text alive.
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>()) Array.Clear(array);
        lock (_free)
        {
            if (!_free.TryGetValue((typeof(T), array.Length), out var arrays)) _free.Add((typeof(T), array.Length), arrays = new Stack<Array>());
            arrays.Push(array);
        }
    }

    /// <summary>Gives <paramref name="array"/> back when <paramref name="lease"/> is released.</summary>
    public void ReturnWith<T>(RowGroupLease lease, T[] array)
    {
        if (array.Length > 0) lease.OnRelease(() => Return(array));
    }
}
