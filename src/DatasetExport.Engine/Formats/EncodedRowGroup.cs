using System.Buffers;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// A Parquet row group as encoded pages (column chunks back to back) with its metadata, whose offsets count from the
/// start of <see cref="Bytes"/>. <see cref="ParquetFileWriter"/> places it in a file by moving the offsets. The bytes
/// are rented: <see cref="Dispose"/> gives them back once written.
/// </summary>
internal sealed class EncodedRowGroup : IDisposable
{
    private byte[]? _buffer;

    internal EncodedRowGroup(RowGroup metadata, byte[] buffer, int length)
    {
        Metadata = metadata;
        _buffer = buffer;
        Length = length;
    }

    public long RowCount => Metadata.NumRows;

    public int Length { get; }

    internal RowGroup Metadata { get; }

    internal ReadOnlyMemory<byte> Bytes => (_buffer ?? throw new ObjectDisposedException(nameof(EncodedRowGroup))).AsMemory(0, Length);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
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
