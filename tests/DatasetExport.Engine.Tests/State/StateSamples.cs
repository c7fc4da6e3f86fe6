using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.State;

/// <summary>Records with every field set to a value other than its default, so a dropped column shows.</summary>
internal static class StateSamples
{
    public static readonly DateTimeOffset Noon = new(2026, 3, 14, 12, 0, 0, TimeSpan.Zero);

    public static DestinationSettings Destination(string name = "Archive") => new()
    {
        Name = name,
        Type = DestinationType.AmazonS3,
        FileType = FileType.Parquet,
        Compression = CompressionKind.Zstd,
        IncludeManifest = false,
        MaxFileSizeMB = 64,
        FolderPath = "exports/daily",
        Properties = new(StringComparer.OrdinalIgnoreCase) { ["Bucket"] = "lake-exports", ["Region"] = "eu-west-1" },
        Secrets = new(StringComparer.OrdinalIgnoreCase) { ["SecretAccessKey"] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" },
        // An offset and sub-millisecond ticks: both must survive the round trip as the same instant.
        CreatedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(1234567),
        ModifiedAt = new DateTimeOffset(2026, 2, 3, 4, 5, 6, TimeSpan.FromHours(-5)).AddTicks(7654321),
    };

    public static FlowRecord Flow(Guid destinationId, string name = "Nightly") => new()
    {
        Name = name,
        DestinationId = destinationId,
        DatasetIds = ["sales.orders", "sales.customers"],
        Mode = ExportMode.Incremental,
        Enabled = false,
        ScheduleKind = ScheduleKind.Daily,
        EveryHours = 6,
        At = "02:30",
        Cron = "30 2 * * *",
        StartTime = new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.FromHours(1)).AddTicks(42),
        EndTime = new DateTimeOffset(2027, 4, 1, 0, 0, 0, TimeSpan.Zero),
        TimeZone = "Europe/Oslo",
        LastSlot = new DateTimeOffset(2026, 3, 13, 2, 30, 0, TimeSpan.FromHours(1)),
        CreatedAt = Noon.AddDays(-3).AddTicks(3),
        ModifiedAt = Noon.AddDays(-2).AddTicks(5),
    };

    public static RunRecord Run(FlowRecord flow, string datasetId = "sales.orders", DateTimeOffset? startedAt = null)
    {
        var started = startedAt ?? Noon;
        return new RunRecord
        {
            FlowId = flow.Id,
            FlowName = flow.Name,
            DatasetId = datasetId,
            DestinationId = flow.DestinationId,
            DestinationName = "Archive",
            Mode = flow.Mode,
            ScheduledTime = started.AddMinutes(-1),
            StartedAt = started,
            HeartbeatAt = started,
            ExportPath = $"{datasetId}/exportTime={started:yyyyMMddTHHmm}",
        };
    }

    public static RunFileRecord File(int part) => new()
    {
        RelativePath = $"sales.orders/exportTime=20260314T1159/part-{part:D5}.parquet",
        SinkPath = $"s3://lake-exports/exports/daily/sales.orders/exportTime=20260314T1159/part-{part:D5}.parquet",
        Size = 1_000_000L + part,
        Records = 5_000L + part,
        Sha256 = new string((char)('a' + part), 64),
    };
}

internal static class StateAssert
{
    /// <summary>The same instant to the tick; the store hands dates back in UTC.</summary>
    public static void SameInstant(DateTimeOffset? expected, DateTimeOffset? actual)
    {
        Assert.Equal(expected?.UtcTicks, actual?.UtcTicks);
        if (actual is { } value) Assert.Equal(TimeSpan.Zero, value.Offset);
    }
}
