using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Lake;

/// <summary>One batch file of a dataset. Identity is relative path + size + last-write time.</summary>
public sealed record BatchInfo(
    string RelativePath,
    string FullPath,
    long SizeBytes,
    DateTimeOffset LastWriteUtc,
    BatchFormat Format,
    bool Gzipped)
{
    public BatchKey Key => new(RelativePath, SizeBytes, LastWriteUtc);
}

/// <summary>How a dataset's batches are judged: strict by default (any bad batch or record makes the dataset ineligible).</summary>
/// <param name="SkipInvalidRecords">JSON lines that are not a JSON object are left out rather than making their batch unreadable.</param>
/// <param name="SkipInvalidBatches">
/// Batches that cannot be read, or whose schema conflicts with the batches before them (in path order, those of
/// <see cref="ExportedBatchKeys"/> first), are left out of <see cref="DatasetInfo.Batches"/> and the schema rather than
/// making the dataset ineligible.
/// </param>
public sealed record BatchReadOptions(bool SkipInvalidRecords = false, bool SkipInvalidBatches = false)
{
    public static readonly BatchReadOptions Strict = new();

    /// <summary>
    /// An export's scan: a JSON Lines batch whose full schema the state store does not know yet has it inferred from its
    /// first lines only (<see cref="DatasetInfo.SchemaSamples"/>), for the export's read to check every later line against.
    /// Only when every batch of the dataset is JSON Lines.
    /// </summary>
    internal bool SampleJsonSchemas { get; init; }

    /// <summary>
    /// Keys (<see cref="BatchKey.Value"/>) of batches an incremental export sent to its destination before: their schemas
    /// are merged first, so a newer batch that conflicts with them is the one that cannot be exported (and is named), not
    /// they, wherever its path sorts. Null or empty: path order alone.
    /// </summary>
    internal IReadOnlySet<string>? ExportedBatchKeys { get; init; }
}

/// <summary>A batch that cannot be exported with the others, and why.</summary>
/// <param name="Records">Its record count where its file tells (Parquet footer), else null.</param>
public sealed record BatchProblem(BatchInfo Batch, string Problem, long? Records);

/// <summary>A dataset in the lake: a folder of batch files.</summary>
public sealed class DatasetInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public string? Description { get; init; }
    public required string Path { get; init; }
    /// <summary>Every batch file; with <see cref="BatchReadOptions.SkipInvalidBatches"/>, only those that can be exported.</summary>
    public required IReadOnlyList<BatchInfo> Batches { get; init; }
    /// <summary>Batches that cannot be exported with the others (unreadable, or conflicting with the schema), in path order.</summary>
    public IReadOnlyList<BatchProblem> BatchProblems { get; init; } = [];
    public long SizeBytes => Batches.Sum(b => b.SizeBytes);
    /// <summary>Total records where cheap to know (every batch is Parquet), otherwise null.</summary>
    public long? RecordCount { get; init; }
    /// <summary>"Parquet", "JsonLines", or "Mixed".</summary>
    public required string Format { get; init; }
    public DateTimeOffset? LastModified => Batches.Count == 0 ? null : Batches.Max(b => b.LastWriteUtc);
    /// <summary>The dataset's merged schema; null when it is not eligible.</summary>
    public DatasetSchema? Schema { get; init; }
    /// <summary>
    /// Batches (by full path) whose schema in <see cref="Schema"/> was inferred from a sample of their lines, under
    /// <see cref="BatchReadOptions.SampleJsonSchemas"/>: reading them checks every line against <see cref="Schema"/>.
    /// </summary>
    internal IReadOnlyDictionary<string, JsonSchemaSample> SchemaSamples { get; init; } = new Dictionary<string, JsonSchemaSample>();
    public bool IsEligible => Reason is null;
    /// <summary>Why the dataset is not eligible; null when it is.</summary>
    public string? Reason { get; init; }
}
