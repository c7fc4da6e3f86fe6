namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// How the Azure destinations talk to Blob Storage. Files up to <see cref="SingleUploadLimitBytes"/> go up in one
/// Put Blob request; larger files are staged as blocks of <see cref="BlockSizeBytes"/>, at most
/// <see cref="MaxConcurrentBlocks"/> in flight (so memory stays below their product), then committed in one
/// Put Block List so the blob appears whole under its final name.
/// </summary>
public sealed record AzureClientTuning
{
    public static AzureClientTuning Default { get; } = new();

    public long SingleUploadLimitBytes { get; init; } = 32L * 1024 * 1024;
    public int BlockSizeBytes { get; init; } = 8 * 1024 * 1024;
    public int MaxConcurrentBlocks { get; init; } = 4;

    /// <summary>Retries of a failed request (network errors, 5xx, throttling) before giving up.</summary>
    public int MaxRetries { get; init; } = 3;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(0.8);

    /// <summary>How long one request may wait on the network before it counts as failed (and is retried); the SDK's default.</summary>
    public TimeSpan NetworkTimeout { get; init; } = TimeSpan.FromSeconds(100);
}
