using System.Runtime.CompilerServices;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes one Parquet file: its row groups come from record chunks, encoded by Parquet.Net's row group writer, or from
/// <see cref="EncodedRowGroup"/>s copied from another file (<see cref="ParquetRowGroupCopier"/>). A chunk's columns are
/// already in the file's level layout (<see cref="ColumnLayout"/>), so they are appended to typed buffers as they are (no
/// per-record work); a row group is encoded when <see cref="RowGroupRecords"/> records or about <see cref="RowGroupBytes"/>
/// bytes are buffered, before an encoded row group, and at <see cref="CompleteAsync"/>. Parquet.Net encodes each into a
/// file of its own in memory, whose column chunks are moved into this one; the footer is this writer's, written by
/// <see cref="ParquetThrift"/> from the schema's template (<see cref="ParquetFileLayout"/>). <see cref="BytesWritten"/>
/// therefore grows a row group at a time. The output is written front to back and need not be seekable.
/// </summary>
public sealed class ParquetFileWriter : IFormatWriter
{
    /// <summary>
    /// Records per row group by default. Buffered values may be slices of the reader's decoded row groups, which they keep
    /// in memory: 50,000 instead of 100,000 took a Parquet to Parquet export's peak from about 425 to 340 MB, at the same speed.
    /// </summary>
    public const int DefaultRowGroupRecords = 50_000;
    public const long DefaultRowGroupBytes = 64L << 20;

    /// <summary>Most rows appended between two checks of the buffered size.</summary>
    private const int RowsPerAppend = 1024;

    private readonly Stream _output;
    private readonly CountingStream _counter;
    private readonly DatasetSchema _schema;
    /// <summary>The schema Parquet.Net encodes: the file's without its text leaves (null when only text is left).</summary>
    private readonly ParquetSchema? _parquetSchema;
    private readonly ParquetOptions _options;
    private readonly ColumnBuffer[] _leaves;

