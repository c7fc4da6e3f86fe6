using System.Management.Automation;
using DatasetExport.Engine.Scheduling;
using DatasetExport.Engine.State;
using EngineScheduleKind = DatasetExport.Engine.State.ScheduleKind;

namespace DatasetExport;

/// <summary>
/// The schedule parameters New-ExportFlow and Set-ExportFlow share. Each schedule kind is its own parameter set, so
/// the binder refuses mixed kinds (-Hourly with -At, -Once with -Cron); the values themselves are checked by the
/// engine (FlowSchedule), whose ArgumentException names the parameter at fault.
/// </summary>
public abstract class FlowScheduleCmdlet : DatasetExportCmdlet
{
    protected const string OnceSet = "Once";
    protected const string HourlySet = "Hourly";
    protected const string DailySet = "Daily";
    protected const string CronSet = "Cron";

    #region Parameters

    /// <summary>Run once, at -StartTime (default: when the flow is created; on Set-ExportFlow, the next Invoke-ExportSchedule unless the stored start is still ahead).</summary>
    [Parameter(Mandatory = true, ParameterSetName = OnceSet)]
    public SwitchParameter Once { get; set; }

    /// <summary>Run every -Every hours, counted from -StartTime (default: when the flow is created, to the minute).</summary>
    [Parameter(Mandatory = true, ParameterSetName = HourlySet)]
    public SwitchParameter Hourly { get; set; }

    /// <summary>With -Hourly: the hours between runs, 1 to 23.</summary>
    [Parameter(Mandatory = true, ParameterSetName = HourlySet)]
    [ValidateRange(FlowSchedule.MinEveryHours, FlowSchedule.MaxEveryHours)]
    public int Every { get; set; }

    /// <summary>Run every day at -At (HH:mm, 24-hour clock) in -TimeZone.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DailySet)]
    public SwitchParameter Daily { get; set; }

    /// <summary>With -Daily: the time of day, HH:mm (00:00 to 23:59).</summary>
    [Parameter(Mandatory = true, ParameterSetName = DailySet)]
    [ValidateNotNullOrEmpty]
    public string At { get; set; } = "";

    /// <summary>Run at each occurrence of a cron expression (5 fields, or 6 with seconds) in -TimeZone.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CronSet)]
    [ValidateNotNullOrEmpty]
    public string Cron { get; set; } = "";

    /// <summary>No slot before this time (to the minute); the one slot of -Once.</summary>
    [Parameter]
    public DateTimeOffset StartTime { get; set; }

    /// <summary>No slot after this time (to the minute); must be after -StartTime. $null: no end (Set-ExportFlow removes the stored one).</summary>
    [Parameter]
    public DateTimeOffset? EndTime { get; set; }

    /// <summary>The zone -Daily and -Cron times are read in: an IANA id (Europe/Paris) or a Windows id (Romance Standard Time). Default UTC.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TimeZoneCompleter))]
    public string TimeZone { get; set; } = "UTC";

    #endregion

    /// <summary>
    /// Applies the schedule parameters that were given to <paramref name="flow"/> and describes each change. -StartTime,
    /// -EndTime and -TimeZone keep their stored values unless given (-EndTime $null removes the end). Bounds without a schedule, or a time zone for a
    /// schedule that reads no wall-clock time, are refused here: false, after an InvalidArgument error naming the parameter. The error is
    /// non-terminating because whether it applies depends on each flow's stored schedule (Get-ExportFlow | Set-ExportFlow -EndTime ...).
    /// </summary>
    protected bool TryApplySchedule(FlowRecord flow, string target, List<string> changes)
    {
        var bound = MyInvocation.BoundParameters;
        switch (ParameterSetName)
        {
            case OnceSet:
                flow.ScheduleKind = EngineScheduleKind.Once;
                break;
            case HourlySet:
                flow.ScheduleKind = EngineScheduleKind.Hourly;
                flow.EveryHours = Every;
                break;
            case DailySet:
                flow.ScheduleKind = EngineScheduleKind.Daily;
                flow.At = At;
                break;
            case CronSet:
                flow.ScheduleKind = EngineScheduleKind.Cron;
                flow.Cron = Cron.Trim();
                break;
        }
        if (ParameterSetName is OnceSet or HourlySet or DailySet or CronSet) changes.Add($"schedule {flow.ScheduleKind}");
        if (bound.ContainsKey(nameof(StartTime)))
        {
            flow.StartTime = StartTime;
            changes.Add($"start time {StartTime.UtcDateTime:yyyy-MM-dd HH:mm} UTC");
        }
        if (bound.ContainsKey(nameof(EndTime)))
        {
            flow.EndTime = EndTime;
            changes.Add(EndTime is { } end ? $"end time {end.UtcDateTime:yyyy-MM-dd HH:mm} UTC" : "no end time");
        }
        if (bound.ContainsKey(nameof(TimeZone)))
        {
            flow.TimeZone = TimeZone;
            changes.Add($"time zone {TimeZone}");
        }

        if (flow.ScheduleKind == EngineScheduleKind.Manual
            && new[] { nameof(StartTime), nameof(EndTime), nameof(TimeZone) }.FirstOrDefault(bound.ContainsKey) is { } unread)
        {
            return WriteScheduleArgumentError($"-{unread} applies to a schedule; flow '{target}' has none. Add -Once, -Hourly, -Daily or -Cron.", unread, target);
        }
        if (bound.ContainsKey(nameof(TimeZone)) && flow.ScheduleKind is not (EngineScheduleKind.Daily or EngineScheduleKind.Cron))
        {
            return WriteScheduleArgumentError("-TimeZone applies to -Daily and -Cron schedules only; -Once and -Hourly times are absolute.", nameof(TimeZone), target);
        }
        return true;
    }

    private bool WriteScheduleArgumentError(string message, string parameterName, string target)
    {
        WriteError(new ErrorRecord(new PSArgumentException(message, parameterName), "InvalidScheduleParameter", ErrorCategory.InvalidArgument, target));
        return false;
    }
}
