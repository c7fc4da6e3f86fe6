using System.Collections;
using System.Globalization;
using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>Flows with schedules (New/Set/Get-ExportFlow), Enable/Disable-ExportFlow and Invoke-ExportSchedule, against a Local destination.</summary>
public sealed class ScheduleTests
{
    [Fact]
    public void Each_schedule_kind_is_stored_and_read_back_with_its_next_run()
    {
        using var session = new ModuleSession();
        // A slot in the minute the flows are made is still their next run (due now): next runs are checked from that minute.
        var created = DateTimeOffset.UtcNow;
        var now = new DateTimeOffset(created.Ticks - created.Ticks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        var flows = session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name manual -Destination d -Dataset orders
            New-ExportFlow -Name once -Destination d -Dataset orders -Once -StartTime '2040-01-02T03:04:59Z'
            New-ExportFlow -Name hourly -Destination d -Dataset orders -Hourly -Every 6 -StartTime '2040-01-01T01:00Z' -EndTime '2040-06-01T00:00Z' -Incremental
            New-ExportFlow -Name daily -Destination d -Dataset orders -Daily -At 04:30 -TimeZone Europe/Paris
            New-ExportFlow -Name cron -Destination d -Dataset orders -Cron '15 */4 * * 1-5' -TimeZone America/New_York
            New-ExportFlow -Name windows -Destination d -Dataset orders -Daily -At 23:45 -TimeZone 'Romance Standard Time'
            """, session.Work.Combine("out")).AssertNoErrors().Output.ToDictionary(f => (string)f.Properties["Name"].Value);

        var manual = flows["manual"];
        Assert.Equal("Manual", manual.Properties["Schedule"].Value);
        Assert.Equal("Manual", manual.Properties["ScheduleKind"].Value.ToString());
        Assert.Null(manual.Properties["NextRunTime"].Value);
        Assert.True((bool)manual.Properties["Enabled"].Value);
        Assert.False((bool)manual.Properties["Completed"].Value);
        Assert.Null(manual.Properties["LastStatus"].Value);

        var once = flows["once"];
        Assert.Equal("Once at 2040-01-02 03:04 UTC", once.Properties["Schedule"].Value);
        Assert.Equal(Utc("2040-01-02T03:04"), once.Properties["NextRunTime"].Value); // start times are kept to the minute

        var hourly = flows["hourly"];
        Assert.Equal("Every 6 hours, from 2040-01-01 01:00 UTC, until 2040-06-01 00:00 UTC", hourly.Properties["Schedule"].Value);
        Assert.Equal(6, hourly.Properties["Every"].Value);
        Assert.Equal("Incremental", hourly.Properties["Mode"].Value.ToString());
        Assert.Equal(Utc("2040-01-01T01:00"), hourly.Properties["NextRunTime"].Value);
        Assert.Equal(Utc("2040-06-01T00:00"), hourly.Properties["EndTime"].Value);

        var daily = flows["daily"];
        Assert.Equal("Daily at 04:30 (Europe/Paris)", daily.Properties["Schedule"].Value);
        Assert.Equal("04:30", daily.Properties["At"].Value);
        Assert.Equal("Europe/Paris", daily.Properties["TimeZone"].Value);
        var dailyNext = (DateTimeOffset)daily.Properties["NextRunTime"].Value;
        Assert.InRange(dailyNext, now, now.AddHours(25));
        Assert.Equal(new TimeSpan(4, 30, 0), TimeZoneInfo.ConvertTime(dailyNext, TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris")).TimeOfDay);

        var cron = flows["cron"];
        Assert.Equal("Cron '15 */4 * * 1-5' (America/New_York)", cron.Properties["Schedule"].Value);
        var cronNext = TimeZoneInfo.ConvertTime((DateTimeOffset)cron.Properties["NextRunTime"].Value, TimeZoneInfo.FindSystemTimeZoneById("America/New_York"));
        Assert.True(cronNext >= now, $"next run {cronNext:O} is before the minute the flow was made ({now:O})");
        Assert.Equal(15, cronNext.Minute);
        Assert.Equal(0, cronNext.Hour % 4);
        Assert.InRange((int)cronNext.DayOfWeek, (int)DayOfWeek.Monday, (int)DayOfWeek.Friday);

        var windows = flows["windows"];
        Assert.Equal("Daily at 23:45 (Romance Standard Time)", windows.Properties["Schedule"].Value);
        var windowsNext = TimeZoneInfo.ConvertTime((DateTimeOffset)windows.Properties["NextRunTime"].Value, TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris"));
        Assert.Equal(new TimeSpan(23, 45, 0), windowsNext.TimeOfDay);

        // Get-ExportFlow reads the same back from the state store.
        var stored = session.Run("Get-ExportFlow").AssertNoErrors().Output.ToDictionary(f => (string)f.Properties["Name"].Value);
        Assert.Equal(["cron", "daily", "hourly", "manual", "once", "windows"], stored.Keys);
        foreach (var (name, flow) in flows)
        {
            Assert.Equal(flow.Properties["Schedule"].Value, stored[name].Properties["Schedule"].Value);
            Assert.Equal(flow.Properties["NextRunTime"].Value, stored[name].Properties["NextRunTime"].Value);
        }
    }

    [Fact]
    public void Set_ExportFlow_switches_schedule_and_mode_and_keeps_what_is_not_given()
    {
        using var session = new ModuleSession();
        session.Run("""
            New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders -Daily -At 02:00 -TimeZone Europe/Paris -StartTime '2040-01-01T00:00Z' | Out-Null
            """, session.Work.Combine("out")).AssertNoErrors();

        var flow = session.Run("Set-ExportFlow f -Hourly -Every 3 -Mode Incremental -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal("Every 3 hours, from 2040-01-01 00:00 UTC", flow.Properties["Schedule"].Value);
        Assert.Null(flow.Properties["At"].Value); // the daily time of day does not linger
        Assert.Equal("Incremental", flow.Properties["Mode"].Value.ToString());
        Assert.Equal(Utc("2040-01-01T00:00"), flow.Properties["NextRunTime"].Value);

        var bounded = session.Run("Get-ExportFlow f | Set-ExportFlow -EndTime '2040-02-01T00:00Z' -Mode Full -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal("Every 3 hours, from 2040-01-01 00:00 UTC, until 2040-02-01 00:00 UTC", bounded.Properties["Schedule"].Value);
        Assert.Equal("Full", bounded.Properties["Mode"].Value.ToString());

        var cron = session.Run("Set-ExportFlow f -Cron '0 6 * * *' -TimeZone Asia/Tokyo -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal("Cron '0 6 * * *' (Asia/Tokyo), from 2040-01-01 00:00 UTC, until 2040-02-01 00:00 UTC", cron.Properties["Schedule"].Value);

        // -EndTime $null removes the end and leaves the rest of the schedule as it was.
        var endless = session.Run("Set-ExportFlow f -EndTime $null -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal("Cron '0 6 * * *' (Asia/Tokyo), from 2040-01-01 00:00 UTC", endless.Properties["Schedule"].Value);
        Assert.Null(endless.Properties["EndTime"].Value);
        Assert.Null(session.Run("(Get-ExportFlow f).EndTime").AssertNoErrors().Output.Single());

        var manual = session.Run("Set-ExportFlow f -Manual -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal("Manual", manual.Properties["Schedule"].Value);
        Assert.Null(manual.Properties["StartTime"].Value);
        Assert.Null(manual.Properties["NextRunTime"].Value);

        session.Host.ClearText();
        session.Run("Set-ExportFlow f -Daily -At 07:00 -WhatIf").AssertNoErrors();
        Assert.Contains("Set export flow schedule Daily", session.Host.Text);
        Assert.Equal("Manual", session.Run("(Get-ExportFlow f).Schedule").AssertNoErrors().Output.Single().BaseObject);
    }

    [Theory]
    [InlineData("-Hourly -Every 24", "ParameterArgumentValidationError", "Every")]
    [InlineData("-Hourly -Every 0", "ParameterArgumentValidationError", "Every")]
    [InlineData("-Once -Cron '* * * * *'", "AmbiguousParameterSet", null)]
    [InlineData("-Hourly -Every 2 -At 02:00", "AmbiguousParameterSet", null)]
    public void Mixed_or_out_of_range_schedule_parameters_fail_binding(string schedule, string errorId, string? parameter)
    {
        using var session = new ModuleSession();

        var caught = session.Run($"try {{ New-ExportFlow -Name f -Destination d -Dataset orders {schedule} }} catch {{ $_ }}").AssertNoErrors();

        var record = Assert.IsType<ErrorRecord>(Assert.Single(caught.Output).BaseObject);
        var error = Assert.IsAssignableFrom<ParameterBindingException>(record.Exception);
        Assert.Equal(errorId + ",DatasetExport.Commands.NewExportFlowCommand", record.FullyQualifiedErrorId);
        if (parameter is not null) Assert.Equal(parameter, error.ParameterName);
    }

    [Theory]
    [InlineData("-Daily -At 25:00", "At", "25:00")]
    [InlineData("-Daily -At 7pm", "At", "7pm")]
    [InlineData("-Cron 'every day'", "Cron", "every day")]
    [InlineData("-Cron '61 * * * *'", "Cron", "61 * * * *")]
    [InlineData("-Daily -At 02:00 -TimeZone Mars/Olympus_Mons", "TimeZone", "Mars/Olympus_Mons")]
    [InlineData("-Hourly -Every 2 -StartTime '2040-01-02T00:00Z' -EndTime '2040-01-01T00:00Z'", "EndTime", "2040-01-01")]
    public void Invalid_schedule_values_are_InvalidArgument_errors_naming_the_parameter(string schedule, string parameter, string quoted)
    {
        using var session = new ModuleSession();
        session.Run("New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null", session.Work.Combine("out")).AssertNoErrors();

        var result = session.Run($"New-ExportFlow -Name f -Destination d -Dataset orders {schedule}");

        ExportPipelineTests.AssertError(result, "InvalidArgument", "NewExportFlowCommand", ErrorCategory.InvalidArgument, "f");
        var exception = Assert.IsAssignableFrom<ArgumentException>(result.Errors[0].Exception);
        Assert.Equal(parameter, exception.ParamName);
        Assert.Contains(quoted, exception.Message);
        Assert.Empty(result.Output);
        Assert.Empty(session.Run("Get-ExportFlow").AssertNoErrors().Output);

        // Set-ExportFlow validates the same way and leaves the stored flow as it was.
        session.Run("New-ExportFlow -Name g -Destination d -Dataset orders -Daily -At 01:00 | Out-Null").AssertNoErrors();
        var set = session.Run($"Set-ExportFlow g {schedule}");
        ExportPipelineTests.AssertError(set, "InvalidArgument", "SetExportFlowCommand", ErrorCategory.InvalidArgument, "g");
        Assert.Equal("Daily at 01:00 (UTC)", session.Run("(Get-ExportFlow g).Schedule").AssertNoErrors().Output.Single().BaseObject);
    }

    [Theory]
    [InlineData("-StartTime '2040-01-01T00:00Z'", "StartTime")]
    [InlineData("-EndTime '2040-01-01T00:00Z'", "EndTime")]
    [InlineData("-TimeZone Europe/Paris", "TimeZone")]
    [InlineData("-Hourly -Every 2 -TimeZone Europe/Paris", "TimeZone")]
    [InlineData("-Once -TimeZone Europe/Paris", "TimeZone")]
    public void Schedule_bounds_need_a_schedule_that_reads_them(string parameters, string parameter)
    {
        using var session = new ModuleSession();
        session.Run("New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null", session.Work.Combine("out")).AssertNoErrors();

        var result = session.Run($"New-ExportFlow -Name f -Destination d -Dataset orders {parameters}");

        ExportPipelineTests.AssertError(result, "InvalidScheduleParameter", "NewExportFlowCommand", ErrorCategory.InvalidArgument, "f");
        Assert.Equal(parameter, ((ArgumentException)result.Errors[0].Exception).ParamName);
        Assert.Empty(session.Run("Get-ExportFlow").AssertNoErrors().Output);
    }

    [Fact]
    public void Set_ExportFlow_Once_without_a_start_time_runs_a_flow_that_already_ran_once_more()
    {
        using var session = new ModuleSession();
        WithDefaultLakeAndDestination(session, "New-ExportFlow -Name a -Destination d -Dataset orders -Once -StartTime '2020-01-01T00:00Z' | Out-Null");
        Assert.Single(session.Run("Invoke-ExportSchedule").AssertNoErrors().Output);
        Assert.True((bool)session.Run("Get-ExportFlow a").AssertNoErrors().Output.Single().Properties["Completed"].Value);

        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        var again = session.Run("Set-ExportFlow a -Once -PassThru").AssertNoErrors().Output.Single();

        // The stored start (2020) lies before the slot it ran: the one slot is now, not one that could never run.
        Assert.False((bool)again.Properties["Completed"].Value);
        var next = Assert.IsType<DateTimeOffset>(again.Properties["NextRunTime"].Value);
        Assert.InRange(next, before, DateTimeOffset.UtcNow);
        var runs = session.Run("Invoke-ExportSchedule").AssertNoErrors().Output;
        Assert.Equal(["a"], runs.Select(r => (string)r.Properties["Flow"].Value));
        Assert.True((bool)session.Run("Get-ExportFlow a").AssertNoErrors().Output.Single().Properties["Completed"].Value);
    }

    [Fact]
    public void Enable_and_Disable_take_names_and_flow_objects_and_decide_what_is_due()
    {
        using var session = new ModuleSession();
        WithDefaultLakeAndDestination(session, """
            New-ExportFlow -Name a -Destination d -Dataset orders -Once -StartTime '2020-01-01T00:00Z' | Out-Null
            New-ExportFlow -Name b -Destination d -Dataset customers -Once -StartTime '2020-01-01T00:00Z' | Out-Null
            """);

        var disabled = session.Run("Get-ExportFlow | Disable-ExportFlow -PassThru").AssertNoErrors().Output;
        Assert.Equal(["a", "b"], disabled.Select(f => (string)f.Properties["Name"].Value));
        Assert.All(disabled, f =>
        {
            Assert.False((bool)f.Properties["Enabled"].Value);
            Assert.Null(f.Properties["NextRunTime"].Value);
        });
        Assert.Empty(session.Run("Invoke-ExportSchedule").AssertNoErrors().Output);

        // By property name, as from any object with a Name; without -PassThru nothing is returned.
        Assert.Empty(session.Run("[pscustomobject]@{ Name = 'b' } | Enable-ExportFlow").AssertNoErrors().Output);
        var b = session.Run("Get-ExportFlow b").AssertNoErrors().Output.Single();
        Assert.True((bool)b.Properties["Enabled"].Value);
        Assert.Equal(Utc("2020-01-01T00:00"), b.Properties["NextRunTime"].Value);

        session.Host.ClearText();
        session.Run("Enable-ExportFlow a -WhatIf").AssertNoErrors();
        Assert.Contains("What if: Performing the operation \"Enable export flow\" on target \"a\".", session.Host.Text);

        var runs = session.Run("Invoke-ExportSchedule").AssertNoErrors().Output;
        Assert.Equal(["b"], runs.Select(r => (string)r.Properties["Flow"].Value));
        ExportPipelineTests.AssertError(session.Run("Enable-ExportFlow nope"), "FlowNotFound", "EnableExportFlowCommand", ErrorCategory.ObjectNotFound, "nope");
    }

    [Fact]
    public void Invoke_ExportSchedule_WhatIf_says_what_is_due_and_runs_nothing()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name due -Destination d -Dataset orders, customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name later -Destination d -Dataset orders -Once -StartTime '2040-01-01T00:00Z' | Out-Null
            New-ExportFlow -Name manual -Destination d -Dataset orders | Out-Null
            """, lake, output).AssertNoErrors();
        session.Host.ClearText();

        var result = session.Run("Invoke-ExportSchedule -LakePath $args[0] -WhatIf", lake).AssertNoErrors();

        Assert.Empty(result.Output);
        Assert.Contains($"What if: Performing the operation \"Export the 2026-01-05 09:30 UTC slot of 2 dataset(s) from lake '{lake}' to destination 'd'\" on target \"flow 'due'\".", session.Host.Text);
        Assert.DoesNotContain("'later'", session.Host.Text);
        Assert.DoesNotContain("'manual'", session.Host.Text);
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFiles(output, "part-*", SearchOption.AllDirectories).Any());
        Assert.Equal(Utc("2026-01-05T09:30"), session.Run("(Get-ExportFlow due).NextRunTime").AssertNoErrors().Output.Single().BaseObject);

