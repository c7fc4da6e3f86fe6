using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.IO.Hashing;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Writes one gzip member whose deflate data is compressed in blocks of <see cref="DefaultBlockBytes"/> on worker threads while
/// the caller produces the next ones (as pigz does): each block is deflated alone and ends with a sync flush, so the
/// blocks join into one deflate stream; <see cref="CompleteAsync"/> adds the final empty block and the trailer (CRC-32
/// and length, computed on the caller's thread). Until then the output is a gzip file without an end, which readers
/// refuse. The output is the same whatever the timing. Bytes reach the output in order as blocks finish, so the count
/// of written bytes lags behind the data given by at most the blocks in flight and the one being filled.
/// </summary>
internal sealed class ParallelGzipWriter : IAsyncDisposable
{
    /// <summary>Uncompressed bytes per block by default: large enough that starting each block without history costs well under 1%.</summary>
    public const int DefaultBlockBytes = 2 << 20;

    // ID1 ID2, deflate, no flags, no modification time, no extra flags, unknown OS.
    private static readonly byte[] Header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

    // A final block with fixed Huffman codes and only the end-of-block code, after a sync flush's byte boundary.
    private static readonly byte[] FinalBlock = [0x03, 0x00];

    private readonly Stream _output;
    private readonly BlockShelf _shelf;
    private readonly int _maxInFlight;
    private readonly int _blockBytes;
    private readonly Queue<Block> _inFlight = new();
    private readonly Stack<Block> _free = new();
    private readonly Crc32 _crc = new();
    private long _length;
    private Block? _filling;
    private bool _started;

    /// <param name="output">Receives the gzip bytes; left open.</param>
    /// <param name="maxInFlight">Most blocks compressing at once (each holds up to <see cref="DefaultBlockBytes"/> twice).</param>
    /// <param name="blockBytes">Uncompressed bytes per block; smaller blocks make the written count lag less.</param>
    /// <param name="shelf">Where blocks come from and go back to when the writer is disposed: the files of one export share one.</param>
    public ParallelGzipWriter(Stream output, int maxInFlight, int blockBytes = DefaultBlockBytes, BlockShelf? shelf = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockBytes, 1);
        _output = output;
        _shelf = shelf ?? new BlockShelf();
        _maxInFlight = maxInFlight;
        _blockBytes = blockBytes;
    }

    public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        _crc.Append(data.Span);
        _length += data.Length;
        while (!data.IsEmpty)
        {
            _filling ??= await TakeFreeBlockAsync(cancellationToken).ConfigureAwait(false);
            data = data[_filling.Fill(data.Span)..];
            if (_filling.IsFull)
            {
                _filling.StartCompressing();
                _inFlight.Enqueue(_filling);
                _filling = null;
            }
        }
        // Blocks already done go out now, so the written count follows the data as closely as it can.
        while (_inFlight.TryPeek(out var oldest) && oldest.Compression.IsCompleted)
        {
            await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Compresses what is left, writes every block in order, then the end of the deflate data and the trailer.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        if (_filling is { Length: > 0 })
        {
            _filling.StartCompressing();
            _inFlight.Enqueue(_filling);
            _filling = null;
        }
        while (_inFlight.Count > 0) await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        var trailer = new byte[FinalBlock.Length + 8];
        FinalBlock.CopyTo(trailer, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(FinalBlock.Length), _crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(FinalBlock.Length + 4), unchecked((uint)_length));
        await _output.WriteAsync(trailer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for the blocks still compressing (their outcome no longer matters) so their buffers are not in use, then puts
    /// every block back on the shelf.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var block in _inFlight)
        {
            try
            {
                await block.Compression.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The file is abandoned; a failure here has nothing left to fail.
            }
        }
        foreach (var block in _inFlight.Concat(_free)) _shelf.Put(block);
        if (_filling is not null) _shelf.Put(_filling);
        _inFlight.Clear();
        _free.Clear();
        _filling = null;
    }

    /// <summary>Writes the header before the first compressed data, so a file abandoned before any is empty.</summary>
    private async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_started) return;
        _started = true;
        await _output.WriteAsync(Header, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Block> TakeFreeBlockAsync(CancellationToken cancellationToken)
    {
        if (_free.Count == 0 && _inFlight.Count >= _maxInFlight) await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        return _free.TryPop(out var free) ? free : _shelf.Take(_blockBytes);
    }

    /// <summary>Waits for the oldest block, writes its deflate data and keeps the block, emptied, for reuse.</summary>
    private async Task WriteOldestAsync(CancellationToken cancellationToken)
    {
        var block = _inFlight.Dequeue();
        await block.Compression.ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
        await _output.WriteAsync(block.Compressed, cancellationToken).ConfigureAwait(false);
        block.Clear();
        _free.Push(block);
    }

    /// <summary>
    /// Blocks kept between the files of one export (its parts): each file's blocks (a few MB each, on the large object
    /// heap) served the next instead of waiting for a full collection.
    /// </summary>
    internal sealed class BlockShelf
    {
        private readonly ConcurrentBag<Block> _blocks = [];

        internal Block Take(int size)
        {
            while (_blocks.TryTake(out var block))
            {
                if (block.Size == size) return block;
            }
            return new Block(size);
        }

        internal void Put(Block block)
        {
            block.Clear();
            _blocks.Add(block);
        }
    }

    /// <summary>Up to <see cref="DefaultBlockBytes"/> of input and, once compressed, its deflate data ending on a byte boundary.</summary>
    internal sealed class Block(int size)
    {
        private readonly byte[] _input = new byte[size];

        public int Size => _input.Length;
        private readonly MemoryStream _output = new();
        private int _compressedLength;

        public int Length { get; private set; }
        public bool IsFull => Length == _input.Length;
        public Task Compression { get; private set; } = Task.CompletedTask;
        public ReadOnlyMemory<byte> Compressed => _output.GetBuffer().AsMemory(0, _compressedLength);

        public int Fill(ReadOnlySpan<byte> data)
        {
            var count = Math.Min(data.Length, _input.Length - Length);
            data[..count].CopyTo(_input.AsSpan(Length));
            Length += count;
            return count;
        }

        public void StartCompressing() => Compression = Task.Run(Compress);

        public void Clear()
        {
            Length = 0;
            _compressedLength = 0;
            _output.SetLength(0);
        }

        private void Compress()
        {
            using var deflate = new DeflateStream(_output, CompressionLevel.Optimal, leaveOpen: true);
            deflate.Write(_input, 0, Length);
            // A sync flush ends the data on a byte boundary without a final block, so the next block's data can follow.
            deflate.Flush();
            _compressedLength = (int)_output.Length;
        }
    }
}
