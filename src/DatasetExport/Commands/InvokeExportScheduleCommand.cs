using System.Management.Automation;
using DatasetExport.Engine;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Runs every enabled flow whose schedule is due, once per slot; meant to be called by cron, a systemd timer or Task Scheduler every few minutes.</para>
/// <para type="description">Each due flow runs its latest due slot (missed earlier slots are not replayed), and runs abandoned by a
/// process that died are redone for their slot. Slots are claimed in the state store first, so several invocations at
/// once run each flow, dataset and slot exactly once. Writes every run as it ends; each failed or abandoned run is also written as
/// an error. A flow still exporting one of its datasets (another process, or a manual run) is left for a later
/// invocation, with a warning naming that run. With -FailOnError a terminating error follows, after all due flows ran, when any run failed, so
/// `pwsh -Command` exits with 1. -WhatIf lists the flows that are due and runs nothing. -ThrottleLimit exports several due
/// flows at once.</para>
/// </summary>
/// <example>
///   <code>Invoke-ExportSchedule -WhatIf</code>
///   <para>Lists the flows that are due now; nothing runs.</para>
/// </example>
/// <example>
///   <code>Invoke-ExportSchedule -FailOnError</code>
///   <para>Runs every enabled flow that is due, once per schedule slot; meant for a scheduled task or cron job every few minutes. With -FailOnError a failed run ends in a terminating error, so `pwsh -Command` exits with 1.</para>
/// </example>
/// <example>
///   <code>Invoke-ExportSchedule -ThrottleLimit 4</code>
///   <para>Exports up to four due flows at once, for a night window that many flows share; each shows its own progress bar.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "ExportSchedule", SupportsShouldProcess = true)]
[OutputType(typeof(ExportRun))]
public sealed class InvokeExportScheduleCommand : DatasetExportCmdlet
{
    private readonly List<string> _flowNames = new();
    private bool _flowsGiven;

    #region Parameters

    /// <summary>Consider only these flows (names, or flow objects from Get-ExportFlow). All flows when omitted; none when a pipeline gives none.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[]? Flow { get; set; }

    /// <summary>The lake folder; defaults to the configured lake.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LakePath { get; set; }

    /// <summary>After all due flows ran, throw a terminating error when any run failed (for scheduled tasks: pwsh exits with 1).</summary>
    [Parameter]
    public SwitchParameter FailOnError { get; set; }

    /// <summary>
    /// How many due flows export at once (each flow's datasets one after another, each flow with its own progress bar); 1, the
    /// default, runs them one after another. Flows to different destinations gain most: uploads wait on the network.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 32)]
    public int ThrottleLimit { get; set; } = 1;

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        if (Flow is null) return;
        _flowsGiven = true;
        foreach (var name in Flow)
        {
            var flow = FindFlowOrWriteError(name);
            if (flow is not null && !_flowNames.Contains(flow.Name, StringComparer.OrdinalIgnoreCase)) _flowNames.Add(flow.Name);
        }
    }

    protected override void EndProcessingCore()
    {
        // Only the flows that exist when names were given (the missing ones were reported); every flow otherwise. A pipeline
        // gives names even when it gives none (Get-ExportFlow web* matching nothing): that selects no flow, not every flow.
        IReadOnlyCollection<string>? selected = _flowsGiven || MyInvocation.ExpectingInput ? _flowNames : null;
        if (selected is { Count: 0 }) return;
        var lakePath = ResolveLakePathOrStop(LakePath);

        var due = Engine.GetDueFlows(selected);
        var confirmed = new List<string>();
        foreach (var (flow, slot) in due)
        {
            var destinationName = DestinationNameOf(flow.DestinationId);
            var action = $"Export the {slot.UtcDateTime:yyyy-MM-dd HH:mm} UTC slot of {flow.DatasetIds.Count} dataset(s) from lake '{lakePath}' to destination '{destinationName}'";
            if (ShouldProcess($"flow '{flow.Name}'", action)) confirmed.Add(flow.Name);
        }
        if (due.Count == 0)
        {
            // Nothing is due, but runs abandoned by a dead process may still be redone.
            if (!ShouldProcess($"lake '{lakePath}'", "No flow is due; redo the runs of scheduled flows whose process died, if any")) return;
        }
        else if (confirmed.Count < due.Count)
        {
            if (confirmed.Count == 0) return;
            selected = confirmed;
        }

        // Each slot left for later is said when it is left, among the runs: one said after them all was lost when a failed
        // run stopped the command (-ErrorAction Stop).
        var runs = ExportProgressWriter.Run(this, "Exporting due flows",
            reports => Engine.RunDueFlowsAsync(lakePath, selected, reports.Progress, StopToken,
                slot => reports.Warn($"Flow '{slot.FlowName}': the {slot.Slot.UtcDateTime:yyyy-MM-dd HH:mm} UTC slot was not started. {slot.Reason} A later invocation runs it once that run ends."),
                ThrottleLimit, reports.WrittenAsync));
        WriteVerbose(runs.Count == 0 ? "No run was started: no flow was due (or another process claimed it)." : $"{runs.Count} run(s) of {runs.Select(r => r.FlowName).Distinct().Count()} flow(s).");
        var failures = runs.Count(EndedBadly);
        if (FailOnError && failures > 0)
        {
            ThrowTerminatingError(new ErrorRecord(
                new InvalidOperationException($"{failures} of {runs.Count} scheduled export run(s) failed or were abandoned; see the errors above and Get-ExportRun -Status Failed."),
                "ScheduledRunsFailed", ErrorCategory.WriteError, null));
        }
    }
}
