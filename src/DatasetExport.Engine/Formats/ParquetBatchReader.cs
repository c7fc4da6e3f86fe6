using System.IO.Compression;
using System.Runtime.CompilerServices;
using Parquet;
using Parquet.Data;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Reads Parquet batches one row group at a time through Parquet.Net's column API and reassembles nested values
/// from repetition and definition levels. <c>.parquet.gz</c> batches are first decompressed to a temporary file
/// (Parquet needs to seek), which is deleted afterwards.
/// </summary>
public sealed class ParquetBatchReader : IBatchReader
{
    public BatchFormat Format => BatchFormat.Parquet;

    public async Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        await using var file = await ParquetFile.OpenAsync(path, gzipped, cancellationToken).ConfigureAwait(false);
        return file.Schema;
    }

    public async Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        await using var file = await ParquetFile.OpenAsync(path, gzipped, cancellationToken).ConfigureAwait(false);
        return file.Reader.RowGroups.Sum(group => group.RowCount);
    }

    public async IAsyncEnumerable<RecordChunk> ReadAsync(
        string path, bool gzipped, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        await using var file = await ParquetFile.OpenAsync(path, gzipped, cancellationToken).ConfigureAwait(false);
        var plan = RowGroupPlan.Create(file, schema, path);
        for (var groupIndex = 0; groupIndex < file.Reader.RowGroupCount; groupIndex++)
        {
            List<Record> records;
            try
            {
                records = await plan.ReadAsync(file.Reader, groupIndex, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (error is not OperationCanceledException and not BatchReadException)
            {
                throw new BatchReadException(path, $"row group {groupIndex}", error.Message, error);
            }
            yield return new RecordChunk(schema, records);
        }
    }

    /// <summary>An open Parquet reader plus the temporary file it may read from.</summary>
    private sealed class ParquetFile : IAsyncDisposable
    {
        private readonly string? _temporaryPath;

        private ParquetFile(ParquetReader reader, DatasetSchema schema, string? temporaryPath)
        {
            Reader = reader;
            Schema = schema;
            _temporaryPath = temporaryPath;
        }

        public ParquetReader Reader { get; }
        public DatasetSchema Schema { get; }

        public static async Task<ParquetFile> OpenAsync(string path, bool gzipped, CancellationToken cancellationToken)
        {
            string? temporaryPath = null;
            try
            {
                var readPath = path;
                if (gzipped)
                {
                    temporaryPath = await DecompressToTemporaryFileAsync(path, cancellationToken).ConfigureAwait(false);
                    readPath = temporaryPath;
                }
                ParquetReader reader;
                try
                {
                    reader = await ParquetReader.CreateAsync(readPath, ParquetSchemaMapping.ReadOptions(), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception error) when (error is not OperationCanceledException and not FileNotFoundException and not DirectoryNotFoundException)
                {
                    throw new BatchReadException(path, "footer", $"not a readable Parquet file: {error.Message}", error);
                }
                try
                {
                    return new ParquetFile(reader, ParquetSchemaMapping.ToDatasetSchema(reader.Schema), temporaryPath);
                }
                catch (NotSupportedException error)
                {
                    await reader.DisposeAsync().ConfigureAwait(false);
                    throw new BatchReadException(path, "schema", error.Message, error);
                }
            }
            catch (FileNotFoundException error)
            {
                DeleteQuietly(temporaryPath);
                throw new BatchReadException(path, "", "the batch file does not exist.", error);
            }
            catch
            {
                DeleteQuietly(temporaryPath);
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Reader.DisposeAsync().ConfigureAwait(false);
            DeleteQuietly(_temporaryPath);
        }

        private static async Task<string> DecompressToTemporaryFileAsync(string path, CancellationToken cancellationToken)
        {
            var temporaryPath = Path.Combine(Path.GetTempPath(), $"dataset-export-{Guid.NewGuid():N}.parquet");
            try
            {
                await using var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                await using var gzip = new GZipStream(source, CompressionMode.Decompress);
                await using var target = new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                await gzip.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
                return temporaryPath;
            }
            catch (InvalidDataException error)
            {
                DeleteQuietly(temporaryPath);
                throw new BatchReadException(path, "gzip", $"the gzip data is corrupt: {error.Message}", error);
            }
            catch
            {
                DeleteQuietly(temporaryPath);
                throw;
            }
        }

        private static void DeleteQuietly(string? path)
        {
            if (path is null) return;
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>How one file's columns assemble into records of the dataset schema.</summary>
    private sealed class RowGroupPlan
    {
        private readonly DatasetSchema _target;
        private readonly ReadNode?[] _columns;
        private readonly List<LeafColumn> _leaves;

        private RowGroupPlan(DatasetSchema target, ReadNode?[] columns, List<LeafColumn> leaves)
        {
            _target = target;
            _columns = columns;
            _leaves = leaves;
        }

        public static RowGroupPlan Create(ParquetFile file, DatasetSchema target, string path)
        {
            var fileFields = file.Reader.Schema.Fields.ToDictionary(field => field.Name, StringComparer.Ordinal);
            var leaves = new List<LeafColumn>();
            var columns = new ReadNode?[target.Fields.Count];
            for (var i = 0; i < target.Fields.Count; i++)
            {
                var targetField = target.Fields[i];
                if (!fileFields.TryGetValue(targetField.Name, out var fileField)) continue;
                columns[i] = Build(fileField, targetField, parentDefinition: 0, parentRepetition: 0, leaves, path);
            }
            return new RowGroupPlan(target, columns, leaves);
        }

        public async Task<List<Record>> ReadAsync(ParquetReader reader, int groupIndex, CancellationToken cancellationToken)
        {
            using var group = reader.OpenRowGroupReader(groupIndex);
            foreach (var leaf in _leaves)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var raw = await group.ReadRawColumnDataBaseAsync(leaf.Field, cancellationToken).ConfigureAwait(false);
                leaf.Load(raw);
            }

            var rowCount = checked((int)group.RowCount);
            var records = new List<Record>(rowCount);
            var fields = _target.Fields;
            for (var row = 0; row < rowCount; row++)
            {
                var record = new Record(fields.Count);
                for (var i = 0; i < fields.Count; i++) record[fields[i].Name] = _columns[i]?.Read();
                records.Add(record);
            }
            foreach (var leaf in _leaves) leaf.VerifyConsumed();
            return records;
        }

        private static ReadNode Build(Field file, SchemaField target, int parentDefinition, int parentRepetition, List<LeafColumn> leaves, string path)
        {
            var source = ParquetSchemaMapping.ToSchemaField(file);
            CheckCompatible(source, target, file.Path.ToString(), path);
            var definedLevel = parentDefinition + (file.IsNullable ? 1 : 0);
            switch (file)
            {
                case DataField { IsArray: true } arrayField:
                {
                    var element = NewLeaf(arrayField, source.ChildFields[0], target.ChildFields[0], parentDefinition + 1, parentRepetition + 1, leaves, path);
                    return new ListNode(element, parentDefinition, parentRepetition + 1);
                }
                case DataField dataField:
                    return NewLeaf(dataField, source, target, definedLevel, parentRepetition, leaves, path);
                case StructField structField:
                {
                    var fileChildren = structField.Fields.ToDictionary(child => child.Name, StringComparer.Ordinal);
                    var children = new ReadNode?[target.ChildFields.Count];
                    for (var i = 0; i < children.Length; i++)
                    {
                        if (fileChildren.TryGetValue(target.ChildFields[i].Name, out var fileChild))
                        {
                            children[i] = Build(fileChild, target.ChildFields[i], definedLevel, parentRepetition, leaves, path);
                        }
                    }
                    // With no matching child there is no column to tell a null struct from an empty one: read one to find out.
                    ReadNode? probe = null;
                    if (children.All(child => child is null))
                    {
                        var firstChild = structField.Fields[0];
                        probe = Build(firstChild, ParquetSchemaMapping.ToSchemaField(firstChild), definedLevel, parentRepetition, leaves, path);
                    }
                    return new StructNode(target.ChildFields, children, probe, definedLevel);
                }
                case ListField listField:
                {
                    var element = Build(listField.Item, target.ChildFields[0], definedLevel + 1, parentRepetition + 1, leaves, path);
                    return new ListNode(element, definedLevel, parentRepetition + 1);
                }
                case MapField mapField:
                {
                    var key = Build(mapField.Key, target.ChildFields[0], definedLevel + 1, parentRepetition + 1, leaves, path);
                    var value = Build(mapField.Value, target.ChildFields[1], definedLevel + 1, parentRepetition + 1, leaves, path);
                    return new MapNode(key, value, definedLevel, parentRepetition + 1);
                }
                default:
                    throw new BatchReadException(path, "schema", $"column '{file.Path}' has an unsupported Parquet layout.");
            }
        }

        private static LeafNode NewLeaf(DataField field, SchemaField source, SchemaField target, int maxDefinition, int maxRepetition, List<LeafColumn> leaves, string path)
        {
            if (maxDefinition != field.MaxDefinitionLevel || maxRepetition != field.MaxRepetitionLevel)
            {
                throw new BatchReadException(path, "schema",
                    $"column '{field.Path}' has an unsupported nesting layout (levels {field.MaxDefinitionLevel}/{field.MaxRepetitionLevel}, expected {maxDefinition}/{maxRepetition}).");
            }
            var leaf = new LeafColumn(field, source.Kind, maxDefinition, maxRepetition, FieldValues.Widening(source.Kind, target.Kind));
            leaves.Add(leaf);
            return new LeafNode(leaf);
        }

        private static void CheckCompatible(SchemaField source, SchemaField target, string column, string path)
        {
            var compatible = source.Kind == target.Kind;
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
    }

    /// <summary>One leaf column of the current row group: its levels, its non-null values, and a read cursor.</summary>
    private sealed class LeafColumn
    {
        private readonly FieldKind _kind;
        private readonly Func<object, object>? _widen;
        private readonly TimeUnitPrecision? _timeUnit;
        private int[]? _definitions;
        private int[]? _repetitions;
        private object?[] _values = [];
        private int _count;
        private int _valueIndex;

        public LeafColumn(DataField field, FieldKind kind, int maxDefinition, int maxRepetition, Func<object, object>? widen)
        {
            Field = field;
            _kind = kind;
            MaxDefinition = maxDefinition;
            MaxRepetition = maxRepetition;
            _widen = widen;
            _timeUnit = (field as TimeDataField)?.Precision;
        }

        public DataField Field { get; }
        public int MaxDefinition { get; }
        public int MaxRepetition { get; }
        public int Position { get; private set; }

        public bool HasMore => Position < _count;
        public int Definition => _definitions is null ? MaxDefinition : _definitions[Position];
        public int Repetition => _repetitions is null ? 0 : _repetitions[Position];

        public void Load(RawColumnData raw)
        {
            _definitions = MaxDefinition > 0 ? raw.DefinitionLevels.ToArray() : null;
            _repetitions = MaxRepetition > 0 ? raw.RepetitionLevels.ToArray() : null;
            // Values holds the non-null values first; the span is as long as the level entries.
            var valueCount = _definitions is null ? -1 : CountDefined(_definitions);
            _values = ReadValues(raw, valueCount);
            if (_widen is not null)
            {
                for (var i = 0; i < _values.Length; i++) _values[i] = _widen(_values[i]!);
            }
            _count = _definitions?.Length ?? _values.Length;
            Position = 0;
            _valueIndex = 0;
        }

        /// <summary>The value at the cursor (null below the maximum definition level), then advances.</summary>
        public object? Take()
        {
            if (Position >= _count) throw new InvalidDataException($"column '{Field.Path}' has fewer values than rows.");
            object? value = null;
            if (Definition == MaxDefinition) value = _values[_valueIndex++];
            Position++;
            return value;
        }

        public void VerifyConsumed()
        {
            if (Position != _count || _valueIndex != _values.Length)
            {
                throw new InvalidDataException($"column '{Field.Path}' has {_count} level entries and {_values.Length} values, which do not match the row count.");
            }
        }

        private int CountDefined(int[] definitions)
        {
            var count = 0;
            foreach (var definition in definitions)
            {
                if (definition == MaxDefinition) count++;
            }
            return count;
        }

        private object?[] ReadValues(RawColumnData raw, int valueCount) => raw switch
        {
            RawColumnData<bool> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<sbyte> r => Box(r.Values, valueCount, static v => (int)v),
            RawColumnData<byte> r => Box(r.Values, valueCount, static v => (int)v),
            RawColumnData<short> r => Box(r.Values, valueCount, static v => (int)v),
            RawColumnData<ushort> r => Box(r.Values, valueCount, static v => (int)v),
            RawColumnData<int> r when _kind == FieldKind.Time => Box(r.Values, valueCount, static v => TimeSpan.FromMilliseconds(v)),
            RawColumnData<int> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<uint> r => Box(r.Values, valueCount, static v => (long)v),
            RawColumnData<long> r when _kind == FieldKind.Time && _timeUnit == TimeUnitPrecision.Nanos => Box(r.Values, valueCount, static v => TimeSpan.FromTicks(v / 100)),
            RawColumnData<long> r when _kind == FieldKind.Time => Box(r.Values, valueCount, static v => TimeSpan.FromTicks(v * 10)),
            RawColumnData<long> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<ulong> r => Box(r.Values, valueCount, static v => (decimal)v),
            RawColumnData<float> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<Half> r => Box(r.Values, valueCount, static v => (float)v),
            RawColumnData<double> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<decimal> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<BigDecimal> r => Box(r.Values, valueCount, ToDecimal),
            // Timestamps not adjusted to UTC come back as wall-clock values marked Local; they are taken as UTC.
            RawColumnData<DateTime> r => Box(r.Values, valueCount, static v => DateTime.SpecifyKind(v, DateTimeKind.Utc)),
            RawColumnData<DateTimeOffset> r => Box(r.Values, valueCount, static v => v.UtcDateTime),
            RawColumnData<DateOnly> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<TimeSpan> r => Box(r.Values, valueCount, static v => v),
            RawColumnData<TimeOnly> r => Box(r.Values, valueCount, static v => v.ToTimeSpan()),
            RawColumnData<ReadOnlyMemory<char>> r => Box(r.Values, valueCount, static v => v.ToString()),
            RawColumnData<ReadOnlyMemory<byte>> r => Box(r.Values, valueCount, static v => v.ToArray()),
            RawColumnData<Guid> r => Box(r.Values, valueCount, static v => v.ToString("D")),
            _ => throw new NotSupportedException($"column '{Field.Path}' holds {raw.GetType().GenericTypeArguments.FirstOrDefault()?.Name} values, which this tool does not read."),
        };

        private object ToDecimal(BigDecimal value) =>
            ParquetSchemaMapping.ToDecimal(value.UnscaledValue, value.Scale)
            ?? throw new InvalidDataException(
                $"column '{Field.Path}' holds {value}, which has more significant digits than .NET decimal (28) can hold exactly.");

        /// <summary>The first <paramref name="count"/> values converted (all of them when count is -1).</summary>
        private static object?[] Box<T>(Span<T> values, int count, Func<T, object> convert)
        {
            if (count > values.Length) throw new InvalidDataException($"the column has {values.Length} values but its levels announce {count}.");
            if (count >= 0) values = values[..count];
            var boxed = new object?[values.Length];
            for (var i = 0; i < values.Length; i++) boxed[i] = convert(values[i]);
            return boxed;
        }
    }

    private abstract class ReadNode
    {
        protected ReadNode(IReadOnlyList<LeafColumn> leaves) => Leaves = leaves;

        /// <summary>Every leaf below this node; the first one decides nullness and list boundaries.</summary>
        public IReadOnlyList<LeafColumn> Leaves { get; }
        protected LeafColumn FirstLeaf => Leaves[0];

        public abstract object? Read();

        /// <summary>Moves past one null or empty instance: each leaf below has exactly one level entry for it.</summary>
        protected void Skip()
        {
            foreach (var leaf in Leaves) leaf.Take();
        }
    }

    private sealed class LeafNode(LeafColumn leaf) : ReadNode([leaf])
    {
        public override object? Read() => FirstLeaf.Take();
    }

    private sealed class StructNode(IReadOnlyList<SchemaField> fields, ReadNode?[] children, ReadNode? probe, int definedLevel)
        : ReadNode(children.Append(probe).Where(child => child is not null).SelectMany(child => child!.Leaves).ToList())
    {
        public override object? Read()
        {
            if (FirstLeaf.Definition < definedLevel)
            {
                Skip();
                return null;
            }
            var value = new Dictionary<string, object?>(fields.Count, StringComparer.Ordinal);
            for (var i = 0; i < fields.Count; i++) value[fields[i].Name] = children[i]?.Read();
            probe?.Read();
            return value;
        }
    }

    /// <summary>A list: null below <c>definedLevel</c>, empty at it, and elements continue while the repetition level equals <c>repeatedLevel</c>.</summary>
    private sealed class ListNode(ReadNode element, int definedLevel, int repeatedLevel) : ReadNode(element.Leaves)
    {
        public override object? Read()
        {
            var definition = FirstLeaf.Definition;
            if (definition <= definedLevel)
            {
                Skip();
                return definition < definedLevel ? null : new List<object?>(0);
            }
            var items = new List<object?>();
            do
            {
                items.Add(element.Read());
            }
            while (FirstLeaf.HasMore && FirstLeaf.Repetition == repeatedLevel);
            return items;
        }
    }

    private sealed class MapNode(ReadNode key, ReadNode value, int definedLevel, int repeatedLevel)
        : ReadNode(key.Leaves.Concat(value.Leaves).ToList())
    {
        public override object? Read()
        {
            var definition = FirstLeaf.Definition;
            if (definition <= definedLevel)
            {
                Skip();
                return definition < definedLevel ? null : new List<KeyValuePair<object, object?>>(0);
            }
            var entries = new List<KeyValuePair<object, object?>>();
            do
            {
                var entryKey = key.Read() ?? throw new InvalidDataException($"map column '{FirstLeaf.Field.Path}' has a null key.");
                entries.Add(new KeyValuePair<object, object?>(entryKey, value.Read()));
            }
            while (FirstLeaf.HasMore && FirstLeaf.Repetition == repeatedLevel);
            return entries;
        }
    }
}
