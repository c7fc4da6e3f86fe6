using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Holds a reader's string values as slices of shared char blocks, so it makes no string object per value. A block is
/// only ever appended to, never rewritten: chunks, and whoever keeps their columns, may hold slices after later chunks
/// were read. With <see cref="ChunkArrays"/>, blocks are reused instead: <see cref="HandOver"/> gives the blocks written
/// since the last hand-over back when the chunk's lease is released, and later values go into other blocks.
/// </summary>
internal sealed class CharArena(ChunkArrays? arrays = null)
{
    // 64 KB: below the large object heap's threshold, so blocks are cheap gen-0 allocations.
    private const int BlockSize = 32 * 1024;

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
        _block = arrays?.Rent<char>(Math.Max(BlockSize, length)) ?? new char[Math.Max(BlockSize, length)];
        _used = 0;
        if (arrays is not null) _blocksSinceHandOver.Add(_block);
    }

    /// <summary>The first <paramref name="length"/> chars of the last <see cref="Reserve"/>, kept for good.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlyMemory<char> Commit(int length)
    {
        var value = new ReadOnlyMemory<char>(_block, _used, length);
        _used += length;
        return value;
    }

    /// <summary>The pooled blocks written since the last hand-over go back to the pool when <paramref name="lease"/> is released.</summary>
    public void HandOver(RowGroupLease lease)
    {
        if (arrays is null) return;
        foreach (var block in _blocksSinceHandOver) arrays.ReturnWith(lease, block);
        _blocksSinceHandOver.Clear();
        _block = [];
        _used = 0;
    }
}
