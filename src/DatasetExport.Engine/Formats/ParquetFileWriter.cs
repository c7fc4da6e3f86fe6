using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes one Parquet file: its row groups come from record chunks, encoded column by column by the engine's encoders
/// (<see cref="ParquetByteArrayColumnEncoder"/> for text and binaries, <see cref="ParquetValueColumnEncoder{T}"/> for the rest),
/// or from <see cref="EncodedRowGroup"/>s copied from another file (<see cref="ParquetRowGroupCopier"/>). A chunk's columns
/// are already in the file's level layout (<see cref="ColumnLayout"/>), so they are appended to typed buffers as they are (no
/// per-record work); a row group is encoded when <see cref="RowGroupRecords"/> records or about <see cref="RowGroupBytes"/>
/// bytes are buffered, before an encoded row group, and at <see cref="CompleteAsync"/>, its columns on several threads at
/// once. The footer is this writer's, written by <see cref="ParquetThrift"/> from the template Parquet.Net writes for the
/// schema (<see cref="ParquetFileLayout"/>). <see cref="BytesWritten"/> therefore grows a row group at a time. The output is
/// written front to back and need not be seekable.
/// </summary>
public sealed class ParquetFileWriter : IFormatWriter
{
    /// <summary>
    /// Records per row group by default. Buffered values may be slices of the reader's decoded row groups, which they keep
    /// in memory: 50,000 instead of 100,000 took a Parquet to Parquet export's peak from about 425 to 340 MB, at the same speed.
    /// </summary>
    public const int DefaultRowGroupRecords = 50_000;

    /// <summary>
    /// Bytes held (<see cref="BufferedBytes"/>) that close a row group by default. The buffers' growth and the encoded chunks
    /// take about as much again at the peak: 2,000 lines of 5,000 text columns peaked at 323 MB with 64 MiB, 274 MB with 32.
    /// Narrow rows reach <see cref="DefaultRowGroupRecords"/> first (the benchmark's web events hold less than 32 MiB at 50,000).
    /// </summary>
    public const long DefaultRowGroupBytes = 32L << 20;

    /// <summary>
    /// Leaves up to which each encoder keeps its own scratch (<see cref="ParquetEncoderScratch"/>), sized for its own pages
    /// from row group to row group; past it the encoders share a few, one per column encoded at once. Shared by the 17
    /// leaves of the benchmark's web events, each scratch grew to the largest page: 130 MB of byte arrays allocated for
    /// JSON Lines → Parquet snappy 1 M rows against 92 MB with one per column; 5,000 leaves of 500 text rows: 335 MB
    /// allocated with one per column, 52 MB shared.
    /// </summary>
    internal const int SharedScratchAboveLeaves = 64;

    /// <summary>
    /// Most rows appended between two checks of the buffered size. Fewer when rows are wide: an append takes the rows that
    /// fill what is left of <see cref="RowGroupBytes"/> at the bytes per row buffered so far (<see cref="RowsToAppend"/>), so a
    /// row group of 2,000 rows of 5,000 text columns (135 KB a row) closes near its size, not 1,024 rows (138 MB) past a check.
    /// </summary>
    private const int RowsPerAppend = 1024;

    /// <summary>Rows of a file's first append, before any row's size is known.</summary>
    private const int FirstRowsPerAppend = 16;

    private readonly Stream _output;
    private readonly CountingStream _counter;
    private readonly DatasetSchema _schema;
    private readonly ColumnBuffer[] _leaves;
    private readonly CompressionKind _compression;
    private readonly ColumnShelf? _shelf;
    private readonly FileMetaData _footer;
    private readonly MemoryStream _encoded = new();
    private int _bufferedRecords;
    private long _bufferedBytes;
    // Bytes per row of the rows appended last (-1 before the first append), which sizes the next append.
    private double _bytesPerRow = -1;
    private bool _completed;

    public ParquetFileWriter(
        Stream output, DatasetSchema schema, CompressionKind compression,
        int rowGroupRecords = DefaultRowGroupRecords, long rowGroupBytes = DefaultRowGroupBytes)
        : this(output, schema, compression, rowGroupRecords, rowGroupBytes, shelf: null)
    {
    }

