using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Holds a reader's string values as UTF-8 slices of shared byte blocks, so it makes no string or array per value. A
/// block is only ever appended to, never rewritten. Without pools, blocks are left to the GC: chunks, and whoever keeps
/// their columns, may hold slices for as long as they like, after later chunks were read. With pools (an export's
/// decoded Parquet row groups, a JSON Lines read's chunks), blocks are rented: <see cref="HandOver"/> gives the blocks
/// written since the last hand-over back when a lease is released, and later values go into other blocks.
/// </summary>
internal sealed class Utf8Arena(RowGroupPools? pools = null)
{
    // 64 KB: below the large object heap's threshold, so blocks are cheap gen-0 allocations.
    private const int BlockSize = 64 * 1024;

    // Rented blocks are reused, so they may be large: fewer rents, at most one partly used block per hand-over.
    private const int PooledBlockSize = 256 * 1024;

    private readonly List<byte[]> _blocksSinceHandOver = [];
    private byte[] _block = [];
    private int _used;

    /// <summary>Room for up to <paramref name="length"/> bytes; write into it, then <see cref="Commit"/> what was written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> Reserve(int length)
    {
        if (_block.Length - _used < length) StartBlock(length);
        return _block.AsSpan(_used, length);
    }

    private void StartBlock(int length)
    {
        if (pools is null)
        {
            _block = new byte[Math.Max(BlockSize, length)];
        }
        else
        {
            _block = pools.Rent<byte>(Math.Max(PooledBlockSize, length));
            _blocksSinceHandOver.Add(_block);
        }
        _used = 0;
    }

    /// <summary>Bytes committed since the last <see cref="HandOver"/> (or since the arena was made).</summary>
    public long BytesSinceHandOver { get; private set; }

    /// <summary>The first <paramref name="length"/> bytes of the last <see cref="Reserve"/>, kept for good.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlyMemory<byte> Commit(int length)
    {
        var value = new ReadOnlyMemory<byte>(_block, _used, length);
        _used += length;
        BytesSinceHandOver += length;
        return value;
    }

    /// <summary>A copy of <paramref name="utf8"/>, which the caller knows to be valid UTF-8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> utf8)
    {
        utf8.CopyTo(Reserve(utf8.Length));
        return Commit(utf8.Length);
    }

    /// <summary>
    /// A copy of <paramref name="bytes"/> as valid UTF-8: each invalid sequence becomes U+FFFD, as decoding them with
    /// <see cref="Encoding.UTF8"/> (Parquet.Net's reading of text) and encoding the result again gives.
    /// </summary>
    public ReadOnlyMemory<byte> CopyValid(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return Copy(bytes);
        // UTF-8 never takes fewer bytes than UTF-16 takes chars, an invalid byte included: its bytes are room enough.
        var chars = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            return Encode(chars.AsSpan(0, Encoding.UTF8.GetChars(bytes, chars)));
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary><paramref name="chars"/> encoded as UTF-8 by <see cref="Encoding.UTF8"/> (a lone surrogate becomes U+FFFD).</summary>
    public ReadOnlyMemory<byte> Encode(ReadOnlySpan<char> chars)
    {
        var length = Encoding.UTF8.GetBytes(chars, Reserve(Encoding.UTF8.GetByteCount(chars)));
        return Commit(length);
    }

    /// <summary>The pooled blocks written since the last hand-over go back to the pools when <paramref name="lease"/> is released.</summary>
    public void HandOver(RowGroupLease lease)
    {
        BytesSinceHandOver = 0;
        if (pools is null) return;
        foreach (var block in _blocksSinceHandOver) pools.ReturnWith(lease, block);
        _blocksSinceHandOver.Clear();
        _block = [];
        _used = 0;
    }
}
