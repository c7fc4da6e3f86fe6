using System.Collections;
using System.Globalization;
using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>Start-ExportRun -ThrottleLimit: several flows exported at once from one command, in the hosted runspace.</summary>
public sealed class StartExportRunThrottleTests(AzuriteServer azurite) : IClassFixture<AzuriteServer>
{
    /// <summary>How long the latch holds a remote export when nothing releases it (never reached when the flows overlap).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public void Flows_export_side_by_side_and_each_run_is_written_as_it_ends()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        var container = azurite.CreateContainer();
        session.Run("""
            param($Lake, $Out, $Connection, $Container)
            Set-DatasetExportOption -LakePath $Lake
            $secret = [System.Net.NetworkCredential]::new('', $Connection).SecurePassword
            New-ExportDestination -Name blob -Type AzureBlob -Container $Container -ConnectionString $secret -SkipValidation | Out-Null
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name remote -Destination blob -Dataset orders | Out-Null
            New-ExportFlow -Name local -Destination d -Dataset customers | Out-Null
            """, lake, output, azurite.ConnectionString(AzuriteServer.AccountKey), container).AssertNoErrors();

        // Azurite frozen: the remote flow, first in line, cannot end before the local flow's run is written, which lets it go
        // on. One after another, the local flow would wait for the remote one, which waits for the latch's patience.
        azurite.Suspend();
        ScriptResult result;
        using (new Timer(_ => azurite.Resume(), null, Patience, Timeout.InfiniteTimeSpan))
        {
            try
            {
                result = session.RunObservingOutput("Start-ExportRun remote, local -ThrottleLimit 2", written =>
                {
                    if ((string)written.Properties["Flow"].Value == "local") azurite.Resume();
                });
            }
            finally
            {
                azurite.Resume();
            }
        }

