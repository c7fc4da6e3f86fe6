using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Lists stored flows.</para>
/// <para type="description">Flows are returned in name order, each with its destination's name, its datasets, its mode,
/// its schedule in words (Schedule), NextRunTime (the slot Invoke-ExportSchedule would run, in the past when it is due
/// now; empty for manual, disabled and completed flows), LastRunTime, LastStatus and Completed. A name without wildcards
/// that matches nothing is a FlowNotFound error. A run from the pipeline stands for its flow.</para>
/// </summary>
/// <example>
///   <code>Get-ExportFlow</code>
///   <para>Lists every flow with its schedule in words, next and last run time and last status.</para>
/// </example>
/// <example>
///   <code>Get-ExportFlow web*</code>
///   <para>The flows whose names start with web.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExportFlow")]
[OutputType(typeof(ExportFlow))]
public sealed class GetExportFlowCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>Flow names; wildcards allowed. All flows when omitted. A run from the pipeline stands for its flow.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [NameTransformation(typeof(ExportFlow))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FlowNameCompleter))]
    public string[]? Name { get; set; }

    #endregion

    protected override string ErrorNoun => "Flow";

    protected override void ProcessRecordCore()
    {
        var flows = Engine.State.ListFlows().OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase).ToList();
        foreach (var flow in FilterByName(flows, f => [f.Name], Name, "Flow"))
        {
            WriteObject(ToOutput(flow));
        }
    }
}
