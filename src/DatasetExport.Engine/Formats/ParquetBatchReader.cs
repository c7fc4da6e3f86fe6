using System.IO.Compression;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using Parquet;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// Reads Parquet batches one row group at a time through Parquet.Net's column API: each row group's columns are decoded
/// and mapped onto the dataset schema's canonical levels (<see cref="ParquetColumnPlan"/>) into one chunk, which is
/// handed out in slices of at most <see cref="ChunkSize"/> rows sharing its memory. The reader itself holds one row
/// group's columns; consumers keep the slices (and so their row group's arrays) as long as they need. The arrays are
/// rented (<see cref="RowGroupLease"/>): once every slice of a row group is released (<see cref="RecordChunk.Release"/>)
/// they serve later row groups; slices never released are left to the GC.
/// <c>.parquet.gz</c> batches are first decompressed to a temporary file (Parquet needs to seek), deleted afterwards.
/// </summary>
public sealed class ParquetBatchReader : IBatchReader
{
    public const int DefaultChunkSize = 10_000;

    /// <param name="chunkSize">Most records in one chunk.</param>
    /// <param name="temporaryFolder">Where <c>.parquet.gz</c> batches are decompressed; the system temp folder when null.</param>
    public ParquetBatchReader(int chunkSize = DefaultChunkSize, string? temporaryFolder = null)
        : this(new RowGroupPools(), chunkSize, temporaryFolder)
    {
    }

    /// <param name="pools">Where row groups' arrays are rented: an export shares one between its batches.</param>
    internal ParquetBatchReader(RowGroupPools pools, int chunkSize = DefaultChunkSize, string? temporaryFolder = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        _pools = pools;
        ChunkSize = chunkSize;
        TemporaryFolder = temporaryFolder ?? Path.GetTempPath();
    }

    private readonly RowGroupPools _pools;

    /// <summary>Most records in one chunk; a row group larger than this yields several chunks.</summary>
    public int ChunkSize { get; }

    /// <summary>Where gzipped batches are decompressed to <c>dataset-export-&lt;guid&gt;.parquet</c> while they are read.</summary>
    public string TemporaryFolder { get; }

    public BatchFormat Format => BatchFormat.Parquet;

