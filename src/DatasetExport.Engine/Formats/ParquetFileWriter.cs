using System.Globalization;
using System.Reflection;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes records into one Parquet file with Parquet.Net's row group writer. Each record is shredded at once into
/// leaf columns with repetition and definition levels (so nested structs, lists and maps round-trip) held in compact
/// typed buffers; a row group is written when <see cref="RowGroupRecords"/> records or about <see cref="RowGroupBytes"/>
/// bytes are buffered, and at <see cref="CompleteAsync"/>. <see cref="BytesWritten"/> therefore grows a row group at a time.
/// The output is written front to back and need not be seekable.
/// </summary>
public sealed class ParquetFileWriter : IFormatWriter
{
    public const int DefaultRowGroupRecords = 100_000;
    public const long DefaultRowGroupBytes = 64L << 20;

    private readonly Stream _output;
    private readonly CountingStream _counter;
    private readonly ParquetSchema _parquetSchema;
    private readonly ParquetOptions _options;
    private readonly ShredNode[] _columns;
    private readonly IReadOnlyList<SchemaField> _fields;
    private readonly List<ColumnBuffer> _leaves = [];
    private ParquetWriter? _writer;
    private int _bufferedRecords;
    private bool _completed;
    private bool _faulted;

    public ParquetFileWriter(
        Stream output, DatasetSchema schema, CompressionKind compression,
        int rowGroupRecords = DefaultRowGroupRecords, long rowGroupBytes = DefaultRowGroupBytes)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowGroupRecords, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowGroupBytes, 1);
        RowGroupRecords = rowGroupRecords;
        RowGroupBytes = rowGroupBytes;
        _output = output;
        _counter = new CountingStream(output);
        _fields = schema.Fields;
        _parquetSchema = ParquetSchemaMapping.ToParquetSchema(schema);
        _options = new ParquetOptions
        {
            // Parquet.Net defaults to SmallestSize, which makes Zstd (level 22) and Gzip (level 9) many times slower for a few percent.
            CompressionLevel = System.IO.Compression.CompressionLevel.Optimal,
            CompressionMethod = compression switch
            {
                CompressionKind.None => CompressionMethod.None,
                CompressionKind.Gzip => CompressionMethod.Gzip,
                CompressionKind.Snappy => CompressionMethod.Snappy,
                CompressionKind.Zstd => CompressionMethod.Zstd,
                _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "Unknown compression."),
            },
        };
        _columns = schema.Fields.Select(field => Build(field, field.Name, parentLevel: 0, repetition: 0)).ToArray();
        var dataFields = _parquetSchema.GetDataFields();
        for (var i = 0; i < dataFields.Length; i++) _leaves[i].Attach(dataFields[i]);
    }

    /// <summary>Most records in one row group.</summary>
    public int RowGroupRecords { get; }

    /// <summary>Approximate uncompressed bytes of buffered values that close a row group early (wide rows).</summary>
    public long RowGroupBytes { get; }

    public long BytesWritten => _counter.BytesWritten;

    /// <summary>Records accepted so far, including those buffered for the next row group.</summary>
    public long RecordsWritten { get; private set; }

    public async Task WriteAsync(RecordChunk chunk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ThrowIfUnusable();
        foreach (var record in chunk.Records)
        {
            try
            {
                for (var i = 0; i < _columns.Length; i++) _columns[i].Write(record.GetValueOrDefault(_fields[i].Name), repetition: 0);
            }
            catch
            {
                // A record shredded halfway leaves the columns misaligned: the file cannot be finished.
                _faulted = true;
                throw;
            }
            _bufferedRecords++;
            RecordsWritten++;
            // The byte estimate is summed every 1,024 records: exact enough, and cheap for wide schemas.
            if (_bufferedRecords >= RowGroupRecords
                || (_bufferedRecords % 1024 == 0 && _leaves.Sum(leaf => leaf.ApproximateBytes) >= RowGroupBytes))
            {
                await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed) return;
        ThrowIfUnusable();
        await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
        _writer ??= await CreateWriterAsync(cancellationToken).ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        await _counter.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    /// <summary>Releases Parquet.Net's writer; without <see cref="CompleteAsync"/> nothing more reaches the output (no footer).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_completed) return;
        _counter.Abandon();
        if (_writer is not null) await _writer.DisposeAsync().ConfigureAwait(false);
        _completed = true;
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_faulted) throw new InvalidOperationException("An earlier record could not be written; this Parquet file cannot be completed.");
    }

    private Task<ParquetWriter> CreateWriterAsync(CancellationToken cancellationToken) =>
        ParquetWriter.CreateAsync(_parquetSchema, _counter, _options, append: false, cancellationToken);

    private async Task WriteRowGroupAsync(CancellationToken cancellationToken)
    {
        if (_bufferedRecords == 0) return;
        _writer ??= await CreateWriterAsync(cancellationToken).ConfigureAwait(false);
        using (var group = _writer.CreateRowGroup())
        {
            foreach (var leaf in _leaves) await leaf.WriteAsync(group, cancellationToken).ConfigureAwait(false);
            group.CompleteValidate();
        }
        TimestampStatistics.Correct(_writer, _leaves);
        foreach (var leaf in _leaves) leaf.Clear();
        _bufferedRecords = 0;
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Parquet.Net 6.1.0 encodes the min/max statistics of INT64 timestamp columns in milliseconds whatever the unit
    /// (aloneguid/parquet-dotnet#769), so readers that prune row groups by statistics (DuckDB, Spark) skip rows that match.
    /// The footer metadata is only reachable through the writer's private footer field; after each row group the
    /// timestamp statistics are replaced with the exact microsecond values, before the footer is written.
    /// </summary>
    private static class TimestampStatistics
    {
        private static readonly FieldInfo? FooterField = typeof(ParquetWriter)
            .GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
            .FirstOrDefault(field => field.FieldType.Name == "ThriftFooter");

        private static readonly FieldInfo? MetadataField = FooterField?.FieldType
            .GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
            .FirstOrDefault(field => field.FieldType == typeof(FileMetaData));

        public static void Correct(ParquetWriter writer, IReadOnlyList<ColumnBuffer> leaves)
        {
            if (!leaves.Any(leaf => leaf.IsTimestamp)) return;
            var footer = FooterField?.GetValue(writer);
            var metadata = footer is null ? null : MetadataField?.GetValue(footer) as FileMetaData;
            var columns = metadata?.RowGroups.LastOrDefault()?.Columns;
            if (columns is null || columns.Count != leaves.Count)
            {
                throw new NotSupportedException(
                    "This Parquet.Net version no longer exposes the footer that DatasetExport corrects for timestamp statistics; check aloneguid/parquet-dotnet#769 before upgrading.");
            }
            for (var i = 0; i < leaves.Count; i++)
            {
                var statistics = columns[i].MetaData?.Statistics;
                if (leaves[i].IsTimestamp && statistics is not null) leaves[i].CorrectStatistics(statistics);
            }
        }
    }

    /// <summary>
    /// The shredding tree for one field. <paramref name="parentLevel"/> is the definition level when the parent is present;
    /// groups are always optional in the written file, leaves follow their declared nullability.
    /// </summary>
    private ShredNode Build(SchemaField field, string path, int parentLevel, int repetition)
    {
        switch (field.Kind)
        {
            case FieldKind.Struct:
            {
                var children = field.ChildFields.Select(child => Build(child, path + "." + child.Name, parentLevel + 1, repetition)).ToArray();
                return new StructShred(field.ChildFields.Select(child => child.Name).ToArray(), children, path, parentLevel);
            }
            case FieldKind.List:
            {
                var element = Build(field.ChildFields[0], path + "[]", parentLevel + 2, repetition + 1);
                return new ListShred(element, path, parentLevel, repetition + 1);
            }
            case FieldKind.Map:
            {
                var key = Build(field.ChildFields[0] with { Nullable = false }, path + ".key", parentLevel + 2, repetition + 1);
                var value = Build(field.ChildFields[1], path + ".value", parentLevel + 2, repetition + 1);
                return new MapShred(key, value, path, parentLevel, repetition + 1);
            }
            default:
            {
                var leaf = ColumnBuffer.Create(field, path, parentLevel, field.Nullable ? parentLevel + 1 : parentLevel, repetition);
                _leaves.Add(leaf);
                return new LeafShred(leaf, field.Nullable, path);
            }
        }
    }

    private abstract class ShredNode(IReadOnlyList<ColumnBuffer> leaves, string path, int parentLevel)
    {
        public IReadOnlyList<ColumnBuffer> Leaves { get; } = leaves;
        protected string Path { get; } = path;
        /// <summary>Definition level written when this node is null.</summary>
        protected int ParentLevel { get; } = parentLevel;

        public abstract void Write(object? value, int repetition);

        protected void WriteAbsent(int definition, int repetition)
        {
            foreach (var leaf in Leaves) leaf.AddLevels(definition, repetition);
        }
    }

    private sealed class LeafShred(ColumnBuffer leaf, bool nullable, string path) : ShredNode([leaf], path, leaf.ParentLevel)
    {
        public override void Write(object? value, int repetition)
        {
            if (value is null)
            {
                if (!nullable) throw new ArgumentException($"Column '{Path}' is not nullable but a record holds null for it.");
                WriteAbsent(ParentLevel, repetition);
            }
            else
            {
                leaf.AddValue(value, repetition);
            }
        }
    }

    private sealed class StructShred(string[] names, ShredNode[] children, string path, int parentLevel)
        : ShredNode(children.SelectMany(child => child.Leaves).ToList(), path, parentLevel)
    {
        public override void Write(object? value, int repetition)
        {
            switch (value)
            {
                case null:
                    WriteAbsent(ParentLevel, repetition);
                    break;
                case IReadOnlyDictionary<string, object?> fields:
                    for (var i = 0; i < children.Length; i++) children[i].Write(fields.GetValueOrDefault(names[i]), repetition);
                    break;
                default:
                    throw new ArgumentException($"Column '{Path}' is a struct but a record holds {value.GetType().Name}.");
            }
        }
    }

    private sealed class ListShred(ShredNode element, string path, int parentLevel, int repeatedLevel)
        : ShredNode(element.Leaves, path, parentLevel)
    {
        public override void Write(object? value, int repetition)
        {
            switch (value)
            {
                case null:
                    WriteAbsent(ParentLevel, repetition);
                    break;
                case IReadOnlyList<object?> { Count: 0 }:
                    WriteAbsent(ParentLevel + 1, repetition);
                    break;
                case IReadOnlyList<object?> items:
                    for (var i = 0; i < items.Count; i++) element.Write(items[i], i == 0 ? repetition : repeatedLevel);
                    break;
                default:
                    throw new ArgumentException($"Column '{Path}' is a list but a record holds {value.GetType().Name}.");
            }
        }
    }

    private sealed class MapShred(ShredNode key, ShredNode value, string path, int parentLevel, int repeatedLevel)
        : ShredNode(key.Leaves.Concat(value.Leaves).ToList(), path, parentLevel)
    {
        public override void Write(object? map, int repetition)
        {
            switch (map)
            {
                case null:
                    WriteAbsent(ParentLevel, repetition);
                    break;
                case IReadOnlyList<KeyValuePair<object, object?>> { Count: 0 }:
                    WriteAbsent(ParentLevel + 1, repetition);
                    break;
                case IReadOnlyList<KeyValuePair<object, object?>> entries:
                    for (var i = 0; i < entries.Count; i++)
                    {
                        var entryRepetition = i == 0 ? repetition : repeatedLevel;
                        key.Write(entries[i].Key, entryRepetition);
                        value.Write(entries[i].Value, entryRepetition);
                    }
                    break;
                default:
                    throw new ArgumentException($"Column '{Path}' is a map but a record holds {map.GetType().Name}.");
            }
        }
    }

    /// <summary>One leaf column of the row group being built: its non-null values and its levels, in reusable arrays.</summary>
    private abstract class ColumnBuffer(string path, int parentLevel, int maxDefinition, int maxRepetition)
    {
        private int[] _definitions = new int[1024];
        private int[] _repetitions = new int[1024];
        protected int LevelCount { get; private set; }

        public string Path { get; } = path;
        public int ParentLevel { get; } = parentLevel;
        protected int MaxDefinition { get; } = maxDefinition;
        protected int MaxRepetition { get; } = maxRepetition;
        protected DataField Field { get; private set; } = null!;

        public static ColumnBuffer Create(SchemaField field, string path, int parentLevel, int maxDefinition, int maxRepetition) => field.Kind switch
        {
            FieldKind.Boolean => new ColumnBuffer<bool>(path, parentLevel, maxDefinition, maxRepetition, static v => Convert.ToBoolean(v, CultureInfo.InvariantCulture)),
            FieldKind.Int32 => new ColumnBuffer<int>(path, parentLevel, maxDefinition, maxRepetition, static v => Convert.ToInt32(v, CultureInfo.InvariantCulture)),
            FieldKind.Int64 => new ColumnBuffer<long>(path, parentLevel, maxDefinition, maxRepetition, static v => Convert.ToInt64(v, CultureInfo.InvariantCulture)),
            FieldKind.Float => new ColumnBuffer<float>(path, parentLevel, maxDefinition, maxRepetition, static v => Convert.ToSingle(v, CultureInfo.InvariantCulture)),
            FieldKind.Double => new ColumnBuffer<double>(path, parentLevel, maxDefinition, maxRepetition, static v => v is float f ? FieldValues.FloatToDouble(f) : Convert.ToDouble(v, CultureInfo.InvariantCulture)),
            FieldKind.Decimal => new ColumnBuffer<decimal>(path, parentLevel, maxDefinition, maxRepetition, static v => Convert.ToDecimal(v, CultureInfo.InvariantCulture)),
            FieldKind.String => new ColumnBuffer<ReadOnlyMemory<char>>(path, parentLevel, maxDefinition, maxRepetition, static v => (v as string ?? Convert.ToString(v, CultureInfo.InvariantCulture) ?? "").AsMemory()),
            FieldKind.Binary => new ColumnBuffer<ReadOnlyMemory<byte>>(path, parentLevel, maxDefinition, maxRepetition, static v => (byte[])v),
            FieldKind.Date => new ColumnBuffer<DateOnly>(path, parentLevel, maxDefinition, maxRepetition, static v => v is DateTime d ? DateOnly.FromDateTime(d) : (DateOnly)v),
            FieldKind.Timestamp => new ColumnBuffer<DateTime>(path, parentLevel, maxDefinition, maxRepetition, static v => ToUtc((DateTime)v)),
            FieldKind.Time => new ColumnBuffer<long>(path, parentLevel, maxDefinition, maxRepetition, static v => ((TimeSpan)v).Ticks / 10),
            _ => throw new ArgumentOutOfRangeException(nameof(field), field.Kind, $"Column '{path}' is not a leaf."),
        };

        public void Attach(DataField field)
        {
            if (field.MaxDefinitionLevel != MaxDefinition || field.MaxRepetitionLevel != MaxRepetition)
            {
                throw new InvalidOperationException(
                    $"Column '{Path}': Parquet levels {field.MaxDefinitionLevel}/{field.MaxRepetitionLevel} differ from the shredder's {MaxDefinition}/{MaxRepetition}.");
            }
            Field = field;
        }

        /// <summary>Rough uncompressed size of what is buffered: levels plus values.</summary>
        public long ApproximateBytes { get; protected set; }

        public virtual void Clear()
        {
            LevelCount = 0;
            ApproximateBytes = 0;
        }

        public void AddLevels(int definition, int repetition)
        {
            if (LevelCount == _definitions.Length)
            {
                Array.Resize(ref _definitions, LevelCount * 2);
                Array.Resize(ref _repetitions, LevelCount * 2);
            }
            _definitions[LevelCount] = definition;
            _repetitions[LevelCount] = repetition;
            LevelCount++;
            ApproximateBytes += 2;
        }

        public abstract void AddValue(object value, int repetition);

        public virtual bool IsTimestamp => false;

        public virtual void CorrectStatistics(Statistics statistics)
        {
        }

        public abstract Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken);

        protected ReadOnlyMemory<int>? Definitions => MaxDefinition > 0 ? _definitions.AsMemory(0, LevelCount) : null;
        protected ReadOnlyMemory<int>? Repetitions => MaxRepetition > 0 ? _repetitions.AsMemory(0, LevelCount) : null;

        private static DateTime ToUtc(DateTime value) => value.Kind switch
        {
            DateTimeKind.Local => value.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(value, DateTimeKind.Utc),
            _ => value,
        };
    }

    private sealed class ColumnBuffer<T>(string path, int parentLevel, int maxDefinition, int maxRepetition, Func<object, T> convert)
        : ColumnBuffer(path, parentLevel, maxDefinition, maxRepetition) where T : struct
    {
        private T[] _values = new T[1024];
        private int _valueCount;

        public override void Clear()
        {
            base.Clear();
            _valueCount = 0;
        }

        public override void AddValue(object value, int repetition)
        {
            T converted;
            try
            {
                converted = convert(value);
            }
            catch (Exception error) when (error is InvalidCastException or FormatException or OverflowException)
            {
                throw new ArgumentException($"Column '{Path}' cannot hold the value {value} ({value.GetType().Name}).", error);
            }
            if (_valueCount == _values.Length) Array.Resize(ref _values, _valueCount * 2);
            _values[_valueCount++] = converted;
            ApproximateBytes += converted switch
            {
                ReadOnlyMemory<char> text => text.Length,
                ReadOnlyMemory<byte> bytes => bytes.Length,
                _ => System.Runtime.CompilerServices.Unsafe.SizeOf<T>(),
            };
            AddLevels(MaxDefinition, repetition);
        }

        // Parquet.Net counts rows from the levels; a flat required column has none, so it goes through the plain overload.
        public override bool IsTimestamp => typeof(T) == typeof(DateTime);

        /// <summary>Sets min/max to the row group's extreme timestamps as INT64 microseconds since the epoch (how the values are stored).</summary>
        public override void CorrectStatistics(Statistics statistics)
        {
            var timestamps = ((DateTime[])(object)_values).AsSpan(0, _valueCount);
            if (timestamps.IsEmpty)
            {
                statistics.Min = statistics.Max = statistics.MinValue = statistics.MaxValue = null;
                return;
            }
            var min = timestamps[0];
            var max = min;
            foreach (var timestamp in timestamps)
            {
                if (timestamp < min) min = timestamp;
                if (timestamp > max) max = timestamp;
            }
            var minBytes = BitConverter.GetBytes((min.Ticks - DateTime.UnixEpoch.Ticks) / 10);
            var maxBytes = BitConverter.GetBytes((max.Ticks - DateTime.UnixEpoch.Ticks) / 10);
            statistics.MinValue = minBytes;
            statistics.MaxValue = maxBytes;
            if (statistics.Min is not null) statistics.Min = minBytes;
            if (statistics.Max is not null) statistics.Max = maxBytes;
        }

        public override Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken) =>
            MaxDefinition == 0 && MaxRepetition == 0
                ? group.WriteAsync<T>(Field, _values.AsMemory(0, _valueCount), null, null, cancellationToken)
                : group.WriteAllPartsAsync<T>(Field, _values.AsMemory(0, _valueCount), Definitions, Repetitions, cancellationToken);
    }
}
