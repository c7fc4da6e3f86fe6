namespace DatasetExport.Engine.Destinations.S3;

/// <summary>
/// How uploads to S3-protocol destinations are split. Production uses <see cref="Default"/>; tests pass smaller
/// values so multipart uploads happen on files of a few MiB.
/// </summary>
internal sealed record S3TransferOptions
{
    public static readonly S3TransferOptions Default = new();

    /// <summary>Files larger than this go up as a multipart upload; smaller ones as one PutObject.</summary>
    public long MultipartThreshold { get; init; } = 16L * 1024 * 1024;

    /// <summary>Size of every part but the last. S3 requires at least 5 MiB for all parts but the last.</summary>
    public long PartSize { get; init; } = 8L * 1024 * 1024;

    /// <summary>Parts uploaded at the same time; each streams from its own file handle, so memory stays small.</summary>
    public int MaxPartsInFlight { get; init; } = 4;

    /// <summary>
    /// Sends an Amazon S3 destination without an Endpoint to this URL (path-style) while keeping every AWS default
    /// (chunked SigV4 payloads, CRC32 checksums). Null in production; tests point it at an AWS S3 emulator.
    /// </summary>
    public Uri? AwsEmulatorUrl { get; init; }

    /// <summary>How long one request may take before it counts as failed (and is retried); null keeps the SDK's 100 s. Tests shorten it.</summary>
    public TimeSpan? RequestTimeout { get; init; }
}
