namespace DatasetExport.Engine.State;

/// <summary>
/// Tells whether a folder lies on a network file system, where SQLite's locks (and the shared memory of its WAL) do not
/// hold between machines: two schedulers sharing a state home there could claim one slot twice or damage the database.
/// </summary>
internal static class NetworkFileSystem
{
    // Names as .NET reports them (DriveInfo.DriveFormat: statfs, with FUSE's subtype from the mount table); kernel network
    // file systems that .NET already calls DriveType.Network need no entry.
    private static readonly HashSet<string> NetworkFormats = new(StringComparer.OrdinalIgnoreCase)
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "ceph", "glusterfs", "lustre", "gpfs", "afpfs", "webdav",
        "fuse.sshfs", "sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs", "fuse.davfs", "fuse.ceph-fuse", "fuse.cephfs",
    };

    /// <summary>
    /// The network file system <paramref name="folder"/> (a full path, existing or not) would be on, by its nearest existing
    /// folder: its format (e.g. <c>nfs4</c>, <c>fuse.sshfs</c>), "a network share" for a UNC path, or null when it is local.
    /// </summary>
    public static string? Of(string folder)
    {
        if (IsUncPath(folder)) return "a network share";
        var existing = folder;
        while (!Directory.Exists(existing))
        {
            existing = Path.GetDirectoryName(existing);
            if (existing is null) return null;
        }
        try
        {
            var drive = new DriveInfo(existing);
            var format = drive.DriveFormat;
            return drive.DriveType == DriveType.Network || NetworkFormats.Contains(format) ? format : null;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // A folder whose file system cannot be asked about is left to SQLite to judge, as before.
            return null;
        }
    }

    /// <summary>\\server\share\..., or \\?\UNC\server\share\...; not \\?\C:\ or \\.\ device paths (local).</summary>
    internal static bool IsUncPath(string path) =>
        path.StartsWith(@"\\?\UNC\", StringComparison.OrdinalIgnoreCase)
        || (path.StartsWith(@"\\", StringComparison.Ordinal) && !path.StartsWith(@"\\?\", StringComparison.Ordinal) && !path.StartsWith(@"\\.\", StringComparison.Ordinal));
}
