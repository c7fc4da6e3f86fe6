using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Scheduling;

public sealed class FlowScheduleTests
{
    private static readonly DateTimeOffset Created = new(2026, 3, 1, 10, 17, 0, TimeSpan.Zero);

    private static DateTimeOffset Utc(int month, int day, int hour, int minute = 0) => new(2026, month, day, hour, minute, 0, TimeSpan.Zero);

    private static FlowSchedule Schedule(Action<FlowRecord> configure)
    {
        var flow = new FlowRecord { Name = "f", CreatedAt = Created };
        configure(flow);
        return FlowSchedule.For(flow);
    }

    [Fact]
    public void Hourly_slots_count_from_the_start_time_and_only_the_latest_due_slot_runs()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Hourly; f.EveryHours = 6; f.StartTime = Utc(3, 2, 1); });

        Assert.Null(schedule.LatestDueSlot(null, Utc(3, 2, 0, 59)));
        Assert.Equal(Utc(3, 2, 1), schedule.LatestDueSlot(null, Utc(3, 2, 1)));
        Assert.Equal(Utc(3, 2, 1), schedule.LatestDueSlot(null, Utc(3, 2, 6, 59)));
        Assert.Null(schedule.LatestDueSlot(Utc(3, 2, 1), Utc(3, 2, 6, 59)));
        Assert.Equal(Utc(3, 2, 7), schedule.LatestDueSlot(Utc(3, 2, 1), Utc(3, 2, 7)));
        // Three slots missed: only the latest runs.
        Assert.Equal(Utc(3, 3, 7), schedule.LatestDueSlot(Utc(3, 2, 7), Utc(3, 3, 8)));
        Assert.Equal(Utc(3, 2, 13), schedule.NextRunTime(Utc(3, 2, 7), Utc(3, 2, 8)));
        Assert.Equal("Every 6 hours, from 2026-03-02 01:00 UTC", schedule.Describe());
    }

    [Fact]
    public void A_flow_switched_to_once_without_a_start_runs_at_the_next_minute_no_slot_has_used()
    {
        var now = Utc(3, 5, 9, 30).AddSeconds(42);
        var flow = new FlowRecord { Name = "f", CreatedAt = Created, ScheduleKind = ScheduleKind.Once };

        Assert.Equal(Utc(3, 5, 9, 30), FlowSchedule.OnceSlotWhenSwitched(flow, now));
        flow.StartTime = Utc(3, 6, 0);   // still ahead: kept
        Assert.Equal(Utc(3, 6, 0), FlowSchedule.OnceSlotWhenSwitched(flow, now));
        flow.StartTime = Utc(3, 1, 0);
        flow.LastSlot = Utc(3, 5, 2);
        Assert.Equal(Utc(3, 5, 9, 30), FlowSchedule.OnceSlotWhenSwitched(flow, now));
        // A slot run in this very minute: the once slot is the next minute, which can still run.
        flow.LastSlot = Utc(3, 5, 9, 30);
        var slot = FlowSchedule.OnceSlotWhenSwitched(flow, now);
        Assert.Equal(Utc(3, 5, 9, 31), slot);
        flow.StartTime = slot;
        Assert.Equal(slot, FlowSchedule.For(flow).LatestDueSlot(flow.LastSlot, Utc(3, 5, 9, 31)));
    }

    [Fact]
    public void Without_a_start_time_slots_count_from_creation_and_a_new_flow_waits_for_its_first_slot()
    {
        var daily = Schedule(f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:00"; });
        Assert.Null(daily.LatestDueSlot(null, Utc(3, 1, 23)));
        Assert.Equal(Utc(3, 2, 2), daily.NextRunTime(null, Utc(3, 1, 23)));
        Assert.Equal(Utc(3, 2, 2), daily.LatestDueSlot(null, Utc(3, 2, 2)));

        var hourly = Schedule(f => { f.ScheduleKind = ScheduleKind.Hourly; f.EveryHours = 1; });
        Assert.Equal(Created, hourly.LatestDueSlot(null, Created));
        Assert.Equal(Utc(3, 1, 12, 17), hourly.LatestDueSlot(Created, Utc(3, 1, 12, 30)));
    }

    [Fact]
    public void Daily_schedules_follow_the_time_zone_across_daylight_saving_changes()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:30"; f.TimeZone = "Europe/Paris"; });

        // Winter: 02:30 CET is 01:30 UTC.
        Assert.Equal(Utc(3, 28, 1, 30), schedule.LatestDueSlot(Utc(3, 27, 1, 30), Utc(3, 28, 12)));
        // 29 March 2026: clocks jump from 02:00 to 03:00; Cronos runs the skipped 02:30 at the transition, 01:00 UTC.
        Assert.Equal(Utc(3, 29, 1), schedule.LatestDueSlot(Utc(3, 28, 1, 30), Utc(3, 29, 12)));
        // Summer: 02:30 CEST is 00:30 UTC.
        Assert.Equal(Utc(3, 30, 0, 30), schedule.LatestDueSlot(Utc(3, 29, 1), Utc(3, 30, 12)));
        // 25 October 2026: 02:30 happens twice; it runs once.
        Assert.Equal(Utc(10, 25, 0, 30), schedule.LatestDueSlot(Utc(10, 24, 0, 30), Utc(10, 25, 3)));
        Assert.Null(schedule.LatestDueSlot(Utc(10, 25, 0, 30), Utc(10, 25, 23)));
        Assert.Equal("Daily at 02:30 (Europe/Paris)", schedule.Describe());
    }

    [Fact]
    public void A_start_time_at_the_spring_jump_shows_the_slot_the_skipped_hour_runs_at()
    {
        // 29 March 2026 in Paris: 02:00 to 02:59 do not exist; the 02:30 slot runs at the jump, 01:00 UTC, the start time.
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "30 2 * * *"; f.TimeZone = "Europe/Paris"; f.StartTime = Utc(3, 29, 1); });

        Assert.Equal(Utc(3, 29, 1), schedule.NextRunTime(null, Utc(3, 29, 0)));
        Assert.Equal(Utc(3, 29, 1), schedule.LatestDueSlot(null, Utc(3, 29, 1)));
    }

    [Fact]
    public void Windows_time_zone_ids_are_accepted()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:30"; f.TimeZone = "Romance Standard Time"; });
        Assert.Equal(Utc(3, 30, 0, 30), schedule.LatestDueSlot(Utc(3, 29, 1), Utc(3, 30, 12)));
    }

    [Fact]
    public void End_time_completes_a_flow_and_no_slot_after_it_is_due()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Hourly; f.EveryHours = 3; f.StartTime = Utc(3, 2, 0); f.EndTime = Utc(3, 2, 7); });

        Assert.Equal(Utc(3, 2, 6), schedule.LatestDueSlot(Utc(3, 2, 3), Utc(3, 5, 0)));
        Assert.False(schedule.IsCompleted(Utc(3, 2, 3), Utc(3, 5, 0)));
        Assert.True(schedule.IsCompleted(Utc(3, 2, 6), Utc(3, 5, 0)));
        Assert.Null(schedule.NextRunTime(Utc(3, 2, 6), Utc(3, 5, 0)));
        Assert.False(schedule.IsCompleted(Utc(3, 2, 3), Utc(3, 2, 4)));
        // Its last slot before the end ran: completed, though the end time itself is still to come.
        Assert.True(schedule.IsCompleted(Utc(3, 2, 6), Utc(3, 2, 6, 30)));
    }

    [Fact]
    public void Slots_exactly_at_the_start_and_end_times_run()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "02:30"; f.StartTime = Utc(3, 2, 2, 30); f.EndTime = Utc(3, 4, 2, 30); });

        Assert.Equal(Utc(3, 2, 2, 30), schedule.NextRunTime(null, Utc(3, 1, 12)));
        Assert.Null(schedule.LatestDueSlot(null, Utc(3, 2, 2, 29)));
        Assert.Equal(Utc(3, 2, 2, 30), schedule.LatestDueSlot(null, Utc(3, 2, 2, 30)));
        Assert.Equal(Utc(3, 4, 2, 30), schedule.NextRunTime(Utc(3, 3, 2, 30), Utc(3, 3, 12)));
        Assert.Equal(Utc(3, 4, 2, 30), schedule.LatestDueSlot(Utc(3, 3, 2, 30), Utc(3, 9, 0)));
        Assert.True(schedule.IsCompleted(Utc(3, 4, 2, 30), Utc(3, 4, 2, 30)));
    }

    [Fact]
    public void Once_runs_a_single_time_at_its_start()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Once; f.StartTime = Utc(3, 5, 9, 30); });

        Assert.Null(schedule.LatestDueSlot(null, Utc(3, 5, 9, 29)));
        Assert.Equal(Utc(3, 5, 9, 30), schedule.NextRunTime(null, Utc(3, 5, 9, 29)));
        Assert.Equal(Utc(3, 5, 9, 30), schedule.LatestDueSlot(null, Utc(3, 6, 0)));
        Assert.True(schedule.IsCompleted(Utc(3, 5, 9, 30), Utc(3, 6, 0)));
        Assert.Null(schedule.LatestDueSlot(Utc(3, 5, 9, 30), Utc(4, 1, 0)));
        // A flow whose earlier schedule claimed slots, switched to once at a later time, is not completed before that time.
        Assert.False(schedule.IsCompleted(Utc(3, 4, 12), Utc(3, 4, 13)));
        Assert.Equal(Utc(3, 5, 9, 30), schedule.NextRunTime(Utc(3, 4, 12), Utc(3, 4, 13)));
    }

    [Fact]
    public void Cron_expressions_run_in_their_time_zone()
    {
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "15 */4 * * 1-5"; f.TimeZone = "America/New_York"; });

        // Monday 2 March 2026, EST (UTC-5): 08:15 local is 13:15 UTC.
        Assert.Equal(Utc(3, 2, 13, 15), schedule.LatestDueSlot(Utc(3, 2, 9, 15), Utc(3, 2, 14)));
        // Saturday: no slot; the last one was Friday 20:15 local = Saturday 01:15 UTC.
        Assert.Equal(Utc(3, 7, 1, 15), schedule.LatestDueSlot(Utc(3, 6, 21, 15), Utc(3, 7, 20)));
        Assert.Equal(Utc(3, 9, 4, 15), schedule.NextRunTime(Utc(3, 7, 1, 15), Utc(3, 7, 20)));
    }

    [Fact]
    public void An_hour_that_happens_twice_runs_twice_for_an_every_hour_cron_and_once_for_a_fixed_time()
    {
        // 1 November 2026 in New York: 01:00 to 01:59 happen in EDT (05:00 UTC) and again in EST (06:00 UTC).
        var hourly = Schedule(f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "0 * * * *"; f.TimeZone = "America/New_York"; });
        Assert.Equal(Utc(11, 1, 5), hourly.LatestDueSlot(Utc(11, 1, 4), Utc(11, 1, 5, 30)));
        Assert.Equal(Utc(11, 1, 6), hourly.LatestDueSlot(Utc(11, 1, 5), Utc(11, 1, 6, 30)));

        var fixedTime = Schedule(f => { f.ScheduleKind = ScheduleKind.Cron; f.Cron = "0 1 * * *"; f.TimeZone = "America/New_York"; });
        Assert.Equal(Utc(11, 1, 5), fixedTime.LatestDueSlot(Utc(10, 31, 5), Utc(11, 1, 5, 30)));
        Assert.Null(fixedTime.LatestDueSlot(Utc(11, 1, 5), Utc(11, 1, 6, 30)));
        Assert.Equal(Utc(11, 2, 6), fixedTime.NextRunTime(Utc(11, 1, 5), Utc(11, 1, 6, 30)));
    }

    [Fact]
    public void Hourly_slots_are_absolute_hours_that_daylight_saving_does_not_move()
    {
        // Every 6 hours from 00:00 Paris time in winter (23:00 UTC): after the spring change the slots fall at 01:00, 07:00... local.
        var schedule = Schedule(f => { f.ScheduleKind = ScheduleKind.Hourly; f.EveryHours = 6; f.StartTime = Utc(3, 27, 23); f.TimeZone = "Europe/Paris"; });
        Assert.Equal(Utc(3, 29, 5), schedule.LatestDueSlot(Utc(3, 28, 23), Utc(3, 29, 6)));
        Assert.Equal(Utc(3, 29, 11), schedule.NextRunTime(Utc(3, 29, 5), Utc(3, 29, 6)));
    }

    [Theory]
    [InlineData(ScheduleKind.Hourly, null, null, null, "Every")]
    [InlineData(ScheduleKind.Hourly, 24, null, null, "Every")]
    [InlineData(ScheduleKind.Daily, null, "25:00", null, "At")]
    [InlineData(ScheduleKind.Daily, null, "2am", null, "At")]
    [InlineData(ScheduleKind.Cron, null, null, "not a cron", "Cron")]
    [InlineData(ScheduleKind.Cron, null, null, "61 * * * *", "Cron")]
    public void Invalid_schedules_name_the_parameter_at_fault(ScheduleKind kind, int? every, string? at, string? cron, string parameter)
    {
        var error = Assert.Throws<ArgumentException>(() => Schedule(f => { f.ScheduleKind = kind; f.EveryHours = every; f.At = at; f.Cron = cron; }));
        Assert.Equal(parameter, error.ParamName);
    }

    [Fact]
    public void Unknown_time_zones_and_reversed_windows_are_rejected()
    {
        Assert.Equal("TimeZone", Assert.Throws<ArgumentException>(() => Schedule(f => { f.ScheduleKind = ScheduleKind.Daily; f.At = "01:00"; f.TimeZone = "Mars/Olympus"; })).ParamName);
        Assert.Equal("EndTime", Assert.Throws<ArgumentException>(() => Schedule(f => { f.ScheduleKind = ScheduleKind.Once; f.StartTime = Utc(3, 2, 0); f.EndTime = Utc(3, 1, 0); })).ParamName);
    }
}
