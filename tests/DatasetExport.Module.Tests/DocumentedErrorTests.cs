using System.Management.Automation;
using System.Text.RegularExpressions;

namespace DatasetExport.Module.Tests;

/// <summary>
/// docs/cmdlets.md's "Errors" table against the errors the cmdlets write: each case an admin meets without a server
/// gives the error id the table names for it, with the table's category.
/// </summary>
public sealed class DocumentedErrorTests
{
    [Fact]
    public void Errors_carry_the_ids_and_categories_the_cmdlets_page_lists()
    {
        var documented = DocumentedCategories();
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        Directory.CreateDirectory(Path.Combine(lake, "empty"));
        TestLake.WriteJsonLinesDataset(lake, "doomed", batches: 1, recordsPerBatch: 3);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            New-ExportFlow -Name doomed -Destination d -Dataset doomed -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """, lake, output).AssertNoErrors();
        Directory.Delete(Path.Combine(lake, "doomed"), recursive: true);
        // A run holding a file it could not delete stays in the history (Remove-ExportRun refuses it).
        session.Run("Start-ExportRun f | Out-Null").AssertNoErrors();
        Assert.Equal(1, session.ExecuteOnState("UPDATE runs SET left_files = '[\"orders/left.json\"]'"));

        var cases = new (string Id, string Script)[]
        {
            ("DestinationNotFound", "Get-ExportDestination nope"),
            ("FlowNotFound", "Get-ExportFlow nope"),
            ("RunNotFound", "Get-ExportRun -Id ([guid]::NewGuid())"),
            ("DatasetNotFound", "Get-EligibleDataset nope"),
            ("DestinationAlreadyExists", "New-ExportDestination -Name D -Type Local -Path $args[0]"),
            ("FlowAlreadyExists", "New-ExportFlow -Name F -Destination d -Dataset orders"),
            ("DestinationInUse", "Remove-ExportDestination d -Confirm:$false"),
            ("RunInUse", "Get-ExportRun -Flow f | Remove-ExportRun -Confirm:$false"),
            ("NameContainsWildcard", "Disable-ExportFlow 'f*'"),
            ("ParametersDoNotMatchType", "New-ExportDestination -Name x -Type AmazonS3 -Path $args[0]"),
            ("InvalidDestinationParameter", "New-ExportDestination -Name x -Type Local -Path $args[0] -EncryptManifest"),
            ("InvalidCompressionForFileType", "New-ExportDestination -Name x -Type Local -Path $args[0] -Compression Zstd"),
            ("InvalidScheduleParameter", "New-ExportFlow -Name x -Destination d -Dataset orders -StartTime 2026-03-01"),
            ("InvalidArgument", "New-ExportFlow -Name x -Destination d -Dataset orders -Daily -At 25:00"),
            ("LakePathNotSet", "Set-DatasetExportOption -LakePath $null; try { Get-EligibleDataset } finally { Set-DatasetExportOption -LakePath $args[1] }"),
            ("LakeItemNotFound", "Get-EligibleDataset -LakePath $args[2]"),
            ("LakePathNotFound", "Set-DatasetExportOption -LakePath $args[2]"),
            ("DatasetNotEligible", "Get-EligibleDataset -Id empty"),
            ("ExportRunFailed", "Start-ExportRun doomed | Out-Null"),
            ("ScheduledRunsFailed", "Invoke-ExportSchedule -Flow doomed -FailOnError -ErrorAction SilentlyContinue | Out-Null"),
            ("StateUnusable", "$env:DATASETEXPORT_HOME = 'relative'; try { Get-ExportFlow } finally { $env:DATASETEXPORT_HOME = $args[3] }"),
        };
        var missing = Path.Combine(session.Work.Path, "no-such-folder");
        foreach (var (id, script) in cases)
        {
            var errors = session.Run(script, output, lake, missing, session.Home.Path).Errors;
            Assert.True(errors.Count > 0, $"{script}: no error");
            var error = errors[^1];
            Assert.Equal(id, error.FullyQualifiedErrorId.Split(',')[0]);
            Assert.True(documented.TryGetValue(id, out var category), $"{id} is not in the error table of docs/cmdlets.md");
            Assert.True(category == error.CategoryInfo.Category.ToString(), $"{id}: the table says {category}, the error is {error.CategoryInfo.Category}");
        }
    }

    /// <summary>Error id to category, from the table under "## Errors" in docs/cmdlets.md (a row may name several ids).</summary>
    private static Dictionary<string, string> DocumentedCategories()
    {
        var root = Path.GetDirectoryName(Path.GetDirectoryName(ModuleSession.QuickstartPath))!;
        var page = File.ReadAllText(Path.Combine(root, "docs", "cmdlets.md"));
        var section = page[page.IndexOf("\n## Errors", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 1, StringComparison.Ordinal)];
        var categories = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match row in Regex.Matches(section, @"^\| (`[^|]+) \| (\w+) \|", RegexOptions.Multiline))
        {
            foreach (Match id in Regex.Matches(row.Groups[1].Value, "`(\\w+)`")) categories[id.Groups[1].Value] = row.Groups[2].Value;
        }
        Assert.True(categories.Count >= 25, $"{categories.Count} error ids read from docs/cmdlets.md");
        return categories;
    }
}
