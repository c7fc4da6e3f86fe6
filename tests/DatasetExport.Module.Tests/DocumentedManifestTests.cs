using System.Text.Json;
using System.Text.RegularExpressions;

namespace DatasetExport.Module.Tests;

/// <summary>The manifest docs/destinations.md describes, against one a run writes: its name, its folder and its fields.</summary>
public sealed class DocumentedManifestTests
{
    [Fact]
    public void A_runs_manifest_is_named_placed_and_filled_as_the_destinations_page_says()
    {
        var root = Path.GetDirectoryName(Path.GetDirectoryName(ModuleSession.QuickstartPath))!;
        var page = File.ReadAllText(Path.Combine(root, "docs", "destinations.md"));
        var paragraph = Regex.Match(page, @"The manifest \(with `-IncludeManifest`\) is JSON: (.*?)\n\n", RegexOptions.Singleline).Groups[1].Value;
        var documented = Regex.Matches(paragraph, "`([a-zA-Z0-9]+)`").Select(m => m.Groups[1].Value).Where(name => name != "YYYYMMDDHHMM").ToList();
        Assert.True(documented.Count >= 20, $"{documented.Count} manifest names read from docs/destinations.md");

        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        var run = session.Run("""
            param($Lake, $Out)
            $destination = New-ExportDestination -Name d -Type Local -Path $Out -IncludeManifest
            New-ExportFlow -Name f -Destination $destination -Dataset orders | Out-Null
            Start-ExportRun -Flow f -LakePath $Lake
            """, lake, output).AssertNoErrors().Output.Single();
        var runId = (Guid)run.Properties["Id"].Value;
        var destinationId = (Guid)session.Run("(Get-ExportDestination d).Id").AssertNoErrors().Output.Single().BaseObject;
        var exportTime = ((DateTimeOffset)run.Properties["ScheduledTime"].Value).UtcDateTime.ToString("yyyyMMddHHmm");

        var manifestPath = Path.Combine(output, "orders", $"exportTime={exportTime}", $"manifest-{destinationId:D}-{runId:D}.json");
        Assert.True(File.Exists(manifestPath), manifestPath);
        using var manifest = JsonDocument.Parse(File.ReadAllText(manifestPath));
        var top = manifest.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        var column = manifest.RootElement.GetProperty("schema")[0].EnumerateObject().Select(p => p.Name);
        var file = manifest.RootElement.GetProperty("exportResults")[0].EnumerateObject().Select(p => p.Name);
        Assert.Equal(documented.Order(StringComparer.Ordinal), top.Concat(column).Concat(file).Order(StringComparer.Ordinal));
        Assert.Equal(exportTime, manifest.RootElement.GetProperty("exportTime").GetString());
    }
}
