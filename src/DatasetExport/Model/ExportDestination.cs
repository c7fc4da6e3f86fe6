using System.Collections.ObjectModel;

namespace DatasetExport;

/// <summary>
/// A stored destination. Carries no secret: <see cref="Credential"/> shows the key id or user name only, or
/// <c>****</c> when the destination holds a secret without a public identity.
/// </summary>
public sealed class ExportDestination
{
    public Guid Id { get; init; }
    public string Name { get; init; } = "";
    public DestinationType Type { get; init; }
    /// <summary>Where files go, as users know it (folder, bucket, container, host).</summary>
    public string Location { get; init; } = "";
    public FileType FileType { get; init; }
    public Compression Compression { get; init; }
    public bool IncludeManifest { get; init; }
    public int MaxFileSizeMB { get; init; }
    public string FolderPath { get; init; } = "";
    /// <summary>The folder of each run's files below <see cref="FolderPath"/>, with its macros.</summary>
    public string FolderTemplate { get; init; } = "";
    public string? Credential { get; init; }
    /// <summary>Sftp: the pinned host key ("SHA256:..."), given or recorded when the destination was first validated.</summary>
    public string? HostKeyFingerprint { get; init; }
    /// <summary>True when every data file is encrypted to <see cref="PgpPublicKey"/> (OpenPGP, written as *.gpg).</summary>
    public bool Encrypted { get; init; }
    /// <summary>The key files are encrypted to, as its primary user id and fingerprint; null when not encrypting.</summary>
    public string? EncryptionKey { get; init; }
    /// <summary>
    /// When the key files are encrypted to expires (its own expiry or its primary key's, the earlier): runs fail from then on
    /// until a renewed key is set. Null when it does not expire, when not encrypting, or when it cannot encrypt already
    /// (Get-ExportDestination then warns).
    /// </summary>
    public DateTimeOffset? EncryptionKeyExpires { get; init; }
    /// <summary>True when the manifest is encrypted too.</summary>
    public bool EncryptManifest { get; init; }
    /// <summary>The armored OpenPGP public key files are encrypted to (a public key, not a secret); null when not encrypting.</summary>
    public string? PgpPublicKey { get; init; }
    /// <summary>Retries of an operation that failed transiently (the engine default, 4, when not set).</summary>
    public int RetryCount { get; init; }
    /// <summary>No retry starts later than this many seconds after an operation's first attempt (the engine default, 300, when not set).</summary>
    public int RetryTimeoutSeconds { get; init; }
    /// <summary>The type-specific plain settings (bucket, region, host, ...). Secrets and the encryption key are not included.</summary>
    public ReadOnlyDictionary<string, string> Settings { get; init; } = new(new Dictionary<string, string>());
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset ModifiedAt { get; init; }

    public override string ToString() => Name;
}
