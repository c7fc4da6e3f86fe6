using System.Text.RegularExpressions;

namespace DatasetExport.Engine.Destinations;

/// <summary>
/// Refuses credentials given where plain settings go. <see cref="DestinationSettings.Properties"/> and the
/// <see cref="DestinationSettings.FolderPath"/> are stored as plain text, shown by the cmdlets and quoted in messages (an
/// Endpoint in "Cannot connect to ...", a KeyFile in "... does not exist", a folder path in "... must be relative"), so a
/// password in a URL, a SAS signature or private key text there would leak everywhere. Messages say which setting and what
/// it holds, never the value.
/// </summary>
public static partial class PropertySecrets
{
    /// <summary>Throws a <see cref="DestinationException"/> (InvalidConfiguration) naming the first setting that holds a credential.</summary>
    public static void ThrowIfAny(DestinationSettings settings)
    {
        foreach (var (key, value) in settings.Properties.Prepend(new(nameof(settings.FolderPath), settings.FolderPath)))
        {
            if (Describe(value) is { } problem)
            {
                throw new DestinationException(DestinationFailure.InvalidConfiguration,
                    $"The {key} of destination '{settings.Name}' holds {problem}. Settings other than secrets are stored and shown as plain text; remove it from {key}.");
            }
        }
    }

    /// <summary>What kind of credential <paramref name="value"/> holds, or null for none.</summary>
    private static string? Describe(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var trimmed = value.Trim();
        if (trimmed.Contains("PRIVATE KEY-----", StringComparison.OrdinalIgnoreCase) || trimmed.Contains("PuTTY-User-Key-File", StringComparison.OrdinalIgnoreCase))
        {
            return "private key text (a KeyFile takes the path of the key file, its passphrase goes in the KeyPassphrase secret)";
        }
        if (UserPasswordHost().IsMatch(trimmed))
        {
            return "a user name and password before its host ('user:password@host'; give UserName and the Password secret)";
        }
        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri)) return null;
        if (uri.UserInfo.Length > 0)
        {
            return "a user name or password in its URL (the destination signs in with its secrets, e.g. SecretAccessKey or AccountKey)";
        }
        return HasSignature(uri) ? "a shared access signature ('sig' in its URL; give the whole SAS URI as the SasUri secret)" : null;
    }

    /// <summary>"user:password@host" without a scheme, e.g. typed as an SFTP HostName.</summary>
    [GeneratedRegex(@"^[^\s/@:]+:[^\s/@]+@[^\s/@]+$", RegexOptions.CultureInvariant)]
    private static partial Regex UserPasswordHost();

    /// <summary>A 'sig' query parameter in any case or escaping (SIG=, %73ig=), as the Azure SDK reads one.</summary>
    private static bool HasSignature(Uri uri) =>
        uri.Query.TrimStart('?').Split('&')
            .Select(parameter => Uri.UnescapeDataString(parameter.Split('=', 2)[0]).Trim())
            .Any(name => name.Equals("sig", StringComparison.OrdinalIgnoreCase));
}
