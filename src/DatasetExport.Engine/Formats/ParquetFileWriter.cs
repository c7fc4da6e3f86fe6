using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes records into one Parquet file with Parquet.Net's row group writer: records are shredded into leaf columns
/// with repetition and definition levels, so nested structs, lists and maps round-trip. Chunks smaller than
/// <see cref="MinRowGroupRecords"/> are accumulated into one row group; <see cref="BytesWritten"/> grows when a row group
/// is written. The output is written front to back and need not be seekable.
/// </summary>
public sealed class ParquetFileWriter : IFormatWriter
{
    public const int MinRowGroupRecords = 10_000;

    private readonly Stream _output;
    private readonly CountingStream _counter;
    private readonly ParquetSchema _parquetSchema;
    private readonly ParquetOptions _options;
    private readonly ShredNode[] _columns;
    private readonly IReadOnlyList<SchemaField> _fields;
    private readonly List<ColumnBuffer> _leaves = [];
    private readonly List<Record> _pending = [];
    private ParquetWriter? _writer;
    private bool _completed;

    public ParquetFileWriter(Stream output, DatasetSchema schema, CompressionKind compression)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(schema);
        _output = output;
        _counter = new CountingStream(output);
        _fields = schema.Fields;
        _parquetSchema = ParquetSchemaMapping.ToParquetSchema(schema);
        _options = new ParquetOptions
        {
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

    public long BytesWritten => _counter.BytesWritten;
    public long RecordsWritten { get; private set; }

    public async Task WriteAsync(RecordChunk chunk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ObjectDisposedException.ThrowIf(_completed, this);
        _pending.AddRange(chunk.Records);
        if (_pending.Count >= MinRowGroupRecords) await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed) return;
        await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
        _writer ??= await CreateWriterAsync(cancellationToken).ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        await _counter.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_writer is not null && !_completed) await _writer.DisposeAsync().ConfigureAwait(false);
        _completed = true;
    }

    private Task<ParquetWriter> CreateWriterAsync(CancellationToken cancellationToken) =>
        ParquetWriter.CreateAsync(_parquetSchema, _counter, _options, append: false, cancellationToken);

    private async Task WriteRowGroupAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0) return;
        foreach (var leaf in _leaves) leaf.Clear();
        foreach (var record in _pending)
        {
            for (var i = 0; i < _columns.Length; i++) _columns[i].Write(record.GetValueOrDefault(_fields[i].Name), repetition: 0);
        }
        _writer ??= await CreateWriterAsync(cancellationToken).ConfigureAwait(false);
        using (var group = _writer.CreateRowGroup())
        {
            foreach (var leaf in _leaves) await leaf.WriteAsync(group, cancellationToken).ConfigureAwait(false);
            group.CompleteValidate();
        }
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        RecordsWritten += _pending.Count;
        _pending.Clear();
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

        public virtual void Clear() => LevelCount = 0;

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
        }

        public abstract void AddValue(object value, int repetition);

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
            AddLevels(MaxDefinition, repetition);
        }

        public override Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken) =>
            group.WriteAllPartsAsync<T>(Field, _values.AsMemory(0, _valueCount), Definitions, Repetitions, cancellationToken);
    }
}
