using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Lists the datasets in the lake that can be exported.</para>
/// <para type="description">Scans the lake (-LakePath, else the path set with Set-DatasetExportOption, else $env:DATASETEXPORT_LAKE)
/// and returns one EligibleDataset per dataset folder. Ineligible datasets (no batches, unreadable, conflicting schemas) are
/// left out unless -IncludeIneligible is given; their Reason says why.</para>
/// </summary>
/// <example>
///   <code>Get-EligibleDataset 'web*'</code>
///   <para>Lists the datasets of the configured lake whose id or name starts with web: batches, size, record count and schema.</para>
/// </example>
/// <example>
///   <code>Get-EligibleDataset -LakePath /data/lake -IncludeIneligible | Where-Object { -not $_.IsEligible }</code>
///   <para>Shows the datasets that cannot be exported, with every bad batch in BatchProblems.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "EligibleDataset", DefaultParameterSetName = ByNameSet)]
[OutputType(typeof(EligibleDataset))]
public sealed class GetEligibleDatasetCommand : DatasetExportCmdlet
{
    private const string ByNameSet = "ByName";
    private const string ByIdSet = "ById";

    #region Parameters

    /// <summary>Dataset names or ids to return; wildcards allowed. All datasets when omitted.</summary>
    [Parameter(Position = 0, ParameterSetName = ByNameSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DatasetIdCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Exact dataset ids to return; also from the pipeline (a flow stands for its datasets, a run for its dataset).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByIdSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(EligibleDataset))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DatasetIdCompleter))]
    public string[] Id { get; set; } = [];

    /// <summary>The lake folder; defaults to the configured lake.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LakePath { get; set; }

    /// <summary>Also return datasets that cannot be exported, with the reason.</summary>
    [Parameter]
    public SwitchParameter IncludeIneligible { get; set; }

    #endregion

    protected override string ErrorNoun => "Dataset";

    protected override void ProcessRecordCore()
    {
        var lakePath = ResolveLakePathOrStop(LakePath);
        if (ParameterSetName == ByIdSet)
        {
            foreach (var id in Id) Guard(() => WriteById(lakePath, id), id);
            return;
        }
        // Only the datasets the names match are read (FilterByName below still reports a name that matches none).
        var patterns = Name?.Select(name => WildcardPattern.Get(name, WildcardOptions.IgnoreCase)).ToList();
        var datasets = Engine.GetDatasets(lakePath, IncludeIneligible.IsPresent, StopToken,
            patterns is null ? null : (id, name) => patterns.Any(pattern => pattern.IsMatch(id) || pattern.IsMatch(name)));
        foreach (var dataset in FilterByName(datasets, d => [d.Id, d.Name], Name, "Dataset"))
        {
            WriteObject(EngineMapping.ToOutput(dataset));
        }
    }

    private void WriteById(string lakePath, string id)
    {
        var dataset = Engine.GetDataset(lakePath, id, StopToken);
        if (!dataset.IsEligible && !IncludeIneligible.IsPresent)
        {
            WriteError($"Dataset '{id}' cannot be exported: {dataset.Reason} Use -IncludeIneligible to see it anyway.",
                "DatasetNotEligible", ErrorCategory.InvalidData, id);
            return;
        }
        WriteObject(EngineMapping.ToOutput(dataset));
    }
}
