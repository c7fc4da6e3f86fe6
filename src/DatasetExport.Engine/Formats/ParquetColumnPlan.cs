using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Parquet;
using Parquet.Data;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// How one Parquet file's leaf columns map onto the canonical <see cref="ColumnLayout"/> of a dataset schema, and the
/// reading of a row group column by column into one <see cref="RecordChunk"/>, with no object per row.
/// <para>
/// The file may lay a field out differently from the canonical layout: required instead of optional columns and groups,
/// legacy repeated primitives (<c>DataField { IsArray: true }</c>) instead of three-level lists. Repetition levels are
/// the same (one per list or map either way); each definition level of the file maps to a canonical one through a
/// per-leaf table computed from the chain of nodes on the leaf's path. Values are converted to the leaf's
/// <see cref="ColumnData.ValueType"/> and widened to the dataset schema's kind in typed loops.
/// </para>
/// <para>
/// Memory: each column is decoded with <see cref="ParquetRowGroupReader.ReadRawAsync{T}"/> into arrays this class
/// allocates, not with <c>ReadRawColumnDataBaseAsync</c>: Parquet.Net 6.1.0 rents that one's value and level arrays
/// from <c>ArrayPool.Shared</c> (CommunityToolkit <c>MemoryOwner</c>) and returns them on Dispose, while the chunks made
/// here are handed to consumers that may hold them after the reader has moved on to the next row group. Arrays rented
/// here (<see cref="RowGroupLease"/>) are shared by the chunk's slices without copying and go back to the pool only when
/// every slice has been released (or to the GC with the last slice, when nobody releases). Text columns are decoded
/// from the file by <see cref="ParquetColumnDecoder"/>, their UTF-8 copied as it is into the shared blocks of a
/// <see cref="Utf8Arena"/>, rented from the lease too, where Parquet.Net would make an array per value. Numbers read as
/// they are stored (int, long, float, double) are decoded by it too, into rented
/// arrays, without Parquet.Net's buffers per chunk. Chunks it does not decode (another codec or encoding), byte arrays
/// and other types are read by Parquet.Net; its byte arrays are an array per value (or per dictionary entry), never pooled.
/// </para>
/// </summary>
internal sealed class ParquetColumnPlan
{
    private readonly ColumnLayout _layout;
    private readonly LeafSource?[] _sources;

    private ParquetColumnPlan(ColumnLayout layout, LeafSource?[] sources)
    {
        _layout = layout;
        _sources = sources;
    }

    /// <summary>
    /// The plan reading <paramref name="file"/> as <paramref name="target"/>, or null when a nested field of the target
    /// (a struct's child) is not in the file: such files are read as their own fields and shredded record by record.
    /// Throws <see cref="BatchReadException"/> for a column whose type does not fit the target or whose layout is unsupported.
    /// </summary>
    public static ParquetColumnPlan? TryCreate(ParquetSchema file, DatasetSchema target, string path)
    {
        var layout = ColumnLayout.For(target);
        var sources = new LeafSource?[layout.Leaves.Count];
        var fileFields = file.Fields.ToDictionary(field => field.Name, StringComparer.Ordinal);
        var complete = true;
        foreach (var column in layout.Columns)
        {
            // A missing top-level field is null in every row: its leaves have no source.
            if (fileFields.TryGetValue(column.Field.Name, out var fileField)) complete &= Map(fileField, column, [], sources, path);
        }
        return complete ? new ParquetColumnPlan(layout, sources) : null;
    }

    /// <summary>
    /// Decodes every column of the row group into one chunk of all its rows, in arrays rented from <paramref name="lease"/>.
    /// <paramref name="file"/> is the file <paramref name="group"/> reads, from which text and number columns are decoded directly.
    /// </summary>
    public async Task<RecordChunk> ReadAsync(ParquetRowGroupReader group, SafeFileHandle file, RowGroupLease lease, CancellationToken cancellationToken)
    {
        if (group.RowCount > Array.MaxLength) throw new InvalidDataException($"the row group has {group.RowCount} rows, more than this tool reads at once.");
        var rows = (int)group.RowCount;
        var columns = new ColumnData[_sources.Length];
        int[]? zeros = null;
        // The row group's text, in blocks rented with its arrays: left to the GC, the blocks of the row groups that chunks
        // still held lived on into the oldest generation and the heap grew with the export (10 M rows, JSON gzip: 403 MB).
        var text = new Utf8Arena(lease.Pools);
        for (var i = 0; i < columns.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var source = _sources[i];
            columns[i] = source is not null
                ? await source.ReadAsync(group, rows, file, lease, text, cancellationToken).ConfigureAwait(false)
                : Absent(_layout.Leaves[i], zeros ??= new int[rows]);
        }
        text.HandOver(lease);
        return new RecordChunk(_layout.Schema, rows, columns);
    }

