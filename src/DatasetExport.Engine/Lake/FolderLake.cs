using System.Text.Json;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Lake;

/// <summary>
/// The embedded lake: a folder whose sub-folders are datasets, each holding batch files (Parquet or
/// JSON Lines, optionally gzipped) anywhere below it. The lake is only ever read.
/// </summary>
public sealed class FolderLake
{
    public const string MetadataFileName = "_dataset.json";

    private readonly string _root;
    private readonly IBatchSchemaStore? _knownSchemas;
    private readonly BatchSchemaCache _cache;

    /// <param name="root">The lake folder.</param>
    /// <param name="knownSchemas">Where batch schemas read before are kept beyond this process (the engine's state store), if anywhere.</param>
    public FolderLake(string root, IBatchSchemaStore? knownSchemas = null)
        : this(root, knownSchemas, BatchSchemaCache.Shared)
    {
    }

    /// <summary>With a cache of its own instead of the process's (tests: a new process).</summary>
    internal FolderLake(string root, IBatchSchemaStore? knownSchemas, BatchSchemaCache cache)
    {
        _knownSchemas = knownSchemas;
        _cache = cache;
        _root = Path.GetFullPath(root);
        if (!Directory.Exists(_root))
        {
            throw new LakeException(LakeFailure.NotFound, $"The lake folder '{_root}' does not exist.", _root);
        }
    }

    public string Root => _root;

    /// <summary>Every dataset folder, with its batches, schema and eligibility.</summary>
    public Task<IReadOnlyList<DatasetInfo>> ListDatasetsAsync(CancellationToken cancellationToken) => ListDatasetsAsync(null, cancellationToken);

