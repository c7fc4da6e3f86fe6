using System.Text;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// The decoded text of one row group: values are slices of a few large char arrays rented from the row group's lease
/// (and given back with it), instead of one array per value. Blocks double from <see cref="FirstBlock"/> chars up to
/// <see cref="LargestBlock"/>, so a small row group rents little and a large one few arrays.
/// </summary>
internal sealed class LeasedCharBlocks(RowGroupLease lease)
{
    private const int FirstBlock = 16 * 1024;
    private const int LargestBlock = 4 * 1024 * 1024;

    private char[] _block = [];
    private int _used;
    private int _nextBlock = FirstBlock;

    /// <summary>The UTF-8 text <paramref name="utf8"/> as chars kept until the lease is released; invalid bytes become U+FFFD.</summary>
    public ReadOnlyMemory<char> Append(ReadOnlySpan<byte> utf8)
    {
        // UTF-8 never takes fewer bytes than UTF-16 takes chars, an invalid byte included: its bytes are room enough.
        if (_block.Length - _used < utf8.Length)
        {
            _block = lease.Rent<char>(Math.Max(utf8.Length, _nextBlock));
            _used = 0;
            _nextBlock = Math.Min(_nextBlock * 2, LargestBlock);
        }
        var length = Encoding.UTF8.GetChars(utf8, _block.AsSpan(_used));
        var value = new ReadOnlyMemory<char>(_block, _used, length);
        _used += length;
        return value;
    }
}