    /// <param name="shelf">Where column buffers come from and go back to once the file is complete: the files of one export share them.</param>
    internal ParquetFileWriter(
        Stream output, DatasetSchema schema, CompressionKind compression,
        int rowGroupRecords, long rowGroupBytes, ColumnShelf? shelf)
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
        _footer = ParquetFileLayout.Template(schema);
        _footer.CreatedBy = ParquetFileLayout.CreatedBy;
        _compression = compression;
        _shelf = shelf;
        _leaves = shelf?.Take(schema, compression) ?? NewLeaves(schema, compression, _footer);
    }

    private static ColumnBuffer[] NewLeaves(DatasetSchema schema, CompressionKind compression, FileMetaData footer)
    {
        var codec = ParquetPageCodec.ToCodec(compression);
        var files = ParquetFileLayout.Leaves(footer.Schema);
        var leaves = ColumnLayout.For(schema).Leaves;
        // Many leaves' encoders share their scratch: a few are in use at once (Parallel.For in WriteRowGroupAsync).
        var scratch = leaves.Count > SharedScratchAboveLeaves ? new ParquetEncoderScratch.Shelf() : null;
        return leaves.Select(leaf => ColumnBuffer.Create(leaf, files[leaf.Index], codec, scratch)).ToArray();
    }

    /// <summary>Most records in one row group.</summary>
    public int RowGroupRecords { get; }

    /// <summary>
    /// Bytes buffered (<see cref="BufferedBytes"/>) that close a row group early (wide rows): it closes once they reach this,
    /// after at most the rows of one append past it (one row when rows are alike).
    /// </summary>
    public long RowGroupBytes { get; }

    /// <summary>
    /// Bytes the rows buffered for the next row group hold in this writer's buffers: each level 4 bytes (per level kind the
    /// column has), each fixed-width value its stored size, each text or binary value its bytes plus its 16-byte slice.
    /// </summary>
    internal long BufferedBytes => _bufferedBytes;

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
            var take = Math.Min(Math.Min(chunk.RowCount - offset, RowGroupRecords - _bufferedRecords), RowsToAppend());
            var slice = chunk.Slice(offset, take);
            long added = 0;
            for (var i = 0; i < _leaves.Length; i++) added += _leaves[i].Append(slice.Columns[i]);
            _bytesPerRow = (double)added / take;
            _bufferedBytes += added;
            offset += take;
            _bufferedRecords += take;
            RecordsWritten += take;
            if (_bufferedRecords >= RowGroupRecords || _bufferedBytes >= RowGroupBytes)
            {
                await WriteRowGroupAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Rows the next append takes at most: those that fill what is left of <see cref="RowGroupBytes"/> at the size of the
    /// rows appended last (at least one), up to <see cref="RowsPerAppend"/>.
    /// </summary>
    private int RowsToAppend()
    {
        if (_bytesPerRow < 0) return FirstRowsPerAppend;
        if (_bytesPerRow == 0) return RowsPerAppend;
        var fit = Math.Ceiling((RowGroupBytes - _bufferedBytes) / _bytesPerRow);
        return (int)Math.Clamp(fit, 1, RowsPerAppend);
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
        _shelf?.Put(_schema, _compression, _leaves);
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
    /// Encodes the buffered rows as one row group, its columns at once on the thread pool (each column's buffers and encoder
    /// are its own; an encoder takes a scratch of its own from the shelf they share while it encodes), and places them in
    /// the schema's column order.
    /// </summary>
    private async Task WriteRowGroupAsync(CancellationToken cancellationToken)
    {
        if (_bufferedRecords == 0) return;
        var columns = new ColumnChunk[_leaves.Length];
        try
        {
            Parallel.For(0, _leaves.Length, new ParallelOptions { CancellationToken = cancellationToken }, i => columns[i] = _leaves[i].Encode());
        }
        catch (AggregateException error) when (error.InnerExceptions.Count == 1)
        {
            // The column's own exception, as when the columns were encoded one after the other.
            ExceptionDispatchInfo.Throw(error.InnerExceptions[0]);
        }
        // The chunks are placed back to back, each one's offsets moved from its own start to where it lands.
        var rowGroup = new RowGroup { Columns = [], NumRows = _bufferedRecords, TotalByteSize = 0 };
        var pieces = new ReadOnlyMemory<byte>[_leaves.Length];
        long offset = 0;
        for (var i = 0; i < _leaves.Length; i++)
        {
            var column = columns[i];
            pieces[i] = _leaves[i].Chunk;
            EncodedRowGroup.MoveOffsets(column, offset);
            offset += pieces[i].Length;
            rowGroup.Columns.Add(column);
            rowGroup.TotalByteSize += column.MetaData!.TotalUncompressedSize;
        }
        await PlaceAsync(rowGroup, pieces, 0, cancellationToken).ConfigureAwait(false);
        foreach (var leaf in _leaves) leaf.Clear();
        _bufferedRecords = 0;
        _bufferedBytes = 0;
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

    private async Task WriteMagicOnceAsync(CancellationToken cancellationToken)
    {
        if (_counter.BytesWritten == 0) await _counter.WriteAsync(ParquetThrift.Magic.ToArray(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The column buffers (and encoders) of the last file completed, for the next file of the same schema and compression:
    /// its text blocks, value and level arrays and page buffers, grown to a row group's size, would otherwise be dropped
    /// with every part of an export.
    /// </summary>
    internal sealed class ColumnShelf
    {
        private readonly object _lock = new();
        private (DatasetSchema Schema, CompressionKind Compression, ColumnBuffer[] Leaves)? _kept;

        internal ColumnBuffer[]? Take(DatasetSchema schema, CompressionKind compression)
        {
            lock (_lock)
            {
                if (_kept is not { } kept || kept.Compression != compression || !(ReferenceEquals(kept.Schema, schema) || kept.Schema.Equals(schema))) return null;
                _kept = null;
                return kept.Leaves;
            }
        }

        /// <summary>Keeps <paramref name="leaves"/>, emptied (every row group written), in place of any kept before.</summary>
        internal void Put(DatasetSchema schema, CompressionKind compression, ColumnBuffer[] leaves)
        {
            lock (_lock) _kept = (schema, compression, leaves);
        }
    }

    /// <summary>
    /// One leaf column of the row group being built: its levels and its non-null values in reusable arrays, and its encoder.
    /// The arrays start empty and grow with the rows appended (to twice their length or what is needed): 1,024 entries each
    /// up front took 20,000 columns 320 MB before a row came.
    /// </summary>
    internal abstract class ColumnBuffer(LeafLayout leaf)
    {
        private int[] _definitions = [];
        private int[] _repetitions = [];
        private int _levelCount;

        protected LeafLayout Leaf { get; } = leaf;

        /// <summary>
        /// The buffer of <paramref name="leaf"/>, whose values are stored as <paramref name="column"/> (the leaf in the file's
        /// schema) says: timestamps and times as INT64 microseconds, dates as INT32 days, decimals by their precision.
        /// </summary>
        public static ColumnBuffer Create(LeafLayout leaf, LeafColumn column, CompressionCodec codec, ParquetEncoderScratch.Shelf? scratch = null)
        {
            var path = column.Path;
            var (type, length, maxDefinition, maxRepetition, _, _, scale) = column.Signature;
            if (maxDefinition != leaf.MaxDefinition || maxRepetition != leaf.MaxRepetition)
            {
                throw new InvalidOperationException(
                    $"Column '{leaf.Path}': Parquet levels {maxDefinition}/{maxRepetition} differ from the layout's {leaf.MaxDefinition}/{leaf.MaxRepetition}.");
            }
            // Every encoder of the column: its codec, path and levels, and the writer's shared scratch.
            ParquetValueColumnEncoder<T> Values<T>(int fixedLength = 0) where T : unmanaged =>
                new(codec, path, maxDefinition, maxRepetition, fixedLength, scratch);
            ParquetByteArrayColumnEncoder Bytes(bool text) => new(codec, path, maxDefinition, maxRepetition, text, scratch);
            return leaf.Field.Kind switch
            {
                FieldKind.Boolean => new ValueColumnBuffer<bool>(leaf, Values<bool>()),
                FieldKind.Int32 => new ValueColumnBuffer<int>(leaf, Values<int>()),
                FieldKind.Int64 => new ValueColumnBuffer<long>(leaf, Values<long>()),
                FieldKind.Float => new ValueColumnBuffer<float>(leaf, Values<float>()),
                FieldKind.Double => new ValueColumnBuffer<double>(leaf, Values<double>()),
                FieldKind.Date => new DateColumnBuffer(leaf, Values<int>()),
                FieldKind.Timestamp => new TimestampColumnBuffer(leaf, Values<long>()),
                FieldKind.Time => new TimeColumnBuffer(leaf, Values<long>()),
                FieldKind.Decimal => type switch
                {
                    Parquet.Meta.Type.INT32 => new DecimalColumnBuffer<int>(leaf, Values<int>(), scale ?? 0),
                    Parquet.Meta.Type.INT64 => new DecimalColumnBuffer<long>(leaf, Values<long>(), scale ?? 0),
                    Parquet.Meta.Type.FIXED_LEN_BYTE_ARRAY => new DecimalColumnBuffer<Int128>(leaf, Values<Int128>(length ?? 0), scale ?? 0),
                    _ => throw new InvalidOperationException($"Column '{leaf.Path}': decimals are not written as {type}."),
                },
                FieldKind.String => new ByteArrayColumnBuffer(leaf, Bytes(text: true)),
                FieldKind.Binary => new ByteArrayColumnBuffer(leaf, Bytes(text: false)),
                _ => throw new ArgumentOutOfRangeException(nameof(leaf), leaf.Field.Kind, $"Column '{leaf.Path}' is not a leaf."),
            };
        }

        /// <summary>The bytes of the chunk <see cref="Encode"/> made last.</summary>
        public abstract ReadOnlyMemory<byte> Chunk { get; }

        /// <summary>Encodes what is buffered as a column chunk (its bytes in <see cref="Chunk"/>, offsets from their start).</summary>
        public abstract ColumnChunk Encode();

        public virtual void Clear()
        {
            _levelCount = 0;
        }

        /// <summary>Appends <paramref name="column"/>'s entries; returns the bytes they take in this buffer (see <see cref="BufferedBytes"/>).</summary>
        [MethodImpl(CompileOptions.HotPath)]
        public long Append(ColumnData column)
        {
            if (Leaf.MaxDefinition > 0) AppendLevels(ref _definitions, column.Definitions.Span);
            if (Leaf.MaxRepetition > 0) AppendLevels(ref _repetitions, column.Repetitions.Span);
            _levelCount += column.LevelCount;
            return (long)Leaf.LevelBytes * column.LevelCount + AppendValues(column);
        }

        /// <summary>Appends the column's values; returns the bytes they take here.</summary>
        protected abstract long AppendValues(ColumnData column);

        protected ReadOnlySpan<int> Definitions => Leaf.MaxDefinition > 0 ? _definitions.AsSpan(0, _levelCount) : default;
        protected ReadOnlySpan<int> Repetitions => Leaf.MaxRepetition > 0 ? _repetitions.AsSpan(0, _levelCount) : default;

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

    /// <summary>A leaf whose buffered values are of <typeparamref name="T"/>.</summary>
    private abstract class ColumnBuffer<T>(LeafLayout leaf) : ColumnBuffer(leaf)
    {
        private T[] _values = [];

        protected int ValueCount { get; private set; }
        protected ReadOnlySpan<T> BufferedValues => _values.AsSpan(0, ValueCount);

        public override void Clear()
        {
            base.Clear();
            // Slices of strings and bytes keep the reader's memory alive until overwritten: let it go.
            if (RuntimeHelpers.IsReferenceOrContainsReferences<T>()) Array.Clear(_values, 0, ValueCount);
            ValueCount = 0;
        }

        /// <summary>Room for <paramref name="count"/> more values at the end of the buffer, counted as buffered.</summary>
        [MethodImpl(CompileOptions.HotPath)]
        protected Span<T> Reserve(int count)
        {
            EnsureCapacity(ref _values, ValueCount, count);
            var added = _values.AsSpan(ValueCount, count);
            ValueCount += count;
            return added;
        }
    }

    /// <summary>A fixed-width leaf: values buffered as they are stored (<typeparamref name="T"/>, the physical type).</summary>
    private class ValueColumnBuffer<T>(LeafLayout leaf, ParquetValueColumnEncoder<T> encoder) : ColumnBuffer<T>(leaf) where T : unmanaged
    {
        public override ReadOnlyMemory<byte> Chunk => encoder.Chunk;

        public override ColumnChunk Encode() => encoder.Encode(BufferedValues, Definitions, Repetitions);

        /// <summary>Each value takes its stored size (<typeparamref name="T"/>).</summary>
        protected sealed override long AppendValues(ColumnData column)
        {
            StoreValues(column);
            return (long)column.ValueCount * Unsafe.SizeOf<T>();
        }

        /// <summary>Stores the column's values (<see cref="Stored"/>).</summary>
        protected virtual void StoreValues(ColumnData column) => Add(((ColumnData<T>)column).Values.Span);

        [MethodImpl(CompileOptions.HotPath)]
        private void Add(ReadOnlySpan<T> values) => values.CopyTo(Stored(values.Length));

        /// <summary>Room for <paramref name="count"/> stored values.</summary>
        protected Span<T> Stored(int count) => Reserve(count);
    }

    /// <summary>Dates arrive as DateOnly and are stored as INT32 days since 1970-01-01.</summary>
    private sealed class DateColumnBuffer(LeafLayout leaf, ParquetValueColumnEncoder<int> encoder) : ValueColumnBuffer<int>(leaf, encoder)
    {
        private static readonly int EpochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

        protected override void StoreValues(ColumnData column)
        {
            var dates = ((ColumnData<DateOnly>)column).Values.Span;
            var days = Stored(dates.Length);
            for (var i = 0; i < dates.Length; i++) days[i] = dates[i].DayNumber - EpochDay;
        }
    }

    /// <summary>Timestamps arrive as UTC DateTime and are stored as INT64 microseconds since the epoch.</summary>
    private sealed class TimestampColumnBuffer(LeafLayout leaf, ParquetValueColumnEncoder<long> encoder) : ValueColumnBuffer<long>(leaf, encoder)
    {
        [MethodImpl(CompileOptions.HotPath)]
        protected override void StoreValues(ColumnData column)
        {
            var timestamps = ((ColumnData<DateTime>)column).Values.Span;
            var micros = Stored(timestamps.Length);
            for (var i = 0; i < timestamps.Length; i++) micros[i] = FieldValues.FloorDivide(timestamps[i].Ticks - DateTime.UnixEpoch.Ticks, TimeSpan.TicksPerMicrosecond);
        }
    }

    /// <summary>Times arrive as TimeSpan and are stored as INT64 microseconds.</summary>
    private sealed class TimeColumnBuffer(LeafLayout leaf, ParquetValueColumnEncoder<long> encoder) : ValueColumnBuffer<long>(leaf, encoder)
    {
        protected override void StoreValues(ColumnData column)
        {
            var times = ((ColumnData<TimeSpan>)column).Values.Span;
            var micros = Stored(times.Length);
            for (var i = 0; i < times.Length; i++) micros[i] = times[i].Ticks / TimeSpan.TicksPerMicrosecond;
        }
    }

    /// <summary>
    /// Decimals arrive as <see cref="decimal"/> and are stored unscaled at the column's scale (digits beyond it cut off, as
    /// Parquet.Net did) in INT32, INT64 or FIXED_LEN_BYTE_ARRAY (<see cref="Int128"/>); a value too large for its type fails.
    /// </summary>
    private sealed class DecimalColumnBuffer<T>(LeafLayout leaf, ParquetValueColumnEncoder<T> encoder, int scale) : ValueColumnBuffer<T>(leaf, encoder)
        where T : unmanaged
    {
        protected override void StoreValues(ColumnData column)
        {
            var decimals = ((ColumnData<decimal>)column).Values.Span;
            var stored = Stored(decimals.Length);
            for (var i = 0; i < decimals.Length; i++)
            {
                var unscaled = Unscaled(decimals[i], scale);
                if (typeof(T) == typeof(int)) stored[i] = (T)(object)checked((int)unscaled);
                else if (typeof(T) == typeof(long)) stored[i] = (T)(object)checked((long)unscaled);
                else stored[i] = (T)(object)unscaled;
            }
        }

        private static Int128 Unscaled(decimal value, int scale)
        {
            Span<int> bits = stackalloc int[4];
            decimal.GetBits(value, bits);
            var unscaled = (Int128)(((UInt128)(uint)bits[2] << 64) | ((UInt128)(uint)bits[1] << 32) | (uint)bits[0]);
            for (var digits = value.Scale; digits < scale; digits++) unscaled *= 10;
            for (var digits = value.Scale; digits > scale; digits--) unscaled /= 10;
            return value < 0 ? -unscaled : unscaled;
        }
    }

    /// <summary>
    /// Text (UTF-8) and bytes: the chunk's values are slices of its reader's memory, which is the reader's again once
    /// <see cref="WriteAsync(RecordChunk, CancellationToken)"/> returns (<see cref="RecordChunk.Release"/>), while the row
    /// group waits for more rows. So each value's bytes, which the file stores as they are, are copied into blocks of this
    /// buffer, reused from one row group to the next.
    /// </summary>
    private sealed class ByteArrayColumnBuffer(LeafLayout leaf, ParquetByteArrayColumnEncoder encoder) : ColumnBuffer<ReadOnlyMemory<byte>>(leaf)
    {
        private const int BlockLength = 256 * 1024;

        // The first blocks are smaller, each twice the one before, up to BlockLength: 5,000 text columns of a few rows each
        // took a 256 KiB block apiece (1.3 GB).
        private const int FirstBlockLength = 1024;

        private readonly List<byte[]> _blocks = [];
        private int _block;
        private int _used;

        public override ReadOnlyMemory<byte> Chunk => encoder.Chunk;

        public override ColumnChunk Encode() => encoder.Encode(BufferedValues, Definitions, Repetitions);

        public override void Clear()
        {
            base.Clear();
            _block = 0;
            _used = 0;
        }

        /// <summary>Each value takes its bytes and its slice (16 bytes) in the buffer.</summary>
        [MethodImpl(CompileOptions.HotPath)]
        protected override long AppendValues(ColumnData column)
        {
            var values = ((ColumnData<ReadOnlyMemory<byte>>)column).Values.Span;
            var copies = Reserve(values.Length);
            long bytes = (long)values.Length * Unsafe.SizeOf<ReadOnlyMemory<byte>>();
            for (var i = 0; i < values.Length; i++)
            {
                copies[i] = Copy(values[i].Span);
                bytes += values[i].Length;
            }
            return bytes;
        }

        /// <summary><paramref name="value"/> copied into the blocks (an array of its own when longer than a block).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> value)
        {
            if (value.Length > BlockLength) return value.ToArray();
            if (_block == _blocks.Count || _blocks[_block].Length - _used < value.Length) NextBlock(value.Length);
            var room = _blocks[_block].AsMemory(_used, value.Length);
            value.CopyTo(room.Span);
            _used += value.Length;
            return room;
        }

        /// <summary>Moves to the next block of at least <paramref name="length"/> bytes (skipping first blocks too small for it).</summary>
        private void NextBlock(int length)
        {
            if (_block < _blocks.Count) _block++;
            while (_block < _blocks.Count && _blocks[_block].Length < length) _block++;
            while (_block == _blocks.Count)
            {
                _blocks.Add(new byte[_blocks.Count == 0 ? FirstBlockLength : Math.Min(2 * _blocks[^1].Length, BlockLength)]);
                if (_blocks[^1].Length < length) _block++;
            }
            _used = 0;
        }
    }
}