    /// <summary>
    /// The dataset folders whose id and name <paramref name="include"/> accepts (every one when null), with their batches, schema
    /// and eligibility. Only those have their batches listed and read: a lake of thousands of batch files is not read whole
    /// to show a few datasets. An id another folder before it already uses is judged among all the folders.
    /// </summary>
    public async Task<IReadOnlyList<DatasetInfo>> ListDatasetsAsync(Func<string, string, bool>? include, CancellationToken cancellationToken)
    {
        var datasets = new List<DatasetInfo>();
        var seenIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (folder, id, name) in DatasetFolders())
        {
            var firstWithId = seenIds.Add(id);
            if (include is not null && !include(id, name)) continue;
            var dataset = await DescribeAsync(folder, BatchReadOptions.Strict, cancellationToken).ConfigureAwait(false);
            if (!firstWithId)
            {
                dataset = WithReason(dataset, $"Another dataset folder already uses the id '{dataset.Id}'.");
            }
            datasets.Add(dataset);
        }
        return datasets;
    }

    /// <summary>One dataset by id (folder name, or the id in its _dataset.json); throws <see cref="LakeException"/> NotFound.</summary>
    public Task<DatasetInfo> GetDatasetAsync(string datasetId, CancellationToken cancellationToken) =>
        GetDatasetAsync(datasetId, BatchReadOptions.Strict, cancellationToken);

    /// <summary>
    /// One dataset by id, its batches judged as <paramref name="options"/> say (an export's view of it): the folder of that
    /// name, else the first folder whose _dataset.json gives that id. Only that folder's batches are listed and read.
    /// </summary>
    public async Task<DatasetInfo> GetDatasetAsync(string datasetId, BatchReadOptions options, CancellationToken cancellationToken)
    {
        var direct = Path.Combine(_root, datasetId);
        if (DatasetIds.IsValid(datasetId) && Directory.Exists(direct))
        {
            var dataset = await DescribeAsync(direct, options, cancellationToken).ConfigureAwait(false);
            if (string.Equals(dataset.Id, datasetId, StringComparison.OrdinalIgnoreCase)) return dataset;
        }
        foreach (var (folder, id, _) in DatasetFolders())
        {
            if (string.Equals(id, datasetId, StringComparison.OrdinalIgnoreCase)) return await DescribeAsync(folder, options, cancellationToken).ConfigureAwait(false);
        }
        throw new LakeException(LakeFailure.NotFound, $"The lake '{_root}' has no dataset with id '{datasetId}'.", datasetId);
    }

    /// <summary>
    /// The dataset folders in a stable order, each with the id and name <see cref="DescribeAsync"/> gives it (from its
    /// _dataset.json, or the folder's name when it has none or it cannot be read), without listing its batches.
    /// </summary>
    private IEnumerable<(string Folder, string Id, string Name)> DatasetFolders()
    {
        foreach (var folder in Directory.EnumerateDirectories(_root).Order(StringComparer.Ordinal))
        {
            var folderName = Path.GetFileName(folder);
            if (IsHiddenName(folderName)) continue;
            (string Id, string Name) identity;
            try
            {
                var (id, name, _) = ReadMetadata(folder, folderName);
                identity = (id, name);
            }
            catch (Exception error) when (error is JsonException or IOException or InvalidDataException)
            {
                identity = (folderName, folderName);
            }
            yield return (folder, identity.Id, identity.Name);
        }
    }

    private async Task<DatasetInfo> DescribeAsync(string folder, BatchReadOptions options, CancellationToken cancellationToken)
    {
        var folderName = Path.GetFileName(folder);
        var batches = FindBatches(folder);
        var format = batches.Select(b => b.Format).Distinct().ToList() switch
        {
            [] => "None",
            [var single] => single.ToString(),
            _ => "Mixed",
        };

        string id = folderName, name = folderName;
        string? description = null;
        try
        {
            (id, name, description) = ReadMetadata(folder, folderName);
        }
        catch (Exception error) when (error is JsonException or IOException or InvalidDataException)
        {
            return new DatasetInfo { Id = folderName, Name = folderName, Path = folder, Batches = batches, Format = format, Reason = $"{MetadataFileName} cannot be read: {error.Message}" };
        }

        if (!DatasetIds.IsValid(id))
        {
            return new DatasetInfo { Id = id, Name = name, Description = description, Path = folder, Batches = batches, Format = format, Reason = DatasetIds.Problem(id) };
        }
        if (batches.Count == 0)
        {
            return new DatasetInfo { Id = id, Name = name, Description = description, Path = folder, Batches = batches, Format = format, Reason = "The dataset has no batch files (.parquet, .json, .jsonl, .ndjson, optionally .gz)." };
        }

        // Every batch is judged (not just up to the first bad one), so an export that skips bad batches knows them all.
        // Batches are read on all cores (JSON Lines inference parses their lines), then merged in order.
        // Sampled schemas are checked by the export's read against the dataset schema, which a Parquet batch could widen
        // past what the checks know (kinds JSON inference never gives): mixed datasets are inferred from every line.
        if (options.SampleJsonSchemas && format != nameof(BatchFormat.JsonLines)) options = options with { SampleJsonSchemas = false };
        var reads = await ReadSchemasAsync(batches, options, cancellationToken).ConfigureAwait(false);
        DatasetSchema? schema = null;
        long? recordCount = 0;
        var batchProblems = new BatchProblem?[batches.Count];
        var samples = new Dictionary<string, JsonSchemaSample>(StringComparer.Ordinal);
        // Merged in path order, except that batches an incremental export sent before come first: they are the dataset its
        // destination holds, and a new batch that conflicts with them is the one at fault (named, or skipped), not they.
        var exportedBefore = options.ExportedBatchKeys;
        foreach (var i in Enumerable.Range(0, batches.Count).OrderBy(i => exportedBefore?.Contains(batches[i].Key.Value) == true ? 0 : 1))
        {
            var batch = batches[i];
            long? count = null;
            try
            {
                var (batchSchema, batchCount, sample) = reads[i].Result ?? throw reads[i].Error!;
                count = batchCount;
                // A batch of no rows holds no value of any column, so its declared kinds tell nothing: they take the other
                // batches' (an empty file its producer typed otherwise, e.g. a pandas frame of no rows with object columns).
                if (batchCount == 0) batchSchema = new DatasetSchema(batchSchema.Fields.Select(field => field with { OnlyNulls = true }).ToList());
                schema = schema is null ? batchSchema : SchemaMerger.Merge(schema, batchSchema);
                if (sample is not null) samples.Add(batch.FullPath, sample);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                batchProblems[i] = new BatchProblem(batch, $"Batch '{batch.RelativePath}' cannot be exported with the others: {error.Message}", count);
                continue;
            }
            recordCount = count is null || recordCount is null ? null : recordCount + count;
        }
        // Both in path order, the order batches are exported in.
        var exportable = batches.Where((_, i) => batchProblems[i] is null).ToList();
        var problems = batchProblems.OfType<BatchProblem>().ToList();
        if (problems.Count > 0 && options.SampleJsonSchemas)
        {
            // A sample may miss what a full read finds (a later line that conflicts with its batch's first ones, so that batch,
            // not another, is at fault): problems are judged, and named, from every line.
            return await DescribeAsync(folder, options with { SampleJsonSchemas = false }, cancellationToken).ConfigureAwait(false);
        }
        if (problems.Count > 0 && !options.SkipInvalidBatches)
        {
            var more = problems.Count == 1 ? "" : $" ({problems.Count - 1} more batches cannot be exported either.)";
            return new DatasetInfo
            {
                Id = id, Name = name, Description = description, Path = folder, Batches = batches, Format = format,
                BatchProblems = problems, Reason = problems[0].Problem + more,
            };
        }
        if (schema is not null && ColumnLayout.EmptyStructPath(schema) is { } emptyStruct)
        {
            // A sample may have seen only empty objects where later lines give them fields: judged from every line.
            if (options.SampleJsonSchemas) return await DescribeAsync(folder, options with { SampleJsonSchemas = false }, cancellationToken).ConfigureAwait(false);
            return new DatasetInfo
            {
                Id = id, Name = name, Description = description, Path = folder, Batches = batches, Format = format,
                BatchProblems = problems, Reason = ColumnLayout.EmptyStructProblem(emptyStruct),
            };
        }
        return new DatasetInfo
        {
            Id = id, Name = name, Description = description, Path = folder, Batches = exportable, Format = format,
            BatchProblems = problems, Schema = schema, RecordCount = recordCount, SchemaSamples = samples,
        };
    }

    /// <summary>Each batch's schema and record count, or why it cannot be read; cancellation is not caught.</summary>
    private async Task<((DatasetSchema Schema, long? RecordCount, JsonSchemaSample? Sample)? Result, Exception? Error)[]> ReadSchemasAsync(
        IReadOnlyList<BatchInfo> batches, BatchReadOptions options, CancellationToken cancellationToken)
    {
        var known = KnownSchemas(batches, options.SkipInvalidRecords);
        var reads = new ((DatasetSchema, long?, JsonSchemaSample?)?, Exception?)[batches.Count];
        var newlyKnown = new KnownBatchSchema?[batches.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, batches.Count), parallel, async (i, token) =>
        {
            try
            {
                var (read, settled, sample) = await ReadSchemaAsync(batches[i], options, known, token).ConfigureAwait(false);
                reads[i] = ((read.Schema, read.RecordCount, sample), null);
                // What the store holds already is not written again: a scan of an unchanged lake writes nothing.
                if (settled && !known.ContainsKey(read.FullPath)) newlyKnown[i] = read;
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                reads[i] = (null, error);
            }
        }).ConfigureAwait(false);
        KeepSchemas(newlyKnown.OfType<KnownBatchSchema>().ToList());
        return reads;
    }

    /// <summary>
    /// The batch's schema and record count, read once while its file is unchanged: from this process's cache, else the
    /// state store's <paramref name="known"/> entry, else the file. <c>Settled</c>: the result may be kept for later runs.
    /// <c>Sample</c>: under <see cref="BatchReadOptions.SampleJsonSchemas"/>, the sample the schema was inferred from when
    /// the batch has more lines than it (such a schema is never kept).
    /// </summary>
    private async Task<(KnownBatchSchema Read, bool Settled, JsonSchemaSample? Sample)> ReadSchemaAsync(
        BatchInfo batch, BatchReadOptions options, IReadOnlyDictionary<string, KnownBatchSchema> known, CancellationToken cancellationToken)
    {
        if (_cache.TryGet(batch, options.SkipInvalidRecords, out var cached)) return (cached, true, null);
        if (known.TryGetValue(batch.FullPath, out var kept))
        {
            _cache.Remember(kept);
            return (kept, true, null);
        }
        // Invalid lines are only counted by the export that writes the batch; here they are just left out.
        var reader = FormatCatalog.GetReader(batch.Format, options.SkipInvalidRecords ? _ => { } : null);
        var readStarted = DateTimeOffset.UtcNow;
        JsonSchemaSample? sample = null;
        DatasetSchema schema;
        if (options.SampleJsonSchemas && reader is JsonLinesBatchReader json)
        {
            sample = await json.ReadSchemaSampleAsync(batch.FullPath, batch.Gzipped, JsonLinesBatchReader.SchemaSampleLines, cancellationToken).ConfigureAwait(false);
            schema = sample.Schema;
            if (sample.Complete) sample = null;
        }
        else
        {
            schema = await reader.ReadSchemaAsync(batch.FullPath, batch.Gzipped, cancellationToken).ConfigureAwait(false);
        }
        var count = await reader.ReadRecordCountAsync(batch.FullPath, batch.Gzipped, cancellationToken).ConfigureAwait(false);
        var read = KnownBatchSchema.Of(batch, options.SkipInvalidRecords, schema, count);
        var settled = sample is null && BatchSchemaCache.IsSettled(batch, readStarted);
        if (settled) _cache.Remember(read);
        return (read, settled, sample);
    }

    /// <summary>
    /// The state store's entries for <paramref name="batches"/> whose files are unchanged, by full path (the lenient
    /// entry before the strict one). A store that cannot be read is no cache, not a failed scan.
    /// </summary>
    private IReadOnlyDictionary<string, KnownBatchSchema> KnownSchemas(IReadOnlyList<BatchInfo> batches, bool skipInvalidRecords)
    {
        var known = new Dictionary<string, KnownBatchSchema>(StringComparer.Ordinal);
        if (_knownSchemas is null || batches.Count == 0) return known;
        IReadOnlyList<KnownBatchSchema> entries;
        try
        {
            entries = _knownSchemas.GetBatchSchemas(batches.Select(batch => batch.FullPath).ToList(), skipInvalidRecords);
        }
        catch (StateException)
        {
            return known;
        }
        var current = batches.ToDictionary(batch => batch.FullPath, StringComparer.Ordinal);
        foreach (var entry in entries.OrderBy(entry => entry.SkipInvalidRecords != skipInvalidRecords))
        {
            if (current.TryGetValue(entry.FullPath, out var batch) && entry.Describes(batch)) known.TryAdd(entry.FullPath, entry);
        }
        return known;
    }

    /// <summary>Keeps <paramref name="schemas"/> in the state store; one that cannot be written only costs a later scan its time.</summary>
    private void KeepSchemas(IReadOnlyCollection<KnownBatchSchema> schemas)
    {
        if (_knownSchemas is null || schemas.Count == 0) return;
        try
        {
            _knownSchemas.SaveBatchSchemas(schemas);
        }
        catch (StateException)
        {
        }
    }

    private static (string Id, string Name, string? Description) ReadMetadata(string folder, string folderName)
    {
        var path = Path.Combine(folder, MetadataFileName);
        if (!File.Exists(path)) return (folderName, folderName, null);
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        if (document.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException("it is not a JSON object.");
        string? Read(string property) =>
            document.RootElement.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        var id = Read("id") ?? folderName;
        return (id, Read("name") ?? id, Read("description"));
    }

    /// <summary>
    /// The supported files below the folder, in a stable order; hidden and temporary files are skipped. A symbolic link (to
    /// a folder or a file) whose target lies in the dataset folder is skipped: its files are listed under their own paths,
    /// and listed twice they would be exported twice (a 'latest' link to the newest day folder). Links to data outside the
    /// dataset folder are followed, each folder once, so a link loop ends.
    /// </summary>
    private static List<BatchInfo> FindBatches(string folder)
    {
        var batches = new List<BatchInfo>();
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = false, AttributesToSkip = 0 };
        var datasetFolder = LinkTargetOf(new DirectoryInfo(folder)) ?? Path.GetFullPath(folder);
        // A relative link resolves from the path it was reached by: the dataset folder's own, or where it links to.
        bool InDataset(string path) => IsWithin(path, datasetFolder) || IsWithin(path, Path.GetFullPath(folder));
        var visited = new HashSet<string>(StringComparer.Ordinal) { datasetFolder };
        // Each folder with the path it really is at (links resolved), which is what loops and duplicates are judged by.
        var pending = new Stack<(string Path, string RealPath)>();
        pending.Push((folder, datasetFolder));
        while (pending.Count > 0)
        {
            var (current, currentReal) = pending.Pop();
            foreach (var sub in Directory.EnumerateDirectories(current, "*", options))
            {
                var name = Path.GetFileName(sub);
                if (IsHiddenName(name)) continue;
                var real = LinkTargetOf(new DirectoryInfo(sub)) ?? Path.Combine(currentReal, name);
                if (real != Path.Combine(currentReal, name) && InDataset(real)) continue;
                if (visited.Add(real)) pending.Push((sub, real));
            }
            foreach (var file in Directory.EnumerateFiles(current, "*", options))
            {
                var fileName = Path.GetFileName(file);
                if (IsHiddenName(fileName) || IsTemporaryName(fileName)) continue;
                if (!TryClassify(fileName, out var format, out var gzipped)) continue;
                var info = new FileInfo(file);
                if (LinkTargetOf(info) is { } target && InDataset(target)) continue;
                var relative = Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/');
                batches.Add(new BatchInfo(relative, info.FullName, info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero), format, gzipped));
            }
        }
        batches.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return batches;
    }

    /// <summary>Where a symbolic link finally leads (a full path), or null when <paramref name="entry"/> is no link.</summary>
    private static string? LinkTargetOf(FileSystemInfo entry) =>
        entry.LinkTarget is null ? null : Path.TrimEndingDirectorySeparator(entry.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? entry.FullName);

    private static bool IsWithin(string path, string folder) =>
        path == folder || path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    internal static bool TryClassify(string fileName, out BatchFormat format, out bool gzipped)
    {
        var name = fileName.ToLowerInvariant();
        gzipped = name.EndsWith(".gz", StringComparison.Ordinal);
        if (gzipped) name = name[..^3];
        format = default;
        if (name.EndsWith(".parquet", StringComparison.Ordinal))
        {
            format = BatchFormat.Parquet;
            return true;
        }
        if (name.EndsWith(".json", StringComparison.Ordinal) || name.EndsWith(".jsonl", StringComparison.Ordinal) || name.EndsWith(".ndjson", StringComparison.Ordinal))
        {
            format = BatchFormat.JsonLines;
            return true;
        }
        return false;
    }

    private static bool IsHiddenName(string name) => name.StartsWith('.') || name.StartsWith('_');

    /// <summary>
    /// A file a writer has not finished: '*.tmp', or DuckDB's 'tmp_&lt;name&gt;', which COPY ... TO writes before renaming it
    /// over an existing &lt;name&gt;. Exported, it would arrive again under its final name.
    /// </summary>
    private static bool IsTemporaryName(string name) =>
        name.EndsWith(".tmp", StringComparison.OrdinalIgnoreCase) || name.StartsWith("tmp_", StringComparison.OrdinalIgnoreCase);

    private static DatasetInfo WithReason(DatasetInfo dataset, string reason) => new()
    {
        Id = dataset.Id, Name = dataset.Name, Description = dataset.Description, Path = dataset.Path,
        Batches = dataset.Batches, BatchProblems = dataset.BatchProblems, Format = dataset.Format, RecordCount = dataset.RecordCount, Reason = reason,
    };
}
