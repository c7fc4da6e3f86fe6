using System.Globalization;
using Cronos;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Scheduling;

/// <summary>
/// The slots of a flow's schedule, and which one is due. A slot is due when it has passed (is at or before
/// "now") and comes after the flow's last claimed slot; only the latest due slot runs, missed ones are not
/// replayed (incremental flows catch the data up anyway).
/// </summary>
public sealed class FlowSchedule
{
    public const int MinEveryHours = 1;
    public const int MaxEveryHours = 23;

    private readonly FlowRecord _flow;
    private readonly TimeZoneInfo _zone;
    private readonly CronExpression? _cron;

    private FlowSchedule(FlowRecord flow, TimeZoneInfo zone, CronExpression? cron)
    {
        _flow = flow;
        _zone = zone;
        _cron = cron;
    }

    /// <summary>Validates the flow's schedule fields; throws <see cref="ArgumentException"/> naming the field at fault.</summary>
    public static FlowSchedule For(FlowRecord flow)
    {
        var zone = FindTimeZone(flow.TimeZone);
        if (flow.StartTime is { } start && flow.EndTime is { } end && end <= start)
        {
            throw new ArgumentException($"The end time {end:u} is not after the start time {start:u}.", "EndTime");
        }
        CronExpression? cron = null;
        switch (flow.ScheduleKind)
        {
            case ScheduleKind.Manual:
            case ScheduleKind.Once:
                break;
            case ScheduleKind.Hourly:
                if (flow.EveryHours is not (>= MinEveryHours and <= MaxEveryHours))
                {
                    throw new ArgumentException($"An hourly schedule runs every {MinEveryHours} to {MaxEveryHours} hours; {flow.EveryHours?.ToString(CultureInfo.InvariantCulture) ?? "nothing"} was given.", "Every");
                }
                break;
            case ScheduleKind.Daily:
                var at = ParseTimeOfDay(flow.At);
                cron = CronExpression.Parse($"{at.Minutes} {at.Hours} * * *");
                break;
            case ScheduleKind.Cron:
                cron = ParseCron(flow.Cron);
                break;
            default:
                throw new ArgumentException($"Unknown schedule kind {flow.ScheduleKind}.", "Schedule");
        }
        return new FlowSchedule(flow, zone, cron);
    }

