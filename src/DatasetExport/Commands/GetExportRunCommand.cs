using System.Management.Automation;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Lists recorded export runs, newest first.</para>
/// <para type="description">Runs are written as they are read, a page at a time, so a long history shows at once.
/// -Flow matches the flow name each run recorded (a removed flow's runs stay and are found by its name) or, for a flow
/// renamed since, the name it has now. -Id, or runs and
/// Test-ExportRun results from the pipeline, return those runs. An id, or a flow name without wildcards, that matches
/// nothing is a RunNotFound or FlowNotFound error.</para>
/// </summary>
/// <example>
///   <code>Get-ExportRun -Flow web-nightly -Last 5</code>
///   <para>The five latest runs of the flow, newest first: status, scheduled time, records, files, duration.</para>
/// </example>
/// <example>
///   <code>Get-ExportRun -Status Failed -After (Get-Date).AddDays(-1)</code>
///   <para>The runs that failed in the last 24 hours; older runs are not read.</para>
/// </example>
/// <example>
///   <code>Get-ExportRun -Before (Get-Date).AddDays(-90) | Remove-ExportRun -Confirm:$false</code>
///   <para>Keeps 90 days of run history.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExportRun", DefaultParameterSetName = ListSet)]
[OutputType(typeof(ExportRun))]
public sealed class GetExportRunCommand : DatasetExportCmdlet
{
    private const string ListSet = "List";
    private const string ByIdSet = "ById";

    #region Parameters

    /// <summary>Only runs of this flow: its name (wildcards allowed; a removed flow's runs are found by its name), or a flow object from the pipeline.</summary>
    [Parameter(Position = 0, ParameterSetName = ListSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string? Flow { get; set; }

    /// <summary>Runs by id; also from the pipeline, as the Id of runs or the RunId of Test-ExportRun's results.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByIdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("RunId")]
    public Guid[] Id { get; set; } = [];

    /// <summary>Only runs in this state.</summary>
    [Parameter(ParameterSetName = ListSet)]
    public RunStatus? Status { get; set; }

    /// <summary>Only runs started after this time (a date without an offset is local time, as Get-Date gives).</summary>
    [Parameter(ParameterSetName = ListSet)]
    public DateTime? After { get; set; }

    /// <summary>Only runs started before this time: with Remove-ExportRun, what keeps a history to its last days.</summary>
    [Parameter(ParameterSetName = ListSet)]
    public DateTime? Before { get; set; }

    /// <summary>Only the newest N runs.</summary>
    [Parameter(ParameterSetName = ListSet)]
    [ValidateRange(1, int.MaxValue)]
    public int? Last { get; set; }

    #endregion

    protected override string ErrorNoun => "Run";

    protected override void ProcessRecordCore()
    {
        if (ParameterSetName == ByIdSet)
        {
            foreach (var id in Id)
            {
                var run = Engine.State.GetRun(id);
                if (run is null) WriteNotFound("Run", id.ToString());
                else WriteObject(EngineMapping.ToOutput(run));
            }
            return;
        }
        // Written as they are read (a page at a time): the first runs show at once, memory holds one page however long the
        // history, and `| Select-Object -First N` stops the reading.
        var status = Status?.ToEngine();
        DateTimeOffset? after = After is { } afterTime ? new DateTimeOffset(afterTime) : null;
        DateTimeOffset? before = Before is { } beforeTime ? new DateTimeOffset(beforeTime) : null;
        if (Flow is null)
        {
            WriteRuns(Engine.State.EnumerateRuns(null, status, null, Last, after, before));
            return;
        }
        var isPattern = WildcardPattern.ContainsWildcardCharacters(Flow);
        if (!isPattern && Engine.State.FindFlow(Flow) is { } flow)
        {
            WriteRuns(Engine.State.EnumerateRuns(flow.Id, status, null, Last, after, before));
            return;
        }
        // A pattern, or the name of a removed flow (whose runs stay as history): matched against the flow name each run recorded,
        // and against the name its flow has now (a flow renamed since).
        var pattern = WildcardPattern.Get(Flow, WildcardOptions.IgnoreCase);
        var renamed = isPattern ? Engine.State.ListFlows().Where(flow => pattern.IsMatch(flow.Name)).Select(flow => flow.Id).ToHashSet() : null;
        var written = WriteRuns(Engine.State.EnumerateRuns(null, status, pattern.IsMatch, Last, after, before, renamed));
        if (written == 0 && !isPattern && !Engine.State.EnumerateRuns(null, null, pattern.IsMatch, 1).Any()) WriteNotFound("Flow", Flow);
    }

    private int WriteRuns(IEnumerable<RunRecord> runs)
    {
        var written = 0;
        foreach (var run in runs)
        {
            WriteObject(EngineMapping.ToOutput(run));
            written++;
        }
        return written;
    }
}
