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

/// <summary>
/// A bounded slice of records read from one batch (part of a Parquet row group, or N JSON lines), held column by column:
/// one <see cref="ColumnData"/> per leaf of the schema's <see cref="ColumnLayout"/>, with definition and repetition
/// levels. Readers produce chunks and writers consume them without making an object per record. Immutable.
/// </summary>
public sealed class RecordChunk
{
    private List<Record>? _records;
    private RowGroupLease? _lease;

    public RecordChunk(DatasetSchema schema, int rowCount, IReadOnlyList<ColumnData> columns)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        Layout = ColumnLayout.For(schema);
        if (columns.Count != Layout.Leaves.Count)
        {
            throw new ArgumentException($"The schema has {Layout.Leaves.Count} leaf columns but the chunk holds {columns.Count}.", nameof(columns));
        }
        for (var i = 0; i < columns.Count; i++)
        {
            var leaf = Layout.Leaves[i];
            if (!ReferenceEquals(columns[i].Leaf, leaf))
            {
                throw new ArgumentException($"Column {i} is '{columns[i].Leaf.Path}' but the layout's leaf {i} is '{leaf.Path}'.", nameof(columns));
            }
            if (leaf.MaxRepetition == 0 && columns[i].LevelCount != rowCount)
            {
                throw new ArgumentException($"Column '{leaf.Path}' has {columns[i].LevelCount} entries for {rowCount} rows.", nameof(columns));
            }
        }
        Schema = schema;
        RowCount = rowCount;
        Columns = columns;
    }

    /// <summary>Shreds <paramref name="records"/> (see <see cref="ChunkBuilder.AddRecord"/>).</summary>
    public RecordChunk(DatasetSchema schema, IEnumerable<IReadOnlyDictionary<string, object?>> records)
        : this(schema, Shred(schema, records))
    {
    }

    private RecordChunk(DatasetSchema schema, RecordChunk shredded) : this(schema, shredded.RowCount, shredded.Columns)
    {
    }

    public DatasetSchema Schema { get; }
    public ColumnLayout Layout { get; }
    public int RowCount { get; }

    /// <summary>One column per leaf, in <see cref="ColumnLayout.Leaves"/> order.</summary>
    public IReadOnlyList<ColumnData> Columns { get; }

    /// <summary>The rows as records, assembled on first use: for inspection and tests, never on an export's path.</summary>
    public IReadOnlyList<Record> Records => _records ??= RecordAssembler.Assemble(this);

    /// <summary>
    /// Tells the reader that made this chunk that its consumer is done with it (every writer is, when its WriteAsync
    /// returns): the memory may be reused for later chunks. Neither the chunk nor a slice of it may be used afterwards.
    /// Optional: a chunk never released is left to the GC. Releasing twice does nothing.
    /// </summary>
    public void Release() => Interlocked.Exchange(ref _lease, null)?.Release();

    /// <summary>Marks this chunk as one of the holders of <paramref name="lease"/>'s arrays.</summary>
    internal RecordChunk HeldBy(RowGroupLease lease)
    {
        if (_lease is not null) throw new InvalidOperationException("The chunk is already held by a row group lease.");
        lease.Hold();
        _lease = lease;
        return this;
    }

    /// <summary>Rows [<paramref name="rowStart"/>, +<paramref name="rowCount"/>), sharing this chunk's memory.</summary>
    public RecordChunk Slice(int rowStart, int rowCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowStart);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rowStart + rowCount, RowCount);
        if (rowStart == 0 && rowCount == RowCount) return this;
        var columns = new ColumnData[Columns.Count];
        for (var i = 0; i < columns.Length; i++) columns[i] = Columns[i].SliceRows(RowCount, rowStart, rowCount);
        return new RecordChunk(Schema, rowCount, columns);
    }

    private static RecordChunk Shred(DatasetSchema schema, IEnumerable<IReadOnlyDictionary<string, object?>> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var builder = new ChunkBuilder(schema);
        foreach (var record in records) builder.AddRecord(record);
        return builder.Build();
    }
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
