using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>
/// The module used as an administrator uses it. Pipelines over several stored objects: a problem with one object is a
/// non-terminating error about that object, the others are still processed, and objects of one cmdlet bind to the next
/// by what they name. Tab completion resolves what was typed as the cmdlet will.
/// </summary>
public sealed class AdminReviewTests : IDisposable
{
    private readonly ModuleSession _session = new();
    private readonly string _lake;
    private readonly string _output;

    public AdminReviewTests()
    {
        (_lake, _output) = ExportPipelineTests.MakeLake(_session);
        _session.Run("Set-DatasetExportOption -LakePath $args[0]", _lake).AssertNoErrors();
    }

    public void Dispose() => _session.Dispose();

    [Theory]
    [InlineData("state-here")]
    [InlineData("~/state")]
    public void A_relative_DATASETEXPORT_HOME_is_refused_naming_it_rather_than_used_where_the_process_started(string relative)
    {
        // Was: made full against the process's current directory (never moved by Set-Location): a state home, and for
        // '~/state' a folder named '~', created wherever the host started, holding destinations no one could find.
        var result = _session.Run("$env:DATASETEXPORT_HOME = $args[0]; try { Get-ExportFlow } finally { $env:DATASETEXPORT_HOME = $args[1] }",
            relative, _session.Home.Path);

        var error = Assert.Single(result.Errors);
        Assert.Equal("StateUnusable,DatasetExport.Commands.GetExportFlowCommand", error.FullyQualifiedErrorId);
        Assert.Contains($"$env:DATASETEXPORT_HOME is '{relative}', which is not a full path", error.Exception.Message);
        Assert.False(Directory.Exists(Path.Combine(Environment.CurrentDirectory, relative.Split('/')[0])));
        Assert.Empty(_session.Run("Get-ExportFlow").AssertNoErrors().Output);
    }

    [Fact]
    public void Set_DatasetExportOption_LakePath_null_removes_the_stored_lake_so_the_environment_variable_applies()
    {
        var option = _session.Run("Set-DatasetExportOption -LakePath $null -PassThru").AssertNoErrors().Output.Single();

        Assert.Null(option.Properties["LakePath"].Value);
        Assert.Null(_session.Run("(Get-DatasetExportOption).LakePath").AssertNoErrors().Output.Single()?.BaseObject);
        var unset = _session.Run("Get-EligibleDataset");
        Assert.Equal("LakePathNotSet", unset.Errors.Single().FullyQualifiedErrorId.Split(',')[0]);
        try
        {
            Environment.SetEnvironmentVariable("DATASETEXPORT_LAKE", _lake);
            Assert.Equal(["customers", "orders"], Strings("Get-EligibleDataset | ForEach-Object Id"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("DATASETEXPORT_LAKE", null);
        }
    }

    [Fact]
    public void Set_ExportDestination_over_the_pipeline_reports_a_bad_combination_per_destination_and_changes_the_others()
    {
        _session.Run("""
            param($Out)
            New-ExportDestination -Name a -Type Local -Path "$Out/a" -FileType Parquet -Compression Zstd | Out-Null
            New-ExportDestination -Name b -Type Local -Path "$Out/b" -FileType Parquet | Out-Null
            """, _output).AssertNoErrors();

        var result = _session.Run("Get-ExportDestination | Set-ExportDestination -FileType Json -PassThru");

        ExportPipelineTests.AssertError(result, "InvalidCompressionForFileType", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "a");
        var changed = Assert.Single(result.Output);
        Assert.Equal(("b", "Json"), ((string)changed.Properties["Name"].Value, changed.Properties["FileType"].Value.ToString()));
        Assert.Equal(["a Parquet Zstd", "b Json None"], Strings("Get-ExportDestination | ForEach-Object { \"$($_.Name) $($_.FileType) $($_.Compression)\" }"));
    }

    [Fact]
    public void Set_ExportFlow_over_the_pipeline_reports_a_bound_without_schedule_per_flow_and_changes_the_others()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name a-manual -Destination d -Dataset orders | Out-Null
            New-ExportFlow -Name b-daily -Destination d -Dataset orders -Daily -At 02:00 | Out-Null
            New-ExportFlow -Name c-hourly -Destination d -Dataset orders -Hourly -Every 6 | Out-Null
            """, _output).AssertNoErrors();

        var result = _session.Run("Get-ExportFlow | Set-ExportFlow -EndTime '2030-01-01T00:00Z' -PassThru");

        ExportPipelineTests.AssertError(result, "InvalidScheduleParameter", "SetExportFlowCommand", ErrorCategory.InvalidArgument, "a-manual");
        Assert.Equal("EndTime", ((ArgumentException)result.Errors[0].Exception).ParamName);
        Assert.Equal(["b-daily", "c-hourly"], result.Output.Select(f => (string)f.Properties["Name"].Value));
        Assert.Equal(["a-manual ", "b-daily 2030-01-01 00:00", "c-hourly 2030-01-01 00:00"],
            Strings("Get-ExportFlow | ForEach-Object { \"$($_.Name) $(if ($_.EndTime) { $_.EndTime.UtcDateTime.ToString('yyyy-MM-dd HH:mm') })\" }"));
    }

    [Fact]
    public void Flows_and_runs_piped_to_destination_cmdlets_stand_for_their_destination()
    {
        _session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path "$Out/d" | Out-Null
            New-ExportDestination -Name e -Type Local -Path "$Out/e" | Out-Null
            New-ExportFlow -Name f -Destination e -Dataset orders | Out-Null
            Start-ExportRun f | Out-Null
            """, _output).AssertNoErrors();

        Assert.Equal(["e"], Strings("Get-ExportFlow f | Get-ExportDestination | ForEach-Object Name"));
        Assert.Equal(["e True"], Strings("Get-ExportFlow f | Test-ExportDestination | ForEach-Object { \"$($_.Name) $($_.Succeeded)\" }"));
        Assert.Equal(["e True"], Strings("Get-ExportRun -Flow f | Test-ExportDestination | ForEach-Object { \"$($_.Name) $($_.Succeeded)\" }"));
        Assert.Equal(["e"], Strings("New-ExportFlow -Name g -Destination (Get-ExportFlow f) -Dataset customers | ForEach-Object Destination"));
        Assert.Equal(["f"], Strings("Get-ExportRun -Flow f | Get-ExportFlow | ForEach-Object Name"));
    }