    /// <summary>A leaf of a field missing from the file: one entry per row, null at the top (definition and repetition 0).</summary>
    private static ColumnData Absent(LeafLayout leaf, int[] zeros)
    {
        if (leaf.MaxDefinition == 0)
        {
            throw new InvalidDataException($"column '{leaf.Path}' is not in this file but the dataset schema declares it not nullable.");
        }
        return Column(leaf, zeros.Length, zeros, zeros, Array.CreateInstance(ColumnData.ValueType(leaf.Field.Kind), 0), 0);
    }

    /// <summary>One level step on a leaf's path: whether the canonical layout and the file each add a definition level there, and whether it repeats.</summary>
    private readonly record struct Step(bool Canonical, bool File, bool Repeated = false);

    /// <summary>Maps <paramref name="file"/> onto <paramref name="node"/>; false when a nested field of the node is missing from the file.</summary>
    private static bool Map(Field file, LayoutNode node, Step[] steps, LeafSource?[] sources, string path)
    {
        var source = ParquetSchemaMapping.ToSchemaField(file);
        CheckCompatible(source, node.Field, file.Path.ToString(), path);
        // An always-null column (logical type UNKNOWN) where the dataset has another kind: read as the file's own field and
        // shredded, as a missing struct child is, so its nulls land at the levels of the dataset's kind.
        if (source.OnlyNulls && source.Kind != node.Field.Kind) return false;
        switch (file)
        {
            case DataField { IsArray: true } array:
            {
                // A repeated primitive: the list is always present, each element is a required value.
                var list = (ListLayout)node;
                CheckCompatible(source.ChildFields[0], list.Element.Field, file.Path.ToString(), path);
                var element = (LeafLayout)list.Element;
                MapLeaf(array, source.ChildFields[0].Kind, element,
                    [.. steps, new Step(true, false), new Step(true, true, Repeated: true), LeafStep(element, fileNullable: false)], sources, path);
                return true;
            }
            case DataField data:
            {
                var leaf = (LeafLayout)node;
                MapLeaf(data, source.Kind, leaf, [.. steps, LeafStep(leaf, data.IsNullable)], sources, path);
                return true;
            }
            case StructField structField:
            {
                var structNode = (StructLayout)node;
                Step[] inner = [.. steps, new Step(true, structField.IsNullable)];
                var complete = true;
                foreach (var child in structNode.Children)
                {
                    var fileChild = structField.Fields.FirstOrDefault(candidate => candidate.Name == child.Field.Name);
                    complete &= fileChild is not null && Map(fileChild, child, inner, sources, path);
                }
                return complete;
            }
            case ListField listField:
            {
                var list = (ListLayout)node;
                return Map(listField.Item, list.Element, [.. steps, new Step(true, listField.IsNullable), new Step(true, true, Repeated: true)], sources, path);
            }
            case MapField mapField:
            {
                var map = (MapLayout)node;
                Step[] entry = [.. steps, new Step(true, mapField.IsNullable), new Step(true, true, Repeated: true)];
                var keyComplete = Map(mapField.Key, map.Key, entry, sources, path);
                return Map(mapField.Value, map.Value, entry, sources, path) && keyComplete;
            }
            default:
                throw new BatchReadException(path, "schema", $"column '{file.Path}' has an unsupported Parquet layout.");
        }
    }

    private static Step LeafStep(LeafLayout leaf, bool fileNullable) => new(leaf.MaxDefinition > leaf.NullLevel, fileNullable);

