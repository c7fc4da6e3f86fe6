using System.Text.RegularExpressions;

namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>Where an ADLS Gen2 URL points: file system (container), storage account and path below it ('' for the root).</summary>
public sealed record AdlsLocation(string FileSystem, string AccountName, string Path);

/// <summary>
/// Parses <c>abfss://filesystem@account.dfs.core.windows.net[/path]</c> (or <c>abfs://</c>) URLs; a bad one is an
/// <see cref="ArgumentException"/> quoting it, except for a query, which is refused unquoted (it may be a SAS).
/// </summary>
public static partial class AdlsUrl
{
    public static AdlsLocation Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var query = url.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            // Most likely a shared access signature: every message below would quote it, so the URL is shown without it.
            throw new ArgumentException(
                $"'{url[..query]}' is followed by a query ('?...', not shown: it may hold a shared access signature), which an ADLS Gen2 URL does not take. "
                + "Give abfss://<filesystem>@<account>.dfs.core.windows.net[/path] and sign in with the destination's account key or service principal.", nameof(url));
        }
        var match = AbfsPattern().Match(url.Trim());
        if (!match.Success)
        {
            throw new ArgumentException(
                $"'{url}' is not an ADLS Gen2 URL of the form abfss://<filesystem>@<account>.dfs.core.windows.net[/path].", nameof(url));
        }
        var fileSystem = match.Groups["filesystem"].Value;
        if (!FileSystemPattern().IsMatch(fileSystem))
        {
            throw new ArgumentException(
                $"'{fileSystem}' in '{url}' is not a valid file system name (3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit).", nameof(url));
        }
        // Host names are case-insensitive; account names are lowercase.
        var account = match.Groups["account"].Value.ToLowerInvariant();
        if (!AccountPattern().IsMatch(account))
        {
            throw new ArgumentException($"'{account}' in '{url}' is not a valid storage account name (3-24 lowercase letters and digits).", nameof(url));
        }
        var path = Uri.UnescapeDataString(match.Groups["path"].Value).Trim('/');
        return new AdlsLocation(fileSystem, account, path);
    }

    [GeneratedRegex(@"^abfss?://(?<filesystem>[^@/]+)@(?<account>[^./]+)\.dfs\.core\.windows\.net(?::\d+)?(?<path>/.*)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AbfsPattern();

    [GeneratedRegex(@"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex FileSystemPattern();

    [GeneratedRegex(@"^[a-z0-9]{3,24}$", RegexOptions.CultureInvariant)]
    private static partial Regex AccountPattern();
}
