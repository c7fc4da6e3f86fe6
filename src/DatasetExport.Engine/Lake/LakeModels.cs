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

/// <summary>A dataset in the lake: a folder of batch files.</summary>
public sealed class DatasetInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public string? Description { get; init; }
    public required string Path { get; init; }
    public required IReadOnlyList<BatchInfo> Batches { get; init; }
    public long SizeBytes => Batches.Sum(b => b.SizeBytes);
    /// <summary>Total records where cheap to know (every batch is Parquet), otherwise null.</summary>
    public long? RecordCount { get; init; }
    /// <summary>"Parquet", "JsonLines", or "Mixed".</summary>
    public required string Format { get; init; }
    public DateTimeOffset? LastModified => Batches.Count == 0 ? null : Batches.Max(b => b.LastWriteUtc);
    /// <summary>The dataset's merged schema; null when it is not eligible.</summary>
    public DatasetSchema? Schema { get; init; }
    public bool IsEligible => Reason is null;
    /// <summary>Why the dataset is not eligible; null when it is.</summary>
    public string? Reason { get; init; }
}
