namespace DatasetExport;

/// <summary>A stored flow: datasets bound to a destination, with its schedule and where that schedule stands.</summary>
public sealed class ExportFlow
{
    public Guid Id { get; init; }
    public string Name { get; init; } = "";
    public string Destination { get; init; } = "";
    public string[] Datasets { get; init; } = [];
    public ExportMode Mode { get; init; }
    public bool Enabled { get; init; }
    /// <summary>Invalid JSON lines are left out and counted (ExportRun.RecordsSkipped) instead of failing the run.</summary>
    public bool SkipInvalidRecords { get; init; }
    /// <summary>Batches that cannot be read or do not fit the schema are left out, listed on the run and retried next run, instead of failing it.</summary>
    public bool SkipInvalidBatches { get; init; }
    /// <summary>The schedule in words, e.g. "Daily at 02:00 (Europe/Paris)" or "Manual".</summary>
    public string Schedule { get; init; } = "";
    public ScheduleKind ScheduleKind { get; init; }
    /// <summary>Hourly: the hours between slots.</summary>
    public int? Every { get; init; }
    /// <summary>Daily: the time of day, HH:mm.</summary>
    public string? At { get; init; }
    public string? Cron { get; init; }
    public DateTimeOffset? StartTime { get; init; }
    public DateTimeOffset? EndTime { get; init; }
    /// <summary>The zone Daily and Cron times are read in.</summary>
    public string TimeZone { get; init; } = "UTC";
    /// <summary>The slot the next Invoke-ExportSchedule would run (in the past when it is due now); empty for manual, disabled and completed flows.</summary>
    public DateTimeOffset? NextRunTime { get; init; }
    /// <summary>When the flow's latest run in the run history started: empty when it never ran, or Remove-ExportRun removed its runs.</summary>
    public DateTimeOffset? LastRunTime { get; init; }
    public RunStatus? LastStatus { get; init; }
    /// <summary>True when no slot will ever be due again: a once flow that ran, a flow whose last slot before its end time ran.</summary>
    public bool Completed { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset ModifiedAt { get; init; }

    public override string ToString() => Name;
}
