using System.Text.RegularExpressions;

namespace DatasetExport.Module.Tests;

/// <summary>The defaults docs/destinations.md and docs/cmdlets.md state, against a destination made without those parameters.</summary>
public sealed class DocumentedDefaultTests
{
    [Fact]
    public void A_destination_made_without_options_has_the_defaults_the_docs_state()
    {
        var root = Path.GetDirectoryName(Path.GetDirectoryName(ModuleSession.QuickstartPath))!;
        var destinations = File.ReadAllText(Path.Combine(root, "docs", "destinations.md"));
        var cmdlets = File.ReadAllText(Path.Combine(root, "docs", "cmdlets.md"));

        // "| `-FileType Json\|Parquet` | meaning | Json |": the shared parameters' table, parameter name to its default.
        var documented = Regex.Matches(destinations, @"^\| `-(\w+)[^`]*` \| [^\n]*\| ([^|\n]+) \|$", RegexOptions.Multiline)
            .ToDictionary(row => row.Groups[1].Value, row => row.Groups[2].Value.Trim().Trim('`'));
        var retries = Regex.Match(cmdlets, @"Unset, the engine defaults apply: (\d+) retries, (\d+) s\.");
        Assert.True(retries.Success, "docs/cmdlets.md no longer states the retry defaults as expected here");

        using var session = new ModuleSession();
        var destination = session.Run("New-ExportDestination -Name d -Type Local -Path $args[0]", session.Work.Combine("out"))
            .AssertNoErrors().Output.Single();
        string Shown(string property) => destination.Properties[property].Value?.ToString() ?? "";

        Assert.Equal(documented["FileType"], Shown("FileType"));
        Assert.Equal(documented["Compression"], Shown("Compression"));
        Assert.Equal(documented["IncludeManifest"] == "off" ? "False" : "True", Shown("IncludeManifest"));
        Assert.Equal(documented["MaxFileSizeMB"], Shown("MaxFileSizeMB"));
        Assert.Equal("the root", documented["FolderPath"]);
        Assert.Equal("", Shown("FolderPath"));
        Assert.Equal(documented["FolderTemplate"], Shown("FolderTemplate"));
        Assert.Equal(retries.Groups[1].Value, Shown("RetryCount"));
        Assert.Equal(retries.Groups[2].Value, Shown("RetryTimeoutSeconds"));
    }
}