    [Fact]
    public void Flows_runs_and_ids_piped_to_dataset_parameters_stand_for_their_datasets()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders, customers | Out-Null
            Start-ExportRun f | Out-Null
            """, _output).AssertNoErrors();

        Assert.Equal(["orders", "customers"], Strings("Get-ExportFlow f | Get-EligibleDataset | ForEach-Object Id"));
        Assert.Equal(["customers", "orders"], Strings("Get-ExportRun -Flow f | Get-EligibleDataset | ForEach-Object Id").Order());
        Assert.Equal(["orders", "customers"], Strings("(Get-ExportFlow f).Datasets | Get-EligibleDataset | ForEach-Object Id"));
        Assert.Equal(["orders,customers"], Strings("Get-ExportFlow f | New-ExportFlow -Name copy -Destination d | ForEach-Object { $_.Datasets -join ',' }"));
        var again = Strings("Get-ExportRun -Flow f | New-ExportFlow -Name again -Destination d | ForEach-Object { $_.Datasets }");
        Assert.Equal(["customers", "orders"], again.Order());
        Assert.Equal(["orders,customers"], Strings("Set-ExportFlow again -Dataset (Get-ExportFlow f) -PassThru | ForEach-Object { $_.Datasets -join ',' }"));
        Assert.Equal(["customers,orders"], Strings("Set-ExportFlow again -Dataset customers, (Get-ExportFlow f) -PassThru | ForEach-Object { $_.Datasets -join ',' }"));
    }

    [Fact]
    public void Get_ExportRun_takes_wildcard_flow_names_and_finds_the_runs_of_a_removed_flow()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name web-a -Destination d -Dataset orders, customers | Out-Null
            New-ExportFlow -Name web-b -Destination d -Dataset orders | Out-Null
            New-ExportFlow -Name other -Destination d -Dataset orders | Out-Null
            Start-ExportRun web-a, web-b, other | Out-Null
            """, _output).AssertNoErrors();
        string[] FlowsOf(string script) => Strings(script + " | ForEach-Object Flow").Order().ToArray();

        Assert.Equal(["web-a", "web-a", "web-b"], FlowsOf("Get-ExportRun -Flow web*"));
        Assert.Equal(["web-b"], FlowsOf("Get-ExportRun -Flow WEB* -Last 1"));
        Assert.Empty(FlowsOf("Get-ExportRun -Flow web* -Status Failed"));
        Assert.Empty(FlowsOf("Get-ExportRun -Flow zz*"));

        // The help of Remove-ExportFlow says its runs stay: they are still found by the flow's name.
        _session.Run("Remove-ExportFlow web-a -Confirm:$false").AssertNoErrors();
        Assert.Equal(["web-a", "web-a"], FlowsOf("Get-ExportRun -Flow web-a"));
        ExportPipelineTests.AssertError(_session.Run("Get-ExportRun -Flow nope"), "FlowNotFound", "GetExportRunCommand", ErrorCategory.ObjectNotFound, "nope");
    }

    [Fact]
    public void Remove_ExportFlow_deletes_the_files_its_runs_left_uncommitted_and_warns_of_those_it_cannot()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders, customers | Out-Null
            Start-ExportRun f | Out-Null
            """, _output).AssertNoErrors();
        var exported = Directory.GetFiles(_output, "*", SearchOption.AllDirectories);
        // Files runs could not delete after failing, as they record them: one on d, one on a destination removed since.
        var left = Path.Combine(_output, "orders", "part-left.json");
        File.WriteAllText(left, "{}\n");
        Assert.Equal(1, _session.ExecuteOnState("UPDATE runs SET left_files = '[\"orders/part-left.json\"]' WHERE dataset_id = 'orders'"));
        Assert.Equal(1, _session.ExecuteOnState("""
            UPDATE runs SET destination_id = $gone, destination_name = 'gone', left_files = '["customers/part-a.json","customers/part-b.json"]'
            WHERE dataset_id = 'customers'
            """, ("$gone", Guid.NewGuid().ToString("D"))));

        var removed = _session.Run("Remove-ExportFlow f -Confirm:$false").AssertNoErrors();

        Assert.False(File.Exists(left)); // was: kept for good, no run of the flow coming to delete it
        Assert.Equal(exported.Order(), Directory.GetFiles(_output, "*", SearchOption.AllDirectories).Order());
        Assert.Equal(
            "2 file(s) that runs of flow 'f' left uncommitted on destination 'gone' could not be deleted: destination 'gone' has been removed. " +
            "They stay, listed in the flow's runs (LeftFiles; the Files of an Abandoned run).", Assert.Single(removed.OtherStreams));
        Assert.Empty(_session.Run("Get-ExportFlow").AssertNoErrors().Output);
        Assert.Equal(["", "customers/part-a.json customers/part-b.json"],
            Strings("Get-ExportRun -Flow f | ForEach-Object { $_.LeftFiles -join ' ' }").Order());
    }

    [Fact]
    public void Invoke_ExportSchedule_given_no_flows_by_the_pipeline_runs_none()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name due -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """, _output).AssertNoErrors();

        // A pattern that matches no flow selects no flow: it does not mean "every flow", as no -Flow at all does.
        Assert.Empty(_session.Run("Get-ExportFlow web* | Invoke-ExportSchedule").AssertNoErrors().Output);
        Assert.Empty(_session.Run("Get-ExportRun").AssertNoErrors().Output);

        Assert.Equal(["due"], Strings("Get-ExportFlow due* | Invoke-ExportSchedule | ForEach-Object Flow"));
    }

    [Fact]
    public void Get_EligibleDataset_names_match_a_dataset_s_id_as_well_as_its_name()
    {
        // The folder's _dataset.json gives the dataset an id and a name of its own; flows and runs show the id.
        TestLake.WriteJsonLinesDataset(_lake, "clickstream", batches: 1, recordsPerBatch: 5);
        File.WriteAllText(Path.Combine(_lake, "clickstream", "_dataset.json"), """{ "id": "clicks-2024", "name": "Web clicks" }""");

        Assert.Equal(["clicks-2024"], Strings("Get-EligibleDataset clicks-2024 | ForEach-Object Id"));
        Assert.Equal(["clicks-2024"], Strings("Get-EligibleDataset clicks* | ForEach-Object Id"));
        Assert.Equal(["clicks-2024"], Strings("Get-EligibleDataset 'web*' | ForEach-Object Id"));
        Assert.Equal(["clicks-2024", "orders"], Strings("Get-EligibleDataset 'Web clicks', orders | ForEach-Object Id"));
    }

    [Fact]
    public void Verifying_a_run_whose_destination_was_removed_is_DestinationNotFound_naming_the_destination()
    {
        _session.Run("""
            param($Out)
            New-ExportDestination -Name old -Type Local -Path "$Out/old" | Out-Null
            New-ExportDestination -Name new -Type Local -Path "$Out/new" | Out-Null
            New-ExportFlow -Name f -Destination old -Dataset orders | Out-Null
            Start-ExportRun f | Out-Null
            Set-ExportFlow f -Destination new
            Remove-ExportDestination old -Confirm:$false
            """, _output).AssertNoErrors();

        var result = _session.Run("Get-ExportRun -Flow f | Test-ExportRun");

        // The run is found; what is missing is its destination, and the error says so.
        ExportPipelineTests.AssertError(result, "DestinationNotFound", "TestExportRunCommand", ErrorCategory.ObjectNotFound, "old");
        Assert.Contains("'old'", result.Errors[0].Exception.Message);
        Assert.Empty(result.Output);
    }

    [Theory]
    [InlineData("New-ExportFlow -Name g -Destination d -Dataset orders, 'web*'", "NewExportFlowCommand")]
    [InlineData("Set-ExportFlow f -Dataset 'ord*'", "SetExportFlowCommand")]
    public void A_dataset_pattern_where_ids_are_expected_says_to_use_Get_EligibleDataset(string command, string cmdlet)
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset customers | Out-Null
            """, _output).AssertNoErrors();

        var result = _session.Run(command);

        var pattern = command.Split('\'')[1];
        ExportPipelineTests.AssertError(result, "NameContainsWildcard", cmdlet, ErrorCategory.InvalidArgument, pattern);
        Assert.Contains($"Get-EligibleDataset '{pattern}'", result.Errors[0].Exception.Message);
        Assert.Equal("Dataset", ((ArgumentException)result.Errors[0].Exception).ParamName);
        Assert.Equal(["f customers"], Strings("Get-ExportFlow | ForEach-Object { \"$($_.Name) $($_.Datasets)\" }"));

        // What the message advises works.
        Assert.Equal(["orders"], Strings("Set-ExportFlow f -Dataset (Get-EligibleDataset 'ord*') -PassThru | ForEach-Object Datasets"));
        Assert.Equal(["orders"], Strings("Get-EligibleDataset 'ord*' | New-ExportFlow -Name h -Destination d | ForEach-Object Datasets"));
    }

    [Theory]
    [InlineData("Disable-ExportFlow web*", "DisableExportFlowCommand", "web*", "Get-ExportFlow 'web*'")]
    [InlineData("Start-ExportRun web*", "StartExportRunCommand", "web*", "Get-ExportFlow 'web*'")]
    [InlineData("Test-ExportDestination ar*", "TestExportDestinationCommand", "ar*", "Get-ExportDestination 'ar*'")]
    [InlineData("New-ExportFlow -Name g -Destination ar* -Dataset orders", "NewExportFlowCommand", "ar*", "Get-ExportDestination 'ar*'")]
    public void A_pattern_where_an_exact_name_is_expected_is_NameContainsWildcard_naming_the_Get_cmdlet(string command, string cmdlet, string pattern, string advice)
    {
        _session.Run("""
            New-ExportDestination -Name archive -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name web-a -Destination archive -Dataset orders | Out-Null
            """, _output).AssertNoErrors();

        var result = _session.Run(command);

        // Not "no flow named 'web*' exists": the name is a pattern, and the message says where patterns work.
        ExportPipelineTests.AssertError(result, "NameContainsWildcard", cmdlet, ErrorCategory.InvalidArgument, pattern);
        Assert.Contains(advice, result.Errors[0].Exception.Message);
        Assert.Empty(_session.Run("Get-ExportRun").AssertNoErrors().Output);
        Assert.Equal(["web-a True"], Strings("Get-ExportFlow | ForEach-Object { \"$($_.Name) $($_.Enabled)\" }"));
    }

    [Fact]
    public void Verifications_piped_to_Get_ExportRun_return_their_runs()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] -IncludeManifest | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders, customers | Out-Null
            Start-ExportRun f | Out-Null
            """, _output).AssertNoErrors();
        var runIds = Strings("Get-ExportRun -Flow f | ForEach-Object { $_.Id.ToString() }");

        var runs = _session.Run("Get-ExportRun -Flow f | Test-ExportRun | Where-Object IsValid | Get-ExportRun").AssertNoErrors().Output;

        Assert.Equal(runIds, runs.Select(r => r.Properties["Id"].Value.ToString()));
    }

    [Fact]
    public void Runs_piped_to_Start_ExportRun_run_each_flow_once()
    {
        _session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders, customers | Out-Null
            New-ExportFlow -Name g -Destination d -Dataset orders | Out-Null
            Start-ExportRun f, g | Out-Null
            """, _output).AssertNoErrors();

        // Three runs of two flows in: each flow runs once, one run per dataset, not once per run piped in.
        var rerun = _session.Run("Get-ExportRun | Start-ExportRun -Verbose").AssertNoErrors();

        Assert.Equal(["f customers", "f orders", "g orders"],
            rerun.Output.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["DatasetId"].Value}").Order());
        Assert.Contains(rerun.Verbose, v => v.Contains("'f'") && v.Contains("already"));
        Assert.Equal(6, _session.Run("Get-ExportRun").AssertNoErrors().Output.Count);
    }

    [Fact]
    public void Dataset_ids_complete_from_a_LakePath_relative_to_the_current_location()
    {
        // A second lake, <work>/other, beside the configured one; the cmdlets resolve -LakePath against PowerShell's
        // location, not the process's current folder, and so must completion.
        TestLake.WriteJsonLinesDataset(_session.Work.Combine("other"), "events", batches: 1, recordsPerBatch: 3);
        var completions = Strings("""
            $ExecutionContext.SessionState.Path.SetLocation($args[0]) | Out-Null
            $line = 'Get-EligibleDataset -LakePath ./other -Id '
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | ForEach-Object CompletionText
            Get-EligibleDataset -LakePath ./other | ForEach-Object Id
            """, _session.Work.Path);

        Assert.Equal(["events", "events"], completions);
    }

    [Fact]
    public void Get_EligibleDataset_completes_dataset_ids_for_its_positional_name()
    {
        // Without a completer of its own, the positional -Name would complete file names of the current folder.
        var completions = Strings("""
            $ExecutionContext.SessionState.Path.SetLocation($args[0]) | Out-Null
            $line = 'Get-EligibleDataset '
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | ForEach-Object CompletionText
            """, _session.Work.Path);

        Assert.Equal(["customers", "orders"], completions);
    }

    [Fact]
    public void Flows_piped_to_Start_ExportRun_with_no_lake_stop_at_one_LakePathNotSet_and_run_nothing()
    {
        _session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name f1 -Destination d -Dataset orders | Out-Null
            New-ExportFlow -Name f2 -Destination d -Dataset customers | Out-Null
            Set-DatasetExportOption -LakePath $null | Out-Null
            """, _output).AssertNoErrors();

        var started = _session.Run("Get-ExportFlow | Start-ExportRun");

        ExportPipelineTests.AssertError(started, "LakePathNotSet", "StartExportRunCommand", ErrorCategory.InvalidOperation, null);
        Assert.Empty(_session.Run("Get-ExportRun").AssertNoErrors().Output);
        ExportPipelineTests.AssertError(_session.Run("'orders', 'customers' | Get-EligibleDataset"), "LakePathNotSet", "GetEligibleDatasetCommand", ErrorCategory.InvalidOperation, null);
    }

    [Fact]
    public void Test_ExportRun_of_a_full_flow_verifies_the_newest_run_of_each_of_its_datasets()
    {
        _session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path $Out -IncludeManifest | Out-Null
            New-ExportFlow -Name nightly -Destination d -Dataset orders, customers | Out-Null
            New-ExportFlow -Name never -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow nightly | Out-Null
            Start-ExportRun -Flow nightly | Out-Null
            """, _output).AssertNoErrors();
        var newest = _session.Run("Get-ExportRun -Flow nightly -Last 2").AssertNoErrors().Output
            .ToDictionary(run => (string)run.Properties["DatasetId"].Value, run => (Guid)run.Properties["Id"].Value);

        var verified = _session.Run("Get-ExportFlow nightly | Test-ExportRun").AssertNoErrors().Output;

        Assert.Equal([newest["orders"], newest["customers"]], verified.Select(v => (Guid)v.Properties["RunId"].Value));
        Assert.All(verified, v => Assert.True((bool)v.Properties["IsValid"].Value));
        Assert.Equal(verified.Select(v => v.Properties["RunId"].Value), _session.Run("Test-ExportRun night*").AssertNoErrors().Output.Select(v => v.Properties["RunId"].Value));

        // A file of the newest orders run goes missing: that run no longer verifies; the older one is not what is checked.
        var lost = (string)_session.Run("(Get-ExportRun -Id $args[0]).Files[0].SinkPath", newest["orders"]).AssertNoErrors().Output.Single().BaseObject;
        File.Delete(lost);
        var after = _session.Run("'nightly' | Test-ExportRun").AssertNoErrors().Output;
        Assert.Equal([false, true], after.Select(v => (bool)v.Properties["IsValid"].Value));

        // A flow that never succeeded has nothing backed up: an error per dataset, naming it.
        var never = _session.Run("Test-ExportRun -Flow never");
        Assert.Empty(never.Output);
        ExportPipelineTests.AssertError(never, "RunNotFound", "TestExportRunCommand", ErrorCategory.ObjectNotFound, "orders");
        Assert.Equal("Flow 'never' has exported nothing of dataset 'orders' to its destination yet: there is no run to verify.", never.Errors[0].Exception.Message);
        ExportPipelineTests.AssertError(_session.Run("Test-ExportRun -Flow nope"), "FlowNotFound", "TestExportRunCommand", ErrorCategory.ObjectNotFound, "nope");

        // Runs piped in are still verified one by one (a run does not stand for its flow here).
        Assert.Equal(4, _session.Run("Get-ExportRun | Test-ExportRun").Output.Count);
    }

    [Fact]
    public void Test_ExportRun_of_an_incremental_flow_verifies_every_run_that_holds_batches_it_will_not_send_again()
    {
        WithLocalDestinationD("""
            New-ExportDestination -Name e -Type Local -Path "$Out/e" | Out-Null
            New-ExportFlow -Name inc -Destination d -Dataset orders -Incremental | Out-Null
            Start-ExportRun -Flow inc | Out-Null
            """);
        File.Copy(Path.Combine(_lake, "orders", "batch-0000.jsonl"), Path.Combine(_lake, "orders", "batch-0100.jsonl"));
        _session.Run("Start-ExportRun -Flow inc | Out-Null; Start-ExportRun -Flow inc | Out-Null").AssertNoErrors(); // the second finds nothing new
        var runs = _session.Run("Get-ExportRun -Flow inc").AssertNoErrors().Output; // newest first
        Assert.Equal([0L, 40L, 120L], runs.Select(run => (long)run.Properties["RecordsWritten"].Value));
        var (first, second) = ((Guid)runs[2].Properties["Id"].Value, (Guid)runs[1].Properties["Id"].Value);

        var verified = _session.Run("Get-ExportFlow inc | Test-ExportRun").AssertNoErrors().Output;

        Assert.Equal([first, second], verified.Select(v => (Guid)v.Properties["RunId"].Value));
        Assert.All(verified, v => Assert.True((bool)v.Properties["IsValid"].Value));

        // The first run's files are what the flow will never send again: losing one is what verifying the flow must show.
        File.Delete((string)_session.Run("(Get-ExportRun -Id $args[0]).Files[0].SinkPath", first).AssertNoErrors().Output.Single().BaseObject);
        Assert.Equal([false, true], _session.Run("Test-ExportRun -Flow inc").AssertNoErrors().Output.Select(v => (bool)v.Properties["IsValid"].Value));

        // Pointed at another destination, the flow has exported nothing there yet.
        var moved = _session.Run("Set-ExportFlow -Name inc -Destination e; Test-ExportRun -Flow inc");
        ExportPipelineTests.AssertError(moved, "RunNotFound", "TestExportRunCommand", ErrorCategory.ObjectNotFound, "orders");
    }

    [Fact]
    public void Remove_ExportRun_prunes_the_history_keeping_what_an_incremental_flow_exported_and_what_must_stay()
    {
        WithLocalDestinationD("""
            New-ExportFlow -Name inc -Destination d -Dataset orders -Incremental | Out-Null
            Start-ExportRun -Flow inc | Out-Null
            """);
        File.Copy(Path.Combine(_lake, "orders", "batch-0000.jsonl"), Path.Combine(_lake, "orders", "batch-0100.jsonl"));
        _session.Run("Start-ExportRun -Flow inc | Out-Null; Start-ExportRun -Flow inc | Out-Null").AssertNoErrors(); // the second finds nothing new
        var runs = _session.Run("Get-ExportRun -Flow inc").AssertNoErrors().Output; // newest first
        Assert.Equal([0L, 40L, 120L], runs.Select(run => (long)run.Properties["RecordsWritten"].Value));
        var files = Directory.GetFiles(Path.Combine(_output, "d"), "*", SearchOption.AllDirectories).Order().ToList();

        // Removing history asks first (as removing a flow does), and -WhatIf says what would go.
        _session.Host.ConfirmAnswer = "No";
        _session.Run("Get-ExportRun -Flow inc -Last 1 | Remove-ExportRun").AssertNoErrors();
        Assert.Equal(1, _session.Host.PromptCount);
        _session.Run("Get-ExportRun -Flow inc | Remove-ExportRun -WhatIf").AssertNoErrors();
        Assert.Contains($"What if: Performing the operation \"Remove from the run history\" on target \"Run {runs[2].Properties["Id"].Value} of flow 'inc', dataset 'orders', started ", _session.Host.Text);
        Assert.Equal(3, _session.Run("Get-ExportRun -Flow inc").AssertNoErrors().Output.Count);

        var removed = _session.Run("Get-ExportRun -Flow inc | Where-Object RecordsWritten -gt 0 | Remove-ExportRun -Confirm:$false -Verbose").AssertNoErrors();

        Assert.Contains("Removed 2 run(s) from the run history.", removed.Verbose);
        Assert.Equal([runs[0].Properties["Id"].Value], _session.Run("Get-ExportRun -Flow inc").AssertNoErrors().Output.Select(run => run.Properties["Id"].Value));
        Assert.Equal(files, Directory.GetFiles(Path.Combine(_output, "d"), "*", SearchOption.AllDirectories).Order());
        // What the removed runs exported stays exported: the flow sends none of it again, and verifying it says what it cannot check.
        Assert.Equal(0L, _session.Run("Start-ExportRun -Flow inc").AssertNoErrors().Output.Single().Properties["RecordsWritten"].Value);
        var verified = _session.Run("Test-ExportRun -Flow inc").AssertNoErrors();
        Assert.Empty(verified.Output);
        Assert.Contains(verified.OtherStreams, text => text.Contains(
            "Flow 'inc', dataset 'orders': 2 run(s) that exported batches it will not send again have been removed from the run history", StringComparison.Ordinal));

        var unknown = Guid.NewGuid();
        ExportPipelineTests.AssertError(_session.Run("Remove-ExportRun -Id $args[0] -Confirm:$false", unknown),
            "RunNotFound", "RemoveExportRunCommand", ErrorCategory.ObjectNotFound, unknown.ToString());
        // A run as listed, removed since (by another session): the same error, from the store's own read as it removes.
        var gone = _session.Run("$run = Get-ExportRun -Flow inc -Last 1; Remove-ExportRun -Id $run.Id -Confirm:$false; $run | Remove-ExportRun -Confirm:$false; $run.Id");
        ExportPipelineTests.AssertError(gone, "RunNotFound", "RemoveExportRunCommand", ErrorCategory.ObjectNotFound, gone.Output.Single().ToString());
        var latest = (Guid)runs[0].Properties["Id"].Value;
        Assert.Equal(1, _session.ExecuteOnState("UPDATE runs SET status = 'Running' WHERE id = $id", ("$id", latest.ToString("D"))));
        var running = _session.Run("Remove-ExportRun -Id $args[0] -Confirm:$false", latest);
        ExportPipelineTests.AssertError(running, "RunInUse", "RemoveExportRunCommand", ErrorCategory.ResourceBusy, latest.ToString());
        Assert.EndsWith("(flow 'inc', dataset 'orders') is still running.", running.Errors[0].Exception.Message);
    }

    [Fact]
    public void Get_ExportRun_After_and_Before_keep_runs_started_in_a_time_range_and_a_removed_flows_name_is_found_under_any_filter()
    {
        WithLocalDestinationD("""
            New-ExportFlow -Name inc -Destination d -Dataset orders -Incremental | Out-Null
            1..3 | ForEach-Object { Start-ExportRun -Flow inc | Out-Null }
            """);
        var ids = Strings("Get-ExportRun -Flow inc | ForEach-Object { $_.Id.ToString() }"); // newest first
        foreach (var (id, hour) in ids.Zip([14, 12, 10]))
        {
            Assert.Equal(1, _session.ExecuteOnState("UPDATE runs SET started_at = $at WHERE id = $id", ("$at", $"2026-03-14T{hour}:00:00.0000000Z"), ("$id", id)));
        }
        var (eleven, thirteen) = (new DateTime(2026, 3, 14, 11, 0, 0, DateTimeKind.Utc), new DateTime(2026, 3, 14, 13, 0, 0, DateTimeKind.Utc));

        Assert.Equal(ids[..2], Strings("Get-ExportRun -After $args[0] | ForEach-Object { $_.Id.ToString() }", eleven));
        Assert.Equal(ids[1..], Strings("Get-ExportRun -Flow inc -Before $args[0] | ForEach-Object { $_.Id.ToString() }", thirteen));
        Assert.Equal([ids[1]], Strings("Get-ExportRun -Flow in* -After $args[0] -Before $args[1] | ForEach-Object { $_.Id.ToString() }", eleven, thirteen));
        Assert.Empty(Strings("Get-ExportRun -Before $args[0] -Status Failed", thirteen));

        // A removed flow's runs are found by its name; a filter that keeps none of them is no "no flow named" error.
        _session.Run("Remove-ExportFlow inc -Confirm:$false").AssertNoErrors();
        Assert.Equal(ids[1..], Strings("Get-ExportRun -Flow inc -Before $args[0] | ForEach-Object { $_.Id.ToString() }", thirteen));
        Assert.Empty(Strings("Get-ExportRun -Flow inc -Status Failed"));
        ExportPipelineTests.AssertError(_session.Run("Get-ExportRun -Flow never-was -Status Failed"), "FlowNotFound", "GetExportRunCommand", ErrorCategory.ObjectNotFound, "never-was");
    }

    [Fact]
    public void Start_ExportRun_Dataset_runs_only_the_named_datasets_of_the_flow()
    {
        WithLocalDestinationD("""
            New-ExportFlow -Name both -Destination d -Dataset orders, customers | Out-Null
            """);

        var run = _session.Run("Start-ExportRun -Flow both -Dataset ORDERS").AssertNoErrors().Output.Single();

        Assert.Equal(("orders", "Succeeded"), ((string)run.Properties["DatasetId"].Value, run.Properties["Status"].Value.ToString()));
        // A run stands for its dataset: the one that failed is run again alone.
        Assert.Equal(["orders"], Strings("Get-ExportRun -Flow both | ForEach-Object { Start-ExportRun -Flow $_.Flow -Dataset $_ } | ForEach-Object DatasetId"));
        _session.Run("Start-ExportRun both -Dataset customers -WhatIf").AssertNoErrors();
        Assert.Contains("What if: Performing the operation \"Export dataset(s) 'customers' from lake", _session.Host.Text);

        var unknown = _session.Run("Start-ExportRun both -Dataset orders, web");
        ExportPipelineTests.AssertError(unknown, "InvalidArgument", "StartExportRunCommand", ErrorCategory.InvalidArgument, "both");
        Assert.StartsWith("Flow 'both' does not export 'web'; its datasets are 'orders', 'customers'.", unknown.Errors[0].Exception.Message);
        Assert.Equal(2, _session.Run("Get-ExportRun -Flow both").AssertNoErrors().Output.Count); // nothing recorded for the refused one
    }

    [Fact]
    public void Flows_and_destinations_are_renamed_in_place_keeping_their_runs_and_what_was_exported()
    {
        WithLocalDestinationD("""
            New-ExportFlow -Name inc -Destination d -Dataset orders -Incremental | Out-Null
            Start-ExportRun -Flow inc | Out-Null
            """);

        _session.Run("Rename-ExportFlow inc nightly -WhatIf").AssertNoErrors();
        Assert.Contains("What if: Performing the operation \"Rename export flow to 'nightly'\" on target \"inc\".", _session.Host.Text);
        var renamed = _session.Run("Get-ExportFlow inc | Rename-ExportFlow -NewName nightly -PassThru").AssertNoErrors().Output.Single();

        Assert.Equal(("nightly", "d"), ((string)renamed.Properties["Name"].Value, (string)renamed.Properties["Destination"].Value));
        Assert.Equal(["inc"], Strings("Get-ExportRun -Flow nightly | ForEach-Object Flow")); // the run keeps the name it ran with
        Assert.Equal(0L, _session.Run("Start-ExportRun -Flow nightly").AssertNoErrors().Output.Single().Properties["RecordsWritten"].Value);
        _session.Run("Rename-ExportDestination d archive; [pscustomobject]@{ Name = 'nightly'; NewName = 'daily' } | Rename-ExportFlow").AssertNoErrors();
        Assert.Equal(["daily archive"], Strings("Get-ExportFlow | ForEach-Object { \"$($_.Name) $($_.Destination)\" }"));
        _session.Run("Start-ExportRun -Flow daily | Out-Null").AssertNoErrors();
        Assert.Equal(["archive", "d", "d"], Strings("Get-ExportRun -Flow daily | ForEach-Object Destination")); // newest first

        ExportPipelineTests.AssertError(_session.Run("Rename-ExportFlow nope x"), "FlowNotFound", "RenameExportFlowCommand", ErrorCategory.ObjectNotFound, "nope");
        _session.Run("New-ExportFlow -Name other -Destination archive -Dataset orders | Out-Null").AssertNoErrors();
        var taken = _session.Run("Rename-ExportFlow other DAILY");
        ExportPipelineTests.AssertError(taken, "FlowAlreadyExists", "RenameExportFlowCommand", ErrorCategory.ResourceExists, "other");
        Assert.Equal("Another flow is already named 'DAILY'.", taken.Errors[0].Exception.Message);
        ExportPipelineTests.AssertError(_session.Run("Rename-ExportDestination archive 'a*'"), "NameContainsWildcard", "RenameExportDestinationCommand", ErrorCategory.InvalidArgument, "a*");
        Assert.Equal(["daily", "other"], Strings("Get-ExportFlow | ForEach-Object Name"));
    }

    [Fact]
    public void Deserialized_copies_from_jobs_or_remote_sessions_stand_for_what_the_live_objects_name()
    {
        _session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders, customers | Out-Null
            New-ExportFlow -Name g -Destination d -Dataset customers | Out-Null
            Start-ExportRun -Flow f | Out-Null
            """, _output).AssertNoErrors();
        // What Start-Job / Invoke-Command hand back: property bags typed Deserialized.DatasetExport.*.
        Assert.Equal(["Deserialized.DatasetExport.ExportFlow"], Strings(Copy + "Get-ExportFlow f | Copy-Remote | ForEach-Object { $_.PSObject.TypeNames[0] }"));

        Assert.Equal(["d"], Strings(Copy + "Get-ExportFlow f | Copy-Remote | Get-ExportDestination | ForEach-Object Name"));
        Assert.Equal(["orders", "customers"], Strings(Copy + "Get-ExportFlow f | Copy-Remote | Get-EligibleDataset | ForEach-Object Id"));
        Assert.Equal(["orders", "customers", "customers"], Strings(Copy + "Get-EligibleDataset -Id (Get-ExportFlow | Copy-Remote) | ForEach-Object Id"));
        Assert.Equal(["f"], Strings(Copy + "Get-ExportRun -Last 1 | Copy-Remote | Get-ExportFlow | ForEach-Object Name"));
        Assert.Equal(["d"], Strings(Copy + "Get-ExportRun -Last 1 | Copy-Remote | Get-ExportDestination | ForEach-Object Name"));
        Assert.Equal(["d"], Strings(Copy + "Get-ExportDestination d | Copy-Remote | Get-ExportDestination | ForEach-Object Name"));
        // A run copy given to Test-ExportRun is that run (by its Id), not its flow.
        var runId = Strings("Get-ExportRun -Last 1 | ForEach-Object { $_.Id.ToString() }").Single();
        Assert.Equal([runId], Strings(Copy + "Get-ExportRun -Last 1 | Copy-Remote | Test-ExportRun | ForEach-Object { $_.RunId.ToString() }"));
        Assert.Equal(2, _session.Run(Copy + "Get-ExportFlow f | Copy-Remote | Test-ExportRun").AssertNoErrors().Output.Count);
    }

    [Fact]
    public void A_run_piped_in_stands_for_its_flow_and_destination_as_they_are_named_now_not_for_whatever_took_their_old_names()
    {
        // Was: a run bound by the names it ran with, so after `Rename-ExportFlow a c; Rename-ExportFlow b a` the runs listed
        // by `Get-ExportRun -Flow c` started, changed or removed flow b (now named 'a'), and after a destination rename
        // tested or renamed whichever destination had taken its old name.
        SwapNamesAfter("Start-ExportRun -Flow a | Out-Null");

        Assert.Equal(["a"], Strings("Get-ExportRun -Flow c | ForEach-Object Flow")); // the name it ran with, as before
        Assert.Equal(["c orders x"], Strings("Get-ExportRun -Flow c | Start-ExportRun | ForEach-Object { \"$($_.Flow) $($_.DatasetId) $($_.Destination)\" }"));
        Assert.Equal(["c", "c"], Strings(Copy + "$r = Get-ExportRun -Flow c -Last 1; $r | Get-ExportFlow | ForEach-Object Name; $r | Copy-Remote | Get-ExportFlow | ForEach-Object Name"));
        Assert.Equal(["x", "x"], Strings(Copy + "$r = Get-ExportRun -Flow c -Last 1; $r | Get-ExportDestination | ForEach-Object Name; $r | Copy-Remote | Get-ExportDestination | ForEach-Object Name"));
        _session.Run("Get-ExportRun -Flow c | Disable-ExportFlow; Get-ExportRun -Flow c -Last 1 | Rename-ExportDestination -NewName y").AssertNoErrors();
        Assert.Equal(["a True d", "c False y"], Strings("Get-ExportFlow | ForEach-Object { \"$($_.Name) $($_.Enabled) $($_.Destination)\" }"));
    }

    [Fact]
    public void A_flow_or_destination_held_across_renames_stands_for_itself_not_for_whatever_took_its_old_name()
    {
        // Was: bound by the name it was read with, so `$flows = Get-ExportFlow` then `Rename-ExportFlow a c; Rename-ExportFlow
        // b a` had `$flows | Disable-ExportFlow` disable b twice (now named 'a') and never c, and a destination held across
        // the same swap was tested, renamed or removed in the other's place.
        SwapNamesAfter(Copy + "$global:flowA = Get-ExportFlow a; $global:destinationD = Get-ExportDestination d; $global:flowCopy = Get-ExportFlow a | Copy-Remote");

        Assert.Equal(["c", "c"], Strings("$flowA | Get-ExportFlow | ForEach-Object Name; $flowCopy | Get-ExportFlow | ForEach-Object Name"));
        Assert.Equal(["c orders"], Strings("$flowA | Start-ExportRun | ForEach-Object { \"$($_.Flow) $($_.DatasetId)\" }"));
        Assert.Equal(["x"], Strings("$destinationD | Get-ExportDestination | ForEach-Object Name"));
        _session.Run("$flowA | Disable-ExportFlow; $destinationD | Rename-ExportDestination -NewName y").AssertNoErrors();
        Assert.Equal(["a True d", "c False y"], Strings("Get-ExportFlow | ForEach-Object { \"$($_.Name) $($_.Enabled) $($_.Destination)\" }"));
        // Removed, it stands for the name it holds, as before: here flow b's name now.
        _session.Run("$flowA | Remove-ExportFlow -Confirm:$false").AssertNoErrors();
        Assert.Equal(["a"], Strings("Get-ExportFlow | ForEach-Object Name"));
        Assert.Equal(["a"], Strings("$flowA | Get-ExportFlow | ForEach-Object Name"));
    }

    [Fact]
    public void Remove_ExportRun_counts_a_run_given_twice_once()
    {
        // Was: "Removed 2 run(s)" for one run piped twice (each counted, the store removing it once).
        WithLocalDestinationD("""
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow f | Out-Null
            Start-ExportRun -Flow f | Out-Null
            """);

        var removed = _session.Run("$r = Get-ExportRun -Flow f -Last 1; $r, $r | Remove-ExportRun -Confirm:$false -Verbose").AssertNoErrors();

        Assert.Contains("Removed 1 run(s) from the run history.", removed.Verbose);
        Assert.Single(_session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output);
    }

    [Fact]
    public void Get_ExportRun_with_a_pattern_finds_a_renamed_flow_s_runs_by_its_new_name_as_by_the_names_they_ran_with()
    {
        // Was: `-Flow nightly` listed every run of the flow renamed to nightly, `-Flow night*` only those since the rename.
        _session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path "$Out/d" | Out-Null
            New-ExportFlow -Name inc -Destination d -Dataset orders -Incremental | Out-Null
            New-ExportFlow -Name other -Destination d -Dataset customers | Out-Null
            Start-ExportRun -Flow inc | Out-Null
            Start-ExportRun -Flow other | Out-Null
            Rename-ExportFlow inc nightly
            Start-ExportRun -Flow nightly | Out-Null
            """, _output).AssertNoErrors();

        Assert.Equal(["nightly", "inc"], Strings("Get-ExportRun -Flow nightly | ForEach-Object Flow"));
        Assert.Equal(["nightly", "inc"], Strings("Get-ExportRun -Flow night* | ForEach-Object Flow"));
        Assert.Equal(["nightly"], Strings("Get-ExportRun -Flow night* -Last 1 | ForEach-Object Flow"));
        Assert.Equal(["inc"], Strings("Get-ExportRun -Flow inc* | ForEach-Object Flow")); // the name it ran with, as before
        Assert.Equal(["other"], Strings("Get-ExportRun -Flow oth* | ForEach-Object Flow"));
    }

    /// <summary>A PowerShell function turning objects into the deserialized copies Start-Job or Invoke-Command hand back.</summary>
    private const string Copy = "function Copy-Remote { process { [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($_)) } }; ";

    /// <summary>
    /// Makes destinations d and e and flows a (orders, to d) and b (customers, to e), runs <paramref name="script"/>, then swaps
    /// names: flow a becomes c and b takes 'a'; destination d becomes x and e takes 'd'.
    /// </summary>
    private void SwapNamesAfter(string script) => _session.Run($"""
        param($Out)
        New-ExportDestination -Name d -Type Local -Path "$Out/d" | Out-Null
        New-ExportDestination -Name e -Type Local -Path "$Out/e" | Out-Null
        New-ExportFlow -Name a -Destination d -Dataset orders | Out-Null
        New-ExportFlow -Name b -Destination e -Dataset customers | Out-Null
        {script}
        Rename-ExportFlow a c; Rename-ExportFlow b a
        Rename-ExportDestination d x; Rename-ExportDestination e d
        """, _output).AssertNoErrors();

    /// <summary>Runs <paramref name="script"/>, with no error, after making the Local destination 'd' in the output folder ($Out).</summary>
    private void WithLocalDestinationD(string script) =>
        _session.Run("param($Out)\nNew-ExportDestination -Name d -Type Local -Path \"$Out/d\" | Out-Null\n" + script, _output).AssertNoErrors();

    private List<string> Strings(string script, params object?[] args) =>
        _session.Run(script, args).AssertNoErrors().Output.Select(o => (string)o.BaseObject).ToList();
}
