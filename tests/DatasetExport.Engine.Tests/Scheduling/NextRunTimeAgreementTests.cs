using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>
/// Walks three days (across daylight-saving changes) invoking the schedule every step, as Invoke-ExportSchedule would, and
/// checks that what Get-ExportFlow shows (NextRunTime, Completed) is what then runs.
/// </summary>
public sealed class NextRunTimeAgreementTests
{
    [Theory]
    [InlineData(ScheduleKind.Daily, "02:30", "America/New_York", 3, 7, 60)]
    [InlineData(ScheduleKind.Daily, "01:30", "America/New_York", 10, 31, 60)]
    [InlineData(ScheduleKind.Daily, "02:15", "Romance Standard Time", 10, 24, 60)]
    [InlineData(ScheduleKind.Cron, "30 2 * * *", "Europe/Paris", 3, 28, 60)]
    [InlineData(ScheduleKind.Cron, "*/20 1-3 * * *", "America/New_York", 10, 31, 60)]
    [InlineData(ScheduleKind.Cron, "*/15 * * * *", "Australia/Lord_Howe", 4, 4, 60)]
    [InlineData(ScheduleKind.Cron, "0 0 * * *", "America/Santiago", 9, 5, 60)]
    [InlineData(ScheduleKind.Cron, "*/7 * 2 * * *", "Europe/Paris", 3, 29, 5)]
    [InlineData(ScheduleKind.Cron, "10,40 * * * * *", "UTC", 3, 1, 1)]
    [InlineData(ScheduleKind.Hourly, "5", "UTC", 3, 1, 60)]
    [InlineData(ScheduleKind.Once, "", "UTC", 3, 1, 60)]
    public void What_the_status_shows_is_what_runs(ScheduleKind kind, string value, string zone, int month, int day, int stepSeconds)
    {
        var start = new DateTimeOffset(2026, month, day, 0, 0, 0, TimeSpan.Zero);
        var step = TimeSpan.FromSeconds(stepSeconds);
        var flow = new FlowRecord
        {
            Name = "walk", CreatedAt = start.AddHours(-3), TimeZone = zone, ScheduleKind = kind,
            // Bounds at the jump hour of some zones' change days; the walk goes past the end.
            StartTime = start.AddHours(1), EndTime = start.AddDays(2).AddHours(3),
            Cron = kind == ScheduleKind.Cron ? value : null,
            At = kind == ScheduleKind.Daily ? value : null,
            EveryHours = kind == ScheduleKind.Hourly ? int.Parse(value) : null,
        };
        var schedule = FlowSchedule.For(flow);
        DateTimeOffset? last = null;
        DateTimeOffset? shown = null;
        var runs = 0;
        for (var now = start; now < start.AddDays(3); now += step)
        {
            var context = $"at {now:u} after slot {last:u}";
            if (schedule.LatestDueSlot(last, now) is { } slot)
            {
                Assert.True(last is null || slot > last, $"slot {slot:u} runs again {context}");
                Assert.True(slot == schedule.NextRunTime(last, now), $"the status does not show the due slot {slot:u} {context}");
                // It fell due during the last step, at the time shown before, and runs as that time's minute.
                Assert.True(shown is { } when && when > now - step && when <= now && FlowSchedule.TruncateToMinute(when) == slot,
                    $"slot {slot:u} runs {context}, but the status showed {shown:u}");
                last = slot;
                shown = null;
                runs++;
                continue;
            }
            var next = schedule.NextRunTime(last, now);
            Assert.True(next is null || next > now, $"the status shows {next:u} as due {context}, but nothing runs");
            Assert.True(next is null == schedule.IsCompleted(last, now), $"Completed disagrees with NextRunTime {next:u} {context}");
            Assert.True(shown is null || next == shown, $"the status changed from {shown:u} to {next:u} {context} though nothing ran");
            shown = next;
        }
        Assert.True(runs > 0);
        Assert.Null(shown);
        Assert.True(schedule.IsCompleted(last, start.AddDays(3)));
    }
}
