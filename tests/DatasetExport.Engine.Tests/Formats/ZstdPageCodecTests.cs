using System.Buffers;
using System.Text;
using DatasetExport.Engine.Formats;
using CompressionCodec = Parquet.Meta.CompressionCodec;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The native libzstd codec (this platform has it) against the managed port it falls back to: the same bytes out, each
/// reads the other's frames, frames without a stated size (streaming writers') are read, and damage is refused.
/// </summary>
public sealed class ZstdPageCodecTests
{
    private static readonly ZstdPageCodec Native = ZstdPageCodec.TryLoadNative() ?? throw new InvalidOperationException("libzstd did not load");
    private static readonly ZstdPageCodec Managed = ZstdPageCodec.Managed();

    public static TheoryData<string, int> Pages => new()
    {
        { "empty", 0 },
        { "text", 300_000 },
        { "random", 100_000 },
        { "numbers", 1 << 20 },
    };

    [Fact]
    public void The_process_uses_the_native_library_where_it_ships()
    {
        Assert.True(ZstdPageCodec.Current.IsNative);
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Native_and_managed_write_the_same_frames_and_read_each_others(string kind, int length)
    {
        var page = MakePage(kind, length);

        var native = Compress(Native, page);
        var managed = Compress(Managed, page);

        Assert.Equal(managed, native);
        Assert.Equal(page, Decompress(Native, managed, page.Length));
        Assert.Equal(page, Decompress(Managed, native, page.Length));
        Assert.Equal(page, Decompress(Native, native, page.Length));
    }

    [Fact]
    public void A_frame_that_does_not_state_its_size_is_read()
    {
        var page = MakePage("text", 200_000);
        using var streamed = new MemoryStream();
        using (var zstd = new ZstdSharp.CompressionStream(streamed, 3)) zstd.Write(page);

        Assert.Equal(page, Decompress(Native, streamed.ToArray(), page.Length));
    }

    [Fact]
    public void Parquet_pages_compress_and_decompress_through_the_current_codec()
    {
        var page = MakePage("numbers", 70_000);
        var output = new ArrayBufferWriter<byte>();

        var written = ParquetPageCodec.Compress(CompressionCodec.ZSTD, page, output);
        var restored = new byte[page.Length];
        ParquetPageCodec.Decompress(CompressionCodec.ZSTD, output.WrittenMemory, restored);

        Assert.Equal(written, output.WrittenCount);
        Assert.True(written <= ParquetPageCodec.MaxCompressedLength(CompressionCodec.ZSTD, page.Length));
        Assert.Equal(page, restored);
    }

    [Fact]
    public void Damaged_frames_and_wrong_sizes_are_refused_as_invalid_data()
    {
        var page = MakePage("text", 50_000);
        var frame = Compress(Native, page);
        var damaged = (byte[])frame.Clone();
        damaged[frame.Length / 2] ^= 0xFF;
        damaged[frame.Length / 2 + 1] ^= 0x5A;

        Assert.Throws<InvalidDataException>(() => ParquetPageCodec.Decompress(CompressionCodec.ZSTD, damaged, new byte[page.Length]));
        Assert.Throws<InvalidDataException>(() => ParquetPageCodec.Decompress(CompressionCodec.ZSTD, frame, new byte[page.Length - 1]));
        Assert.Throws<InvalidDataException>(() => ParquetPageCodec.Decompress(CompressionCodec.ZSTD, frame, new byte[page.Length + 1]));
        Assert.Throws<InvalidDataException>(() => ParquetPageCodec.Decompress(CompressionCodec.ZSTD, frame.AsMemory(0, frame.Length - 3), new byte[page.Length]));
    }

    private static byte[] MakePage(string kind, int length)
    {
        var random = new Random(length);
        var page = new byte[length];
        switch (kind)
        {
            case "random":
                random.NextBytes(page);
                break;
            case "numbers":
                for (var i = 0; i + 8 <= length; i += 8) BitConverter.TryWriteBytes(page.AsSpan(i), 1_700_000_000_000L + random.Next(1_000_000));
                break;
            case "text":
                var text = new StringBuilder();
                while (text.Length < length) text.Append("https://example.com/page/").Append(random.Next(5000)).Append("?ref=ümlaut\n");
                Encoding.UTF8.GetBytes(text.ToString()).AsSpan(0, length).CopyTo(page);
                break;
        }
        return page;
    }

    private static byte[] Compress(ZstdPageCodec codec, byte[] page)
    {
        var target = new byte[codec.CompressBound(page.Length)];
        return target.AsSpan(0, codec.Compress(page, target)).ToArray();
    }

    private static byte[] Decompress(ZstdPageCodec codec, byte[] frame, int length)
    {
        var target = new byte[length];
        Assert.Equal(length, codec.Decompress(frame, target));
        return target;
    }
}
