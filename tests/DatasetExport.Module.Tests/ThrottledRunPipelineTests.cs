using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>
/// Start-ExportRun -ThrottleLimit and the wait for the runs written before a flow starts, as users meet them: commands
/// downstream that block or write much, a stop while flows wait, errors at the first or last flow, flows given twice.
/// Every script runs under a time guard, so a hang fails the test rather than blocking the suite.
/// </summary>
public sealed class ThrottledRunPipelineTests
{
    /// <summary>Far more than any of these scripts takes; reached only by a hang.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public void Stopped_while_a_command_downstream_holds_a_run_and_a_flow_waits_for_it_to_be_written_ends_with_the_waiting_flow_not_started()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b", "c");

        // The command downstream takes a's run and holds it; c, whose turn comes once a or b ended, waits for that run to be
        // written. Stopped (Ctrl+C) then: the pipeline thread is in the command downstream, not pumping the export's reports.
        var (state, _) = session.RunWithin(Patience, """
            Start-ExportRun a, b, c -ThrottleLimit 2 | ForEach-Object {
                $_
                $i = 0
                while ($i -lt 2400) { $i++; [System.Threading.Thread]::Sleep(25) }
            }
            """, (shell, _) => shell.BeginStop(null, null));

        Assert.Equal(PSInvocationState.Stopped, state);
        var runs = RunsByFlow(session);
        Assert.DoesNotContain("c", runs.Keys);
        Assert.All(runs.Values, status => Assert.NotEqual("Running", status));
    }

    [Fact]
    public void A_command_downstream_that_throws_while_a_flow_waits_for_its_run_to_be_written_cancels_the_export_and_takes_the_bars_down()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b", "c");

        var (state, result) = session.RunWithin(Patience, """
            try { Start-ExportRun a, b, c -ThrottleLimit 2 | ForEach-Object { throw "downstream failed at $($_.Flow)" } }
            catch { "caught: $_" }
            """, null);

        Assert.Equal(PSInvocationState.Completed, state);
        Assert.StartsWith("caught: downstream failed at ", (string)result.Output.Single().BaseObject);
        var runs = RunsByFlow(session);
        Assert.DoesNotContain("c", runs.Keys);
        Assert.All(runs.Values, status => Assert.NotEqual("Running", status));
        Assert.All(result.Progress.GroupBy(p => p.ActivityId), bar => Assert.Equal(ProgressRecordType.Completed, bar.Last().RecordType));
    }

    [Fact]
    public void A_command_downstream_running_another_flow_itself_while_flows_wait_their_turn_ends_with_every_flow_run()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b", "c", "d");

        // The pipeline thread exports d (one flow, its own progress) inside the command downstream, while c waits for a's run
        // to be written.
        var (state, result) = session.RunWithin(Patience, """
            Start-ExportRun a, b, c -ThrottleLimit 2 | ForEach-Object { if ($_.Flow -eq 'a') { Start-ExportRun d }; $_ } |
                ForEach-Object { "$($_.Flow) $($_.Status)" }
            """, null);

        Assert.Equal(PSInvocationState.Completed, state);
        result.AssertNoErrors();
        Assert.Equal(["a Succeeded", "b Succeeded", "c Succeeded", "d Succeeded"], result.Output.Select(o => (string)o.BaseObject).Order());
    }

    [Fact]
    public void A_state_store_damaged_while_flows_wait_their_turn_is_an_error_about_each_of_them_and_the_command_ends()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b", "c", "d");
        var damaged = 0;

        // Damaged (its runs table dropped behind the module's back) as the first run is written: c and d, whose turns come
        // once that run was written, find the store unusable. Each is refused with that error (no run of it), as one after
        // another each flow was, and the command ends.
        var (state, result) = session.RunWithin(Patience, "Start-ExportRun a, b, c, d -ThrottleLimit 2 | ForEach-Object { \"$($_.Flow) $($_.Status)\" }",
            (_, _) => { if (Interlocked.Increment(ref damaged) == 1) session.ExecuteOnState("PRAGMA foreign_keys = OFF; DROP TABLE runs"); });

        Assert.Equal(PSInvocationState.Completed, state);
        Assert.All(result.Errors, e => Assert.Equal(("StateUnusable,DatasetExport.Commands.StartExportRunCommand", ErrorCategory.InvalidData),
            (e.FullyQualifiedErrorId, e.CategoryInfo.Category)));
        Assert.Contains("c", result.Errors.Select(e => e.TargetObject as string));
        Assert.Contains("d", result.Errors.Select(e => e.TargetObject as string));
        Assert.DoesNotContain(result.Output, o => ((string)o.BaseObject).StartsWith('c') || ((string)o.BaseObject).StartsWith('d'));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_command_downstream_writing_much_for_each_run_ends_with_every_run_written_and_every_bar_taken_down(int throttleLimit)
    {
        using var session = new ModuleSession();
        var names = Enumerable.Range(1, 8).Select(i => $"f{i}").ToArray();
        StartExportRunThrottleTests.WithFlows(session, names);

        var (state, result) = session.RunWithin(Patience, """
            param($Names, $Limit)
            $lines = 0
            $Names | Start-ExportRun -ThrottleLimit $Limit | ForEach-Object { foreach ($i in 1..2000) { "$($_.Flow) $i" } } | ForEach-Object { $lines++ }
            $lines
            """, null, names, throttleLimit);

        Assert.Equal(PSInvocationState.Completed, state);
        result.AssertNoErrors();
        Assert.Equal(8 * 2000, (int)result.Output.Single().BaseObject);
        Assert.Equal(names.Order(), RunsByFlow(session).Where(r => r.Value == "Succeeded").Select(r => r.Key).Order());
        // Each flow's bar is taken down when it is done: a bar id drawn for another flow (ids are reused: eight flows, at most
        // three bars) was completed for the one before.
        Assert.Equal(8, result.Progress.Select(p => p.Activity).Distinct().Count());
        Assert.InRange(result.Progress.Select(p => p.ActivityId).Distinct().Count(), 1, throttleLimit);
        Assert.All(result.Progress.GroupBy(p => p.ActivityId), bar =>
        {
            Assert.Equal(ProgressRecordType.Completed, bar.Last().RecordType);
            Assert.All(bar.Zip(bar.Skip(1)).Where(pair => pair.First.Activity != pair.Second.Activity),
                pair => Assert.Equal(ProgressRecordType.Completed, pair.First.RecordType));
        });
    }

    [Fact]
    public void ErrorActionPreference_Stop_at_the_flows_refused_first_stops_the_command_with_that_error_and_starts_no_flow_waiting()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "busy1", "busy2", "b");
        session.HoldDataset("busy1");
        session.HoldDataset("busy2");

        // busy1 and busy2 start together and are refused; b's turn comes once one of them ended, its error written before.
        var (state, result) = session.RunWithin(Patience, """
            $ErrorActionPreference = 'Stop'
            try { Start-ExportRun busy1, busy2, b -ThrottleLimit 2 | ForEach-Object { "$($_.Flow) $($_.Status)" } }
            catch { "stopped: $($_.FullyQualifiedErrorId) $($_.CategoryInfo.Category) $($_.TargetObject)" }
            """, null);

        Assert.Equal(PSInvocationState.Completed, state);
        Assert.Contains((string)result.Output.Single().BaseObject, new[] { "busy1", "busy2" }.Select(flow =>
            $"stopped: FlowInUse,DatasetExport.Commands.StartExportRunCommand ResourceBusy {flow}"));
        // b never starts: only the runs another process holds are there.
        Assert.Equal(["busy1 Running", "busy2 Running"], RunsByFlow(session).Select(r => $"{r.Key} {r.Value}").Order());
    }

    [Fact]
    public void ErrorAction_Stop_at_a_flow_refused_last_writes_the_runs_that_ended_before_it_then_stops()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b", "busy");
        session.HoldDataset("busy");

        // busy's turn comes once a or b ended, and waits for that run to be written: it is written before busy's error stops
        // the command (the other one, still exporting then, may be cancelled).
        var (state, result) = session.RunWithin(Patience, """
            try { Start-ExportRun a, b, busy -ThrottleLimit 2 -ErrorAction Stop | ForEach-Object { "$($_.Flow) $($_.Status)" } }
            catch { "stopped: $($_.FullyQualifiedErrorId)" }
            """, null);

        Assert.Equal(PSInvocationState.Completed, state);
        Assert.Equal("stopped: FlowInUse,DatasetExport.Commands.StartExportRunCommand", result.Output[^1].BaseObject);
        Assert.Contains(result.Output.SkipLast(1).Select(o => (string)o.BaseObject), line => line is "a Succeeded" or "b Succeeded");
        Assert.All(RunsByFlow(session).Where(r => r.Key != "busy"), r => Assert.NotEqual("Running", r.Value));
    }

    [Fact]
    public void Without_ThrottleLimit_a_flow_refused_in_use_with_ErrorAction_Stop_stops_the_command_before_the_next_flow_comes()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "busy", "b");
        session.HoldDataset("busy");

        var (_, result) = session.RunWithin(Patience, """
            try { 'a', 'busy', 'b' | Start-ExportRun -ErrorAction Stop | ForEach-Object { "$($_.Flow) $($_.Status)" } }
            catch { "stopped: $($_.FullyQualifiedErrorId) $($_.CategoryInfo.Category) $($_.TargetObject)" }
            """, null);

        Assert.Equal(["a Succeeded", "stopped: FlowInUse,DatasetExport.Commands.StartExportRunCommand ResourceBusy busy"], result.Output.Select(o => o.BaseObject));
        Assert.DoesNotContain("b", RunsByFlow(session).Keys);
    }

    [Fact]
    public void A_flow_whose_destination_cannot_be_opened_is_an_error_about_it_without_its_secret_and_the_other_runs()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a");
        const string secretKey = "c2VjcmV0LWtleS1uZXZlci10by1iZS1zaG93bg==";
        session.Run($$"""
            $secret = [System.Net.NetworkCredential]::new('', 'DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={{secretKey}};BlobEndpoint=not a url').SecurePassword
            New-ExportDestination -Name blob -Type AzureBlob -Container c -ConnectionString $secret -SkipValidation | Out-Null
            New-ExportFlow -Name remote -Destination blob -Dataset orders | Out-Null
            """).AssertNoErrors();

        var (_, result) = session.RunWithin(Patience, "Start-ExportRun remote, a -ThrottleLimit 2", null);

        Assert.Equal(["a"], result.Output.Select(r => (string)r.Properties["Flow"].Value));
        var error = Assert.Single(result.Errors);
        Assert.Equal("remote", error.TargetObject);
        Assert.DoesNotContain(secretKey, error.ToString());
        Assert.DoesNotContain(secretKey, error.Exception.ToString());
        Assert.Empty(session.Run("Get-ExportRun -Flow remote").AssertNoErrors().Output);
        Assert.Equal(("DestinationInvalidConfiguration,DatasetExport.Commands.StartExportRunCommand", ErrorCategory.InvalidArgument),
            (error.FullyQualifiedErrorId, error.CategoryInfo.Category));
    }

    [Fact]
    public void Forty_flows_at_the_highest_limit_all_export_once_with_no_error()
    {
        using var session = new ModuleSession();
        var names = Enumerable.Range(1, 40).Select(i => $"f{i:00}").ToArray();
        StartExportRunThrottleTests.WithFlows(session, names);

        var (state, result) = session.RunWithin(Patience, "Get-ExportFlow | Start-ExportRun -ThrottleLimit 32", null);

        Assert.Equal(PSInvocationState.Completed, state);
        result.AssertNoErrors();
        Assert.Equal(names, result.Output.Select(r => $"{r.Properties["Flow"].Value}").Order());
        Assert.All(result.Output, r => Assert.Equal("Succeeded", r.Properties["Status"].Value.ToString()));
        Assert.All(result.Progress.GroupBy(p => p.ActivityId), bar => Assert.Equal(ProgressRecordType.Completed, bar.Last().RecordType));
    }

    [Fact]
    public void The_same_flow_given_by_name_and_as_an_object_runs_once()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b");

        var (_, result) = session.RunWithin(Patience, "Start-ExportRun a, (Get-ExportFlow a), b, 'A' -ThrottleLimit 2 -Verbose", null);

        result.AssertNoErrors();
        Assert.Equal(["a", "b"], result.Output.Select(r => (string)r.Properties["Flow"].Value).Order());
        Assert.Equal(2, RunsByFlow(session).Count);
    }

    [Fact]
    public void WhatIf_with_a_ThrottleLimit_starts_nothing_and_draws_no_progress()
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b");

        var (_, result) = session.RunWithin(Patience, "Start-ExportRun a, b -ThrottleLimit 2 -WhatIf", null);

        result.AssertNoErrors();
        Assert.Empty(result.Output);
        Assert.Empty(result.Progress);
        Assert.Empty(RunsByFlow(session));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Two_flows_exporting_the_same_dataset_to_the_same_destination_both_export(int throttleLimit)
    {
        using var session = new ModuleSession();
        StartExportRunThrottleTests.WithFlows(session, "a", "b");

        var (_, result) = session.RunWithin(Patience, "Start-ExportRun a, b -ThrottleLimit $args[0]", null, throttleLimit);

        result.AssertNoErrors();
        Assert.Equal(["a Succeeded", "b Succeeded"], result.Output.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["Status"].Value}").Order());
    }

    [Fact]
    public void Invoke_ExportSchedule_ThrottleLimit_with_ErrorAction_Stop_claims_each_slot_once_and_a_flow_not_started_runs_at_the_next_invocation()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        var occupied = session.FileWhereAFolderShouldBe();
        session.Run("""
            param($Lake, $Out, $Occupied)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportDestination -Name broken -Type Local -Path $Occupied -SkipValidation | Out-Null
            New-ExportFlow -Name a-broken -Destination broken -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b-beside -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name c-waiting -Destination d -Dataset customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """, lake, output, occupied).AssertNoErrors();

        // Two at once: c-waiting's turn comes when a-broken or b-beside ended. After a-broken's failed run, it waits while the
        // command downstream holds that run (until c-waiting has a run, or 2 s went by), and the run's error stops the command
        // before it starts; after b-beside's run (a-broken still failing: its destination's retries), it starts beside.
        var (state, stopped) = session.RunWithin(Patience, """
            try {
                Invoke-ExportSchedule -ThrottleLimit 2 -ErrorAction Stop | ForEach-Object {
                    $wait = 0
                    while ($_.Status -eq 'Failed' -and $wait -lt 40 -and -not (Get-ExportRun | Where-Object Flow -eq c-waiting)) { $wait++; [System.Threading.Thread]::Sleep(50) }
                }
            } catch { $_.FullyQualifiedErrorId }
            """, null);

        Assert.Equal(PSInvocationState.Completed, state);
        Assert.Equal(["ExportRunFailed,DatasetExport.Commands.InvokeExportScheduleCommand"], stopped.Output.Select(o => o.BaseObject));
        var stoppedRuns = RunsByFlow(session);
        Assert.All(stoppedRuns.Values, status => Assert.NotEqual("Running", status));
        // The next invocation claims c-waiting's slot when it did not start; none is due after that. Each slot was claimed once.
        var next = session.RunWithin(Patience, "Invoke-ExportSchedule -ThrottleLimit 2", null).Result.AssertNoErrors();
        Assert.Equal(stoppedRuns.ContainsKey("c-waiting") ? [] : ["c-waiting Succeeded"],
            next.Output.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["Status"].Value}"));
        Assert.Empty(session.RunWithin(Patience, "Invoke-ExportSchedule -ThrottleLimit 2", null).Result.AssertNoErrors().Output);
        Assert.Equal(["a-broken 1", "b-beside 1", "c-waiting 1"], session.Run("Get-ExportRun").AssertNoErrors().Output
            .GroupBy(r => (string)r.Properties["Flow"].Value).Select(g => $"{g.Key} {g.Count()}").Order());
    }

    /// <summary>Each flow's latest run status (the runs held by <see cref="ModuleSession.HoldDataset"/> included).</summary>
    private static Dictionary<string, string> RunsByFlow(ModuleSession session) =>
        session.Run("Get-ExportRun").AssertNoErrors().Output
            .GroupBy(r => (string)r.Properties["Flow"].Value)
            .ToDictionary(g => g.Key, g => g.First().Properties["Status"].Value.ToString()!);
}
