using System.Buffers;
using System.Numerics;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// An array pool for the buffers of one export, dropped with it (<see cref="RowGroupPools"/>):
/// arrays in sizes of eight steps per power of two (at most 1/8 unused, where the shared pool's powers of two leave up to
/// half), kept without limit of time and without per-thread copies. The shared pool keeps an array per thread and size:
/// buffers rented on a reading thread and returned on a writing one pile up there, so an export's memory grew with its
/// data. Every array returned is kept: the pool never holds more than was rented at once. Arrays are not cleared unless
/// asked: every user writes what it reads.
/// </summary>
internal sealed class StepPool<T> : ArrayPool<T>
{
    /// <summary>
    /// Arrays this short or shorter are all this size. Small, so a small request (a column of a few rows: a wide table's chunk,
    /// a small row group) gets a small array: with 4,096, 20 rows of 20,000 columns took 4,096 entries per column and array.
    /// </summary>
    private const int SmallestSize = 64;
    private const int LargestSize = 1 << 30;

    /// <summary>
    /// Sizes above the one asked for that may serve it when none of that size is free: lengths drift between row groups,
    /// and a new array for each step met would pile up arrays that are never all in use at once.
    /// </summary>
    private const int LargerSizesTried = 2;

    private readonly Dictionary<int, Stack<T[]>> _free = [];

    public override T[] Rent(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);
        var wanted = SizeFor(minimumLength);
        lock (_free)
        {
            for (int size = wanted, tried = 0; tried <= LargerSizesTried && size <= LargestSize; size = SizeFor(size + 1), tried++)
            {
                if (_free.TryGetValue(size, out var arrays) && arrays.TryPop(out var array)) return array;
            }
        }
        return GC.AllocateUninitializedArray<T>(wanted);
    }

    /// <summary>Arrays of other sizes than this pool's (not rented here) are left to the collector; an array returned twice is kept once.</summary>
    public override void Return(T[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length > LargestSize || SizeFor(array.Length) != array.Length) return;
        if (clearArray) Array.Clear(array);
        lock (_free)
        {
            if (!_free.TryGetValue(array.Length, out var arrays)) _free[array.Length] = arrays = new Stack<T[]>();
            if (!arrays.Contains(array)) arrays.Push(array);
        }
    }

    /// <summary>Arrays kept, free to rent (for tests).</summary>
    internal int FreeArrays
    {
        get
        {
            lock (_free) return _free.Values.Sum(arrays => arrays.Count);
        }
    }

    /// <summary>The size of array given for <paramref name="length"/> items: the next of eight steps between two powers of two.</summary>
    internal static int SizeFor(int length)
    {
        if (length <= SmallestSize) return SmallestSize;
        if (length > LargestSize) return length;
        var step = 1 << (BitOperations.Log2((uint)length - 1) - 3);
        return (length + step - 1) & ~(step - 1);
    }
}