        result.AssertNoErrors();
        Assert.Equal(["local customers Succeeded", "remote orders Succeeded"],
            result.Output.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["DatasetId"].Value} {r.Properties["Status"].Value}"));
        Assert.Equal(120L, Convert.ToInt64(result.Output[1].Properties["RecordsWritten"].Value, CultureInfo.InvariantCulture));
        // Each flow its own bar, taken down when it is done.
        foreach (var flow in new[] { "remote", "local" })
        {
            var bar = result.Progress.Where(p => p.Activity == $"Exporting flow '{flow}'").ToList();
            Assert.Equal(ProgressRecordType.Completed, bar[^1].RecordType);
            Assert.Single(bar.Select(p => p.ActivityId).Distinct());
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(33)]
    public void A_ThrottleLimit_out_of_range_is_a_parameter_binding_error(int limit)
    {
        using var session = new ModuleSession();
        WithFlows(session, "a");

        var refused = Assert.ThrowsAny<ParameterBindingException>(() => session.Invoke("Start-ExportRun", new Hashtable { ["Flow"] = "a", ["ThrottleLimit"] = limit }));

        Assert.Equal("ParameterArgumentValidationError,DatasetExport.Commands.StartExportRunCommand", refused.ErrorRecord.FullyQualifiedErrorId);
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);
    }

    [Fact]
    public void WhatIf_and_Confirm_are_asked_for_each_flow_and_a_flow_declined_does_not_run()
    {
        using var session = new ModuleSession();
        WithFlows(session, "a", "b");

        session.Run("Get-ExportFlow | Start-ExportRun -ThrottleLimit 2 -WhatIf").AssertNoErrors();
        Assert.Contains("on target \"flow 'a'\"", session.Host.Text);
        Assert.Contains("on target \"flow 'b'\"", session.Host.Text);
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);

        session.Host.ConfirmAnswer = "No";
        Assert.Empty(session.Run("Start-ExportRun a, b -ThrottleLimit 2 -Confirm").AssertNoErrors().Output);
        Assert.Equal(2, session.Host.PromptCount);
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);

        session.Host.ConfirmAnswer = "Yes";
        var runs = session.Run("Start-ExportRun a, b -ThrottleLimit 2 -Confirm").AssertNoErrors().Output;
        Assert.Equal(4, session.Host.PromptCount);
        Assert.Equal(["a", "b"], runs.Select(r => (string)r.Properties["Flow"].Value).Order());
    }

    [Fact]
    public void A_missing_flow_and_a_flow_in_use_are_errors_and_the_others_run_once_each()
    {
        using var session = new ModuleSession();
        WithFlows(session, "a", "busy", "b");
        // With -ErrorAction Stop the missing name stops the command while it gathers its flows: none has started.
        var stopped = session.Run("try { Start-ExportRun a, nope, b -ThrottleLimit 2 -ErrorAction Stop } catch { \"stopped: $($_.FullyQualifiedErrorId)\" }");
        Assert.Equal(["stopped: FlowNotFound,DatasetExport.Commands.StartExportRunCommand"], stopped.Output.Select(o => o.BaseObject));
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);

        // Another process is exporting "orders" for flow busy: its run is Running with a fresh heartbeat.
        session.HoldDataset("busy");

        var result = session.Run("'a', 'nope', 'busy', 'a', 'b' | Start-ExportRun -ThrottleLimit 2");

        Assert.Equal(["a", "b"], result.Output.Select(r => (string)r.Properties["Flow"].Value).Order());
        Assert.All(result.Output, r => Assert.Equal("Succeeded", r.Properties["Status"].Value.ToString()));
        Assert.Equal([("FlowNotFound", ErrorCategory.ObjectNotFound, "nope"), ("FlowInUse", ErrorCategory.ResourceBusy, "busy")],
            result.Errors.Select(e => (e.FullyQualifiedErrorId.Split(',')[0], e.CategoryInfo.Category, e.TargetObject as string)));
        Assert.Contains("already exporting dataset 'orders'", result.Errors[1].Exception.Message);

        // A -Dataset one of the flows does not export: an error about that flow, the other runs.
        session.Run("New-ExportFlow -Name c -Destination d -Dataset customers | Out-Null").AssertNoErrors();
        var some = session.Run("Start-ExportRun c, b -Dataset customers -ThrottleLimit 2");
        Assert.Equal(["c customers"], some.Output.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["DatasetId"].Value}"));
        var wrong = Assert.Single(some.Errors);
        Assert.Equal(("InvalidArgument", ErrorCategory.InvalidArgument, "b"), (wrong.FullyQualifiedErrorId.Split(',')[0], wrong.CategoryInfo.Category, wrong.TargetObject as string));
    }

    [Fact]
    public void ErrorAction_Stop_at_a_failed_run_cancels_the_flows_exporting_and_starts_none_of_those_waiting()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        Directory.CreateDirectory(Path.Combine(lake, "bad"));
        File.WriteAllText(Path.Combine(lake, "bad", "a.jsonl"), "not json\n");
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip | Out-Null
            New-ExportFlow -Name bad -Destination d -Dataset bad | Out-Null
            foreach ($name in 'e1', 'e2') { New-ExportFlow -Name $name -Destination d -Dataset events | Out-Null }
            """, lake, session.Work.Combine("out")).AssertNoErrors();

        // The command downstream holds the failed run until e2 (waiting for bad's turn) has a run, or 2 s went by; the run's
        // error, which stops the command, is written after it.
        var result = session.Run("""
            try {
                Start-ExportRun bad, e1, e2 -ThrottleLimit 2 -ErrorAction Stop | ForEach-Object {
                    $wait = 0
                    while ($_.Status -eq 'Failed' -and $wait -lt 40 -and -not (Get-ExportRun | Where-Object Flow -eq e2)) { $wait++; [System.Threading.Thread]::Sleep(50) }
                    "$($_.Flow) $($_.Status)"
                }
            } catch { "stopped: $($_.FullyQualifiedErrorId)" }
            'after'
            """);

        Assert.Equal(["bad Failed", "stopped: ExportRunFailed,DatasetExport.Commands.StartExportRunCommand", "after"], result.Output.Select(o => o.BaseObject));
        // e2, waiting its turn, never started. e1, exporting beside bad, was cancelled at the stop, its run recorded (or it
        // ended while the failed run was held downstream: it exports on meanwhile).
        var runs = session.Run("Get-ExportRun").AssertNoErrors().Output.ToDictionary(r => (string)r.Properties["Flow"].Value);
        Assert.Equal(["bad", "e1"], runs.Keys.Order());
        Assert.Contains($"{runs["e1"].Properties["Status"].Value} {runs["e1"].Properties["Error"].Value}", new[] { "Failed The export was cancelled.", "Succeeded " });
        Assert.All(result.Progress.GroupBy(p => p.ActivityId), bar => Assert.Equal(ProgressRecordType.Completed, bar.Last().RecordType));
    }

    [Fact]
    public void Stopped_while_flows_export_leaves_none_Running_and_the_flow_waiting_its_turn_not_started()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip | Out-Null
            foreach ($name in 'a', 'b', 'c') { New-ExportFlow -Name $name -Destination d -Dataset events | Out-Null }
            """, session.Work.Combine("out")).AssertNoErrors();

        // Stopped (Ctrl+C) at the first progress record: a and b exporting, c waiting its turn.
        Assert.Equal(PSInvocationState.Stopped, session.RunAndStopOnFirstProgress("Get-ExportFlow | Start-ExportRun -ThrottleLimit 2 -LakePath $args[0]", lake));

        var stopped = session.Run("Get-ExportRun").AssertNoErrors().Output;
        Assert.Equal(["a", "b"], stopped.Select(r => (string)r.Properties["Flow"].Value).Order());
        Assert.All(stopped, r => Assert.Equal(("Failed", "The export was cancelled."), (r.Properties["Status"].Value.ToString(), (string)r.Properties["Error"].Value)));
        // Nothing is left in use: all three run again at once.
        var again = session.Run("Start-ExportRun c, b, a -ThrottleLimit 3 -LakePath $args[0]", lake).AssertNoErrors().Output;
        Assert.Equal(["a", "b", "c"], again.Select(r => (string)r.Properties["Flow"].Value).Order());
        Assert.All(again, r => Assert.Equal(100_000L, Convert.ToInt64(r.Properties["RecordsWritten"].Value, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Without_ThrottleLimit_each_piped_flow_still_runs_as_it_comes_in()
    {
        using var session = new ModuleSession();
        WithFlows(session, "a", "b");

        // One after another, as before: a ran when the missing name stopped the command; b never came.
        var stopped = session.Run("try { 'a', 'nope', 'b' | Start-ExportRun -ErrorAction Stop } catch { 'stopped' }");

        Assert.Equal(["a Succeeded", "stopped"],
            stopped.Output.Select(o => o.BaseObject is string text ? text : $"{o.Properties["Flow"].Value} {o.Properties["Status"].Value}"));
        Assert.Equal(["a"], session.Run("Get-ExportRun").AssertNoErrors().Output.Select(r => (string)r.Properties["Flow"].Value));
    }

    /// <summary>The lake of <see cref="ExportPipelineTests.MakeLake"/> as the configured lake, a Local destination d, and a flow of orders per name.</summary>
    internal static void WithFlows(ModuleSession session, params string[] names)
    {
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out, $Names)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            foreach ($name in $Names) { New-ExportFlow -Name $name -Destination d -Dataset orders | Out-Null }
            """, lake, output, names).AssertNoErrors();
    }
}
