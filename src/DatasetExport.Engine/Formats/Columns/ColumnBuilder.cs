using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Accumulates one leaf column's entries in growable arrays; <see cref="Build"/> hands them over as <see cref="ColumnData"/>.
/// Arrays are taken when the first entry comes, and the first ones start small and double as entries come: sized for
/// <see cref="Capacity"/> up front (and again after every build), a chunk of a few rows of a wide table held arrays for
/// thousands of rows in every column (20 JSON lines of 5,000 columns: 4,096 rows each, a working set of 204 MB for 1.3 MB
/// of JSON).
/// </summary>
public abstract class ColumnBuilder
{
    /// <summary>Entries a builder makes room for unless told otherwise.</summary>
    public const int DefaultCapacity = 1024;

    /// <summary>Entries a builder's first arrays hold (fewer when <see cref="Capacity"/> is smaller).</summary>
    public const int FirstLength = 64;

    private int[] _definitions;
    private int[] _repetitions;

    private protected ColumnBuilder(LeafLayout leaf, int capacity, RowGroupPools? pools)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Leaf = leaf;
        Capacity = capacity;
        Pools = pools;
        _definitions = [];
        _repetitions = [];
    }

    // Whether a chunk was built: later arrays start at Capacity.
    private bool _built;

    /// <summary>Where the arrays come from and go back to when a built chunk is released; null: new arrays, left to the GC.</summary>
    private protected RowGroupPools? Pools { get; }

    /// <summary>
    /// Entries the builder's arrays start with after a <see cref="Build"/> (they grow past it): its first arrays start at
    /// <see cref="FirstLength"/> and double as entries come. A builder that built a chunk has rows coming, so later chunks
    /// start at this size as before (when their first entry comes): full chunks need no growing and the pools see arrays
    /// of one size.
    /// </summary>
    public int Capacity { get; private set; }

    /// <summary>
    /// Makes later arrays (taken after the next <see cref="Build()"/>) start at <paramref name="capacity"/> entries: a reader
    /// whose chunks close on their bytes before their rows (<see cref="JsonLineShredder"/>) sizes them for the rows that fit.
    /// </summary>
    internal void StartLaterChunksAt(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public LeafLayout Leaf { get; }

    public int LevelCount { get; private set; }

    /// <summary>Entries holding a value (kept here, not per value type, so reading it needs no virtual call).</summary>
    public int ValueCount { get; private protected set; }

    /// <summary>Bytes the entries so far take in the builder's arrays: 4 per level of each kind the leaf has, each value its size.</summary>
    internal long EntryBytes => (long)LevelCount * Leaf.LevelBytes + (long)ValueCount * ValueBytes;

    /// <summary>Bytes a value takes in the value array (a text or binary value: its 16-byte slice, its bytes being elsewhere).</summary>
    private protected abstract int ValueBytes { get; }

    /// <summary>Where the builder stands, to <see cref="Truncate"/> back to when a record fails half-way.</summary>
    public (int Levels, int Values) Position => (LevelCount, ValueCount);

    /// <summary>The builder for <paramref name="leaf"/>'s value type (<see cref="ColumnData.ValueType"/>).</summary>
    public static ColumnBuilder Create(LeafLayout leaf, int capacity = DefaultCapacity) => Create(leaf, capacity, pools: null);

    /// <summary>As <see cref="Create(LeafLayout, int)"/>, with arrays from <paramref name="pools"/> (see <see cref="Build(RowGroupLease?)"/>).</summary>
    internal static ColumnBuilder Create(LeafLayout leaf, int capacity, RowGroupPools? pools) => leaf.Field.Kind switch
    {
        FieldKind.Boolean => new ColumnBuilder<bool>(leaf, capacity, pools),
        FieldKind.Int32 => new ColumnBuilder<int>(leaf, capacity, pools),
        FieldKind.Int64 => new ColumnBuilder<long>(leaf, capacity, pools),
        FieldKind.Float => new ColumnBuilder<float>(leaf, capacity, pools),
        FieldKind.Double => new ColumnBuilder<double>(leaf, capacity, pools),
        FieldKind.Decimal => new ColumnBuilder<decimal>(leaf, capacity, pools),
        FieldKind.String => new ColumnBuilder<ReadOnlyMemory<byte>>(leaf, capacity, pools),
        FieldKind.Binary => new ColumnBuilder<ReadOnlyMemory<byte>>(leaf, capacity, pools),
        FieldKind.Date => new ColumnBuilder<DateOnly>(leaf, capacity, pools),
        FieldKind.Timestamp => new ColumnBuilder<DateTime>(leaf, capacity, pools),
        FieldKind.Time => new ColumnBuilder<TimeSpan>(leaf, capacity, pools),
        _ => throw new ArgumentOutOfRangeException(nameof(leaf), leaf.Field.Kind, $"Column '{leaf.Path}' is not a leaf."),
    };

    /// <summary>An entry without a value: the field or one of its parents is null (or an empty list) at <paramref name="definition"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddNull(int definition, int repetition)
    {
        if (definition >= Leaf.MaxDefinition)
        {
            throw new ArgumentException($"Column '{Leaf.Path}' is not nullable but a record holds null for it.");
        }
        AddLevels(definition, repetition);
    }

    /// <summary>Drops the entries added since <paramref name="position"/>.</summary>
    public void Truncate((int Levels, int Values) position)
    {
        LevelCount = position.Levels;
        TruncateValues(position.Values);
    }

    /// <summary>The entries so far as column data; the builder starts over empty, with new arrays (the data keeps the old ones).</summary>
    public ColumnData Build() => Build(lease: null);

    /// <summary>
    /// As <see cref="Build()"/>; a builder with <see cref="Pools"/> gives the data's arrays back to them when
    /// <paramref name="lease"/> is released, and takes its next ones from them.
    /// </summary>
    internal abstract ColumnData Build(RowGroupLease? lease);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected void AddLevels(int definition, int repetition)
    {
        if (Leaf.MaxDefinition > 0)
        {
            if (LevelCount == _definitions.Length) Grow(ref _definitions, LevelCount);
            _definitions[LevelCount] = definition;
        }
        if (Leaf.MaxRepetition > 0)
        {
            if (LevelCount == _repetitions.Length) Grow(ref _repetitions, LevelCount);
            _repetitions[LevelCount] = repetition;
        }
        LevelCount++;
    }

    /// <summary>The levels so far; the builder's level arrays are empty until entries come (then of <see cref="Capacity"/>).</summary>
    private protected (int Count, int[] Definitions, int[] Repetitions) TakeLevels(RowGroupLease? lease)
    {
        var taken = (LevelCount, _definitions, _repetitions);
        if (lease is not null && Pools is not null)
        {
            Pools.ReturnWith(lease, _definitions);
            Pools.ReturnWith(lease, _repetitions);
        }
        _definitions = [];
        _repetitions = [];
        _built = true;
        LevelCount = 0;
        return taken;
    }

    private protected T[] NewArray<T>(int length) => Pools?.Rent<T>(length) ?? new T[length];

    /// <summary>
    /// Twice as long (an empty one: <see cref="FirstLength"/> long, <see cref="Capacity"/> once a chunk was built), the
    /// first <paramref name="count"/> items kept. An array of <see cref="Capacity"/> or more goes back to
    /// the pools at once (nothing holds it yet; a list column grows past it chunk after chunk); a shorter one, outgrown on
    /// the way up from <see cref="FirstLength"/>, is left to the GC: the columns of a wide table grow all at once, so the
    /// pools would keep every smaller size of every column for nothing (2,000 lines of 5,000 text columns: about 200 MB).
    /// </summary>
    private protected void Grow<T>(ref T[] array, int count)
    {
        var larger = NewArray<T>(count > 0 ? count * 2 : _built ? Capacity : Math.Min(FirstLength, Capacity));
        array.AsSpan(0, count).CopyTo(larger);
        if (array.Length >= Capacity) Pools?.Return(array);
        array = larger;
    }

    private protected abstract void TruncateValues(int count);

    /// <summary>
    /// Whether the last value added equals one added at or after <paramref name="start"/>: a map key given twice in one map
    /// (a JSON name repeated, or <c>"1"</c> and <c>"01"</c>, both the int32 1). Called after each value of the map is added,
    /// from its first: past a few keys it keeps them in a set, which its first call past them builds afresh.
    /// </summary>
    internal abstract bool LastValueRepeats(int start);
}

