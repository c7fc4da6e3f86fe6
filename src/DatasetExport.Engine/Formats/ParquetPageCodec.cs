using System.Buffers;
using System.IO.Compression;
using Parquet.Meta;
using Snappier;
using ZstdSharp;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Compresses and decompresses Parquet page payloads with the codecs this tool writes (none, Snappy, Gzip, Zstd), the
/// same libraries and levels as Parquet.Net uses for <see cref="ParquetFileWriter"/>'s own pages. Thread-safe.
/// </summary>
internal static class ParquetPageCodec
{
    /// <summary>Zstd level of <c>CompressionLevel.Optimal</c> in Parquet.Net, which <see cref="ParquetFileWriter"/> asks for.</summary>
    private const int ZstdLevel = 3;

    private static readonly ThreadLocal<Compressor> ZstdCompressors = new(() => new Compressor(ZstdLevel));
    private static readonly ThreadLocal<Decompressor> ZstdDecompressors = new(() => new Decompressor());

    public static bool Supports(CompressionCodec codec) =>
        codec is CompressionCodec.UNCOMPRESSED or CompressionCodec.SNAPPY or CompressionCodec.GZIP or CompressionCodec.ZSTD;

    public static CompressionCodec ToCodec(CompressionKind compression) => compression switch
    {
        CompressionKind.None => CompressionCodec.UNCOMPRESSED,
        CompressionKind.Snappy => CompressionCodec.SNAPPY,
        CompressionKind.Gzip => CompressionCodec.GZIP,
        CompressionKind.Zstd => CompressionCodec.ZSTD,
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "Unknown compression."),
    };

    /// <summary>Decompresses <paramref name="source"/> into exactly <paramref name="target"/>, or throws <see cref="InvalidDataException"/>.</summary>
    public static void Decompress(CompressionCodec codec, ReadOnlySpan<byte> source, Span<byte> target)
    {
        int written;
        try
        {
            written = codec switch
            {
                CompressionCodec.UNCOMPRESSED => Copy(source, target),
                CompressionCodec.SNAPPY => Snappy.Decompress(source, target),
                CompressionCodec.ZSTD => ZstdDecompressors.Value!.Unwrap(source, target),
                CompressionCodec.GZIP => Gunzip(source, target),
                _ => throw new NotSupportedException($"Parquet codec {codec} is not supported here."),
            };
        }
        catch (Exception error) when (error is not NotSupportedException and not InvalidDataException)
        {
            throw new InvalidDataException($"a {codec} page does not decompress: {error.Message}", error);
        }
        if (written != target.Length) throw new InvalidDataException($"a {codec} page decompressed to {written} bytes, its header says {target.Length}.");
    }

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
                var compressor = ZstdCompressors.Value!;
                var written = compressor.Wrap(source, output.GetSpan(Compressor.GetCompressBound(source.Length)));
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
