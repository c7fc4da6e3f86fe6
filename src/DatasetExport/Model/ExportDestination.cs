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
    public string? Credential { get; init; }
    /// <summary>Sftp: the pinned host key ("SHA256:..."), given or recorded when the destination was first validated.</summary>
    public string? HostKeyFingerprint { get; init; }
    /// <summary>The type-specific plain settings (bucket, region, host, ...). Secrets are never included.</summary>
    public ReadOnlyDictionary<string, string> Settings { get; init; } = new(new Dictionary<string, string>());
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset ModifiedAt { get; init; }

    public override string ToString() => Name;
}