    private static void MapLeaf(DataField field, FieldKind sourceKind, LeafLayout leaf, Step[] steps, LeafSource?[] sources, string path)
    {
        var fileDefinition = steps.Count(step => step.File);
        var repetition = steps.Count(step => step.Repeated);
        if (fileDefinition != field.MaxDefinitionLevel || repetition != field.MaxRepetitionLevel)
        {
            throw new BatchReadException(path, "schema",
                $"column '{field.Path}' has an unsupported nesting layout (levels {field.MaxDefinitionLevel}/{field.MaxRepetitionLevel}, expected {fileDefinition}/{repetition}).");
        }
        sources[leaf.Index] = new LeafSource(field, sourceKind, leaf, DefinitionTable(steps), path);
    }

    /// <summary>
    /// For each definition level of the file, the canonical one: the nodes defined at a file level are the longest prefix
    /// of the path whose file steps it covers, and the canonical level counts their canonical steps. -1 where the first
    /// undefined node has no canonical level (the file holds a null the dataset schema does not allow).
    /// </summary>
    private static int[] DefinitionTable(Step[] steps)
    {
        var table = new int[steps.Count(step => step.File) + 1];
        for (var fileLevel = 0; fileLevel < table.Length; fileLevel++)
        {
            var covered = 0;
            var canonical = 0;
            foreach (var step in steps)
            {
                if (step.File && covered == fileLevel)
                {
                    if (!step.Canonical) canonical = -1;
                    break;
                }
                if (step.File) covered++;
                if (step.Canonical) canonical++;
            }
            table[fileLevel] = canonical;
        }
        return table;
    }

    private static void CheckCompatible(SchemaField source, SchemaField target, string column, string path)
    {
        // An always-null column fits any kind: it reads as nulls of the dataset's (Map).
        var compatible = source.Kind == target.Kind || source.OnlyNulls;
        if (!compatible && source.Kind is not (FieldKind.Struct or FieldKind.List or FieldKind.Map))
        {
            try
            {
                compatible = SchemaMerger.MergeField(source, target).Kind == target.Kind;
            }
            catch (SchemaConflictException)
            {
                compatible = false;
            }
        }
        if (!compatible)
        {
            throw new BatchReadException(path, "schema",
                $"column '{column}' is {source.TypeName} in this file but {target.TypeName} in the dataset schema.");
        }
    }

    /// <summary>
    /// The column data of <paramref name="leaf"/> over arrays this reader owns (rented ones may be longer than needed);
    /// <paramref name="values"/> holds the leaf's value type.
    /// </summary>
    private static ColumnData Column(LeafLayout leaf, int count, int[] definitionArray, int[] repetitionArray, Array values, int valueCount)
    {
        var definitions = definitionArray.Length == 0 ? default : definitionArray.AsMemory(0, count);
        var repetitions = repetitionArray.Length == 0 ? default : repetitionArray.AsMemory(0, count);
        return Column(leaf, count, definitions, repetitions, values, valueCount);
    }

    private static ColumnData Column(LeafLayout leaf, int count, ReadOnlyMemory<int> definitions, ReadOnlyMemory<int> repetitions, Array values, int valueCount) => values switch
    {
        bool[] v => new ColumnData<bool>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        int[] v => new ColumnData<int>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        long[] v => new ColumnData<long>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        float[] v => new ColumnData<float>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        double[] v => new ColumnData<double>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        decimal[] v => new ColumnData<decimal>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        ReadOnlyMemory<byte>[] v => new ColumnData<ReadOnlyMemory<byte>>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        DateOnly[] v => new ColumnData<DateOnly>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        DateTime[] v => new ColumnData<DateTime>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        TimeSpan[] v => new ColumnData<TimeSpan>(leaf, count, definitions, repetitions, v.AsMemory(0, valueCount)),
        _ => throw new InvalidOperationException($"Column '{leaf.Path}' got {values.GetType().Name} values."),
    };

    /// <summary>One file column feeding one canonical leaf.</summary>
    private sealed class LeafSource
    {
        private delegate Task<Array> ValuesReader(
            ParquetRowGroupReader group, DataField field, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease, CancellationToken cancellationToken);

        private static readonly MethodInfo ReadValuesMethod =
            typeof(LeafSource).GetMethod(nameof(ReadValuesAsync), BindingFlags.NonPublic | BindingFlags.Static)!;