    /// <summary>Each leaf's path in the file's schema (a map's key or value Parquet.Net encodes alone sits in a list there).</summary>
    private readonly List<string>[] _paths;
    private readonly FileMetaData _footer;
    private readonly MemoryStream _encoded = new();
    private int _bufferedRecords;
    private bool _completed;

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
        _schema = schema;
        var nonText = WithoutText(schema);
        _parquetSchema = nonText is null ? null : ParquetSchemaMapping.ToParquetSchema(nonText);
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
        _footer = ParquetFileLayout.Template(schema);
        var codec = ParquetPageCodec.ToCodec(compression);
        _paths = ParquetFileLayout.Leaves(_footer.Schema).Select(leaf => leaf.Path.ToList()).ToArray();
        var dataFields = _parquetSchema?.GetDataFields() ?? [];
        var nextDataField = 0;
        _leaves = ColumnLayout.For(schema).Leaves.Select(leaf => leaf.Field.Kind == FieldKind.String
            ? new CopiedSliceColumnBuffer<char>(null, leaf, new ParquetTextColumnEncoder(codec, _paths[leaf.Index], leaf.MaxDefinition, leaf.MaxRepetition))
            : ColumnBuffer.Create(leaf, dataFields[nextDataField++])).ToArray();
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
        ObjectDisposedException.ThrowIf(_completed, this);
        if (!ReferenceEquals(chunk.Schema, _schema) && !chunk.Schema.Equals(_schema))
        {
            throw new ArgumentException($"The chunk's schema ({chunk.Schema}) is not the file's ({_schema}).", nameof(chunk));
        }
        var offset = 0;
        while (offset < chunk.RowCount)
        {
            var take = Math.Min(Math.Min(chunk.RowCount - offset, RowGroupRecords - _bufferedRecords), RowsPerAppend);
            var slice = chunk.Slice(offset, take);
            for (var i = 0; i < _leaves.Length; i++) _leaves[i].Append(slice.Columns[i]);
            offset += take;
            _bufferedRecords += take;
            RecordsWritten += take;
            if (_bufferedRecords >= RowGroupRecords || _leaves.Sum(leaf => leaf.ApproximateBytes) >= RowGroupBytes)
            {
                await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Places <paramref name="rowGroup"/> in the file after the rows buffered so far (encoded first, to keep the order).
    /// Its schema must be this file's: <see cref="ParquetRowGroupCopier"/> made it for the same dataset schema. The caller
    /// keeps and disposes it.
    /// </summary>
    internal async Task WriteAsync(EncodedRowGroup rowGroup, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rowGroup);
        ObjectDisposedException.ThrowIf(_completed, this);
        if (rowGroup.Metadata.Columns.Count != _leaves.Length)
        {
            throw new ArgumentException($"The row group has {rowGroup.Metadata.Columns.Count} columns; the file has {_leaves.Length}.", nameof(rowGroup));
        }
        await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
        await PlaceAsync(rowGroup.Metadata, rowGroup.Chunks, 0, cancellationToken).ConfigureAwait(false);
        RecordsWritten += rowGroup.RowCount;
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed) return;
        await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
        await WriteMagicOnceAsync(cancellationToken).ConfigureAwait(false);
        _encoded.SetLength(0);
        ParquetThrift.Write(_footer, _encoded);
        var footerLength = (int)_encoded.Length;
        _encoded.Write(BitConverter.GetBytes(footerLength));
        _encoded.Write(ParquetThrift.Magic);
        await _counter.WriteAsync(_encoded.GetBuffer().AsMemory(0, (int)_encoded.Length), cancellationToken).ConfigureAwait(false);
        await _counter.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    /// <summary>Without <see cref="CompleteAsync"/> nothing more reaches the output (no footer).</summary>
    public ValueTask DisposeAsync()
    {
        if (_completed) return ValueTask.CompletedTask;
        _counter.Abandon();
        _completed = true;
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Encodes the buffered rows as one row group: text columns with <see cref="ParquetTextColumnEncoder"/>, the others with
    /// Parquet.Net (a whole file in memory, whose column chunks are moved into this one), in the schema's column order.
    /// </summary>
    private async Task WriteRowGroupAsync(CancellationToken cancellationToken)
    {
        if (_bufferedRecords == 0) return;
        var encoded = ReadOnlyMemory<byte>.Empty;
        RowGroup? encodedByParquetNet = null;
        if (_parquetSchema is not null)
        {
            _encoded.SetLength(0);
            await using (var writer = await ParquetWriter.CreateAsync(_parquetSchema, _encoded, _options, append: false, cancellationToken).ConfigureAwait(false))
            {
                using var group = writer.CreateRowGroup();
                foreach (var leaf in _leaves)
                {
                    if (leaf.TextEncoder is null) await leaf.WriteAsync(group, cancellationToken).ConfigureAwait(false);
                }
                group.CompleteValidate();
            }
            encoded = _encoded.GetBuffer().AsMemory(0, (int)_encoded.Length);
            encodedByParquetNet = ParquetThrift.ReadFooter(encoded).RowGroups.Single();
        }
        // The chunks are placed back to back, each one's offsets moved from its own start to where it lands.
        var rowGroup = new RowGroup { Columns = [], NumRows = _bufferedRecords, TotalByteSize = 0 };
        var pieces = new List<ReadOnlyMemory<byte>>(_leaves.Length);
        long offset = 0;
        var nextEncoded = 0;
        for (var i = 0; i < _leaves.Length; i++)
        {
            var leaf = _leaves[i];
            ColumnChunk column;
            ReadOnlyMemory<byte> bytes;
            if (leaf.TextEncoder is { } text)
            {
                column = leaf.EncodeText();
                bytes = text.Chunk;
            }
            else
            {
                column = encodedByParquetNet!.Columns[nextEncoded++];
                var metadata = column.MetaData ?? throw new InvalidDataException("Parquet.Net wrote a column chunk without metadata.");
                metadata.PathInSchema = _paths[i];
                if (leaf.IsTimestamp && metadata.Statistics is { } statistics) leaf.CorrectStatistics(statistics);
                var start = ParquetThrift.ChunkStart(metadata);
                EncodedRowGroup.MoveOffsets(column, -start);
                bytes = encoded.Slice((int)start, checked((int)metadata.TotalCompressedSize));
            }
            EncodedRowGroup.MoveOffsets(column, offset);
            offset += bytes.Length;
            rowGroup.Columns.Add(column);
            rowGroup.TotalByteSize += column.MetaData!.TotalUncompressedSize;
            pieces.Add(bytes);
        }
        await PlaceAsync(rowGroup, pieces, 0, cancellationToken).ConfigureAwait(false);
        foreach (var leaf in _leaves) leaf.Clear();
        _bufferedRecords = 0;
    }

    /// <summary>
    /// Writes a row group's chunks (<paramref name="pieces"/> back to back, which began at <paramref name="origin"/> where its
    /// offsets were counted) and adds it to the footer.
    /// </summary>
    private async Task PlaceAsync(RowGroup rowGroup, IEnumerable<ReadOnlyMemory<byte>> pieces, long origin, CancellationToken cancellationToken)
    {
        await WriteMagicOnceAsync(cancellationToken).ConfigureAwait(false);
        var position = _counter.BytesWritten;
        EncodedRowGroup.MoveOffsets(rowGroup, position - origin);
        rowGroup.FileOffset = position;
        foreach (var piece in pieces) await _counter.WriteAsync(piece, cancellationToken).ConfigureAwait(false);
        rowGroup.Ordinal = checked((short)_footer.RowGroups.Count);
        rowGroup.TotalCompressedSize = _counter.BytesWritten - position;
        _footer.RowGroups.Add(rowGroup);
        _footer.NumRows += rowGroup.NumRows;
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="schema"/> without its text fields, for Parquet.Net to encode the other columns (null when none is
    /// left): a struct or list left with nothing goes too, and a map left with only its key or only its value becomes a list
    /// of it, which has the same levels. A leaf's levels depend only on its ancestors, so every leaf left keeps them.
    /// </summary>
    private static DatasetSchema? WithoutText(DatasetSchema schema)
    {
        var fields = schema.Fields.Select(WithoutText).OfType<SchemaField>().ToList();
        return fields.Count == 0 ? null : new DatasetSchema(fields);
    }

    private static SchemaField? WithoutText(SchemaField field)
    {
        switch (field.Kind)
        {
            case FieldKind.String:
                return null;
            case FieldKind.Struct:
                var children = field.ChildFields.Select(WithoutText).OfType<SchemaField>().ToList();
                return children.Count == 0 ? null : field with { Children = children };
            case FieldKind.List:
                return WithoutText(field.ChildFields[0]) is { } element ? field with { Children = [element] } : null;
            case FieldKind.Map:
                var key = WithoutText(field.ChildFields[0]);
                var value = WithoutText(field.ChildFields[1]);
                if (key is not null && value is not null) return field with { Children = [key, value] };
                // Map keys are written required whatever they declare.
                var left = key is not null ? key with { Nullable = false } : value;
                return left is null ? null : field with { Kind = FieldKind.List, Children = [left] };
            default:
                return field;
        }
    }

    private async Task WriteMagicOnceAsync(CancellationToken cancellationToken)
    {
        if (_counter.BytesWritten == 0) await _counter.WriteAsync(ParquetThrift.Magic.ToArray(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One leaf column of the row group being built: its levels and its non-null values, in reusable arrays.</summary>
    private abstract class ColumnBuffer(DataField? dataField, LeafLayout leaf)
    {
        private int[] _definitions = new int[1024];
        private int[] _repetitions = new int[1024];
        private int _levelCount;

        /// <summary>The Parquet.Net field that encodes this column; text columns have none (<see cref="TextEncoder"/>).</summary>
        protected DataField Field => dataField ?? throw new InvalidOperationException($"Column '{Leaf.Path}' is not encoded by Parquet.Net.");
        protected LeafLayout Leaf { get; } = leaf;

        public static ColumnBuffer Create(LeafLayout leaf, DataField field)
        {
            if (field.MaxDefinitionLevel != leaf.MaxDefinition || field.MaxRepetitionLevel != leaf.MaxRepetition)
            {
                throw new InvalidOperationException(
                    $"Column '{leaf.Path}': Parquet levels {field.MaxDefinitionLevel}/{field.MaxRepetitionLevel} differ from the layout's {leaf.MaxDefinition}/{leaf.MaxRepetition}.");
            }
            return leaf.Field.Kind switch
            {
                FieldKind.Boolean => new ColumnBuffer<bool>(field, leaf),
                FieldKind.Int32 => new ColumnBuffer<int>(field, leaf),
                FieldKind.Int64 => new ColumnBuffer<long>(field, leaf),
                FieldKind.Float => new ColumnBuffer<float>(field, leaf),
                FieldKind.Double => new ColumnBuffer<double>(field, leaf),
                FieldKind.Decimal => new ColumnBuffer<decimal>(field, leaf),
                FieldKind.Binary => new CopiedSliceColumnBuffer<byte>(field, leaf, null),
                FieldKind.Date => new ColumnBuffer<DateOnly>(field, leaf),
                FieldKind.Timestamp => new ColumnBuffer<DateTime>(field, leaf),
                // Times are stored as INT64 microseconds.
                FieldKind.Time => new TimeColumnBuffer(field, leaf),
                _ => throw new ArgumentOutOfRangeException(nameof(leaf), leaf.Field.Kind, $"Column '{leaf.Path}' is not a leaf."),
            };
        }

        /// <summary>Rough uncompressed size of what is buffered: levels plus values.</summary>
        public long ApproximateBytes { get; protected set; }

        public virtual bool IsTimestamp => false;

        /// <summary>The engine's encoder of this column when it is text (then <see cref="EncodeText"/>, not <see cref="WriteAsync"/>).</summary>
        public virtual ParquetTextColumnEncoder? TextEncoder => null;

        public virtual ColumnChunk EncodeText() => throw new InvalidOperationException($"Column '{Leaf.Path}' is not text.");

        public virtual void Clear()
        {
            _levelCount = 0;
            ApproximateBytes = 0;
        }

        [MethodImpl(CompileOptions.HotPath)]
        public void Append(ColumnData column)
        {
            if (Leaf.MaxDefinition > 0) AppendLevels(ref _definitions, column.Definitions.Span);
            if (Leaf.MaxRepetition > 0) AppendLevels(ref _repetitions, column.Repetitions.Span);
            _levelCount += column.LevelCount;
            ApproximateBytes += 2L * column.LevelCount;
            AppendValues(column);
        }

        public virtual void CorrectStatistics(Statistics statistics)
        {
        }

        public abstract Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken);

        protected abstract void AppendValues(ColumnData column);

        protected ReadOnlyMemory<int>? Definitions => Leaf.MaxDefinition > 0 ? _definitions.AsMemory(0, _levelCount) : null;
        protected ReadOnlyMemory<int>? Repetitions => Leaf.MaxRepetition > 0 ? _repetitions.AsMemory(0, _levelCount) : null;

        [MethodImpl(CompileOptions.HotPath)]
        private void AppendLevels(ref int[] buffer, ReadOnlySpan<int> levels)
        {
            EnsureCapacity(ref buffer, _levelCount, levels.Length);
            levels.CopyTo(buffer.AsSpan(_levelCount));
        }

        protected static void EnsureCapacity<T>(ref T[] buffer, int count, int more)
        {
            if (count + more <= buffer.Length) return;
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, count + more));
        }
    }

    private class ColumnBuffer<T>(DataField? field, LeafLayout leaf) : ColumnBuffer(field, leaf) where T : struct
    {
        private T[] _values = new T[1024];

        protected int ValueCount { get; private set; }
        protected ReadOnlyMemory<T> BufferedValues => _values.AsMemory(0, ValueCount);

        public override void Clear()
        {
            base.Clear();
            // Slices of strings and bytes keep the reader's memory alive until overwritten: let it go.
            if (RuntimeHelpers.IsReferenceOrContainsReferences<T>()) Array.Clear(_values, 0, ValueCount);
            ValueCount = 0;
        }

        protected override void AppendValues(ColumnData column) => Add(((ColumnData<T>)column).Values.Span);

        /// <summary>Appends <paramref name="values"/>; returns where they now are in the buffer.</summary>
        [MethodImpl(CompileOptions.HotPath)]
        protected Span<T> Add(ReadOnlySpan<T> values)
        {
            EnsureCapacity(ref _values, ValueCount, values.Length);
            var added = _values.AsSpan(ValueCount, values.Length);
            values.CopyTo(added);
            ValueCount += values.Length;
            ApproximateBytes += SizeOf(values);
            return added;
        }

        public override bool IsTimestamp => typeof(T) == typeof(DateTime);

        /// <summary>
        /// Sets min/max to the row group's extreme timestamps as INT64 microseconds since the epoch (how the values are stored):
        /// Parquet.Net 6.1.0 encodes them in milliseconds whatever the unit (aloneguid/parquet-dotnet#769), so readers that
        /// prune row groups by statistics (DuckDB, Spark) would skip rows that match.
        /// </summary>
        public override void CorrectStatistics(Statistics statistics)
        {
            var timestamps = ((DateTime[])(object)_values).AsSpan(0, ValueCount);
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

        // Parquet.Net counts rows from the levels; a flat required column has none, so it goes through the plain overload.
        public override Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken) =>
            Leaf.MaxDefinition == 0 && Leaf.MaxRepetition == 0
                ? group.WriteAsync<T>(Field, BufferedValues, null, null, cancellationToken)
                : group.WriteAllPartsAsync<T>(Field, BufferedValues, Definitions, Repetitions, cancellationToken);

        /// <summary>Text and bytes by their length, the rest by their size (the casts through object compile away per T).</summary>
        [MethodImpl(CompileOptions.HotPath)]
        private static long SizeOf(ReadOnlySpan<T> values)
        {
            long sum = 0;
            if (typeof(T) == typeof(ReadOnlyMemory<char>))
            {
                foreach (var value in values) sum += ((ReadOnlyMemory<char>)(object)value).Length;
            }
            else if (typeof(T) == typeof(ReadOnlyMemory<byte>))
            {
                foreach (var value in values) sum += ((ReadOnlyMemory<byte>)(object)value).Length;
            }
            else
            {
                sum = (long)values.Length * Unsafe.SizeOf<T>();
            }
            return sum;
        }
    }

    /// <summary>
    /// Text and bytes: the chunk's values are slices of its reader's memory, which is the reader's again once
    /// <see cref="WriteAsync(RecordChunk, CancellationToken)"/> returns (<see cref="RecordChunk.Release"/>), while the row
    /// group waits for more rows. So each value is copied into blocks of this buffer, reused from one row group to the next.
    /// </summary>
    private sealed class CopiedSliceColumnBuffer<TItem>(DataField? field, LeafLayout leaf, ParquetTextColumnEncoder? textEncoder)
        : ColumnBuffer<ReadOnlyMemory<TItem>>(field, leaf)
    {
        private const int BlockLength = 256 * 1024;

        private readonly List<TItem[]> _blocks = [];
        private int _block;
        private int _used;

        public override void Clear()
        {
            base.Clear();
            _block = 0;
            _used = 0;
        }

        public override ParquetTextColumnEncoder? TextEncoder => textEncoder;

        public override ColumnChunk EncodeText() => textEncoder is null
            ? base.EncodeText()
            : textEncoder.Encode(((ReadOnlyMemory<ReadOnlyMemory<char>>)(object)BufferedValues).Span, (Definitions ?? default).Span, (Repetitions ?? default).Span);

        [MethodImpl(CompileOptions.HotPath)]
        protected override void AppendValues(ColumnData column)
        {
            foreach (ref var value in Add(((ColumnData<ReadOnlyMemory<TItem>>)column).Values.Span)) value = Copy(value.Span);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private ReadOnlyMemory<TItem> Copy(ReadOnlySpan<TItem> value)
        {
            if (value.Length > BlockLength) return value.ToArray();
            if (_block == _blocks.Count || BlockLength - _used < value.Length)
            {
                if (_block < _blocks.Count) _block++;
                if (_block == _blocks.Count) _blocks.Add(new TItem[BlockLength]);
                _used = 0;
            }
            var copy = _blocks[_block].AsMemory(_used, value.Length);
            value.CopyTo(copy.Span);
            _used += value.Length;
            return copy;
        }
    }

    /// <summary>Times arrive as TimeSpan and are stored as INT64 microseconds.</summary>
    private sealed class TimeColumnBuffer(DataField field, LeafLayout leaf) : ColumnBuffer<long>(field, leaf)
    {
        protected override void AppendValues(ColumnData column)
        {
            var times = ((ColumnData<TimeSpan>)column).Values.Span;
            Span<long> micros = times.Length <= 1024 ? stackalloc long[times.Length] : new long[times.Length];
            for (var i = 0; i < times.Length; i++) micros[i] = times[i].Ticks / 10;
            Add(micros);
        }
    }
}
