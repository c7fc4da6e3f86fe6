using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Decompresses a gzip file like <see cref="GZipStream"/> (several members read as one), and at the end checks the
/// last member's trailer (CRC-32 and length), which <see cref="GZipStream"/> does not: it ends a truncated file quietly,
/// so a cut-off batch would otherwise read as a shorter valid one. Throws <see cref="InvalidDataException"/> when the
/// trailer does not match. A single-member file is checked as it streams; for several members the last one is
/// decompressed once more from its header.
/// </summary>
internal sealed class CheckedGzipStream : Stream
{
    private const int TrailerSize = 8;
    private const int MinimumMemberSize = 18;

    private readonly FileStream _file;
    private readonly GZipStream _gzip;
    private readonly Crc32 _crc = new();
    private long _length;
    private bool _checked;

    public CheckedGzipStream(FileStream file)
    {
        _file = file;
        _gzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = _gzip.Read(buffer);
        return Observe(buffer[..read]);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _gzip.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Observe(buffer.Span[..read]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Observe(ReadOnlySpan<byte> data)
    {
        if (data.Length > 0)
        {
            _crc.Append(data);
            _length += data.Length;
        }
        else if (!_checked)
        {
            _checked = true;
            CheckTrailer();
        }
        return data.Length;
    }

    private void CheckTrailer()
    {
        var fileLength = RandomAccess.GetLength(_file.SafeFileHandle);
        if (fileLength < MinimumMemberSize) throw Truncated();
        Span<byte> trailer = stackalloc byte[TrailerSize];
        RandomAccess.Read(_file.SafeFileHandle, trailer, fileLength - TrailerSize);
        var (crc, size) = (BinaryPrimitives.ReadUInt32LittleEndian(trailer), BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]));
        if (crc == _crc.GetCurrentHashAsUInt32() && size == (uint)_length) return;   // one member, intact
        if (!LastMemberMatches(fileLength, crc, size)) throw Truncated();
    }

    /// <summary>
    /// Several members: the last header before the end (gzip magic, deflate method) that decompresses to the end without
    /// error starts the last member, whose data must match the trailer.
    /// </summary>
    private bool LastMemberMatches(long fileLength, uint crc, uint size)
    {
        var window = new byte[1 << 16];
        var end = fileLength - MinimumMemberSize;
        while (end > 0)
        {
            var start = Math.Max(1, end - window.Length + 3);
            var count = (int)(end - start + 3);
            RandomAccess.Read(_file.SafeFileHandle, window.AsSpan(0, count), start);
            for (var i = count - 3; i >= 0; i--)
            {
                if (window[i] != 0x1f || window[i + 1] != 0x8b || window[i + 2] != 8) continue;
                if (TryMember(start + i, fileLength) is { } member) return member.Crc == crc && member.Size == size;
            }
            end = start - 1;
        }
        return false;
    }

    private (uint Crc, uint Size)? TryMember(long offset, long fileLength)
    {
        using var handle = File.OpenHandle(_file.Name);
        using var input = new FileStream(handle, FileAccess.Read, 1 << 16);
        input.Position = offset;
        using var gzip = new GZipStream(input, CompressionMode.Decompress);
        var crc = new Crc32();
        long size = 0;
        var buffer = new byte[1 << 16];
        try
        {
            int read;
            while ((read = gzip.Read(buffer)) > 0)
            {
                crc.Append(buffer.AsSpan(0, read));
                size += read;
            }
        }
        catch (InvalidDataException)
        {
            return null;   // not a member header after all
        }
        return (crc.GetCurrentHashAsUInt32(), (uint)size);
    }

    private static InvalidDataException Truncated() =>
        new("the gzip data ends early or is damaged: its trailer does not match the decompressed data (the file may be truncated).");

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _gzip.Dispose();
        base.Dispose(disposing);
    }
}
