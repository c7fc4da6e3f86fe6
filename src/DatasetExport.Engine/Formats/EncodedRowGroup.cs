using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// A Parquet row group as encoded pages with its metadata: its column chunks, each in a buffer of its own, are placed back
/// to back, and the metadata's offsets count from the start of the first. <see cref="ParquetFileWriter"/> places it in a
/// file by moving the offsets. The buffers are rented: <see cref="Dispose"/> gives them back once written, and then calls
/// its <c>disposed</c> action (the copier counts the row groups alive).
/// </summary>
internal sealed class EncodedRowGroup : IDisposable
{
    private readonly Action _disposed;
    private PooledBufferWriter[]? _columns;

    internal EncodedRowGroup(RowGroup metadata, PooledBufferWriter[] columns, Action disposed)
    {
        Metadata = metadata;
        _columns = columns;
        _disposed = disposed;
        Length = columns.Sum(column => column.WrittenCount);
    }

    public long RowCount => Metadata.NumRows;

    /// <summary>The bytes of all its column chunks.</summary>
    public int Length { get; }

    internal RowGroup Metadata { get; }

    /// <summary>The column chunks' bytes in file order.</summary>
    internal IEnumerable<ReadOnlyMemory<byte>> Chunks =>
        (_columns ?? throw new ObjectDisposedException(nameof(EncodedRowGroup))).Select(column => column.WrittenMemory);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _columns, null) is not { } columns) return;
        foreach (var column in columns) column.Dispose();
        _disposed();
    }

    /// <summary>Adds <paramref name="delta"/> to every file offset in <paramref name="group"/>'s metadata.</summary>
    internal static void MoveOffsets(RowGroup group, long delta)
    {
        if (group.FileOffset is { } groupOffset) group.FileOffset = groupOffset + delta;
        foreach (var column in group.Columns) MoveOffsets(column, delta);
    }

    /// <summary>
    /// Adds <paramref name="delta"/> to every file offset of <paramref name="column"/>. Offsets absent are null here (the
    /// copier and Parquet.Net write no 0 for "none"), so a page at offset 0 of an encoded row group's bytes moves too.
    /// </summary>
    internal static void MoveOffsets(ColumnChunk column, long delta)
    {
        column.FileOffset += delta;
        if (column.ColumnIndexOffset is { } columnIndex) column.ColumnIndexOffset = columnIndex + delta;
        if (column.OffsetIndexOffset is { } offsetIndex) column.OffsetIndexOffset = offsetIndex + delta;
        if (column.MetaData is not { } metadata) return;
        metadata.DataPageOffset += delta;
        if (metadata.DictionaryPageOffset is { } dictionary) metadata.DictionaryPageOffset = dictionary + delta;
        if (metadata.IndexPageOffset is { } indexPage) metadata.IndexPageOffset = indexPage + delta;
        if (metadata.BloomFilterOffset is { } bloom) metadata.BloomFilterOffset = bloom + delta;
    }
}
