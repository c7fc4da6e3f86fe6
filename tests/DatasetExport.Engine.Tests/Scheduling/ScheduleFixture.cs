using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using Microsoft.Extensions.Time.Testing;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>An engine on a fake clock, a JSON Lines lake and a local destination, for scheduled-export tests.</summary>
public sealed class ScheduleFixture : IDisposable
{
    /// <summary>When the fixture's flows are created: 2026-03-01 10:17 UTC.</summary>
    public static readonly DateTimeOffset Created = Utc(3, 1, 10, 17);

    private readonly TempFolder _root = new("de-schedule");

    public ScheduleFixture(bool includeManifest = true)
    {
        Clock = new FakeTimeProvider(Created);
        Engine = ExportEngine.Open(new EngineOptions { StateHome = StateHome, TimeProvider = Clock });
        Destination = new DestinationSettings
        {
            Name = "local",
            Type = DestinationType.Local,
            FileType = FileType.Json,
            Compression = CompressionKind.None,
            IncludeManifest = includeManifest,
            FolderPath = "exports",
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        Engine.AddDestinationAsync(Destination, skipValidation: false, default).GetAwaiter().GetResult();
    }

    public FakeTimeProvider Clock { get; }
    public ExportEngine Engine { get; }
    public DestinationSettings Destination { get; }
    public string StateHome => _root.Combine("state");
    public string Lake => _root.Combine("lake");
    public string Output => _root.Combine("out");

    public static DateTimeOffset Utc(int month, int day, int hour, int minute = 0, int second = 0) => new(2026, month, day, hour, minute, second, TimeSpan.Zero);

    public void SetNow(DateTimeOffset now) => Clock.SetUtcNow(now);

    /// <summary>Adds a flow through the engine (validated, created "now") exporting <paramref name="datasets"/>.</summary>
    public FlowRecord AddFlow(string name, Action<FlowRecord> schedule, params string[] datasets)
    {
        var flow = new FlowRecord { Name = name, DestinationId = Destination.Id, DatasetIds = datasets.Length == 0 ? ["web"] : [.. datasets] };
        schedule(flow);
        Engine.AddFlow(flow);
        return flow;
    }

    /// <summary>Writes a JSON Lines batch of <paramref name="count"/> events starting at <paramref name="firstId"/>.</summary>
    public void WriteBatch(string datasetId, string fileName, int firstId, int count) =>
        SampleLake.WriteEvents(Path.Combine(Lake, datasetId, fileName), firstId, count);

    public Task<IReadOnlyList<RunRecord>> RunDueAsync(IReadOnlyCollection<string>? flowNames = null, IProgress<DatasetExport.Engine.Export.ExportProgress>? progress = null) =>
        Engine.RunDueFlowsAsync(Lake, flowNames, progress, default);

    /// <summary>The exportTime= folder of a dataset and slot at the destination.</summary>
    public string SlotFolder(string datasetId, DateTimeOffset slot) =>
        Path.Combine(Output, "exports", datasetId, $"exportTime={slot.UtcDateTime:yyyyMMddHHmm}");

    /// <summary>The exportTime= folder names written for a dataset, sorted.</summary>
    public IReadOnlyList<string> SlotFolders(string datasetId)
    {
        var folder = Path.Combine(Output, "exports", datasetId);
        return Directory.Exists(folder) ? Directory.GetDirectories(folder).Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal).ToList() : [];
    }

    /// <summary>The ids of every record in the data files a manifest lists, read back from disk.</summary>
    public static List<long> ManifestRecordIds(string manifestPath)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
        return manifest.RootElement.GetProperty("exportResults").EnumerateArray()
            .SelectMany(file => SampleLake.Ids(SampleLake.ReadJsonLines(file.GetProperty("sinkPath").GetString()!)))
            .Order()
            .ToList();
    }

    public static IEnumerable<long> Ids(int first, int count) => Enumerable.Range(first, count).Select(i => (long)i);

    public void Dispose()
    {
        Engine.Dispose();
        _root.Dispose();
    }
}

/// <summary>Reports progress on the engine's thread as it happens (Progress&lt;T&gt; would post it elsewhere, later).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
