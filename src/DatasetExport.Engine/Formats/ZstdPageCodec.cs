using System.Collections.Concurrent;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Zstd for Parquet pages at one level. The native libzstd (ZstdNet ships it for Windows, glibc Linux and macOS) takes about a
/// third less CPU than the managed port, mostly because a new process runs the port's code unoptimized for its first
/// megabytes; where the native library does not load (musl Linux), the managed port ZstdSharp is used. Both are zstd 1.5.7
/// and write the same bytes. Thread-safe.
/// </summary>
internal sealed class ZstdPageCodec
{
    /// <summary>Compresses or decompresses a source into a target; returns the bytes written.</summary>
    private delegate int PageOperation(ReadOnlySpan<byte> source, Span<byte> target);

    /// <summary>The same with a compression context.</summary>
    private delegate int ContextOperation<in TContext>(TContext context, ReadOnlySpan<byte> source, Span<byte> target);

    private readonly PageOperation _compress;
    private readonly PageOperation _decompress;
    private readonly Func<int, int> _compressBound;

    private ZstdPageCodec(bool isNative, Func<int, int> compressBound, PageOperation compress, PageOperation decompress)
    {
        IsNative = isNative;
        _compressBound = compressBound;
        _compress = compress;
        _decompress = decompress;
    }

    /// <summary>The codec this process uses: native when its library loads, else managed.</summary>
    public static ZstdPageCodec Current { get; } = TryLoadNative() ?? Managed();

    public bool IsNative { get; }

    public int CompressBound(int length) => _compressBound(length);

    /// <summary>Compresses <paramref name="source"/> into <paramref name="target"/> (at least <see cref="CompressBound"/> long); returns the bytes written.</summary>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> target) => _compress(source, target);

    /// <summary>Decompresses one frame into <paramref name="target"/>; returns the bytes written. Throws if it does not fit or is damaged.</summary>
    public int Decompress(ReadOnlySpan<byte> source, Span<byte> target) => _decompress(source, target);

    /// <summary>The native codec if libzstd loads on this platform, else null.</summary>
    public static ZstdPageCodec? TryLoadNative()
    {
        try
        {
            var compressors = new ContextPool<ZstdNet.Compressor>(() => new ZstdNet.Compressor(new ZstdNet.CompressionOptions(ParquetPageCodec.ZstdLevel)));
            compressors.Return(compressors.Rent());
            var decompressors = new ContextPool<ZstdNet.Decompressor>(() => new ZstdNet.Decompressor());
            return new ZstdPageCodec(true, ZstdNet.Compressor.GetCompressBound,
                compressors.Runner((compressor, source, target) => compressor.Wrap(source, target)),
                // Without the precheck: it refuses frames that do not state their size (streaming writers'); libzstd checks the room itself.
                decompressors.Runner((decompressor, source, target) => decompressor.Unwrap(source, target, bufferSizePrecheck: false)));
        }
        catch (Exception error) when (error is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException or TypeInitializationException)
        {
            return null;
        }
    }

    public static ZstdPageCodec Managed()
    {
        var compressors = new ContextPool<ZstdSharp.Compressor>(() => new ZstdSharp.Compressor(ParquetPageCodec.ZstdLevel));
        var decompressors = new ContextPool<ZstdSharp.Decompressor>(() => new ZstdSharp.Decompressor());
        return new ZstdPageCodec(false, ZstdSharp.Compressor.GetCompressBound,
            compressors.Runner((compressor, source, target) => compressor.Wrap(source, target)),
            decompressors.Runner((decompressor, source, target) => decompressor.Unwrap(source, target)));
    }

    /// <summary>
    /// Contexts (a few MB of native memory each) kept for reuse, as many as have worked at once. Not one per thread: the
    /// thread pool's threads come and go, and every thread that ever compressed kept its own.
    /// </summary>
    private sealed class ContextPool<T>(Func<T> create)
    {
        private readonly ConcurrentBag<T> _idle = [];

        public T Rent() => _idle.TryTake(out var idle) ? idle : create();

        public void Return(T context) => _idle.Add(context);

        /// <summary><paramref name="operation"/> on a context rented for the call.</summary>
        public PageOperation Runner(ContextOperation<T> operation) => (source, target) =>
        {
            var context = Rent();
            try
            {
                return operation(context, source, target);
            }
            finally
            {
                Return(context);
            }
        };
    }
}
