using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Holds a reader's string values as slices of shared char blocks, so it makes no string object per value. A block is
/// only ever appended to, never rewritten. Without pools, blocks are left to the GC: chunks, and whoever keeps their
/// columns, may hold slices for as long as they like, after later chunks were read. With pools (an export's decoded
/// Parquet row groups, a JSON Lines read's chunks), blocks are rented: <see cref="HandOver"/> gives the blocks written
/// since the last hand-over back when a lease is released, and later values go into other blocks.
/// </summary>
internal sealed class CharArena(RowGroupPools? pools = null)
{
    // 64 KB: below the large object heap's threshold, so blocks are cheap gen-0 allocations.
    private const int BlockSize = 32 * 1024;

    // Rented blocks are reused, so they may be large: fewer rents, at most one partly used block per hand-over.
    private const int PooledBlockSize = 128 * 1024;

    private readonly List<char[]> _blocksSinceHandOver = [];
    private char[] _block = [];
    private int _used;

    /// <summary>Room for up to <paramref name="length"/> chars; write into it, then <see cref="Commit"/> what was written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<char> Reserve(int length)
    {
        if (_block.Length - _used < length) StartBlock(length);
        return _block.AsSpan(_used, length);
    }

    private void StartBlock(int length)
    {
        if (pools is null)
        {
            _block = new char[Math.Max(BlockSize, length)];
        }
        else
        {
            _block = pools.Rent<char>(Math.Max(PooledBlockSize, length));
            _blocksSinceHandOver.Add(_block);
        }
        _used = 0;
    }

    /// <summary>The first <paramref name="length"/> chars of the last <see cref="Reserve"/>, kept for good.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlyMemory<char> Commit(int length)
    {
        var value = new ReadOnlyMemory<char>(_block, _used, length);
        _used += length;
        return value;
    }

    /// <summary>The pooled blocks written since the last hand-over go back to the pools when <paramref name="lease"/> is released.</summary>
    public void HandOver(RowGroupLease lease)
    {
        if (pools is null) return;
        foreach (var block in _blocksSinceHandOver) pools.ReturnWith(lease, block);
        _blocksSinceHandOver.Clear();
        _block = [];
        _used = 0;
    }
}