public sealed class ColumnBuilder<T> : ColumnBuilder where T : struct
{
    private T[] _values;

    public ColumnBuilder(LeafLayout leaf, int capacity = DefaultCapacity) : this(leaf, capacity, pools: null)
    {
    }

    internal ColumnBuilder(LeafLayout leaf, int capacity, RowGroupPools? pools) : base(leaf, capacity, pools)
    {
        _values = [];
        if (ColumnData.ValueType(leaf.Field.Kind) != typeof(T))
        {
            throw new ArgumentException($"Column '{leaf.Path}' is {leaf.Field.TypeName}, which holds {ColumnData.ValueType(leaf.Field.Kind).Name} values, not {typeof(T).Name}.");
        }
    }

    private protected override int ValueBytes => Unsafe.SizeOf<T>();

    /// <summary>An entry holding <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(T value, int repetition)
    {
        var count = ValueCount;
        if (count == _values.Length) Grow(ref _values, count);
        _values[count] = value;
        ValueCount = count + 1;
        AddLevels(Leaf.MaxDefinition, repetition);
    }

    internal override ColumnData Build(RowGroupLease? lease)
    {
        var (count, definitions, repetitions) = TakeLevels(lease);
        var data = new ColumnData<T>(Leaf, count, definitions.AsMemory(0, Leaf.MaxDefinition > 0 ? count : 0),
            repetitions.AsMemory(0, Leaf.MaxRepetition > 0 ? count : 0), _values.AsMemory(0, ValueCount));
        if (lease is not null) Pools?.ReturnWith(lease, _values);
        _values = [];
        ValueCount = 0;
        return data;
    }

    /// <summary>Keys a map holds beyond which <see cref="LastValueRepeats"/> looks them up in a set rather than comparing each.</summary>
    private const int KeysComparedInTurn = 8;

    private HashSet<T>? _earlierKeys;

    internal override bool LastValueRepeats(int start)
    {
        var last = ValueCount - 1;
        var comparer = KeyEquality<T>.Comparer;
        if (last - start <= KeysComparedInTurn)
        {
            for (var i = start; i < last; i++)
            {
                if (comparer.Equals(_values[i], _values[last])) return true;
            }
            return false;
        }
        if (last - start == KeysComparedInTurn + 1)
        {
            (_earlierKeys ??= new HashSet<T>(comparer)).Clear();
            for (var i = start; i < last; i++) _earlierKeys.Add(_values[i]);
        }
        return !_earlierKeys!.Add(_values[last]);
    }

    private protected override void TruncateValues(int count)
    {
        // Strings and byte slices keep their memory alive: clear what is dropped.
        Array.Clear(_values, count, ValueCount - count);
        ValueCount = count;
    }
}
