namespace DatasetExport.Engine.Formats;

/// <summary>
/// Holds a reader's string values as slices of shared char blocks, so it makes no string object per value. A block is
/// only ever appended to, never rewritten. Without a lease, blocks are left to the GC: chunks, and whoever keeps their
/// columns, may hold slices for as long as they like, after later chunks were read. With one (a decoded Parquet row
/// group's), blocks are rented from it and serve later row groups once all its chunks are released.
/// </summary>
internal sealed class CharArena(RowGroupLease? lease = null)
{
    // 64 KB: below the large object heap's threshold, so blocks are cheap gen-0 allocations.
    private const int BlockSize = 32 * 1024;

    // Rented blocks are reused, so they may be large: fewer rents, at most one partly used block per row group.
    private const int LeasedBlockSize = 128 * 1024;

    private char[] _block = [];
    private int _used;

    /// <summary>Room for up to <paramref name="length"/> chars; write into it, then <see cref="Commit"/> what was written.</summary>
    public Span<char> Reserve(int length)
    {
        if (_block.Length - _used < length)
        {
            _block = lease is null ? new char[Math.Max(BlockSize, length)] : lease.Rent<char>(Math.Max(LeasedBlockSize, length));
            _used = 0;
        }
        return _block.AsSpan(_used, length);
    }

    /// <summary>The first <paramref name="length"/> chars of the last <see cref="Reserve"/>, kept for good.</summary>
    public ReadOnlyMemory<char> Commit(int length)
    {
        var value = new ReadOnlyMemory<char>(_block, _used, length);
        _used += length;
        return value;
    }
}
