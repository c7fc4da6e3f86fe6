using System.IO.Compression;
using System.Runtime.CompilerServices;
using Parquet;
using Parquet.Data;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Reads Parquet batches one row group at a time through Parquet.Net's column API and reassembles nested values
/// from repetition and definition levels. A row group's columns stay in their compact decoded form; records are built
/// from them in chunks of at most <see cref="ChunkSize"/>, so memory holds one row group's columns plus one chunk.
/// <c>.parquet.gz</c> batches are first decompressed to a temporary file (Parquet needs to seek), deleted afterwards.
/// </summary>
public sealed class ParquetBatchReader : IBatchReader
{
    public const int DefaultChunkSize = 10_000;

    /// <param name="chunkSize">Most records in one chunk.</param>
    /// <param name="temporaryFolder">Where <c>.parquet.gz</c> batches are decompressed; the system temp folder when null.</param>
    public ParquetBatchReader(int chunkSize = DefaultChunkSize, string? temporaryFolder = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ChunkSize = chunkSize;
        TemporaryFolder = temporaryFolder ?? Path.GetTempPath();
    }

    /// <summary>Most records in one chunk; a row group larger than this yields several chunks.</summary>
    public int ChunkSize { get; }

    /// <summary>Where gzipped batches are decompressed to <c>dataset-export-&lt;guid&gt;.parquet</c> while they are read.</summary>
    public string TemporaryFolder { get; }

    public BatchFormat Format => BatchFormat.Parquet;

