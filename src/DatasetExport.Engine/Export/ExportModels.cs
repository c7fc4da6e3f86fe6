using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Export;

/// <summary>A progress report from a running export, raised on the engine's threads.</summary>
public sealed record ExportProgress(
    string FlowName,
    string DatasetId,
    int DatasetIndex,
    int DatasetCount,
    int BatchesDone,
    int BatchCount,
    int FilesWritten,
    long RecordsWritten,
    long BytesWritten,
    string Activity)
{
    /// <summary>The <see cref="Activity"/> of a flow's last report: every dataset of its export has ended.</summary>
    public const string FlowDoneActivity = "Done";

    /// <summary>Whether this is a flow's last report (<see cref="ForFlowDone"/>): several flows may export at once, each to its end.</summary>
    public bool IsFlowDone => Activity == FlowDoneActivity && DatasetIndex == DatasetCount;

    /// <summary>The last report of a flow's export of <paramref name="datasetCount"/> datasets.</summary>
    public static ExportProgress ForFlowDone(string flowName, int datasetCount) =>
        new(flowName, "", datasetCount, datasetCount, 0, 0, 0, 0, 0, FlowDoneActivity);

    /// <summary>The <see cref="Activity"/> of a report that a run has ended (<see cref="ForRunEnded"/>).</summary>
    public const string RunEndedActivity = "Ended";

    /// <summary>
    /// The run this report says has ended, Succeeded, Failed or Abandoned, as recorded (<see cref="ForRunEnded"/>); null on
    /// every other report. Commands write each run as it ends, not when the whole export does.
    /// </summary>
    public RunRecord? EndedRun { get; init; }

    /// <summary>The report that <paramref name="run"/>, the flow's dataset <paramref name="datasetIndex"/> of <paramref name="datasetCount"/>, has ended.</summary>
    public static ExportProgress ForRunEnded(RunRecord run, int datasetIndex, int datasetCount) =>
        new(run.FlowName, run.DatasetId, datasetIndex, datasetCount, run.BatchCount, run.BatchCount, run.Files.Count, run.RecordsRead, run.OutputBytes, RunEndedActivity)
        {
            EndedRun = run,
        };
}

/// <summary>The outcome of re-reading one file of a run from its destination.</summary>
public sealed record FileVerification(string RelativePath, bool Exists, long ExpectedSize, long? ActualSize, string ExpectedSha256, string? ActualSha256)
{
    public bool IsValid => Exists && ActualSize == ExpectedSize && string.Equals(ActualSha256, ExpectedSha256, StringComparison.OrdinalIgnoreCase);
}

/// <summary>The outcome of re-reading every file (and the manifest) of a run.</summary>
public sealed record RunVerification(RunRecord Run, bool ManifestFound, IReadOnlyList<FileVerification> Files, string? Problem)
{
    public bool IsValid => Problem is null && Files.All(f => f.IsValid) && (Run.ManifestPath is null || ManifestFound);
}