    /// <summary>IANA ("Europe/Paris") or Windows ("Romance Standard Time") ids.</summary>
    public static TimeZoneInfo FindTimeZone(string? id)
    {
        if (string.IsNullOrWhiteSpace(id) || id.Equals("UTC", StringComparison.OrdinalIgnoreCase)) return TimeZoneInfo.Utc;
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception error) when (error is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"'{id}' is not a known time zone (use an IANA id such as 'Europe/Paris' or a Windows id such as 'Romance Standard Time').", "TimeZone", error);
        }
    }

    /// <summary>"HH:mm" (24-hour clock).</summary>
    public static TimeSpan ParseTimeOfDay(string? text)
    {
        if (TimeSpan.TryParseExact(text, @"hh\:mm", CultureInfo.InvariantCulture, out var time) && time < TimeSpan.FromDays(1)) return time;
        throw new ArgumentException($"'{text}' is not a time of day in the form HH:mm (00:00 to 23:59).", "At");
    }

    private static CronExpression ParseCron(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException("A cron schedule needs an expression.", "Cron");
        var format = text.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
        try
        {
            return CronExpression.Parse(text.Trim(), format);
        }
        catch (CronFormatException error)
        {
            throw new ArgumentException($"'{text}' is not a valid cron expression: {error.Message}", "Cron", error);
        }
    }

    /// <summary>
    /// The latest slot at or before <paramref name="now"/> that comes after <paramref name="lastSlot"/> (or, for a
    /// flow that never ran, at or after its start time, else its creation), within the end time, to the minute; null when none.
    /// </summary>
    public DateTimeOffset? LatestDueSlot(DateTimeOffset? lastSlot, DateTimeOffset now)
    {
        var upper = _flow.EndTime is { } end && end < now ? end : now;
        if (LatestSlotAtOrBefore(upper) is not { } latest) return null;
        // A cron with seconds may fire several times in a minute: the minute is the slot, and once claimed it is not due again.
        var slot = TruncateToMinute(latest);
        var isAfterBaseline = lastSlot is { } last ? slot > last : slot >= (_flow.StartTime ?? TruncateToMinute(_flow.CreatedAt));
        return isAfterBaseline ? slot : null;
    }

    /// <summary>
    /// When the flow runs next: the due slot (in the past, to the minute), else the instant the next slot falls due; null when it
    /// never will.
    /// </summary>
    public DateTimeOffset? NextRunTime(DateTimeOffset? lastSlot, DateTimeOffset now)
    {
        if (LatestDueSlot(lastSlot, now) is { } due) return due;
        // Not within the last claimed minute: a cron with seconds firing again in it has no slot left to run.
        var from = lastSlot is { } last && EndOfMinute(last) > now ? EndOfMinute(last) : now;
        var next = NextSlotAfter(from);
        if (next is null || (_flow.EndTime is { } end && next > end)) return null;
        return next;
    }

    /// <summary>
    /// True when no slot will ever be due again: a Once flow whose slot ran (and was not moved later since), a flow whose
    /// last slot before its end time ran.
    /// </summary>
    public bool IsCompleted(DateTimeOffset? lastSlot, DateTimeOffset now) =>
        _flow.ScheduleKind != ScheduleKind.Manual && NextRunTime(lastSlot, now) is null;

    /// <summary>A human-readable description, e.g. "Daily at 02:00 (Europe/Paris)".</summary>
    public string Describe()
    {
        var zone = _zone == TimeZoneInfo.Utc ? "UTC" : _flow.TimeZone;
        var text = _flow.ScheduleKind switch
        {
            ScheduleKind.Manual => "Manual",
            ScheduleKind.Once => $"Once at {(_flow.StartTime ?? _flow.CreatedAt).ToUniversalTime():yyyy-MM-dd HH:mm} UTC",
            ScheduleKind.Hourly => _flow.EveryHours == 1 ? "Every hour" : $"Every {_flow.EveryHours} hours",
            ScheduleKind.Daily => $"Daily at {_flow.At} ({zone})",
            ScheduleKind.Cron => $"Cron '{_flow.Cron}' ({zone})",
            _ => _flow.ScheduleKind.ToString(),
        };
        if (_flow.ScheduleKind is ScheduleKind.Hourly or ScheduleKind.Daily or ScheduleKind.Cron)
        {
            if (_flow.StartTime is { } start) text += $", from {start.ToUniversalTime():yyyy-MM-dd HH:mm} UTC";
            if (_flow.EndTime is { } end) text += $", until {end.ToUniversalTime():yyyy-MM-dd HH:mm} UTC";
        }
        return text;
    }

    private DateTimeOffset? LatestSlotAtOrBefore(DateTimeOffset time)
    {
        switch (_flow.ScheduleKind)
        {
            case ScheduleKind.Manual:
                return null;
            case ScheduleKind.Once:
                var once = _flow.StartTime ?? TruncateToMinute(_flow.CreatedAt);
                return once <= time ? once : null;
            case ScheduleKind.Hourly:
                var anchor = HourlyAnchor;
                if (time < anchor) return null;
                var period = TimeSpan.FromHours(_flow.EveryHours!.Value);
                return anchor + period * Math.Floor((time - anchor) / period);
            default:
                var slot = LatestCronOccurrence(time);
                return slot is { } found && (_flow.StartTime is not { } start || found >= start) ? slot : null;
        }
    }

    /// <summary>
    /// Cronos answers a time skipped by a daylight-saving jump differently going backwards (the last instant before
    /// the jump) than forwards (the jump itself); slots are always named the forward way, so they stay stable.
    /// </summary>
    private DateTimeOffset? LatestCronOccurrence(DateTimeOffset time)
    {
        var previous = _cron!.GetPreviousOccurrence(time, _zone, inclusive: true);
        while (previous is { } candidate)
        {
            var canonical = _cron.GetNextOccurrence(candidate, _zone, inclusive: true);
            if (canonical is { } slot && slot <= time) return slot;
            previous = _cron.GetPreviousOccurrence(candidate, _zone, inclusive: false);
        }
        return null;
    }

    private DateTimeOffset? NextSlotAfter(DateTimeOffset time)
    {
        switch (_flow.ScheduleKind)
        {
            case ScheduleKind.Manual:
                return null;
            case ScheduleKind.Once:
                var once = _flow.StartTime ?? TruncateToMinute(_flow.CreatedAt);
                return once > time ? once : null;
            case ScheduleKind.Hourly:
                var anchor = HourlyAnchor;
                if (time < anchor) return anchor;
                var period = TimeSpan.FromHours(_flow.EveryHours!.Value);
                return anchor + period * (Math.Floor((time - anchor) / period) + 1);
            default:
                // From just before a future start time, not inclusively from it: a time skipped by a daylight-saving jump at the
                // start time runs at the jump, as LatestCronOccurrence names it.
                var from = _flow.StartTime is { } start && start > time ? start.AddTicks(-1) : time;
                return _cron!.GetNextOccurrence(from, _zone);
        }
    }

    private static DateTimeOffset EndOfMinute(DateTimeOffset slot) => slot.AddMinutes(1).AddTicks(-1);

    /// <summary>Hourly slots count from the start time, else from the flow's creation (to the minute).</summary>
    private DateTimeOffset HourlyAnchor => _flow.StartTime ?? TruncateToMinute(_flow.CreatedAt);

    /// <summary>
    /// The one slot of a flow switched to a once schedule without a start time: the stored start while it is still
    /// ahead, else the current minute, or the minute after the last slot run when that is later (a once slot at or
    /// before a slot already run would never run).
    /// </summary>
    public static DateTimeOffset OnceSlotWhenSwitched(FlowRecord flow, DateTimeOffset now)
    {
        var minute = TruncateToMinute(now);
        if (flow.StartTime is { } stored && stored > minute) return stored;
        return flow.LastSlot is { } last && last >= minute ? TruncateToMinute(last).AddMinutes(1) : minute;
    }

    /// <summary>Slots are whole minutes in UTC: the exportTime= folder names them to the minute.</summary>
    public static DateTimeOffset TruncateToMinute(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, utc.Minute, 0, TimeSpan.Zero);
    }
}
