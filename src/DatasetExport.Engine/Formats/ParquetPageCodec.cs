using System.Buffers;
using System.IO.Compression;
using K4os.Compression.LZ4;
using Parquet.Meta;
using Snappier;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Compresses Parquet page payloads with the codecs this tool writes (none, Snappy, Gzip, Zstd), and decompresses those and
/// the LZ4_RAW and Brotli pages other writers make (DuckDB's <c>COMPRESSION lz4</c> / <c>brotli</c>): every page the
/// engine's encoders write, and the pages its reader decodes and its row group copier recompresses. Thread-safe.
/// </summary>
internal static class ParquetPageCodec
{
    /// <summary>Zstd's own default level, which DuckDB writes too (level 19 made exports several times slower).</summary>
    public const int ZstdLevel = 3;

    /// <summary>
    /// Whether <see cref="Decompress"/> reads pages of <paramref name="codec"/>. The deprecated LZ4 (framed differently by
    /// different writers) and LZO are not: chunks of those are left to Parquet.Net.
    /// </summary>
    public static bool Decompresses(CompressionCodec codec) =>
        codec is CompressionCodec.UNCOMPRESSED or CompressionCodec.SNAPPY or CompressionCodec.GZIP or CompressionCodec.ZSTD
            or CompressionCodec.LZ4_RAW or CompressionCodec.BROTLI;

    public static CompressionCodec ToCodec(CompressionKind compression) => compression switch
    {
        CompressionKind.None => CompressionCodec.UNCOMPRESSED,
        CompressionKind.Snappy => CompressionCodec.SNAPPY,
        CompressionKind.Gzip => CompressionCodec.GZIP,
        CompressionKind.Zstd => CompressionCodec.ZSTD,
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "Unknown compression."),
    };

    /// <summary>Decompresses <paramref name="source"/> into exactly <paramref name="target"/>, or throws <see cref="InvalidDataException"/>.</summary>
    public static void Decompress(CompressionCodec codec, ReadOnlyMemory<byte> source, Memory<byte> target)
    {
        int written;
        try
        {
            written = codec switch
            {
                CompressionCodec.UNCOMPRESSED => Copy(source.Span, target.Span),
                CompressionCodec.SNAPPY => Unsnappy(source, target),
                CompressionCodec.ZSTD => ZstdPageCodec.Current.Decompress(source.Span, target.Span),
                CompressionCodec.GZIP => Gunzip(source.Span, target.Span),
                CompressionCodec.LZ4_RAW => Unlz4(source.Span, target.Span),
                CompressionCodec.BROTLI => Unbrotli(source.Span, target.Span),
                _ => throw new NotSupportedException($"Parquet codec {codec} is not supported here."),
            };
        }
        catch (Exception error) when (error is not NotSupportedException and not InvalidDataException)
        {
            throw new InvalidDataException($"a {codec} page does not decompress: {error.Message}", error);
        }
        if (written != target.Length) throw new InvalidDataException($"a {codec} page decompressed to {written} bytes, its header says {target.Length}.");
    }

    /// <summary>The most bytes <see cref="Compress"/> writes for <paramref name="length"/> bytes (gzip: a guess; its output grows as needed).</summary>
    public static int MaxCompressedLength(CompressionCodec codec, int length) => codec switch
    {
        CompressionCodec.SNAPPY => Snappy.GetMaxCompressedLength(length),
        CompressionCodec.ZSTD => ZstdPageCodec.Current.CompressBound(length),
        _ => length + 64,
    };

    /// <summary>Compresses <paramref name="source"/> into <paramref name="output"/> (appended); returns the bytes written.</summary>
    public static int Compress(CompressionCodec codec, ReadOnlySpan<byte> source, IBufferWriter<byte> output)
    {
        switch (codec)
        {
            case CompressionCodec.UNCOMPRESSED:
                output.Write(source);
                return source.Length;
            case CompressionCodec.SNAPPY:
            {
                var written = Snappy.Compress(source, output.GetSpan(Snappy.GetMaxCompressedLength(source.Length)));
                output.Advance(written);
                return written;
            }
            case CompressionCodec.ZSTD:
            {
                var zstd = ZstdPageCodec.Current;
                var written = zstd.Compress(source, output.GetSpan(zstd.CompressBound(source.Length)));
                output.Advance(written);
                return written;
            }
            case CompressionCodec.GZIP:
            {
                using var compressed = new MemoryStream();
                using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(source);
                output.Write(compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
                return (int)compressed.Length;
            }
            default:
                throw new NotSupportedException($"Parquet codec {codec} is not supported here.");
        }
    }

    private static int Copy(ReadOnlySpan<byte> source, Span<byte> target)
    {
        if (source.Length != target.Length) return source.Length;
        source.CopyTo(target);
        return source.Length;
    }

    /// <summary>
    /// Snappy straight into <paramref name="target"/>. Snappier's span overload decompresses into an array rented from the
    /// shared pool and copies it over: a page-sized rent per page, which the shared pool keeps per thread.
    /// </summary>
    private static int Unsnappy(ReadOnlyMemory<byte> source, Memory<byte> target)
    {
        var output = new FixedBufferWriter(target);
        Snappy.Decompress(new ReadOnlySequence<byte>(source), output);
        return output.Written;
    }

    /// <summary>Writes into one given block of memory; asking for more than is left means the data is longer than announced.</summary>
    private sealed class FixedBufferWriter(Memory<byte> target) : IBufferWriter<byte>
    {
        public int Written { get; private set; }

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) =>
            sizeHint <= target.Length - Written ? target[Written..] : throw new InvalidDataException($"the page decompresses to more than {target.Length} bytes.");

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }

    private static int Unlz4(ReadOnlySpan<byte> source, Span<byte> target)
    {
        var written = LZ4Codec.Decode(source, target);
        return written >= 0 ? written : throw new InvalidDataException("an LZ4_RAW page does not decompress (damaged, or longer than its header says).");
    }

    /// <summary>A payload that does not fit <paramref name="target"/> counts as one byte longer, so the length check names it.</summary>
    private static int Unbrotli(ReadOnlySpan<byte> source, Span<byte> target)
    {
        using var decoder = new BrotliDecoder();
        return decoder.Decompress(source, target, out _, out var written) switch
        {
            OperationStatus.Done => written,
            OperationStatus.DestinationTooSmall => target.Length + 1,
            var status => throw new InvalidDataException($"a BROTLI page does not decompress ({status})."),
        };
    }

    private static int Gunzip(ReadOnlySpan<byte> source, Span<byte> target)
    {
        using var gzip = new GZipStream(new MemoryStream(source.ToArray(), writable: false), CompressionMode.Decompress);
        var total = 0;
        int read;
        while (total < target.Length && (read = gzip.Read(target[total..])) > 0) total += read;
        // A payload longer than the header says is as wrong as a shorter one.
        return total == target.Length && gzip.ReadByte() >= 0 ? total + 1 : total;
    }
}
