using DatasetExport.Engine.Formats;
using Parquet.Meta;

namespace DatasetExport.Engine.Tests.Formats;

[Collection(FormatsCollection.Name)]
public sealed class ParquetThriftTests(FormatsFixture fixture)
{
    [Fact]
    public void Footer_of_a_DuckDB_file_reads_and_writes_back_to_the_same_bytes()
    {
        var file = File.ReadAllBytes(fixture.AllTypesParquet);
        var footerLength = BitConverter.ToInt32(file.AsSpan(file.Length - 8, 4));
        var original = file.AsSpan(file.Length - 8 - footerLength, footerLength).ToArray();

        var metadata = ParquetThrift.ReadFooter(file);
        using var written = new MemoryStream();
        ParquetThrift.Write(metadata, written);

        Assert.Equal(FormatsFixture.Rows, metadata.NumRows);
        Assert.Equal(metadata.RowGroups.Sum(group => group.NumRows), metadata.NumRows);
        Assert.StartsWith("DuckDB", metadata.CreatedBy);
        Assert.Equal(original, written.ToArray());
    }

    [Fact]
    public void Page_headers_read_from_a_column_chunk_leave_the_stream_at_their_data_and_chain_to_its_end()
    {
        var file = File.ReadAllBytes(fixture.AllTypesParquet);
        var metadata = ParquetThrift.ReadFooter(file);
        foreach (var column in metadata.RowGroups[0].Columns)
        {
            var chunk = column.MetaData!;
            var start = ParquetThrift.ChunkStart(chunk);
            using var stream = new MemoryStream(file, (int)start, (int)chunk.TotalCompressedSize, writable: false);
            long values = 0;
            while (stream.Position < stream.Length)
            {
                var header = ParquetThrift.ReadPageHeader(stream);
                Assert.InRange(header.CompressedPageSize, 0, stream.Length - stream.Position);
                values += header.DataPageHeader?.NumValues ?? header.DataPageHeaderV2?.NumValues ?? 0;
                stream.Position += header.CompressedPageSize;
            }
            Assert.Equal(chunk.NumValues, values);
        }
    }

    [Fact]
    public void A_page_header_written_reads_back_the_same()
    {
        var header = new PageHeader
        {
            Type = PageType.DATA_PAGE,
            UncompressedPageSize = 1234,
            CompressedPageSize = 567,
            DataPageHeader = new DataPageHeader { NumValues = 89, Encoding = Encoding.PLAIN, DefinitionLevelEncoding = Encoding.RLE, RepetitionLevelEncoding = Encoding.RLE },
        };
        using var stream = new MemoryStream();
        ParquetThrift.Write(header, stream);
        stream.WriteByte(0xAB);
        stream.Position = 0;

        var read = ParquetThrift.ReadPageHeader(stream);

        Assert.Equal((1234, 567, 89, Encoding.PLAIN), (read.UncompressedPageSize, read.CompressedPageSize, read.DataPageHeader!.NumValues, read.DataPageHeader.Encoding));
        Assert.Equal(0xAB, stream.ReadByte());
    }

    [Fact]
    public void A_file_without_magic_is_refused_as_invalid_data()
    {
        Assert.Throws<InvalidDataException>(() => ParquetThrift.ReadFooter(new byte[64]));
    }
}
