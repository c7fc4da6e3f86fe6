namespace DatasetExport.Engine.Formats;

/// <summary>The file type a destination writes.</summary>
public enum FileType
{
    Json,
    Parquet,
}

/// <summary>Compression of written files. Gzip applies to both types; Snappy and Zstd to Parquet only.</summary>
public enum CompressionKind
{
    None,
    Gzip,
    Snappy,
    Zstd,
}

/// <summary>The format a lake batch is stored in.</summary>
public enum BatchFormat
{
    Parquet,
    JsonLines,
}

/// <summary>
/// A record: top-level column name to value, in schema order. Values are null, bool, int, long, float,
/// double, decimal, string, byte[], DateOnly, DateTime (UTC), TimeSpan, or, for nested kinds, the types
/// documented on <see cref="FieldKind"/>.
/// </summary>
public sealed class Record : Dictionary<string, object?>
{
    public Record() : base(StringComparer.Ordinal) { }
    public Record(int capacity) : base(capacity, StringComparer.Ordinal) { }
}

/// <summary>A bounded slice of records read from one batch (a Parquet row group, or N JSON lines).</summary>
public sealed class RecordChunk
{
    public RecordChunk(DatasetSchema schema, IReadOnlyList<Record> records)
    {
        Schema = schema;
        Records = records;
    }

    public DatasetSchema Schema { get; }
    public IReadOnlyList<Record> Records { get; }
}

/// <summary>Raised when a batch cannot be read or does not fit the dataset's schema. Names the file and position.</summary>
public sealed class BatchReadException : Exception
{
    public BatchReadException(string filePath, string location, string message, Exception? inner = null)
        : base($"{filePath}{(string.IsNullOrEmpty(location) ? "" : " (" + location + ")")}: {message}", inner)
    {
        FilePath = filePath;
        Location = location;
    }

    public string FilePath { get; }
    /// <summary>Where in the file, e.g. "line 17" or "row group 2"; empty when the whole file is at fault.</summary>
    public string Location { get; }
}

/// <summary>Reads one batch file of one format as a stream of record chunks.</summary>
public interface IBatchReader
{
    BatchFormat Format { get; }

    /// <summary>Reads the batch's schema (Parquet: footer; JSON Lines: inferred from every line).</summary>
    Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken);

    /// <summary>Record count where it is cheap (Parquet footer), otherwise null.</summary>
    Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken);

    /// <summary>
    /// Streams the batch's records, each conformed to <paramref name="schema"/> (the dataset's merged schema:
    /// missing columns become null). Memory is bounded by one chunk.
    /// </summary>
    IAsyncEnumerable<RecordChunk> ReadAsync(string path, bool gzipped, DatasetSchema schema, CancellationToken cancellationToken);
}

/// <summary>Writes record chunks into one output file.</summary>
public interface IFormatWriter : IAsyncDisposable
{
    /// <summary>Bytes written to the output so far (after compression), used to roll files over.</summary>
    long BytesWritten { get; }

    long RecordsWritten { get; }

    Task WriteAsync(RecordChunk chunk, CancellationToken cancellationToken);

    /// <summary>Flushes and finishes the file (footer, gzip trailer). The output stream is left open.</summary>
    Task CompleteAsync(CancellationToken cancellationToken);
}