    public async Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        await using var file = await ParquetFile.OpenAsync(path, gzipped, TemporaryFolder, cancellationToken).ConfigureAwait(false);
        return file.Schema;
    }

    public async Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        await using var file = await ParquetFile.OpenAsync(path, gzipped, TemporaryFolder, cancellationToken).ConfigureAwait(false);
        return file.Reader.RowGroups.Sum(group => group.RowCount);
    }

    public async IAsyncEnumerable<RecordChunk> ReadAsync(
        string path, bool gzipped, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        await using var file = await ParquetFile.OpenAsync(path, gzipped, TemporaryFolder, cancellationToken).ConfigureAwait(false);
        var plan = RowGroupPlan.Create(file, schema, path);
        try
        {
            for (var groupIndex = 0; groupIndex < file.Reader.RowGroupCount; groupIndex++)
            {
                var location = $"row group {groupIndex}";
                await Guard(path, location, () => plan.LoadAsync(file.Reader, groupIndex, cancellationToken)).ConfigureAwait(false);
                while (plan.RowsLeft > 0)
                {
                    var records = Guard(path, location, () => plan.Assemble(ChunkSize));
                    yield return new RecordChunk(schema, records);
                }
            }
        }
        finally
        {
            plan.Release();
        }
    }

    /// <summary>Runs one step of reading; any failure that is not a cancellation becomes a <see cref="BatchReadException"/> at <paramref name="location"/>.</summary>
    private static T Guard<T>(string path, string location, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (Exception error) when (error is not OperationCanceledException and not BatchReadException)
        {
            throw new BatchReadException(path, location, error.Message, error);
        }
    }

    private static async Task<T> Guard<T>(string path, string location, Func<Task<T>> step)
    {
        try
        {
            return await step().ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException and not BatchReadException)
        {
            throw new BatchReadException(path, location, error.Message, error);
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

        public static async Task<ParquetFile> OpenAsync(string path, bool gzipped, string temporaryFolder, CancellationToken cancellationToken)
        {
            string? temporaryPath = null;
            try
            {
                var readPath = path;
                if (gzipped)
                {
                    temporaryPath = await DecompressToTemporaryFileAsync(path, temporaryFolder, cancellationToken).ConfigureAwait(false);
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

        private static async Task<string> DecompressToTemporaryFileAsync(string path, string temporaryFolder, CancellationToken cancellationToken)
        {
            var temporaryPath = Path.Combine(temporaryFolder, $"dataset-export-{Guid.NewGuid():N}.parquet");
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

        /// <summary>Rows of the loaded row group not yet assembled into records.</summary>
        public long RowsLeft { get; private set; }

        /// <summary>Decodes every needed column of a row group and returns its row count.</summary>
        public async Task<long> LoadAsync(ParquetReader reader, int groupIndex, CancellationToken cancellationToken)
        {
            Release();
            using var group = reader.OpenRowGroupReader(groupIndex);
            foreach (var leaf in _leaves)
            {
                cancellationToken.ThrowIfCancellationRequested();
                leaf.Load(await group.ReadRawColumnDataBaseAsync(leaf.Field, cancellationToken).ConfigureAwait(false));
            }
            RowsLeft = group.RowCount;
            return RowsLeft;
        }

        /// <summary>
        /// Up to <paramref name="maxCount"/> next records of the loaded row group. After its last row, checks that every
        /// column was consumed exactly and frees the decoded columns.
        /// </summary>
        public List<Record> Assemble(int maxCount)
        {
            var count = (int)Math.Min(maxCount, RowsLeft);
            var records = new List<Record>(count);
            var fields = _target.Fields;
            for (var row = 0; row < count; row++)
            {
                var record = new Record(fields.Count);
                for (var i = 0; i < fields.Count; i++) record[fields[i].Name] = _columns[i]?.Read();
                records.Add(record);
            }
            RowsLeft -= count;
            if (RowsLeft == 0)
            {
                foreach (var leaf in _leaves) leaf.VerifyConsumed();
                Release();
            }
            return records;
        }

        public void Release()
        {
            foreach (var leaf in _leaves) leaf.Release();
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

    /// <summary>
    /// One leaf column of the current row group: Parquet.Net's decoded data (levels and the non-null values, which come
    /// first in the value span) and a cursor. Values are converted to record values only when taken.
    /// </summary>
    private sealed class LeafColumn
    {
        private readonly FieldKind _kind;
        private readonly Func<object, object>? _widen;
        private readonly TimeUnitPrecision? _timeUnit;
        private RawColumnData? _raw;
        private ValueSource? _values;
        private int _count;
        private int _valueCount;
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
        public int Definition => MaxDefinition == 0 ? 0 : _raw!.DefinitionLevels[Position];
        public int Repetition => MaxRepetition == 0 ? 0 : _raw!.RepetitionLevels[Position];

        public void Load(RawColumnData raw)
        {
            _raw = raw;
            _values = CreateSource(raw);
            if (MaxDefinition == 0)
            {
                _count = _valueCount = _values.Length;
            }
            else
            {
                var definitions = raw.DefinitionLevels;
                _count = definitions.Length;
                _valueCount = 0;
                foreach (var definition in definitions)
                {
                    if (definition == MaxDefinition) _valueCount++;
                }
                if (_valueCount > _values.Length)
                {
                    throw new InvalidDataException($"column '{Field.Path}' has {_values.Length} values but its levels announce {_valueCount}.");
                }
            }
            Position = 0;
            _valueIndex = 0;
        }

        /// <summary>The value at the cursor (null below the maximum definition level), then advances.</summary>
        public object? Take()
        {
            if (Position >= _count) throw new InvalidDataException($"column '{Field.Path}' has fewer values than rows.");
            object? value = null;
            if (Definition == MaxDefinition)
            {
                value = _values!.Get(_valueIndex++);
                if (_widen is not null) value = _widen(value);
            }
            Position++;
            return value;
        }

        public void VerifyConsumed()
        {
            if (Position != _count || _valueIndex != _valueCount)
            {
                throw new InvalidDataException(
                    $"column '{Field.Path}' has {_count} level entries and {_valueCount} values, which do not match the row count.");
            }
        }

        public void Release()
        {
            _raw?.Dispose();
            _raw = null;
            _values = null;
        }

        private ValueSource CreateSource(RawColumnData raw) => raw switch
        {
            RawColumnData<bool> r => new ValueSource<bool>(r, static v => v),
            RawColumnData<sbyte> r => new ValueSource<sbyte>(r, static v => (int)v),
            RawColumnData<byte> r => new ValueSource<byte>(r, static v => (int)v),
            RawColumnData<short> r => new ValueSource<short>(r, static v => (int)v),
            RawColumnData<ushort> r => new ValueSource<ushort>(r, static v => (int)v),
            RawColumnData<int> r when _kind == FieldKind.Time => new ValueSource<int>(r, static v => TimeSpan.FromMilliseconds(v)),
            RawColumnData<int> r => new ValueSource<int>(r, static v => v),
            RawColumnData<uint> r => new ValueSource<uint>(r, static v => (long)v),
            RawColumnData<long> r when _kind == FieldKind.Time && _timeUnit == TimeUnitPrecision.Nanos => new ValueSource<long>(r, static v => TimeSpan.FromTicks(v / 100)),
            RawColumnData<long> r when _kind == FieldKind.Time => new ValueSource<long>(r, static v => TimeSpan.FromTicks(v * 10)),
            RawColumnData<long> r => new ValueSource<long>(r, static v => v),
            RawColumnData<ulong> r => new ValueSource<ulong>(r, static v => (decimal)v),
            RawColumnData<float> r => new ValueSource<float>(r, static v => v),
            RawColumnData<Half> r => new ValueSource<Half>(r, static v => (float)v),
            RawColumnData<double> r => new ValueSource<double>(r, static v => v),
            RawColumnData<decimal> r => new ValueSource<decimal>(r, static v => v),
            RawColumnData<BigDecimal> r => new ValueSource<BigDecimal>(r, ToDecimal),
            // Timestamps not adjusted to UTC come back as wall-clock values marked Local; they are taken as UTC.
            RawColumnData<DateTime> r => new ValueSource<DateTime>(r, static v => DateTime.SpecifyKind(v, DateTimeKind.Utc)),
            RawColumnData<DateTimeOffset> r => new ValueSource<DateTimeOffset>(r, static v => v.UtcDateTime),
            RawColumnData<DateOnly> r => new ValueSource<DateOnly>(r, static v => v),
            RawColumnData<TimeSpan> r => new ValueSource<TimeSpan>(r, static v => v),
            RawColumnData<TimeOnly> r => new ValueSource<TimeOnly>(r, static v => v.ToTimeSpan()),
            RawColumnData<ReadOnlyMemory<char>> r => new ValueSource<ReadOnlyMemory<char>>(r, static v => v.ToString()),
            RawColumnData<ReadOnlyMemory<byte>> r when _kind == FieldKind.String => new ValueSource<ReadOnlyMemory<byte>>(r, static v => System.Text.Encoding.UTF8.GetString(v.Span)),
            RawColumnData<ReadOnlyMemory<byte>> r => new ValueSource<ReadOnlyMemory<byte>>(r, static v => v.ToArray()),
            RawColumnData<Guid> r => new ValueSource<Guid>(r, static v => v.ToString("D")),
            _ => throw new NotSupportedException($"column '{Field.Path}' holds {raw.GetType().GenericTypeArguments.FirstOrDefault()?.Name} values, which this tool does not read."),
        };

        private object ToDecimal(BigDecimal value) =>
            ParquetSchemaMapping.ToDecimal(value.UnscaledValue, value.Scale)
            ?? throw new InvalidDataException(
                $"column '{Field.Path}' holds {value}, which has more significant digits than .NET decimal (28) can hold exactly.");
    }

    private abstract class ValueSource
    {
        public abstract int Length { get; }
        public abstract object Get(int index);
    }

    /// <summary>Typed access to a decoded column's values, converted to the record value type on demand.</summary>
    private sealed class ValueSource<T>(RawColumnData<T> raw, Func<T, object> convert) : ValueSource where T : struct
    {
        public override int Length => raw.Values.Length;
        public override object Get(int index) => convert(raw.Values[index]);
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