        session.Host.ClearText();
        session.Run("Invoke-ExportSchedule -Flow later, manual -LakePath $args[0] -WhatIf", lake).AssertNoErrors();
        Assert.Contains("No flow is due", session.Host.Text);
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);
    }

    [Fact]
    public void Invoke_ExportSchedule_runs_due_flows_once_into_their_slot_folders()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        var hourlyStart = Minute(DateTimeOffset.UtcNow.AddHours(-3).AddMinutes(-7));
        session.Run("""
            param($Lake, $Out, $HourlyStart)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -IncludeManifest | Out-Null
            New-ExportFlow -Name once -Destination d -Dataset orders, customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name hourly -Destination d -Dataset customers -Hourly -Every 1 -StartTime $HourlyStart -Incremental | Out-Null
            New-ExportFlow -Name manual -Destination d -Dataset orders | Out-Null
            New-ExportFlow -Name future -Destination d -Dataset orders -Daily -At 00:00 -StartTime '2040-01-01T00:00Z' | Out-Null
            """, lake, output, hourlyStart).AssertNoErrors();

        var result = session.Run("Invoke-ExportSchedule").AssertNoErrors();
        var now = DateTimeOffset.UtcNow;

        var runs = result.Output.ToList();
        Assert.Equal(["hourly customers", "once customers", "once orders"],
            runs.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["DatasetId"].Value}").Order());
        Assert.All(runs, r => Assert.Equal("Succeeded", r.Properties["Status"].Value.ToString()));

        var onceOrders = runs.Single(r => (string)r.Properties["Flow"].Value == "once" && (string)r.Properties["DatasetId"].Value == "orders");
        Assert.Equal(Utc("2026-01-05T09:30"), onceOrders.Properties["ScheduledTime"].Value);
        Assert.Equal("orders/exportTime=202601050930", onceOrders.Properties["ExportPath"].Value);
        Assert.Equal(120L, onceOrders.Properties["RecordsWritten"].Value);
        var slotFolder = Path.Combine(output, "orders", "exportTime=202601050930");
        Assert.NotEmpty(Directory.EnumerateFiles(slotFolder, "part-*"));
        Assert.True(File.Exists(Path.Combine(output, ((string)onceOrders.Properties["ManifestPath"].Value).Replace('/', Path.DirectorySeparatorChar))));

        // Hourly slots count from the start time: the latest one that has passed runs, missed ones are not replayed.
        var hourly = runs.Single(r => (string)r.Properties["Flow"].Value == "hourly");
        var hourlySlot = (DateTimeOffset)hourly.Properties["ScheduledTime"].Value;
        Assert.Equal(hourlyStart.Minute, hourlySlot.Minute);
        Assert.InRange(hourlySlot, now.AddHours(-1), now);
        Assert.Equal($"customers/exportTime={hourlySlot.UtcDateTime:yyyyMMddHHmm}", hourly.Properties["ExportPath"].Value);
        Assert.True(Directory.Exists(Path.Combine(output, "customers", $"exportTime={hourlySlot.UtcDateTime:yyyyMMddHHmm}")));

        Assert.Contains(result.Progress, p => p.Activity == "Exporting flow 'once'" && p.StatusDescription.StartsWith("Dataset orders"));
        Assert.Contains(result.Progress, p => p.Activity == "Exporting flow 'hourly'");
        Assert.Equal(ProgressRecordType.Completed, result.Progress[^1].RecordType);

        // The slots are claimed: a second invocation runs nothing.
        Assert.Empty(session.Run("Invoke-ExportSchedule").AssertNoErrors().Output);
        Assert.Equal(3, session.Run("Get-ExportRun").AssertNoErrors().Output.Count);

        var flows = session.Run("Get-ExportFlow").AssertNoErrors().Output.ToDictionary(f => (string)f.Properties["Name"].Value);
        Assert.True((bool)flows["once"].Properties["Completed"].Value);
        Assert.Null(flows["once"].Properties["NextRunTime"].Value);
        Assert.Equal("Succeeded", flows["once"].Properties["LastStatus"].Value.ToString());
        Assert.NotNull(flows["once"].Properties["LastRunTime"].Value);
        Assert.Equal(hourlySlot.AddHours(1), flows["hourly"].Properties["NextRunTime"].Value);
        Assert.False((bool)flows["hourly"].Properties["Completed"].Value);
        Assert.Null(flows["manual"].Properties["LastStatus"].Value);
    }

    [Fact]
    public void Invoke_ExportSchedule_ThrottleLimit_exports_due_flows_at_once_each_with_a_progress_bar_taken_down_when_it_is_done()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name a -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b -Destination d -Dataset customers, orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """, lake, output).AssertNoErrors();
        var refused = Assert.ThrowsAny<ParameterBindingException>(() => session.Invoke("Invoke-ExportSchedule", new Hashtable { ["ThrottleLimit"] = 0 }));
        Assert.Equal("ParameterArgumentValidationError,DatasetExport.Commands.InvokeExportScheduleCommand", refused.ErrorRecord.FullyQualifiedErrorId);

        var result = session.Run("Invoke-ExportSchedule -ThrottleLimit 2").AssertNoErrors();

        // Each run is written as it ends: flows side by side end in any order.
        Assert.Equal(["a orders", "b customers", "b orders"], result.Output.Select(r => $"{r.Properties["Flow"].Value} {r.Properties["DatasetId"].Value}").Order());
        Assert.All(result.Output, r => Assert.Equal("Succeeded", r.Properties["Status"].Value.ToString()));
        // Each flow's bar: drawn under one activity id, then completed under it; none is left up.
        foreach (var flow in new[] { "a", "b" })
        {
            var bar = result.Progress.Where(p => p.Activity == $"Exporting flow '{flow}'").ToList();
            Assert.Equal(ProgressRecordType.Completed, bar[^1].RecordType);
            Assert.Single(bar.Select(p => p.ActivityId).Distinct());
            Assert.All(bar.SkipLast(1), p => Assert.Equal(ProgressRecordType.Processing, p.RecordType));
        }
    }

    [Fact]
    public void Invoke_ExportSchedule_ThrottleLimit_stopped_while_flows_export_leaves_none_Running_and_the_waiting_flow_to_the_next_invocation()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip | Out-Null
            foreach ($name in 'a', 'b', 'c') { New-ExportFlow -Name $name -Destination d -Dataset events -Once -StartTime '2026-01-05T09:30Z' | Out-Null }
            """, session.Work.Combine("out")).AssertNoErrors();

        // Stopped (Ctrl+C) at the first progress record: a and b exporting, c waiting its turn.
        Assert.Equal(PSInvocationState.Stopped, session.RunAndStopOnFirstProgress("Invoke-ExportSchedule -ThrottleLimit 2 -LakePath $args[0]", lake));

        var stopped = session.Run("Get-ExportRun").AssertNoErrors().Output;
        Assert.Equal(["a", "b"], stopped.Select(r => (string)r.Properties["Flow"].Value).Order());
        Assert.All(stopped, r => Assert.Equal(("Failed", "The export was cancelled."), (r.Properties["Status"].Value.ToString(), (string)r.Properties["Error"].Value)));
        var next = session.Run("Invoke-ExportSchedule -ThrottleLimit 2 -LakePath $args[0]", lake).AssertNoErrors();
        var run = Assert.Single(next.Output);
        Assert.Equal(("c", "Succeeded", 100_000L), ((string)run.Properties["Flow"].Value, run.Properties["Status"].Value.ToString(), Convert.ToInt64(run.Properties["RecordsWritten"].Value)));
    }

    [Fact]
    public void Invoke_ExportSchedule_warns_when_a_due_flow_waits_for_a_run_still_exporting_and_runs_it_later()
    {
        using var session = new ModuleSession();
        WithDefaultLakeAndDestination(session, """
            New-ExportFlow -Name busy -Destination d -Dataset orders, customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """);
        // Another process is exporting "orders" for this flow: its run is Running with a fresh heartbeat.
        var holder = session.HoldDataset("busy");

        var waiting = session.Run("Invoke-ExportSchedule").AssertNoErrors();

        Assert.Empty(waiting.Output);
        var warning = Assert.Single(waiting.OtherStreams);
        Assert.StartsWith("Flow 'busy': the 2026-01-05 09:30 UTC slot was not started. Flow 'busy' is already exporting dataset 'orders': run " + holder, warning);
        Assert.EndsWith("A later invocation runs it once that run ends.", warning);

        Assert.Equal(1, session.ExecuteOnState("UPDATE runs SET status = 'Failed', completed_at = heartbeat_at WHERE id = $id", ("$id", holder.ToString("D"))));

        var later = session.Run("Invoke-ExportSchedule").AssertNoErrors();
        Assert.Empty(later.OtherStreams);
        Assert.Equal(["customers", "orders"], later.Output.Select(r => (string)r.Properties["DatasetId"].Value).Order());
    }

    [Fact]
    public void Invoke_ExportSchedule_ErrorAction_Stop_still_warns_of_the_slot_it_left_before_the_failed_run()
    {
        using var session = new ModuleSession();
        var occupied = session.FileWhereAFolderShouldBe();
        WithDefaultLakeAndDestination(session, $"""
            New-ExportDestination -Name broken -Type Local -Path '{occupied}' -SkipValidation | Out-Null
            New-ExportFlow -Name a-busy -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b-broken -Destination broken -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """);
        // Another process is exporting a-busy's dataset: its slot is left for later, then b-broken's run fails.
        var holder = session.HoldDataset("a-busy");

        var result = session.Run("try { Invoke-ExportSchedule -ErrorAction Stop } catch { $_.FullyQualifiedErrorId }");

        Assert.Equal("ExportRunFailed,DatasetExport.Commands.InvokeExportScheduleCommand", result.Output[^1].BaseObject);
        // The failed run's error stopped the command; the slot it had left for later was said before (it was lost with it).
        var warning = Assert.Single(result.OtherStreams);
        Assert.StartsWith("Flow 'a-busy': the 2026-01-05 09:30 UTC slot was not started. Flow 'a-busy' is already exporting dataset 'orders': run " + holder, warning);
    }

    [Fact]
    public void Invoke_ExportSchedule_ErrorAction_Stop_does_not_start_the_next_flow_while_a_command_downstream_takes_the_failed_run()
    {
        using var session = new ModuleSession();
        var occupied = session.FileWhereAFolderShouldBe();
        WithDefaultLakeAndDestination(session, $"""
            New-ExportDestination -Name broken -Type Local -Path '{occupied}' -SkipValidation | Out-Null
            New-ExportFlow -Name a-broken -Destination broken -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b-next -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """);

        // The command downstream holds the failed run until b-next has a run (or 2 s went by); the run's error, which stops
        // the command, is written after it.
        var result = session.Run("""
            try {
                Invoke-ExportSchedule -ErrorAction Stop | ForEach-Object {
                    $wait = 0
                    while ($_.Status -eq 'Failed' -and $wait -lt 40 -and -not (Get-ExportRun | Where-Object Flow -eq b-next)) { $wait++; [System.Threading.Thread]::Sleep(50) }
                }
            } catch { $_.FullyQualifiedErrorId }
            """);

        Assert.Equal(["ExportRunFailed,DatasetExport.Commands.InvokeExportScheduleCommand"], result.Output.Select(o => o.BaseObject));
        // b-next was not started, its slot not claimed: the next invocation runs it. Before, it started while the failed run
        // was being written, and was cancelled with its slot claimed: a failed run is not redone, so a -Once flow never ran.
        Assert.Equal(["a-broken"], session.Run("Get-ExportRun").AssertNoErrors().Output.Select(r => (string)r.Properties["Flow"].Value));
        var next = Assert.Single(session.Run("Invoke-ExportSchedule").AssertNoErrors().Output);
        Assert.Equal(("b-next", "Succeeded"), ((string)next.Properties["Flow"].Value, next.Properties["Status"].Value.ToString()));
    }

    [Fact]
    public void Invoke_ExportSchedule_runs_only_the_named_flows_and_reports_unknown_ones()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name a -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b -Destination d -Dataset customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """, lake, output).AssertNoErrors();

        var result = session.Run("Invoke-ExportSchedule -Flow a, nope -LakePath $args[0]", lake);

        Assert.Equal(["a"], result.Output.Select(r => (string)r.Properties["Flow"].Value));
        ExportPipelineTests.AssertError(result, "FlowNotFound", "InvokeExportScheduleCommand", ErrorCategory.ObjectNotFound, "nope");
        Assert.Equal(["b"], session.Run("Get-ExportFlow b | Invoke-ExportSchedule -LakePath $args[0]", lake).AssertNoErrors().Output.Select(r => (string)r.Properties["Flow"].Value));
    }

    [Fact]
    public void FailOnError_throws_after_every_due_flow_ran()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        var occupied = session.FileWhereAFolderShouldBe();
        const string setup = """
            param($Lake, $Out, $Occupied)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name good -Type Local -Path $Out | Out-Null
            New-ExportDestination -Name broken -Type Local -Path $Occupied -SkipValidation | Out-Null
            New-ExportFlow -Name a-broken -Destination broken -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b-good -Destination good -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """;
        session.Run(setup, lake, output, occupied).AssertNoErrors();

        // As a script statement (pwsh -Command): the runs come out, the failed one is an error, then the terminating error.
        var result = session.Run("Invoke-ExportSchedule -FailOnError; 'after'");

        var runs = result.Output.Where(o => o.BaseObject is not string).ToDictionary(r => (string)r.Properties["Flow"].Value);
        Assert.Equal("Failed", runs["a-broken"].Properties["Status"].Value.ToString());
        Assert.Equal("Succeeded", runs["b-good"].Properties["Status"].Value.ToString());
        Assert.Equal(2, result.Errors.Count);
        Assert.Equal("ExportRunFailed,DatasetExport.Commands.InvokeExportScheduleCommand", result.Errors[0].FullyQualifiedErrorId);
        Assert.Same(runs["a-broken"].BaseObject, result.Errors[0].TargetObject);
        Assert.Equal("ScheduledRunsFailed,DatasetExport.Commands.InvokeExportScheduleCommand", result.Errors[1].FullyQualifiedErrorId);
        Assert.Contains("1 of 2", result.Errors[1].Exception.Message);
        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(output, "orders", "exportTime=202601050930"), "part-*"));

        // As a command: the terminating error throws (what makes pwsh exit 1); without -FailOnError only the run's error is written.
        using var again = new ModuleSession();
        again.Run(setup, lake, again.Work.Combine("out"), occupied).AssertNoErrors();
        var thrown = Assert.ThrowsAny<RuntimeException>(() => again.Invoke("Invoke-ExportSchedule", new Hashtable { ["FailOnError"] = true }));
        Assert.Equal("ScheduledRunsFailed,DatasetExport.Commands.InvokeExportScheduleCommand", thrown.ErrorRecord.FullyQualifiedErrorId);
        Assert.Equal(2, again.Run("Get-ExportRun").AssertNoErrors().Output.Count);

        using var lenient = new ModuleSession();
        lenient.Run(setup, lake, lenient.Work.Combine("out"), occupied).AssertNoErrors();
        var written = lenient.Run("Invoke-ExportSchedule; 'after'");
        Assert.Equal("ExportRunFailed,DatasetExport.Commands.InvokeExportScheduleCommand", Assert.Single(written.Errors).FullyQualifiedErrorId);
        Assert.Equal("after", written.Output[^1].BaseObject);
    }

    [Fact]
    public void Runs_are_written_as_they_end_so_a_flow_failing_the_command_loses_none_of_the_flows_before_it()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name good -Type Local -Path $Out | Out-Null
            New-ExportDestination -Name damaged -Type Local -Path $Out | Out-Null
            New-ExportFlow -Name a-good -Destination good -Dataset orders, customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b-damaged -Destination damaged -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """, lake, output).AssertNoErrors();
        // A state store whose record of b-damaged's destination cannot be read (damaged, edited by hand): found only when b's turn comes.
        Assert.Equal(1, session.ExecuteOnState("UPDATE destinations SET properties = 'not json' WHERE name = 'damaged'"));

        var result = session.Run("Invoke-ExportSchedule; 'after'");

        // Was: only the error; a-good's runs, exported and recorded, were never written.
        Assert.Equal(["a-good customers Succeeded", "a-good orders Succeeded"], result.Output.Where(o => o.BaseObject is not string)
            .Select(r => $"{r.Properties["Flow"].Value} {r.Properties["DatasetId"].Value} {r.Properties["Status"].Value}").Order());
        var error = Assert.Single(result.Errors);
        Assert.Contains("cannot read", error.Exception.Message);
        Assert.Equal(2, session.Run("Get-ExportRun").AssertNoErrors().Output.Count);
    }

    [Fact]
    public void Invoke_ExportSchedule_asks_per_due_flow_with_Confirm_and_runs_only_what_was_confirmed()
    {
        using var session = new ModuleSession();
        WithDefaultLakeAndDestination(session, """
            New-ExportFlow -Name a -Destination d -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            New-ExportFlow -Name b -Destination d -Dataset customers -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            """);

        session.Host.ConfirmAnswer = "No";
        Assert.Empty(session.Run("Invoke-ExportSchedule -Confirm").AssertNoErrors().Output);
        Assert.Equal(2, session.Host.PromptCount);
        Assert.Empty(session.Run("Get-ExportRun").AssertNoErrors().Output);

        session.Host.ConfirmAnswer = "Yes";
        var runs = session.Run("Invoke-ExportSchedule -Confirm").AssertNoErrors().Output;
        Assert.Equal(["a", "b"], runs.Select(r => (string)r.Properties["Flow"].Value).Order());
        Assert.Equal(4, session.Host.PromptCount);
    }

    [Fact]
    public void Get_Help_shows_one_syntax_per_schedule_kind()
    {
        using var session = new ModuleSession();
        string[][] Syntaxes(string command) => session.Run("""
            (Get-Help $args[0]).syntax.syntaxItem | ForEach-Object { ($_.parameter | ForEach-Object { $_.name }) -join ' ' }
            """, command).AssertNoErrors().Output.Select(o => ((string)o.BaseObject).Split(' ')).ToArray();

        var create = Syntaxes("New-ExportFlow");
        Assert.Equal(5, create.Length);
        Assert.Contains(create, s => !s.Contains("Once") && !s.Contains("Hourly") && !s.Contains("Daily") && !s.Contains("Cron"));
        Assert.Contains(create, s => s.Contains("Once") && s.Contains("StartTime"));
        Assert.Contains(create, s => s.Contains("Hourly") && s.Contains("Every") && !s.Contains("At"));
        Assert.Contains(create, s => s.Contains("Daily") && s.Contains("At") && s.Contains("TimeZone") && !s.Contains("Every"));
        Assert.Contains(create, s => s.Contains("Cron") && s.Contains("TimeZone") && !s.Contains("Daily"));

        var change = Syntaxes("Set-ExportFlow");
        Assert.Equal(6, change.Length);
        Assert.Contains(change, s => s.Contains("Manual") && s.Contains("Mode"));
        Assert.All(change, s => Assert.DoesNotContain("Incremental", s));
    }

    [Fact]
    public void TimeZone_completes_common_ids()
    {
        using var session = new ModuleSession();

        var matches = session.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object { $_.CompletionText }",
            "New-ExportFlow -Name f -Daily -At 02:00 -TimeZone Europe/Pa").AssertNoErrors().Output.Select(o => (string)o.BaseObject).ToList();
        Assert.Equal(["Europe/Paris"], matches);

        var utc = session.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object { $_.CompletionText }",
            "Set-ExportFlow f -TimeZone ").AssertNoErrors().Output.Select(o => (string)o.BaseObject).ToList();
        Assert.Equal("UTC", utc[0]);
        Assert.Contains("America/New_York", utc);
    }

    private static DateTimeOffset Utc(string text) => DateTimeOffset.Parse(text + "Z", CultureInfo.InvariantCulture);

    private static DateTimeOffset Minute(DateTimeOffset time) => new(time.Year, time.Month, time.Day, time.Hour, time.Minute, 0, TimeSpan.Zero);

    /// <summary>A lake made the default lake, a Local destination 'd', then <paramref name="flows"/> (a script making flows).</summary>
    private static void WithDefaultLakeAndDestination(ModuleSession session, string flows)
    {
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out | Out-Null
            """, lake, output).AssertNoErrors();
        session.Run(flows).AssertNoErrors();
    }
}