        private readonly DataField _field;
        private readonly FieldKind _sourceKind;
        private readonly LeafLayout _leaf;
        private readonly int[] _definitionTable;
        private readonly bool _sameDefinitions;
        private readonly ValuesReader _readValues;
        // The physical type of the chunks ParquetColumnDecoder decodes for this leaf (Parquet.Net decodes the others):
        // UTF-8 text (strings, and JSON in byte arrays) and numbers Parquet.Net hands over as they are stored.
        private readonly Parquet.Meta.Type? _ownType;
        // For timestamps stored as INT64 milliseconds or microseconds since the Unix epoch: the ticks of one stored unit.
        private readonly long? _timestampNanos;
        // For dates stored as INT32 days since the Unix epoch.
        private readonly bool _dates;
        // For 8- and 16-bit integers stored as INT32: the type Parquet.Net narrows them to.
        private readonly Type? _smallInteger;
        // For decimals stored as INT32 or INT64 unscaled numbers (the physical type depends on the precision): their scale.
        private readonly int? _decimalScale;

        public LeafSource(DataField field, FieldKind sourceKind, LeafLayout leaf, int[] definitionTable, string path)
        {
            _field = field;
            _sourceKind = sourceKind;
            _leaf = leaf;
            _definitionTable = definitionTable;
            _sameDefinitions = field.MaxDefinitionLevel == leaf.MaxDefinition && definitionTable.Select((canonical, file) => canonical == file).All(same => same);
            // Parquet.Net reads strings and byte arrays as memory slices (strings as chars, which it decoded from UTF-8 with
            // U+FFFD for invalid bytes); every other column as its CLR type.
            var storage = field.ClrType == typeof(string) ? typeof(ReadOnlyMemory<char>)
                : field.ClrType == typeof(byte[]) ? typeof(ReadOnlyMemory<byte>)
                : field.ClrType;
            if (!storage.IsValueType)
            {
                throw new BatchReadException(path, "schema", $"column '{field.Path}' holds {field.ClrType.Name} values, which this tool does not read.");
            }
            _readValues = ReadValuesMethod.MakeGenericMethod(storage).CreateDelegate<ValuesReader>();
            _ownType = sourceKind == FieldKind.String && (storage == typeof(ReadOnlyMemory<char>) || storage == typeof(ReadOnlyMemory<byte>)) ? Parquet.Meta.Type.BYTE_ARRAY
                : storage == typeof(int) ? Parquet.Meta.Type.INT32
                : storage == typeof(long) ? Parquet.Meta.Type.INT64
                : storage == typeof(float) ? Parquet.Meta.Type.FLOAT
                : storage == typeof(double) ? Parquet.Meta.Type.DOUBLE
                : (_timestampNanos = TimestampNanos(field)) is not null ? Parquet.Meta.Type.INT64
                : (_dates = storage == typeof(DateOnly)) ? Parquet.Meta.Type.INT32
                : (_smallInteger = storage == typeof(sbyte) || storage == typeof(byte) || storage == typeof(short) || storage == typeof(ushort) ? storage : null) is not null
                    ? Parquet.Meta.Type.INT32
                : null;
            _decimalScale = field is DecimalDataField { Scale: var scale } ? scale : null;
        }

        /// <summary>Whether <see cref="ParquetColumnDecoder"/> may decode chunks of this physical type for this leaf.</summary>
        private bool DecodesOwn(Parquet.Meta.Type physical) =>
            physical == _ownType || (_decimalScale is not null && physical is Parquet.Meta.Type.INT32 or Parquet.Meta.Type.INT64);

        /// <summary>
        /// The nanoseconds of one stored unit for INT64 timestamps since the Unix epoch in milliseconds, microseconds or
        /// nanoseconds; null for others (INT96, dates), which Parquet.Net decodes. Parquet.Net decoded these through a
        /// growing MemoryStream per page (200 MB of large-object garbage per 10 M rows of one timestamp column), and
        /// cut nanoseconds before 1970 towards the epoch (1969-12-31 23:59:59.999999999 became 1970-01-01).
        /// </summary>
        private static long? TimestampNanos(DataField field) => field is not DateTimeDataField timestamp ? null : timestamp.DateTimeFormat switch
        {
            DateTimeFormat.DateAndTime => 1_000_000,
            DateTimeFormat.DateAndTimeMicros => 1_000,
            DateTimeFormat.Timestamp => timestamp.Unit switch
            {
                DateTimeTimeUnit.Millis => 1_000_000,
                DateTimeTimeUnit.Micros => 1_000,
                DateTimeTimeUnit.Nanos => 1,
                _ => null,
            },
            _ => null,
        };

