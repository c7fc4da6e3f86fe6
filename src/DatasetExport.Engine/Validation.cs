namespace DatasetExport.Engine;

/// <summary>Checks on user-given names and relative paths, shared by destinations and flows.</summary>
public static class Validation
{
    public const int MaxNameLength = 128;
    public const int MaxFolderPathLength = 1024;

    /// <summary>Destination and flow names: printable, no wildcard characters (Get-* cmdlets take wildcards).</summary>
    public static void RequireName(string? name, string kind)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException($"The {kind} name cannot be empty.", "Name");
        if (name.Length > MaxNameLength) throw new ArgumentException($"The {kind} name is longer than {MaxNameLength} characters.", "Name");
        if (name != name.Trim()) throw new ArgumentException($"The {kind} name '{name}' starts or ends with white space.", "Name");
        if (name.Any(char.IsControl)) throw new ArgumentException($"The {kind} name contains control characters.", "Name");
        if (name.IndexOfAny(['*', '?', '[', ']']) >= 0)
        {
            throw new ArgumentException($"The {kind} name '{name}' contains a wildcard character (* ? [ ]).", "Name");
        }
    }

    /// <summary>
    /// A folder below a destination's root: relative, '/'-separated, no '.' or '..' segments, no control characters.
    /// Returns it normalized (no leading or trailing '/', backslashes turned into '/').
    /// </summary>
    public static string NormalizeFolderPath(string? folderPath)
    {
        if (string.IsNullOrEmpty(folderPath)) return "";
        if (folderPath.Length > MaxFolderPathLength) throw new ArgumentException($"The folder path is longer than {MaxFolderPathLength} characters.", "FolderPath");
        if (folderPath.Any(char.IsControl)) throw new ArgumentException("The folder path contains control characters.", "FolderPath");
        var unified = folderPath.Replace('\\', '/');
        if (unified.StartsWith('/') || Path.IsPathRooted(folderPath) || (unified.Length > 1 && unified[1] == ':'))
        {
            throw new ArgumentException($"The folder path '{folderPath}' must be relative to the destination.", "FolderPath");
        }
        var segments = unified.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(s => s is "." or ".."))
        {
            throw new ArgumentException($"The folder path '{folderPath}' cannot contain '.' or '..' segments.", "FolderPath");
        }
        return string.Join('/', segments);
    }
}