    public async Task<DatasetSchema> ReadSchemaAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        await using var file = await ParquetFile.OpenAsync(path, gzipped, TemporaryFolder, cancellationToken).ConfigureAwait(false);
        return file.Schema;
    }

    public async Task<long?> ReadRecordCountAsync(string path, bool gzipped, CancellationToken cancellationToken)
    {
        await using var file = await ParquetFile.OpenAsync(path, gzipped, TemporaryFolder, cancellationToken).ConfigureAwait(false);
        return file.Reader.RowGroups.Sum(group => group.RowCount);
    }

    public async IAsyncEnumerable<RecordChunk> ReadAsync(
        string path, bool gzipped, DatasetSchema schema, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        await using var file = await ParquetFile.OpenAsync(path, gzipped, TemporaryFolder, cancellationToken).ConfigureAwait(false);
        // No rows: nothing to read, whatever its columns' kinds (FolderLake merges them as only nulls).
        if (file.Reader.RowGroups.Sum(group => group.RowCount) == 0) yield break;
        var plan = ParquetColumnPlan.TryCreate(file.Reader.Schema, schema, path);
        // A struct child of the dataset schema missing from this file: read the file's own fields and shred their records.
        var shredInto = plan is null ? new ChunkBuilder(schema) : null;
        plan ??= ParquetColumnPlan.TryCreate(file.Reader.Schema, OwnFields(file.Schema, schema), path)
            ?? throw new InvalidOperationException($"{path}: the file's own fields do not map onto themselves.");
        for (var groupIndex = 0; groupIndex < file.Reader.RowGroupCount; groupIndex++)
        {
            var location = $"row group {groupIndex}";
            // The reader holds the row group's arrays until it has handed out its last chunk; each chunk holds them until released.
            var lease = await _pools.LeaseAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var rowGroup = await Guard(path, location, async () =>
                {
                    using var group = file.Reader.OpenRowGroupReader(groupIndex);
                    return await plan.ReadAsync(group, file.Handle, lease, cancellationToken).ConfigureAwait(false);
                }).ConfigureAwait(false);
                for (var start = 0; start < rowGroup.RowCount; start += ChunkSize)
                {
                    yield return Guard(path, location, () => Slice(rowGroup, start, shredInto, lease));
                }
            }
            finally
            {
                lease.Release();
            }
        }
    }

    /// <summary>Rows from <paramref name="start"/> of the row group, at most <see cref="ChunkSize"/>, shredded into the dataset schema when the file needs it.</summary>
    private RecordChunk Slice(RecordChunk rowGroup, int start, ChunkBuilder? shredInto, RowGroupLease lease)
    {
        var slice = rowGroup.Slice(start, Math.Min(ChunkSize, rowGroup.RowCount - start));
        if (shredInto is null) return slice.HeldBy(lease);
        // Shredded into arrays of its own: the row group's arrays are not needed past this point.
        foreach (var record in slice.Records) shredInto.AddRecord(record);
        return shredInto.Build();
    }

    /// <summary>The file's top-level fields that the dataset schema has, in file order.</summary>
    private static DatasetSchema OwnFields(DatasetSchema file, DatasetSchema dataset) =>
        new(file.Fields.Where(field => dataset.Fields.Any(target => target.Name == field.Name)).ToList());

    /// <summary>Runs one step of reading; any failure that is not a cancellation becomes a <see cref="BatchReadException"/> at <paramref name="location"/>.</summary>
    private static T Guard<T>(string path, string location, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (Exception error) when (error is not OperationCanceledException and not BatchReadException)
        {
            throw new BatchReadException(path, location, error.Message, error);
        }
    }

    private static async Task<T> Guard<T>(string path, string location, Func<Task<T>> step)
    {
        try
        {
            return await step().ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException and not BatchReadException)
        {
            throw new BatchReadException(path, location, error.Message, error);
        }
    }

    /// <summary>An open Parquet reader plus the temporary file it may read from.</summary>
    private sealed class ParquetFile : IAsyncDisposable
    {
        private readonly string? _temporaryPath;

        private ParquetFile(ParquetReader reader, SafeFileHandle handle, DatasetSchema schema, string? temporaryPath)
        {
            Reader = reader;
            Handle = handle;
            Schema = schema;
            _temporaryPath = temporaryPath;
        }

        public ParquetReader Reader { get; }

        /// <summary>The file <see cref="Reader"/> reads, for decoding column chunks without it.</summary>
        public SafeFileHandle Handle { get; }

        public DatasetSchema Schema { get; }

        public static async Task<ParquetFile> OpenAsync(string path, bool gzipped, string temporaryFolder, CancellationToken cancellationToken)
        {
            string? temporaryPath = null;
            try
            {
                var readPath = path;
                if (gzipped)
                {
                    temporaryPath = await DecompressToTemporaryFileAsync(path, temporaryFolder, cancellationToken).ConfigureAwait(false);
                    readPath = temporaryPath;
                }
                ParquetReader reader;
                try
                {
                    reader = await ParquetReader.CreateAsync(readPath, ParquetSchemaMapping.ReadOptions(), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception error) when (error is not OperationCanceledException and not FileNotFoundException and not DirectoryNotFoundException)
                {
                    throw new BatchReadException(path, "footer", $"not a readable Parquet file: {error.Message}", error);
                }
                try
                {
                    // Before Parquet.Net builds the schema: a deep enough one overflows its stack, which no catch survives.
                    if (ParquetSchemaMapping.SchemaDepthProblem(reader.Metadata) is { } tooDeep) throw new BatchReadException(path, "schema", tooDeep);
                    var schema = ParquetSchemaMapping.ToDatasetSchema(reader.Schema);
                    return new ParquetFile(reader, File.OpenHandle(readPath, options: FileOptions.Asynchronous), schema, temporaryPath);
                }
                catch (NotSupportedException error)
                {
                    await reader.DisposeAsync().ConfigureAwait(false);
                    throw new BatchReadException(path, "schema", error.Message, error);
                }
                catch
                {
                    await reader.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            catch (FileNotFoundException error)
            {
                DeleteQuietly(temporaryPath);
                throw new BatchReadException(path, "", "the batch file does not exist.", error);
            }
            catch
            {
                DeleteQuietly(temporaryPath);
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Reader.DisposeAsync().ConfigureAwait(false);
            Handle.Dispose();
            DeleteQuietly(_temporaryPath);
        }

        private static async Task<string> DecompressToTemporaryFileAsync(string path, string temporaryFolder, CancellationToken cancellationToken)
        {
            var temporaryPath = Path.Combine(temporaryFolder, $"dataset-export-{Guid.NewGuid():N}.parquet");
            try
            {
                await using var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                await using var gzip = new GZipStream(source, CompressionMode.Decompress);
                await using var target = new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                await gzip.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
                return temporaryPath;
            }
            catch (InvalidDataException error)
            {
                DeleteQuietly(temporaryPath);
                throw new BatchReadException(path, "gzip", $"the gzip data is corrupt: {error.Message}", error);
            }
            catch
            {
                DeleteQuietly(temporaryPath);
                throw;
            }
        }

        private static void DeleteQuietly(string? path)
        {
            if (path is null) return;
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
