using System.IO.Compression;
using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>The Local destination end to end, driven the way users drive it: pipelines in a PowerShell session.</summary>
public sealed class ExportPipelineTests
{
    private const string HappyPath = """
        param($Lake, $Out)
        $destination = New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip -IncludeManifest
        Get-EligibleDataset -LakePath $Lake | New-ExportFlow -Name f -Destination $destination | Out-Null
        Start-ExportRun -Flow f -LakePath $Lake | Test-ExportRun
        """;

    [Fact]
    public void Local_export_pipeline_writes_verified_gzip_json_files()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);

        var verifications = session.Run(HappyPath, lake, output).AssertNoErrors().Output;

        Assert.Equal(2, verifications.Count);
        Assert.All(verifications, v =>
        {
            Assert.Equal("DatasetExport.ExportRunVerification", v.BaseObject.GetType().FullName);
            Assert.True((bool)v.Properties["IsValid"].Value, (string?)v.Properties["Problem"].Value);
            Assert.True((bool)v.Properties["ManifestFound"].Value);
            Assert.True((int)v.Properties["FileCount"].Value > 0);
            Assert.Empty((string[])v.Properties["InvalidFiles"].Value);
        });

        var runs = session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output;
        Assert.Equal(2, runs.Count);
        Assert.All(runs, run => Assert.Equal("DatasetExport.ExportRun", run.BaseObject.GetType().FullName));
        var byDataset = runs.ToDictionary(r => (string)r.Properties["DatasetId"].Value);
        Assert.Equal(["customers", "orders"], byDataset.Keys.Order());
        Assert.Equal(3 * 40L, (long)byDataset["orders"].Properties["RecordsWritten"].Value);
        Assert.Equal(25L, (long)byDataset["customers"].Properties["RecordsWritten"].Value);
        foreach (var run in runs)
        {
            Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString());
            Assert.Equal("f", run.Properties["Flow"].Value);
            Assert.Equal("d", run.Properties["Destination"].Value);
            Assert.NotNull(run.Properties["Duration"].Value);
            var files = (object[])run.Properties["Files"].Value;
            Assert.Equal(files.Length, (int)run.Properties["FileCount"].Value);
            long records = 0;
            foreach (var file in files)
            {
                var sinkPath = (string)PSObject.AsPSObject(file).Properties["SinkPath"].Value;
                Assert.StartsWith(output, sinkPath);
                Assert.EndsWith(".json.gz", sinkPath);
                records += CountGzipLines(sinkPath);
            }
            Assert.Equal((long)run.Properties["RecordsWritten"].Value, records);
            var manifest = Path.Combine(output, ((string)run.Properties["ManifestPath"].Value).Replace('/', Path.DirectorySeparatorChar));
            Assert.True(File.Exists(manifest), manifest);
        }
    }

    [Fact]
    public void Start_ExportRun_writes_each_run_as_it_ends_so_ErrorAction_Stop_stops_at_the_first_failed_dataset()
    {
        using var session = new ModuleSession();
        var lake = LakeWithABadDataset(session, "bad", "events");

        var result = session.Run("""
            try { Start-ExportRun f -LakePath $args[0] -ErrorAction Stop } catch { "stopped: $($_.FullyQualifiedErrorId)" }
            'after'
            """, lake);

        // The failed run came out when it ended, and its error stopped the command there, as -ErrorAction Stop stops any
        // command; before, every dataset was exported first and the error written after.
        Assert.Equal(["bad Failed", "stopped: ExportRunFailed,DatasetExport.Commands.StartExportRunCommand", "after"],
            result.Output.Select(o => o.BaseObject is string text ? text : $"{o.Properties["DatasetId"].Value} {o.Properties["Status"].Value}"));
        var events = session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output.Single(r => (string)r.Properties["DatasetId"].Value == "events");
        Assert.Equal(("Failed", "The export was cancelled."), (events.Properties["Status"].Value.ToString(), (string)events.Properties["Error"].Value));
    }

    [Fact]
    public void Start_ExportRun_stopped_by_ErrorAction_Stop_takes_its_progress_bar_down()
    {
        using var session = new ModuleSession();
        var lake = LakeWithABadDataset(session, "events", "bad");

        var result = session.Run("""
            try { Start-ExportRun f -LakePath $args[0] -ErrorAction Stop } catch { 'stopped' }
            'after'
            """, lake);

        Assert.Equal(["events Succeeded", "bad Failed", "stopped", "after"],
            result.Output.Select(o => o.BaseObject is string text ? text : $"{o.Properties["DatasetId"].Value} {o.Properties["Status"].Value}"));
        // The bar drawn while events exported is taken down when the failed run stops the command, as when the export ends:
        // the script goes on after the catch, and a bar left up stays on screen under its output until the script ends.
        var bar = result.Progress.Where(p => p.Activity == "Exporting flow 'f'").ToList();
        Assert.Contains(bar, p => p.RecordType == ProgressRecordType.Processing);
        Assert.Equal(ProgressRecordType.Completed, bar[^1].RecordType);
    }

    /// <summary>
    /// A lake of 'events' (100,000 JSON lines in 40 batches, a second or so to export) and 'bad' (a line that is not JSON, a
    /// run that fails at once), and flow 'f' exporting <paramref name="datasets"/> in that order to a Local destination; returns the lake.
    /// </summary>
    private static string LakeWithABadDataset(ModuleSession session, params string[] datasets)
    {
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        Directory.CreateDirectory(Path.Combine(lake, "bad"));
        File.WriteAllText(Path.Combine(lake, "bad", "a.jsonl"), "not json\n");
        session.Run("""
            param($Out, $Datasets)
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset $Datasets | Out-Null
            """, session.Work.Combine("out"), datasets).AssertNoErrors();
        return lake;
    }

    [Fact]
    public void WhatIf_writes_nothing_and_says_what_it_would_do()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);

        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out -WhatIf
            Set-DatasetExportOption -LakePath $Lake -WhatIf
            """, lake, output).AssertNoErrors();

        Assert.Contains("What if: Performing the operation \"Create export destination\" on target \"d (Local " + output + ")\".", session.Host.Text);
        Assert.Contains("Set the default lake to '" + lake + "'", session.Host.Text);
        Assert.False(Directory.Exists(output));
        Assert.Empty(session.Run("Get-ExportDestination").AssertNoErrors().Output);
        Assert.Null(session.Run("(Get-DatasetExportOption).LakePath").AssertNoErrors().Output.Single()?.BaseObject);

        session.Host.ClearText();
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            Get-EligibleDataset -LakePath $Lake | New-ExportFlow -Name f -Destination d -WhatIf
            New-ExportFlow -Name g -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow g -LakePath $Lake -WhatIf
            Remove-ExportFlow -Name g -WhatIf
            Remove-ExportDestination -Name d -WhatIf
            """, lake, output).AssertNoErrors();

        Assert.Contains("on target \"f\"", session.Host.Text);
        Assert.Contains("Export 1 dataset(s) from lake '" + lake + "' to destination 'd'", session.Host.Text);
        Assert.Contains("Remove export flow", session.Host.Text);
        Assert.Contains("Remove export destination", session.Host.Text);
        Assert.Equal(["g"], Names(session.Run("Get-ExportFlow").AssertNoErrors()));
        Assert.Equal(["d"], Names(session.Run("Get-ExportDestination").AssertNoErrors()));
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);
        Assert.Empty(Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Remove_asks_for_confirmation_and_respects_the_answer()
    {
        using var session = new ModuleSession();
        session.Run("New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null", session.Work.Combine("out")).AssertNoErrors();

        session.Host.ConfirmAnswer = "No";
        session.Run("Remove-ExportDestination -Name d").AssertNoErrors();
        Assert.Equal(1, session.Host.PromptCount);
        Assert.Equal(["d"], Names(session.Run("Get-ExportDestination")));

        session.Host.ConfirmAnswer = "Yes";
        session.Run("Get-ExportDestination d | Remove-ExportDestination").AssertNoErrors();
        Assert.Equal(2, session.Host.PromptCount);
        Assert.Empty(session.Run("Get-ExportDestination").AssertNoErrors().Output);
    }

    [Fact]
    public void Missing_names_are_ObjectNotFound_naming_the_target()
    {
        using var session = new ModuleSession();

        AssertError(session.Run("Get-ExportDestination -Name nope"), "DestinationNotFound", "GetExportDestinationCommand", ErrorCategory.ObjectNotFound, "nope");
        AssertError(session.Run("Get-ExportFlow nope"), "FlowNotFound", "GetExportFlowCommand", ErrorCategory.ObjectNotFound, "nope");
        AssertError(session.Run("Start-ExportRun -Flow nope -LakePath $args[0]", session.Work.Path), "FlowNotFound", "StartExportRunCommand", ErrorCategory.ObjectNotFound, "nope");
        AssertError(session.Run("New-ExportFlow -Name f -Destination nope -Dataset orders"), "DestinationNotFound", "NewExportFlowCommand", ErrorCategory.ObjectNotFound, "nope");
        var missingRun = Guid.NewGuid().ToString();
        var notFound = session.Run("Test-ExportRun -Id $args[0]", missingRun);
        AssertError(notFound, "RunNotFound", "TestExportRunCommand", ErrorCategory.ObjectNotFound, missingRun);
        Assert.Equal($"No run with id '{missingRun}' exists.", notFound.Errors[0].Exception.Message);
        AssertError(session.Run("Get-EligibleDataset -LakePath $args[0] -Id nope", MakeLake(session).Lake), "LakeItemNotFound", "GetEligibleDatasetCommand", ErrorCategory.ObjectNotFound, "nope");
        // A wildcard that matches nothing is not an error, as with Get-Item.
        Assert.Empty(session.Run("Get-ExportDestination -Name no*").AssertNoErrors().Output);
    }

    [Fact]
    public void Duplicate_names_are_ResourceExists_and_a_used_destination_is_ResourceBusy()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            """, lake, output).AssertNoErrors();

        AssertError(session.Run("New-ExportDestination -Name D -Type Local -Path $args[0]", output),
            "DestinationAlreadyExists", "NewExportDestinationCommand", ErrorCategory.ResourceExists, "D");
        AssertError(session.Run("New-ExportFlow -Name f -Destination d -Dataset customers"),
            "FlowAlreadyExists", "NewExportFlowCommand", ErrorCategory.ResourceExists, "f");
        AssertError(session.Run("Remove-ExportDestination -Name d -Confirm:$false"),
            "DestinationInUse", "RemoveExportDestinationCommand", ErrorCategory.ResourceBusy, "d");
        AssertError(session.Run("Get-EligibleDataset -LakePath $args[0] | New-ExportFlow -Name 'bad*' -Destination d", lake),
            "NameContainsWildcard", "NewExportFlowCommand", ErrorCategory.InvalidArgument, "bad*");

        session.Run("Remove-ExportFlow f -Confirm:$false; Remove-ExportDestination d -Confirm:$false").AssertNoErrors();
        Assert.Empty(session.Run("Get-ExportDestination").AssertNoErrors().Output);
    }

    [Fact]
    public void A_failed_run_is_returned_and_reported_as_an_error()
    {
        using var session = new ModuleSession();
        var (lake, _) = MakeLake(session);
        var notAFolder = session.FileWhereAFolderShouldBe();

        var result = session.Run("""
            param($Lake, $Target)
            New-ExportDestination -Name d -Type Local -Path $Target -SkipValidation | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow f -LakePath $Lake
            """, lake, notAFolder);

        var run = Assert.Single(result.Output);
        Assert.Equal("Failed", run.Properties["Status"].Value.ToString());
        Assert.False(string.IsNullOrEmpty((string?)run.Properties["Error"].Value));
        var error = Assert.Single(result.Errors);
        Assert.Equal("ExportRunFailed,DatasetExport.Commands.StartExportRunCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.WriteError, error.CategoryInfo.Category);
        Assert.Same(run.BaseObject, error.TargetObject);
        Assert.Contains("orders", error.Exception.Message);
        Assert.Equal("Failed", session.Run("(Get-ExportRun -Flow f -Last 1).Status.ToString()").AssertNoErrors().Output.Single().BaseObject);
    }

    [Fact]
    public void Progress_is_reported_while_a_flow_runs()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);

        var result = session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            Get-EligibleDataset -LakePath $Lake | New-ExportFlow -Name f -Destination d | Out-Null
            Start-ExportRun -Flow f -LakePath $Lake | Out-Null
            """, lake, output).AssertNoErrors();

        Assert.Contains(result.Progress, p => p.RecordType == ProgressRecordType.Processing && p.Activity == "Exporting flow 'f'" && p.StatusDescription.Contains("records"));
        Assert.Equal(ProgressRecordType.Completed, result.Progress[^1].RecordType);
        // Every dataset shows up at least once (the throttle never swallows a dataset change).
        Assert.Contains(result.Progress, p => p.StatusDescription.StartsWith("Dataset customers"));
        Assert.Contains(result.Progress, p => p.StatusDescription.StartsWith("Dataset orders"));
    }

    [Fact]
    public void Runs_can_be_filtered_and_verified_by_id()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -IncludeManifest | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            New-ExportFlow -Name g -Destination d -Dataset orders, customers -Incremental | Out-Null
            Start-ExportRun -Flow f | Out-Null
            Get-ExportFlow g | Start-ExportRun | Out-Null
            """, lake, output).AssertNoErrors();

        Assert.Equal(3, session.Run("Get-ExportRun").AssertNoErrors().Output.Count);
        Assert.Single(session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output);
        Assert.Equal(2, session.Run("Get-ExportFlow g | Get-ExportRun").AssertNoErrors().Output.Count);
        Assert.Single(session.Run("Get-ExportRun -Last 1").AssertNoErrors().Output);
        Assert.Equal(3, session.Run("Get-ExportRun -Status Succeeded").AssertNoErrors().Output.Count);
        Assert.Empty(session.Run("Get-ExportRun -Status Failed").AssertNoErrors().Output);

        var byId = session.Run("""
            $ids = Get-ExportRun -Flow g | ForEach-Object { [pscustomobject]@{ Id = $_.Id } }
            $ids | Test-ExportRun
            """).AssertNoErrors().Output;
        Assert.Equal(2, byId.Count);
        Assert.All(byId, v => Assert.True((bool)v.Properties["IsValid"].Value));

        var incremental = session.Run("Start-ExportRun -Flow g").AssertNoErrors().Output;
        Assert.All(incremental, run => Assert.Equal(0L, (long)run.Properties["RecordsWritten"].Value));
    }

    [Fact]
    public void Set_cmdlets_change_destinations_and_flows()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportDestination -Name e -Type Local -Path "$Out/e" | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            """, lake, output).AssertNoErrors();

        var destination = session.Run("Get-ExportDestination d | Set-ExportDestination -FileType Parquet -Compression Zstd -FolderPath exports -MaxFileSizeMB 8 -PassThru")
            .AssertNoErrors().Output.Single();
        Assert.Equal("Parquet", destination.Properties["FileType"].Value.ToString());
        Assert.Equal("Zstd", destination.Properties["Compression"].Value.ToString());
        Assert.Equal("exports", destination.Properties["FolderPath"].Value);
        Assert.Equal(8, destination.Properties["MaxFileSizeMB"].Value);
        AssertError(session.Run("Set-ExportDestination d -FileType Json"), "InvalidCompressionForFileType", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "d");

        var flow = session.Run("Set-ExportFlow f -Destination (Get-ExportDestination e) -Dataset orders, customers -Mode Incremental -PassThru")
            .AssertNoErrors().Output.Single();
        Assert.Equal("e", flow.Properties["Destination"].Value);
        Assert.Equal(new[] { "orders", "customers" }, (string[])flow.Properties["Datasets"].Value);
        Assert.Equal("Incremental", flow.Properties["Mode"].Value.ToString());
    }

    [Fact]
    public void Datasets_show_schema_and_ineligible_ones_only_on_request()
    {
        using var session = new ModuleSession();
        var (lake, _) = MakeLake(session);
        Directory.CreateDirectory(Path.Combine(lake, "empty"));

        var datasets = session.Run("Get-EligibleDataset -LakePath $args[0]", lake).AssertNoErrors().Output;
        Assert.Equal(["customers", "orders"], datasets.Select(d => (string)d.Properties["Id"].Value));
        var orders = datasets.Single(d => (string)d.Properties["Id"].Value == "orders");
        Assert.Equal(3, orders.Properties["BatchCount"].Value);
        Assert.Equal("JsonLines", orders.Properties["Format"].Value);
        var columns = ((object[])orders.Properties["Schema"].Value).Select(c => c.ToString()).ToList();
        Assert.Contains("id int64", columns);
        Assert.Contains("customer string", columns);

        var all = session.Run("Get-EligibleDataset -LakePath $args[0] -IncludeIneligible", lake).AssertNoErrors().Output;
        var empty = all.Single(d => (string)d.Properties["Id"].Value == "empty");
        Assert.False((bool)empty.Properties["IsEligible"].Value);
        Assert.False(string.IsNullOrEmpty((string?)empty.Properties["Reason"].Value));

        Assert.Equal(["orders"], session.Run("Get-EligibleDataset 'ord*' -LakePath $args[0]", lake).AssertNoErrors().Output.Select(d => (string)d.Properties["Id"].Value));
        AssertError(session.Run("Get-EligibleDataset -Id empty -LakePath $args[0]", lake), "DatasetNotEligible", "GetEligibleDatasetCommand", ErrorCategory.InvalidData, "empty");
        var noLake = session.Run("Get-EligibleDataset");
        AssertError(noLake, "LakePathNotSet", "GetEligibleDatasetCommand", ErrorCategory.InvalidOperation, null);
        // What to set, as a PowerShell user types it: $DATASETEXPORT_LAKE alone would be a PowerShell variable, which the module never reads.
        Assert.EndsWith("or set $env:DATASETEXPORT_LAKE.", noLake.Errors[0].Exception.Message);

        session.Run("Set-DatasetExportOption -LakePath $args[0]", lake).AssertNoErrors();
        Assert.Equal(2, session.Run("Get-EligibleDataset").AssertNoErrors().Output.Count);
        Assert.Equal(lake, session.Run("(Get-DatasetExportOption).LakePath").AssertNoErrors().Output.Single().BaseObject);
        Assert.Equal(session.Home.Path, session.Run("(Get-DatasetExportOption).StateHome").AssertNoErrors().Output.Single().BaseObject);
    }

    [Fact]
    public void Tab_completion_offers_stored_names_and_dataset_ids()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name archive -Type Local -Path $Out | Out-Null
            New-ExportDestination -Name 'cold store' -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name nightly -Destination archive -Dataset orders | Out-Null
            New-ExportFlow -Name weekly -Destination archive -Dataset orders | Out-Null
            """, lake, output).AssertNoErrors();

        Assert.Equal(["archive", "'cold store'"], Complete(session, "Get-ExportDestination -Name "));
        Assert.Equal(["'cold store'"], Complete(session, "New-ExportFlow -Destination co"));
        Assert.Equal(["nightly"], Complete(session, "Start-ExportRun -Flow n"));
        Assert.Equal(["nightly", "weekly"], Complete(session, "Get-ExportRun -Flow "));
        Assert.Equal(["customers", "orders"], Complete(session, "New-ExportFlow -Name x -Destination archive -Dataset "));
        Assert.Equal(["orders"], Complete(session, "New-ExportFlow -Name x -Destination archive -Dataset OR"));
    }

    [Fact]
    public void Test_ExportDestination_returns_a_result_and_reports_failures_as_errors()
    {
        using var session = new ModuleSession();
        var blocked = session.FileWhereAFolderShouldBe();
        session.Run("""
            param($Good, $Blocked)
            New-ExportDestination -Name good -Type Local -Path $Good | Out-Null
            New-ExportDestination -Name blocked -Type Local -Path "$Blocked/sub" -SkipValidation | Out-Null
            """, session.Work.Combine("good"), blocked).AssertNoErrors();

        // Validation runs by default: a destination that cannot be written is refused and not stored.
        var refused = session.Run("New-ExportDestination -Name refused -Type Local -Path $args[0]", blocked + "/sub");
        Assert.Empty(refused.Output);
        var refusal = Assert.Single(refused.Errors);
        Assert.StartsWith("Destination", refusal.FullyQualifiedErrorId);
        Assert.Equal("refused", refusal.TargetObject);
        Assert.Equal(["blocked", "good"], session.Run("Get-ExportDestination | ForEach-Object Name").AssertNoErrors().Output.Select(o => (string)o.BaseObject));

        var good = session.Run("Test-ExportDestination good").AssertNoErrors().Output.Single();
        Assert.True((bool)good.Properties["Succeeded"].Value);

        var result = session.Run("Get-ExportDestination blocked | Test-ExportDestination");
        var failed = Assert.Single(result.Output);
        Assert.False((bool)failed.Properties["Succeeded"].Value);
        Assert.False(string.IsNullOrEmpty((string?)failed.Properties["Message"].Value));
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("Destination", error.FullyQualifiedErrorId);
        Assert.EndsWith(",DatasetExport.Commands.TestExportDestinationCommand", error.FullyQualifiedErrorId);
        Assert.Equal("blocked", error.TargetObject);
        Assert.NotEqual(ErrorCategory.NotSpecified, error.CategoryInfo.Category);
    }

    [Fact]
    public void Stopping_the_pipeline_cancels_the_export_and_records_a_failed_run()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("big-lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        var output = session.Work.Combine("out");
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out -Compression Gzip | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset events | Out-Null
            """, lake, output).AssertNoErrors();

        var stopped = session.RunAndStopOnFirstProgress("Start-ExportRun -Flow f -LakePath $args[0]", lake);

        Assert.Equal(PSInvocationState.Stopped, stopped);
        var run = session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output.Single();
        Assert.Equal("Failed", run.Properties["Status"].Value.ToString());
        Assert.Equal("The export was cancelled.", run.Properties["Error"].Value);
        Assert.Empty(Directory.EnumerateFiles(output, "part-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Output_types_render_with_their_table_views()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -IncludeManifest | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow f | Out-Null
            """, lake, output).AssertNoErrors();
        session.Host.ClearText();

        session.Run("""
            Get-EligibleDataset | Out-Default
            Get-ExportDestination | Out-Default
            Get-ExportFlow | Out-Default
            Get-ExportRun | Out-Default
            Get-ExportRun | Test-ExportRun | Out-Default
            Test-ExportDestination d | Out-Default
            """).AssertNoErrors();

        var plain = System.Text.RegularExpressions.Regex.Replace(session.Host.Text, "\u001b\\[[0-9;]*m", "");
        var lines = plain.Split('\n').Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToList();
        Assert.Contains("Id Name Format Batches Size Records Eligible Reason", lines);
        Assert.Contains(lines, l => l.StartsWith("Name Type Location FileType")); // the rest wraps at the host's width
        Assert.Contains(lines, l => l.StartsWith("Name Destination Mode Datasets Enabled Schedule")); // the rest wraps at the host's width
        Assert.Contains("Id Flow DatasetId Status ScheduledTime Records Files Duration", lines);
        Assert.Contains("RunId IsValid Manifest Files InvalidFiles Problem", lines);
        Assert.Contains("Name Type Location Succeeded Message", lines);
        Assert.Contains(lines, l => l.StartsWith("orders orders JsonLines 3 "));
        Assert.Contains(lines, l => l.StartsWith("d Local " + output + " Json None"));
        Assert.Contains(lines, l => l.Contains(" f orders Succeeded ") && l.Contains(" 120 "));
    }

    [Fact]
    public void A_damaged_state_file_is_reported_as_StateUnusable()
    {
        using var session = new ModuleSession();
        File.WriteAllText(Path.Combine(session.Home.Path, "state.db"), "this is not a SQLite database, and never was");

        var result = session.Run("Get-ExportDestination");

        Assert.Empty(result.Output);
        var error = Assert.Single(result.Errors);
        Assert.Equal("StateUnusable,DatasetExport.Commands.GetExportDestinationCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
    }

    [Fact]
    public void A_folder_template_names_each_run_s_folder_and_bad_templates_are_refused()
    {
        using var session = new ModuleSession();
        var (lake, output) = MakeLake(session);

        var runs = session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out -FolderTemplate '%FLOW_NAME%/%DATASET_ID%/%DATETIME(yyyy/MM/dd)%' | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow f -LakePath $Lake
            """, lake, output).AssertNoErrors().Output;

        var run = Assert.Single(runs);
        var scheduled = ((DateTimeOffset)run.Properties["ScheduledTime"].Value).UtcDateTime;
        Assert.Equal($"f/orders/{scheduled:yyyy/MM/dd}", run.Properties["ExportPath"].Value);
        Assert.Single(Directory.GetFiles(Path.Combine(output, "f", "orders", scheduled.ToString("yyyy"), scheduled.ToString("MM"), scheduled.ToString("dd")), "part-00000-*.json"));
        var shown = Assert.Single(session.Run("Get-ExportDestination d").AssertNoErrors().Output);
        Assert.Equal("%FLOW_NAME%/%DATASET_ID%/%DATETIME(yyyy/MM/dd)%", shown.Properties["FolderTemplate"].Value);

        AssertError(session.Run("New-ExportDestination -Name e -Type Local -Path $args[0] -FolderTemplate '../%DATASET_ID%'", output),
            "InvalidArgument", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "e");
        AssertError(session.Run("Set-ExportDestination -Name d -FolderTemplate '%DATASET_NAME%'"),
            "InvalidArgument", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "d");
        Assert.Equal("%FLOW_NAME%/%DATASET_ID%/%DATETIME(yyyy/MM/dd)%", Assert.Single(session.Run("Get-ExportDestination d").Output).Properties["FolderTemplate"].Value);
    }

    internal static (string Lake, string Output) MakeLake(ModuleSession session)
    {
        var lake = session.Work.Combine("lake");
        if (!Directory.Exists(Path.Combine(lake, "orders")))
        {
            TestLake.WriteJsonLinesDataset(lake, "orders", batches: 3, recordsPerBatch: 40);
            TestLake.WriteJsonLinesDataset(lake, "customers", batches: 1, recordsPerBatch: 25);
        }
        return (lake, session.Work.Combine("out"));
    }

    internal static void AssertError(ScriptResult result, string errorId, string command, ErrorCategory category, object? target)
    {
        var error = Assert.Single(result.Errors);
        Assert.Equal($"{errorId},DatasetExport.Commands.{command}", error.FullyQualifiedErrorId);
        Assert.Equal(category, error.CategoryInfo.Category);
        Assert.Equal(target, error.TargetObject);
    }

    private static IEnumerable<string> Names(ScriptResult result) => result.Output.Select(o => (string)o.Properties["Name"].Value);

    private static List<string> Complete(ModuleSession session, string line) =>
        session.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object { $_.CompletionText }", line)
            .AssertNoErrors().Output.Select(o => (string)o.BaseObject).ToList();

    private static long CountGzipLines(string path)
    {
        using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
        long lines = 0;
        while (reader.ReadLine() is { } line) if (line.Length > 0) lines++;
        return lines;
    }
}
