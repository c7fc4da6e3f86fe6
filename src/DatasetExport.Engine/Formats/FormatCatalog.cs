namespace DatasetExport.Engine.Formats;

/// <summary>The one place that maps batch formats to readers and file types to writers.</summary>
public static class FormatCatalog
{
    private const long MinRowGroupBytes = 256 * 1024;
    /// <summary>The largest source row group copied still encoded (compressed bytes in its file), within a quarter of the part size.</summary>
    private const long MaxCopiedRowGroupBytes = 64L << 20;
    private const int MinGzipBlockBytes = 64 * 1024;

    /// <summary>
    /// The reader for a lake batch format. With <paramref name="onInvalidRecord"/>, JSON Lines readers leave invalid lines
    /// out and report them to it instead of failing (Parquet has no record-level faults: a damaged file fails whole).
    /// </summary>
    public static IBatchReader GetReader(BatchFormat format, Action<BatchReadException>? onInvalidRecord = null) =>
        GetReader(format, onInvalidRecord, new RowGroupPools());

    /// <summary>
    /// As <see cref="GetReader(BatchFormat, Action{BatchReadException}?)"/>, Parquet row groups decoded into, and JSON Lines
    /// chunks built in, arrays of <paramref name="pools"/> (an export's); a JSON Lines batch whose schema was inferred
    /// from <paramref name="sample"/> has every line checked against it.
    /// </summary>
    internal static IBatchReader GetReader(BatchFormat format, Action<BatchReadException>? onInvalidRecord, RowGroupPools pools, JsonSchemaSample? sample = null) => format switch
    {
        BatchFormat.Parquet => new ParquetBatchReader(pools),
        BatchFormat.JsonLines => new JsonLinesBatchReader(JsonLinesBatchReader.DefaultChunkSize, onInvalidRecord, pools, sample),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown batch format."),
    };

    /// <summary>A writer that writes <paramref name="schema"/>-shaped records into <paramref name="output"/>.</summary>
    public static IFormatWriter CreateWriter(
        Stream output, DatasetSchema schema, FileType fileType, CompressionKind compression, long maxFileBytes = long.MaxValue) =>
        CreateWriter(output, schema, fileType, compression, maxFileBytes, shelf: null);

    /// <summary>As the public overload; buffers come from <paramref name="shelf"/>, which the files of one export share.</summary>
    internal static IFormatWriter CreateWriter(
        Stream output, DatasetSchema schema, FileType fileType, CompressionKind compression, long maxFileBytes, WriterShelf? shelf)
    {
        ValidateCombination(fileType, compression);
        if (ColumnLayout.EmptyStructPath(schema) is { } emptyStruct) throw new ArgumentException(ColumnLayout.EmptyStructProblem(emptyStruct), nameof(schema));
        return fileType switch
        {
            // Gzip blocks compressing on other threads are not counted yet: kept small against the file size limit, the
            // blocks in flight (a few) lag it by a small fraction of a file.
            FileType.Json => new JsonLinesWriter(output, schema, gzip: compression == CompressionKind.Gzip,
                (int)Math.Clamp(maxFileBytes / 16, MinGzipBlockBytes, ParallelGzipWriter.DefaultBlockBytes), shelf?.GzipBlocks),
            FileType.Parquet => new ParquetFileWriter(output, schema, compression, ParquetFileWriter.DefaultRowGroupRecords,
                Math.Min(ParquetRowGroupBytes(maxFileBytes), ParquetFileWriter.DefaultRowGroupBytes), shelf?.ParquetColumns),
            _ => throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "Unknown file type."),
        };
    }

    /// <summary>
    /// A copier of <paramref name="batch"/>'s row groups, still encoded, into the Parquet files a destination writes, or
    /// null when its records must be read and written (<see cref="ParquetRowGroupCopier.TryOpenAsync"/> says when). Its
    /// memory is <paramref name="pools"/>' (an export shares them between its batches and its decoding reader), or its own.
    /// </summary>
    internal static async Task<ParquetRowGroupCopier?> TryCopyRowGroupsAsync(
        Lake.BatchInfo batch, DatasetSchema schema, FileType fileType, CompressionKind compression, long maxFileBytes,
        RowGroupPools? pools, CancellationToken cancellationToken) =>
        batch.Format == BatchFormat.Parquet && fileType == FileType.Parquet
            ? await ParquetRowGroupCopier.TryOpenAsync(
                batch.FullPath, batch.Gzipped, schema, compression, ParquetRowGroupBytes(maxFileBytes), pools, cancellationToken).ConfigureAwait(false)
            : null;

    /// <summary>
    /// A Parquet file only grows a row group at a time, so row groups are kept to a fraction of the file size limit: files
    /// then roll over near the limit instead of a whole 64 MiB row group past it. The writer closes its own row groups at
    /// the smaller <see cref="ParquetFileWriter.DefaultRowGroupBytes"/> of buffered values besides.
    /// </summary>
    private static long ParquetRowGroupBytes(long maxFileBytes) => Math.Clamp(maxFileBytes / 4, MinRowGroupBytes, MaxCopiedRowGroupBytes);

    /// <summary>The file name suffix for written files, e.g. <c>.json.gz</c> or <c>.parquet</c>.</summary>
    public static string FileExtension(FileType fileType, CompressionKind compression) => fileType switch
    {
        FileType.Json => compression == CompressionKind.Gzip ? ".json.gz" : ".json",
        // Parquet compresses inside the file, so the name stays .parquet whatever the codec.
        FileType.Parquet => ".parquet",
        _ => throw new ArgumentOutOfRangeException(nameof(fileType)),
    };

    /// <summary>Throws <see cref="ArgumentException"/> for combinations no writer supports (e.g. Snappy for JSON).</summary>
    public static void ValidateCombination(FileType fileType, CompressionKind compression)
    {
        if (fileType == FileType.Json && compression is not (CompressionKind.None or CompressionKind.Gzip))
        {
            throw new ArgumentException(
                $"Compression {compression} is not available for JSON files; use None or Gzip (Snappy and Zstd apply to Parquet).",
                nameof(compression));
        }
    }
}
