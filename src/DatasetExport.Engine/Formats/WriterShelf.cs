namespace DatasetExport.Engine.Formats;

/// <summary>
/// Buffers kept between the files one export writes one after the other (its parts): each file's served the next instead
/// of being dropped for a full collection to find (large-object-heap arrays, a few MB to tens of MB per file), which grew
/// a long export's memory with every part. Gzip blocks for JSON Lines, column buffers and encoders for Parquet.
/// </summary>
internal sealed class WriterShelf
{
    public ParallelGzipWriter.BlockShelf GzipBlocks { get; } = new();

    public ParquetFileWriter.ColumnShelf ParquetColumns { get; } = new();
}
