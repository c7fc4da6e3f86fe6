using System.Buffers;
using DatasetExport.Engine.Formats;
using Parquet.Meta;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The buffers of copied row groups (<see cref="StepPool{T}"/>, from an export's <see cref="RowGroupPools"/>): sizes in eight steps per power of two, arrays reused
/// and never handed out twice, and Snappy pages decompressed into exactly the space their header announces.
/// </summary>
public sealed class CopyBufferPoolTests
{
    [Theory]
    // Small requests (a column of a few rows) get small arrays: all of 4,096 entries once took 20 rows of 20,000 columns
    // 4,096 entries per column and array.
    [InlineData(0, 64)]
    [InlineData(20, 64)]
    [InlineData(65, 72)]
    [InlineData(4000, 4096)]
    [InlineData(4096, 4096)]
    [InlineData(4097, 4608)]
    [InlineData(8192, 8192)]
    [InlineData(1_000_000, 1_048_576)]
    [InlineData(1_048_577, 1_179_648)]
    [InlineData(8_000_000, 8_388_608)]
    public void Sizes_step_by_an_eighth_of_their_power_of_two(int length, int expected)
    {
        var size = StepPool<byte>.SizeFor(length);

        Assert.Equal(expected, size);
        Assert.True(size >= length && size - length <= Math.Max(64, length / 8));
    }

    [Fact]
    public void A_returned_array_is_reused_for_its_size_and_never_handed_out_twice()
    {
        var pool = new RowGroupPools().Of<byte>();
        var array = pool.Rent(100_000);
        Assert.Equal(StepPool<byte>.SizeFor(100_000), array.Length);

        pool.Return(array);
        pool.Return(array);

        Assert.Same(array, pool.Rent(99_000));
        Assert.NotSame(array, pool.Rent(99_000));
    }

    [Fact]
    public void A_size_with_none_free_is_served_by_an_array_up_to_two_steps_larger_only()
    {
        var pool = new StepPool<byte>();
        // 1 MiB + 1 byte takes the size 1 MiB + 1/8; two steps up is 1 MiB + 3/8, three steps 1 MiB + 4/8.
        var twoStepsUp = pool.Rent(1_441_792);
        var threeStepsUp = pool.Rent(1_572_864);
        pool.Return(threeStepsUp);

        Assert.NotSame(threeStepsUp, pool.Rent(1_048_577));
        pool.Return(twoStepsUp);
        Assert.Same(twoStepsUp, pool.Rent(1_048_577));
        Assert.Same(threeStepsUp, pool.Rent(1_400_000));
    }

    [Fact]
    public void Arrays_of_other_sizes_are_not_taken()
    {
        var pool = new RowGroupPools().Of<byte>();
        var foreign = new byte[100_000];

        pool.Return(foreign);

        Assert.NotSame(foreign, pool.Rent(100_000));
    }

    [Fact]
    public void A_buffer_writer_disposed_twice_gives_its_array_back_once()
    {
        var pool = new RowGroupPools().Of<byte>();
        var writer = new PooledBufferWriter(10_000, pool);
        writer.Write(new byte[20_000]);

        writer.Dispose();
        writer.Dispose();

        var again = pool.Rent(20_000);
        Assert.NotSame(again, pool.Rent(20_000));
        Assert.Equal(0, writer.WrittenCount);
    }

    [Fact]
    public void A_snappy_page_decompresses_into_exactly_its_announced_size()
    {
        var plain = Enumerable.Range(0, 50_000).Select(i => (byte)(i % 251)).ToArray();
        var compressed = Snappier.Snappy.CompressToArray(plain);
        var target = new byte[plain.Length + 10];

        ParquetPageCodec.Decompress(CompressionCodec.SNAPPY, compressed, target.AsMemory(0, plain.Length));

        Assert.Equal(plain, target[..plain.Length]);
        Assert.Throws<InvalidDataException>(() => ParquetPageCodec.Decompress(CompressionCodec.SNAPPY, compressed, target.AsMemory(0, plain.Length - 1)));
        Assert.Throws<InvalidDataException>(() => ParquetPageCodec.Decompress(CompressionCodec.SNAPPY, compressed, target.AsMemory(0, plain.Length + 1)));
    }

    [Fact]
    public void Zstd_pages_compressed_on_many_threads_decompress_to_their_source()
    {
        var pages = Enumerable.Range(0, 32).Select(p => Enumerable.Range(0, 20_000 + p).Select(i => (byte)((i * p) % 97)).ToArray()).ToArray();

        Parallel.ForEach(pages, page =>
        {
            var output = new PooledBufferWriter(ParquetPageCodec.MaxCompressedLength(CompressionCodec.ZSTD, page.Length));
            try
            {
                ParquetPageCodec.Compress(CompressionCodec.ZSTD, page, output);
                var back = new byte[page.Length];
                ParquetPageCodec.Decompress(CompressionCodec.ZSTD, output.WrittenMemory, back);
                Assert.Equal(page, back);
            }
            finally
            {
                output.Dispose();
            }
        });
    }
}
