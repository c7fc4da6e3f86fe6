using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Destinations;

/// <summary>Every kind of storage a destination can write to.</summary>
public enum DestinationType
{
    Local,
    AmazonS3,
    GoogleCloudStorage,
    AzureBlob,
    AzureDataLakeGen2,
    DataLandingZone,
    Sftp,
}

/// <summary>
/// A stored destination: where files go and how they are written. Type-specific settings live in
/// <see cref="Properties"/> (plain, e.g. bucket, region, host) and <see cref="Secrets"/> (encrypted at rest,
/// never printed, e.g. secret keys, passwords, connection strings).
/// </summary>
public sealed class DestinationSettings
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    public DestinationType Type { get; set; }
    public FileType FileType { get; set; } = FileType.Json;
    public CompressionKind Compression { get; set; } = CompressionKind.None;
    public bool IncludeManifest { get; set; } = true;
    public int MaxFileSizeMB { get; set; } = DefaultMaxFileSizeMB;
    public long MaxFileSizeBytes => (long)MaxFileSizeMB * 1024 * 1024;

    /// <summary>Folder below the destination's root (bucket, container, path) where exports go; empty for the root.</summary>
    public string FolderPath { get; set; } = "";

    public Dictionary<string, string> Properties { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public Dictionary<string, string> Secrets { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ModifiedAt { get; set; }

    public const int DefaultMaxFileSizeMB = 256;

    /// <summary>
    /// Why the stored secrets cannot be decrypted here (their key is not in this state home's key ring), else null. Such
    /// settings can be listed, removed and given new secrets, but open no destination: without its secrets one would
    /// sign in some other way (an Azure account falls back to the default credential chain).
    /// </summary>
    public string? UnreadableSecrets { get; set; }

    public string? GetProperty(string key) => Properties.TryGetValue(key, out var value) ? value : null;
    public string? GetSecret(string key) => Secrets.TryGetValue(key, out var value) ? value : null;

    /// <summary>A copy writing to <paramref name="folderPath"/> (where an earlier run wrote), sharing everything else.</summary>
    public DestinationSettings InFolder(string folderPath)
    {
        var copy = (DestinationSettings)MemberwiseClone();
        copy.FolderPath = folderPath;
        return copy;
    }

    /// <summary>Throws StateException Unusable, saying why, when the stored secrets could not be read.</summary>
    public void ThrowIfSecretsUnreadable()
    {
        if (UnreadableSecrets is not null) throw new StateException(StateFailure.Unusable, UnreadableSecrets);
    }
}

/// <summary>Size and location of a stored file, as the destination sees it.</summary>
public sealed record StoredFileInfo(string RelativePath, long Size);

/// <summary>
/// One kind of storage. Paths are relative to the destination's root and its <see cref="DestinationSettings.FolderPath"/>,
/// always with '/' separators. Implementations live in their own folder and register in <see cref="DestinationRegistry"/>.
/// </summary>
public interface IExportDestination : IAsyncDisposable
{
    /// <summary>
    /// Stores a finished local file at <paramref name="relativePath"/>. The file never appears half-written
    /// under its final name (temporary name + rename, or an atomic object commit).
    /// </summary>
    Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken);

    /// <summary>Opens a stored file for reading, to verify runs afterwards.</summary>
    Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken);

    /// <summary>Returns the stored file's size, or null when it does not exist.</summary>
    Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken);

    Task DeleteAsync(string relativePath, CancellationToken cancellationToken);

    /// <summary>The full location of a relative path, as users know it (e.g. <c>/mnt/exports/a/b.json</c>, <c>s3://bucket/a/b.json</c>).</summary>
    string GetSinkPath(string relativePath);
}

/// <summary>Why a destination could not be reached or written; maps to a PowerShell error category.</summary>
public enum DestinationFailure
{
    Unreachable,
    Authentication,
    NotFound,
    PermissionDenied,
    InvalidConfiguration,
    HostKeyMismatch,
    Other,
}

/// <summary>A destination operation failed for a reason the user can act on. The message never contains secrets.</summary>
public sealed class DestinationException : Exception
{
    /// <param name="transient">Whether trying again may succeed; by default true for <see cref="DestinationFailure.Unreachable"/> only.</param>
    public DestinationException(DestinationFailure failure, string message, Exception? inner = null, bool? transient = null) : base(message, inner)
    {
        Failure = failure;
        IsTransient = (transient ?? failure == DestinationFailure.Unreachable) && failure is DestinationFailure.Unreachable or DestinationFailure.Other;
    }

    public DestinationFailure Failure { get; }

    /// <summary>
    /// Trying again may succeed: the connection failed, dropped or timed out, or the server was throttling or failed on
    /// its side (HTTP 408, 429, 5xx). Only ever true for <see cref="DestinationFailure.Unreachable"/> and
    /// <see cref="DestinationFailure.Other"/>; credentials, permissions, missing targets and configuration never are.
    /// </summary>
    public bool IsTransient { get; }
}
