using System.IO.Compression;
using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>
/// -SkipInvalidRecords and -SkipInvalidBatches through the cmdlets, against a lake with invalid JSON lines and a
/// truncated gzip batch: strict flows fail naming the file, relaxed ones succeed and count what they left out.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly ModuleSession _session = new();
    private readonly string _lake;

    public BadInputTests()
    {
        _lake = _session.Work.Combine("lake");
        // web: batch-0001.jsonl has two invalid lines among its 10 good ones (lines 4 and 8).
        TestLake.WriteJsonLinesDataset(_lake, "web", batches: 2, recordsPerBatch: 10);
        var lines = File.ReadAllLines(Path.Combine(_lake, "web", "batch-0001.jsonl")).ToList();
        lines.Insert(3, "{\"id\": 1000, \"customer\": \"cut short");
        lines.Insert(7, "[\"an array, not an object\"]");
        File.WriteAllLines(Path.Combine(_lake, "web", "batch-0001.jsonl"), lines);
        // clicks: batch-0001.jsonl.gz is cut off a third of the way from its end.
        TestLake.WriteJsonLinesDataset(_lake, "clicks", batches: 2, recordsPerBatch: 300);
        TruncateAsGzip(Path.Combine(_lake, "clicks", "batch-0001.jsonl"));
        _session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -IncludeManifest | Out-Null
            """, _lake, _session.Work.Combine("out")).AssertNoErrors();
    }

    public void Dispose() => _session.Dispose();

    [Fact]
    public void Invalid_lines_fail_a_strict_flow_naming_file_and_line_and_SkipInvalidRecords_counts_them()
    {
        var strict = _session.Run("New-ExportFlow -Name f -Destination d -Dataset web | Out-Null; Start-ExportRun -Flow f");
        AssertFailedNaming(strict, "batch-0001.jsonl", "line 4");

        var flow = _session.Run("Set-ExportFlow f -SkipInvalidRecords -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal((true, false), ((bool)flow.Properties["SkipInvalidRecords"].Value, (bool)flow.Properties["SkipInvalidBatches"].Value));

        var result = _session.Run("Start-ExportRun -Flow f | ForEach-Object { $_; $_ | Test-ExportRun }").AssertNoErrors().Output;
        var run = result[0];
        Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString());
        Assert.Equal((20L, 2L, 0L, 0), Counts(run));
        Assert.Empty((object[])run.Properties["SkippedBatches"].Value);
        Assert.True((bool)result[1].Properties["IsValid"].Value, (string?)result[1].Properties["Problem"].Value);
    }

    [Fact]
    public void SkipInvalidBatches_leaves_out_a_batch_with_invalid_lines_and_can_be_turned_off()
    {
        var flow = _session.Run("New-ExportFlow -Name f -Destination d -Dataset web -SkipInvalidBatches").AssertNoErrors().Output.Single();
        Assert.Equal((false, true), ((bool)flow.Properties["SkipInvalidRecords"].Value, (bool)flow.Properties["SkipInvalidBatches"].Value));

        var run = _session.Run("Start-ExportRun -Flow f").AssertNoErrors().Output.Single();
        Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString());
        Assert.Equal((10L, 0L, 0L, 1), Counts(run));
        var skipped = PSObject.AsPSObject(Assert.Single((object[])run.Properties["SkippedBatches"].Value));
        Assert.Equal("batch-0001.jsonl", skipped.Properties["Path"].Value);
        Assert.Contains("line 4", (string)skipped.Properties["Problem"].Value);

        _session.Run("""
            New-ExportFlow -Name w -Destination d -Dataset web -SkipInvalidRecords -SkipInvalidBatches -WhatIf
            Set-ExportFlow f -SkipInvalidRecords -SkipInvalidBatches:$false -WhatIf
            """).AssertNoErrors();
        Assert.Contains("to destination 'd', skipping invalid records, skipping invalid batches\"", _session.Host.Text);
        Assert.Contains("Set export flow skip invalid records; fail on invalid batches\"", _session.Host.Text);
        Assert.Equal(["f"], _session.Run("Get-ExportFlow | ForEach-Object Name").AssertNoErrors().Output.Select(o => (string)o.BaseObject));

        Assert.False((bool)_session.Run("Set-ExportFlow f -SkipInvalidBatches:$false -PassThru").AssertNoErrors().Output.Single().Properties["SkipInvalidBatches"].Value);
        AssertFailedNaming(_session.Run("Start-ExportRun -Flow f"), "batch-0001.jsonl", "line 4");
    }

    [Fact]
    public void A_truncated_gzip_batch_is_listed_fails_even_SkipInvalidRecords_and_is_skipped_then_retried_with_SkipInvalidBatches()
    {
        var dataset = _session.Run("Get-EligibleDataset -Id clicks -IncludeIneligible").Output.Single();
        Assert.False((bool)dataset.Properties["IsEligible"].Value);
        var problem = PSObject.AsPSObject(Assert.Single((object[])dataset.Properties["BatchProblems"].Value));
        Assert.Equal("batch-0001.jsonl.gz", problem.Properties["Path"].Value);
        Assert.Contains("batch-0001.jsonl.gz", (string)problem.Properties["Problem"].Value);

        var strict = _session.Run("New-ExportFlow -Name f -Destination d -Dataset clicks -SkipInvalidRecords -Incremental | Out-Null; Start-ExportRun -Flow f");
        AssertFailedNaming(strict, "batch-0001.jsonl.gz");

        var runs = _session.Run("Set-ExportFlow f -SkipInvalidBatches; Start-ExportRun -Flow f").AssertNoErrors().Output;
        var run = Assert.Single(runs);
        Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString());
        Assert.Equal((300L, 0L, 0L, 1), Counts(run));
        Assert.Equal("batch-0001.jsonl.gz", PSObject.AsPSObject(Assert.Single((object[])run.Properties["SkippedBatches"].Value)).Properties["Path"].Value);

        // The skipped batch was not recorded as exported: once repaired, the next incremental run exports it.
        File.Delete(Path.Combine(_lake, "clicks", "batch-0001.jsonl.gz"));
        TestLake.WriteJsonLinesDataset(_session.Work.Combine("repaired"), "clicks", batches: 2, recordsPerBatch: 300);
        File.Copy(_session.Work.Combine("repaired", "clicks", "batch-0001.jsonl"), Path.Combine(_lake, "clicks", "batch-0001.jsonl"));
        var retried = _session.Run("Start-ExportRun -Flow f | ForEach-Object { $_; $_ | Test-ExportRun }").AssertNoErrors().Output;
        Assert.Equal((300L, 0L, 0L, 0), Counts(retried[0]));
        Assert.True((bool)retried[1].Properties["IsValid"].Value, (string?)retried[1].Properties["Problem"].Value);
    }

    /// <summary>(RecordsWritten, RecordsSkipped, RecordsFailed, BatchesSkipped) of a run.</summary>
    private static (long, long, long, int) Counts(PSObject run) => (
        (long)run.Properties["RecordsWritten"].Value, (long)run.Properties["RecordsSkipped"].Value,
        (long)run.Properties["RecordsFailed"].Value, (int)run.Properties["BatchesSkipped"].Value);

    /// <summary>The run came back Failed, and both its Error and the ExportRunFailed error record name the batch.</summary>
    private static void AssertFailedNaming(ScriptResult result, params string[] expected)
    {
        var run = Assert.Single(result.Output);
        Assert.Equal("Failed", run.Properties["Status"].Value.ToString());
        var error = Assert.Single(result.Errors);
        Assert.Equal("ExportRunFailed,DatasetExport.Commands.StartExportRunCommand", error.FullyQualifiedErrorId);
        foreach (var text in expected)
        {
            Assert.Contains(text, (string)run.Properties["Error"].Value);
            Assert.Contains(text, error.Exception.Message);
        }
    }

    /// <summary>Replaces a JSON Lines file with its gzip, cut a third of the way from the end.</summary>
    private static void TruncateAsGzip(string path)
    {
        using (var buffer = new MemoryStream())
        {
            using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
            {
                gzip.Write(File.ReadAllBytes(path));
            }
            var whole = buffer.ToArray();
            File.WriteAllBytes(path + ".gz", whole[..(whole.Length * 2 / 3)]);
        }
        File.Delete(path);
    }
}
