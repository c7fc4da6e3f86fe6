using System.Collections.Concurrent;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Zstd for Parquet pages at one level. The native libzstd (ZstdNet ships it for Windows, glibc Linux and macOS) takes about a
/// third less CPU than the managed port, mostly because a new process runs the port's code unoptimized for its first
/// megabytes; where the native library does not load (musl Linux), the managed port that Parquet.Net brings anyway is used.
/// Both are zstd 1.5.7 and write the same bytes. Thread-safe.
/// </summary>
internal abstract class ZstdPageCodec
{
    /// <summary>The codec this process uses: native when its library loads, else managed.</summary>
    public static ZstdPageCodec Current { get; } = (ZstdPageCodec?)Native.TryLoad() ?? new Managed();

    public abstract bool IsNative { get; }

    public abstract int CompressBound(int length);

    /// <summary>Compresses <paramref name="source"/> into <paramref name="target"/> (at least <see cref="CompressBound"/> long); returns the bytes written.</summary>
    public abstract int Compress(ReadOnlySpan<byte> source, Span<byte> target);

    /// <summary>Decompresses one frame into <paramref name="target"/>; returns the bytes written. Throws if it does not fit or is damaged.</summary>
    public abstract int Decompress(ReadOnlySpan<byte> source, Span<byte> target);

    public sealed class Native : ZstdPageCodec
    {
        private readonly ContextPool<ZstdNet.Compressor> _compressors = new(() => new ZstdNet.Compressor(new ZstdNet.CompressionOptions(ParquetPageCodec.ZstdLevel)));
        private readonly ContextPool<ZstdNet.Decompressor> _decompressors = new(() => new ZstdNet.Decompressor());

        private Native()
        {
        }

        /// <summary>A native codec if libzstd loads on this platform, else null.</summary>
        public static Native? TryLoad()
        {
            try
            {
                var codec = new Native();
                codec._compressors.Return(codec._compressors.Rent());
                return codec;
            }
            catch (Exception error) when (error is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException or TypeInitializationException)
            {
                return null;
            }
        }

        public override bool IsNative => true;

        public override int CompressBound(int length) => ZstdNet.Compressor.GetCompressBound(length);

        public override int Compress(ReadOnlySpan<byte> source, Span<byte> target)
        {
            var compressor = _compressors.Rent();
            try
            {
                return compressor.Wrap(source, target);
            }
            finally
            {
                _compressors.Return(compressor);
            }
        }

        public override int Decompress(ReadOnlySpan<byte> source, Span<byte> target)
        {
            var decompressor = _decompressors.Rent();
            try
            {
                // Without the precheck: it refuses frames that do not state their size (streaming writers'), libzstd checks the room itself.
                return decompressor.Unwrap(source, target, bufferSizePrecheck: false);
            }
            finally
            {
                _decompressors.Return(decompressor);
            }
        }
    }

    public sealed class Managed : ZstdPageCodec
    {
        private readonly ContextPool<ZstdSharp.Compressor> _compressors = new(() => new ZstdSharp.Compressor(ParquetPageCodec.ZstdLevel));
        private readonly ContextPool<ZstdSharp.Decompressor> _decompressors = new(() => new ZstdSharp.Decompressor());

        public override bool IsNative => false;

        public override int CompressBound(int length) => ZstdSharp.Compressor.GetCompressBound(length);

        public override int Compress(ReadOnlySpan<byte> source, Span<byte> target)
        {
            var compressor = _compressors.Rent();
            try
            {
                return compressor.Wrap(source, target);
            }
            finally
            {
                _compressors.Return(compressor);
            }
        }

        public override int Decompress(ReadOnlySpan<byte> source, Span<byte> target)
        {
            var decompressor = _decompressors.Rent();
            try
            {
                return decompressor.Unwrap(source, target);
            }
            finally
            {
                _decompressors.Return(decompressor);
            }
        }
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
    }
}
