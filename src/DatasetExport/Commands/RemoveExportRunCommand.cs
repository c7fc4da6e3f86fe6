using System.Globalization;
using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Removes finished runs from the run history. The files they exported stay where they are.</para>
/// <para type="description">Runs are recorded for good, so a state home's history grows with every run; this removes
/// the runs given, with their file lists. What a removed run exported stays recorded as exported: an incremental flow
/// does not send those batches again, but Test-ExportRun can no longer verify that run's files. What the scheduler
/// decides from (a slot owed a redo, a dataset's latest export) is kept apart from the history: removing runs does not
/// change which slots Invoke-ExportSchedule runs or redoes (but for one harmless case, in docs/state-and-secrets.md). Two kinds of run are kept, each with a RunInUse error saying why: a run still
/// running, and one whose left files (uncommitted, no manifest lists them) are still to be deleted through its
/// destination (not once that is removed). Removals are written 500 runs at a time, each batch in one transaction.</para>
/// </summary>
/// <example>
///   <code>Get-ExportRun -Before (Get-Date).AddDays(-90) | Remove-ExportRun -Confirm:$false</code>
///   <para>Keeps 90 days of run history: every run started earlier is removed, without asking for each one.</para>
/// </example>
/// <example>
///   <code>Get-ExportRun -Flow web-nightly -Status Failed | Remove-ExportRun -WhatIf</code>
///   <para>Shows which failed runs of the flow would be removed, removing none.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExportRun", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = ByInputObjectSet)]
[OutputType(typeof(void))]
public sealed class RemoveExportRunCommand : DatasetExportCmdlet
{
    private const string ByInputObjectSet = "ByInputObject";
    private const string ByIdSet = "ById";

    /// <summary>Runs removed per transaction: one per run would make pruning a long history slow.</summary>
    private const int RunsPerRemoval = 500;

    private readonly List<Guid> _pending = [];
    private int _removed;

    #region Parameters

    /// <summary>Runs from Get-ExportRun.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByInputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ExportRun[] InputObject { get; set; } = [];

    /// <summary>Run ids.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByIdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("RunId")]
    public Guid[] Id { get; set; } = [];

    #endregion

    protected override string ErrorNoun => "Run";

    protected override void ProcessRecordCore()
    {
        if (ParameterSetName == ByInputObjectSet)
        {
            // The run as listed says what it is; the store reads it once more, in the transaction that removes it (RunNotFound
            // for one removed meanwhile, RunInUse for one still running there).
            foreach (var run in InputObject) Confirm(run.Id, run.Flow, run.DatasetId, run.StartedAt, run.Status.ToString());
            return;
        }
        foreach (var id in Id)
        {
            if (Engine.State.GetRun(id) is { } run) Confirm(id, run.FlowName, run.DatasetId, run.StartedAt, run.Status.ToString());
            else WriteNotFound("Run", id.ToString());
        }
    }

    private void Confirm(Guid id, string flowName, string datasetId, DateTimeOffset startedAt, string status)
    {
        var description = string.Create(CultureInfo.InvariantCulture,
            $"Run {id} of flow '{flowName}', dataset '{datasetId}', started {startedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC ({status})");
        if (!ShouldProcess(description, "Remove from the run history")) return;
        _pending.Add(id);
        if (_pending.Count == RunsPerRemoval) RemovePending();
    }

    protected override void EndProcessingCore()
    {
        RemovePending();
        WriteVerbose($"Removed {_removed} run(s) from the run history.");
    }

    private void RemovePending()
    {
        if (_pending.Count == 0) return;
        // A run given twice is removed once (and counted once).
        var runIds = _pending.Distinct().ToList();
        var kept = Engine.RemoveRuns(runIds);
        _removed += runIds.Count - kept.Count;
        _pending.Clear();
        foreach (var (runId, refusal) in kept) WriteError(ToErrorRecord(refusal, runId.ToString()));
    }
}
