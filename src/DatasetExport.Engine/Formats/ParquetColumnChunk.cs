using System.Buffers;
using Microsoft.Win32.SafeHandles;
using Parquet.Meta;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// The bytes of one column chunk of a Parquet file and the pages in them, as both the engine's decoder
/// (<see cref="ParquetPageReader"/>) and the row group copier (<see cref="ParquetRowGroupCopier"/>) walk them.
/// </summary>
internal static class ParquetColumnChunk
{
    /// <summary>
    /// Reads the chunk <paramref name="metadata"/> describes into an array rented from <paramref name="pool"/> (the caller
    /// returns it); <paramref name="length"/> is the chunk's size. A chunk that does not fit in the file is damaged.
    /// </summary>
    public static byte[] Read(SafeFileHandle file, ColumnMetaData metadata, ArrayPool<byte> pool, out int length)
    {
        var start = ParquetThrift.ChunkStart(metadata);
        if (start < 0 || metadata.TotalCompressedSize is < 0 or > int.MaxValue || start + metadata.TotalCompressedSize > RandomAccess.GetLength(file))
        {
            throw new InvalidDataException($"the column chunk ({metadata.TotalCompressedSize} bytes at {start}) does not fit in the file.");
        }
        length = (int)metadata.TotalCompressedSize;
        var chunk = pool.Rent(Math.Max(length, 1));
        try
        {
            for (var read = 0; read < length;)
            {
                var got = RandomAccess.Read(file, chunk.AsSpan(read, length - read), start + read);
                if (got == 0) throw new InvalidDataException("the file ends inside the column chunk.");
                read += got;
            }
            return chunk;
        }
        catch
        {
            pool.Return(chunk);
            throw;
        }
    }

    /// <summary>
    /// The header of the page at <paramref name="pages"/>' position (a stream over one chunk's bytes), whose payload then
    /// starts at <paramref name="payloadStart"/>; the stream is left after the payload, which must fit in the chunk.
    /// </summary>
    public static PageHeader NextPage(MemoryStream pages, out int payloadStart)
    {
        var header = ParquetThrift.ReadPageHeader(pages);
        payloadStart = (int)pages.Position;
        if (header.CompressedPageSize < 0 || header.CompressedPageSize > pages.Length - payloadStart || header.UncompressedPageSize < 0)
        {
            throw new InvalidDataException($"a page of {header.CompressedPageSize} bytes ({header.UncompressedPageSize} uncompressed) does not fit in its column chunk.");
        }
        pages.Position = payloadStart + header.CompressedPageSize;
        return header;
    }
}
