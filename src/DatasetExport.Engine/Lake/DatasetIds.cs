namespace DatasetExport.Engine.Lake;

/// <summary>Dataset ids name folders at every destination, so they must be safe path segments.</summary>
public static class DatasetIds
{
    public const int MaxLength = 200;

    public static bool IsValid(string id) => Problem(id) is null;

    /// <summary>Why <paramref name="id"/> cannot be a dataset id, or null when it can.</summary>
    public static string? Problem(string id)
    {
        if (string.IsNullOrWhiteSpace(id)) return "A dataset id cannot be empty.";
        if (id.Length > MaxLength) return $"The dataset id '{id[..40]}…' is longer than {MaxLength} characters.";
        if (id is "." or "..") return $"'{id}' is not a valid dataset id.";
        if (id.Any(c => char.IsControl(c) || c is '/' or '\\' or ':' or '*' or '?' or '"' or '<' or '>' or '|'))
        {
            return $"The dataset id '{Printable(id)}' contains a character that cannot be part of a path (control characters, / \\ : * ? \" < > |).";
        }
        if (id != id.Trim()) return $"The dataset id '{id}' starts or ends with white space.";
        return null;
    }

    private static string Printable(string text) => new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