        public async Task<ColumnData> ReadAsync(
            ParquetRowGroupReader group, int rows, SafeFileHandle file, RowGroupLease lease, Utf8Arena text, CancellationToken cancellationToken)
        {
            var column = group.GetMetadata(_field);
            var metadata = column?.MetaData ?? throw new InvalidDataException($"column '{_field.Path}' has no data in this row group.");
            if (metadata.NumValues is < 0 or > int.MaxValue) throw new InvalidDataException($"column '{_field.Path}' announces {metadata.NumValues} values.");
            var count = (int)metadata.NumValues;
            var fileDefinitions = _field.MaxDefinitionLevel > 0 ? lease.Rent<int>(count) : null;
            var repetitions = _field.MaxRepetitionLevel > 0 ? lease.Rent<int>(count) : null;
            var own = DecodesOwn(metadata.Type) ? ReadOwn(column, metadata.Type, file, count, fileDefinitions, repetitions, lease, text) : null;
            Array raw;
            try
            {
                raw = own ?? await _readValues(group, _field, count, fileDefinitions, repetitions, lease, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (error is ArgumentOutOfRangeException or OverflowException)
            {
                // Parquet.Net's message (such as "Value to add was out of range") names neither the column nor the cause.
                throw OutOfRange(error.Message, error);
            }

            var valueCount = ValueCount(fileDefinitions, count);
            if (valueCount > count)
            {
                throw new InvalidDataException($"column '{_field.Path}' has {count} values but its levels announce {valueCount}.");
            }
            var rowCount = repetitions is null ? count : repetitions.AsSpan(0, count).Count(0);
            if (rowCount != rows || (repetitions is not null && count > 0 && repetitions[0] != 0))
            {
                throw new InvalidDataException(
                    $"column '{_field.Path}' has {count} level entries and {valueCount} values, which do not match the row count ({rows}).");
            }
            // Text ParquetColumnDecoder decoded was checked to be UTF-8 as it was copied.
            var sourceValues = own is ReadOnlyMemory<byte>[] ? own : ToSourceValues(raw, valueCount, text);
            var values = FieldValues.Widen(sourceValues, valueCount, _sourceKind, _leaf.Field.Kind);
            return Column(_leaf, count, CanonicalDefinitions(fileDefinitions, count), repetitions ?? [], values, valueCount);
        }

        /// <summary>
        /// The chunk's values decoded by <see cref="ParquetColumnDecoder"/> (levels into the arrays given, text into
        /// <paramref name="text"/>), or null when it uses a codec or encoding decoded only by Parquet.Net.
        /// </summary>
        private Array? ReadOwn(
            Parquet.Meta.ColumnChunk column, Parquet.Meta.Type physical, SafeFileHandle file, int count, int[]? definitions, int[]? repetitions,
            RowGroupLease lease, Utf8Arena text)
        {
            try
            {
                using var pages = ParquetPageReader.Open(file, column, repetitions is not null, definitions is not null, lease.Pools.Of<byte>());
                return physical switch
                {
                    Parquet.Meta.Type.INT32 or Parquet.Meta.Type.INT64 when _decimalScale is { } scale => DecodeDecimals(pages, physical, count, definitions, repetitions, lease, scale),
                    Parquet.Meta.Type.BYTE_ARRAY => Decode(pages, count, definitions, repetitions, lease, new ParquetTextDecoder(text) { Pools = lease.Pools }),
                    Parquet.Meta.Type.INT32 when _dates => DecodeDates(pages, count, definitions, repetitions, lease),
                    Parquet.Meta.Type.INT32 when _smallInteger is { } narrow => DecodeSmallIntegers(pages, count, definitions, repetitions, lease, narrow),
                    Parquet.Meta.Type.INT32 => Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<int>() { Pools = lease.Pools }),
                    Parquet.Meta.Type.INT64 when _timestampNanos is { } nanos => DecodeTimestamps(pages, count, definitions, repetitions, lease, nanos),
                    Parquet.Meta.Type.INT64 => Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<long>() { Pools = lease.Pools }),
                    Parquet.Meta.Type.FLOAT => Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<float>() { Pools = lease.Pools }),
                    _ => Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<double>() { Pools = lease.Pools }),
                };
            }
            catch (NotSupportedException)
            {
                return null;
            }
        }

        private T[] Decode<T>(ParquetPageReader pages, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease, ParquetValueDecoder<T> decoder)
        {
            var values = lease.Rent<T>(count);
            DecodeInto(pages, count, definitions, repetitions, values, decoder);
            return values;
        }

        /// <summary>Decodes the chunk's levels into the arrays given and its values into <paramref name="target"/> (disposing the decoder).</summary>
        private void DecodeInto<T>(ParquetPageReader pages, int count, int[]? definitions, int[]? repetitions, Span<T> target, ParquetValueDecoder<T> decoder)
        {
            using (decoder)
            {
                ParquetColumnDecoder.Decode(pages, count, _field.MaxDefinitionLevel, _field.MaxRepetitionLevel,
                    definitions.AsSpan(0, definitions is null ? 0 : count), repetitions.AsSpan(0, repetitions is null ? 0 : count), target, decoder);
            }
        }

        /// <summary>
        /// INT64 timestamps decoded as numbers into a rented DateTime array, then made UTC DateTimes in place; nanoseconds
        /// are cut down to 100 ns ticks (floored, so a time before 1970 keeps its second, day and year).
        /// </summary>
        private DateTime[] DecodeTimestamps(ParquetPageReader pages, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease, long nanosPerUnit)
        {
            var values = lease.Rent<DateTime>(count);
            var stored = MemoryMarshal.Cast<DateTime, long>(values.AsSpan(0, count));
            DecodeInto(pages, count, definitions, repetitions, stored, new ParquetFixedWidthDecoder<long>() { Pools = lease.Pools });
            var valueCount = ValueCount(definitions, count);
            for (var i = 0; i < valueCount; i++)
            {
                var unitsSinceEpoch = stored[i];
                try
                {
                    var ticksSinceEpoch = nanosPerUnit >= FieldValues.NanosPerTick
                        ? checked(unitsSinceEpoch * (nanosPerUnit / FieldValues.NanosPerTick))
                        : FieldValues.FloorDivide(unitsSinceEpoch, FieldValues.NanosPerTick / nanosPerUnit);
                    values[i] = new DateTime(checked(DateTime.UnixEpoch.Ticks + ticksSinceEpoch), DateTimeKind.Utc);
                }
                catch (Exception error) when (error is ArgumentOutOfRangeException or OverflowException)
                {
                    throw OutOfRange($"{unitsSinceEpoch} units of {nanosPerUnit} ns from 1970", error);
                }
            }
            return values;
        }

        /// <summary>
        /// INT32 dates (days since 1970-01-01) decoded as numbers into a rented DateOnly array, then made dates in place.
        /// Parquet.Net 6.1.0 reads no DELTA_BINARY_PACKED dates (DuckDB's and parquet-mr's version 2 files).
        /// </summary>
        private DateOnly[] DecodeDates(ParquetPageReader pages, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease)
        {
            var values = lease.Rent<DateOnly>(count);
            var stored = MemoryMarshal.Cast<DateOnly, int>(values.AsSpan(0, count));
            DecodeInto(pages, count, definitions, repetitions, stored, new ParquetFixedWidthDecoder<int>() { Pools = lease.Pools });
            var valueCount = ValueCount(definitions, count);
            for (var i = 0; i < valueCount; i++)
            {
                var daysSinceEpoch = stored[i];
                var dayNumber = (long)EpochDayNumber + daysSinceEpoch;
                if (dayNumber < DateOnly.MinValue.DayNumber || dayNumber > DateOnly.MaxValue.DayNumber)
                {
                    throw OutOfRange($"{daysSinceEpoch} days from 1970", new ArgumentOutOfRangeException(nameof(daysSinceEpoch)));
                }
                values[i] = DateOnly.FromDayNumber((int)dayNumber);
            }
            return values;
        }

        private static readonly int EpochDayNumber = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

        private int ValueCount(int[]? definitions, int count) => definitions is null ? count : definitions.AsSpan(0, count).Count(_field.MaxDefinitionLevel);

        /// <summary>
        /// 8- and 16-bit integers stored as INT32, cut to their width in place as Parquet.Net reads them (then widened back).
        /// Parquet.Net 6.1.0 reads none that are DELTA_BINARY_PACKED.
        /// </summary>
        private int[] DecodeSmallIntegers(ParquetPageReader pages, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease, Type narrow)
        {
            var values = Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<int>() { Pools = lease.Pools });
            // The levels are known once the values are decoded.
            var span = values.AsSpan(0, ValueCount(definitions, count));
            if (narrow == typeof(sbyte)) foreach (ref var value in span) value = unchecked((sbyte)value);
            else if (narrow == typeof(byte)) foreach (ref var value in span) value = unchecked((byte)value);
            else if (narrow == typeof(short)) foreach (ref var value in span) value = unchecked((short)value);
            else foreach (ref var value in span) value = unchecked((ushort)value);
            return values;
        }

        /// <summary>
        /// Decimals stored as INT32 or INT64 unscaled numbers, made decimals as Parquet.Net's BigDecimal ones are
        /// (<see cref="ParquetSchemaMapping.ToDecimal"/>). Parquet.Net 6.1.0 reads none that are DELTA_BINARY_PACKED.
        /// </summary>
        private decimal[] DecodeDecimals(ParquetPageReader pages, Parquet.Meta.Type physical, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease, int scale)
        {
            var values = lease.Rent<decimal>(count);
            if (physical == Parquet.Meta.Type.INT32)
            {
                var unscaled = Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<int>() { Pools = lease.Pools });
                // The levels are known once the values are decoded.
                var valueCount = ValueCount(definitions, count);
                for (var i = 0; i < valueCount; i++) values[i] = ToDecimal(unscaled[i], scale);
            }
            else
            {
                var unscaled = Decode(pages, count, definitions, repetitions, lease, new ParquetFixedWidthDecoder<long>() { Pools = lease.Pools });
                var valueCount = ValueCount(definitions, count);
                for (var i = 0; i < valueCount; i++) values[i] = ToDecimal(unscaled[i], scale);
            }
            return values;
        }

        /// <summary>The decimal <see cref="ParquetSchemaMapping.ToDecimal"/> makes of these, without a BigInteger per value.</summary>
        private decimal ToDecimal(long unscaled, int scale)
        {
            if (scale is < 0 or > 28)
            {
                return ParquetSchemaMapping.ToDecimal(unscaled, scale)
                    ?? throw new InvalidDataException($"column '{_field.Path}' holds {unscaled} at scale {scale}, which .NET decimal cannot hold exactly.");
            }
            var magnitude = unscaled < 0 ? (ulong)(-(unscaled + 1)) + 1 : (ulong)unscaled;
            return new decimal(unchecked((int)(uint)magnitude), unchecked((int)(uint)(magnitude >> 32)), 0, unscaled < 0, (byte)scale);
        }

        private static async Task<Array> ReadValuesAsync<T>(
            ParquetRowGroupReader group, DataField field, int count, int[]? definitions, int[]? repetitions, RowGroupLease lease, CancellationToken cancellationToken)
            where T : struct
        {
            var values = lease.Rent<T>(count);
            await group.ReadRawAsync<T>(field, values.AsMemory(0, count), definitions?.AsMemory(0, count), repetitions?.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
            return values;
        }

        /// <summary>The file's definition levels in the canonical layout: the same array when they agree, otherwise mapped through the table.</summary>
        private int[] CanonicalDefinitions(int[]? fileDefinitions, int count)
        {
            if (_sameDefinitions) return fileDefinitions ?? [];
            if (fileDefinitions is null)
            {
                // A required column: every entry holds a value.
                if (_leaf.MaxDefinition == 0) return [];
                var filled = new int[count];
                Array.Fill(filled, _leaf.MaxDefinition);
                return filled;
            }
            var table = _definitionTable;
            var definitions = _leaf.MaxDefinition > 0 ? new int[count] : null;
            for (var i = 0; i < count; i++)
            {
                var file = fileDefinitions[i];
                var canonical = (uint)file < (uint)table.Length ? table[file] : -1;
                if (canonical < 0)
                {
                    throw new InvalidDataException((uint)file < (uint)table.Length
                        ? $"column '{_field.Path}' holds a null, but '{_leaf.Path}' is not nullable in the dataset schema."
                        : $"column '{_field.Path}' has definition level {file} above its maximum {table.Length - 1}.");
                }
                if (definitions is not null) definitions[i] = canonical;
            }
            return definitions ?? [];
        }

        /// <summary>
        /// The first <paramref name="count"/> decoded values as an array of the file column's own kind's value type; text
        /// Parquet.Net decoded as UTF-8 in <paramref name="text"/>, invalid bytes replaced as Parquet.Net replaces them in strings.
        /// </summary>
        /// <remarks>
        /// Matched on the exact array type: the runtime lets <c>uint[]</c> pass for <c>int[]</c> (and so on for every
        /// signed/unsigned pair), so a type pattern would read unsigned values as signed.
        /// </remarks>
        private Array ToSourceValues(Array raw, int count, Utf8Arena text) => raw.GetType() switch
        {
            var t when t == typeof(bool[]) || t == typeof(float[]) || t == typeof(double[]) || t == typeof(decimal[])
                || t == typeof(DateOnly[]) || t == typeof(TimeSpan[]) => raw,
            var t when t == typeof(ReadOnlyMemory<char>[]) => FieldValues.Map((ReadOnlyMemory<char>[])raw, count, x => text.Encode(x.Span)),
            var t when t == typeof(int[]) => _sourceKind == FieldKind.Time ? FieldValues.Map((int[])raw, count, static x => TimeSpan.FromMilliseconds(x)) : raw,
            var t when t == typeof(long[]) => _sourceKind != FieldKind.Time ? raw
                : (_field as TimeDataField)?.Precision == TimeUnitPrecision.Nanos ? FieldValues.Map((long[])raw, count, static x => TimeSpan.FromTicks(x / 100))
                : FieldValues.Map((long[])raw, count, static x => TimeSpan.FromTicks(x * 10)),
            var t when t == typeof(ReadOnlyMemory<byte>[]) => _sourceKind == FieldKind.String
                ? FieldValues.Map((ReadOnlyMemory<byte>[])raw, count, x => text.CopyValid(x.Span))
                : raw,
            var t when t == typeof(sbyte[]) => FieldValues.Map((sbyte[])raw, count, static x => (int)x),
            var t when t == typeof(byte[]) => FieldValues.Map((byte[])raw, count, static x => (int)x),
            var t when t == typeof(short[]) => FieldValues.Map((short[])raw, count, static x => (int)x),
            var t when t == typeof(ushort[]) => FieldValues.Map((ushort[])raw, count, static x => (int)x),
            var t when t == typeof(uint[]) => FieldValues.Map((uint[])raw, count, static x => (long)x),
            var t when t == typeof(ulong[]) => FieldValues.Map((ulong[])raw, count, static x => (decimal)x),
            var t when t == typeof(Half[]) => FieldValues.Map((Half[])raw, count, static x => (float)x),
            var t when t == typeof(BigDecimal[]) => FieldValues.Map((BigDecimal[])raw, count, ToDecimal),
            // Timestamps not adjusted to UTC come back as wall-clock values marked Local; they are taken as UTC. The array is ours: convert in place.
            var t when t == typeof(DateTime[]) => SpecifyUtc((DateTime[])raw, count),
            var t when t == typeof(DateTimeOffset[]) => FieldValues.Map((DateTimeOffset[])raw, count, static x => x.UtcDateTime),
            var t when t == typeof(TimeOnly[]) => FieldValues.Map((TimeOnly[])raw, count, static x => x.ToTimeSpan()),
            var t when t == typeof(Guid[]) => FieldValues.Map((Guid[])raw, count, x => text.Encode(x.ToString("D"))),
            var t => throw new NotSupportedException($"column '{_field.Path}' holds {t.GetElementType()?.Name} values, which this tool does not read."),
        };

        private static DateTime[] SpecifyUtc(DateTime[] values, int count)
        {
            for (var i = 0; i < count; i++) values[i] = DateTime.SpecifyKind(values[i], DateTimeKind.Utc);
            return values;
        }

        /// <summary>A value no .NET type of the column's kind holds (DuckDB's infinite timestamps, dates before year 1).</summary>
        private InvalidDataException OutOfRange(string value, Exception error) => new(
            $"column '{_field.Path}' holds a {_sourceKind} value .NET cannot hold ({value}); dates and timestamps are read for the years 1 to 9999 only.", error);

        private decimal ToDecimal(BigDecimal value) =>
            ParquetSchemaMapping.ToDecimal(value.UnscaledValue, value.Scale)
            ?? throw new InvalidDataException(
                $"column '{_field.Path}' holds {value}, which .NET decimal cannot hold exactly (it holds 28 to 29 significant digits, at most 28 of them after the point).");
    }
}
