using System.Management.Automation;
using DatasetExport.Engine;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Shows the module's stored options and where its state lives.</para>
/// <para type="description">Returns one DatasetExportOption: LakePath, the lake cmdlets use when they get no -LakePath (set
/// with Set-DatasetExportOption; null when none is stored, and then $env:DATASETEXPORT_LAKE applies), and StateHome, the
/// folder holding state.db and the keys that encrypt destination secrets ($env:DATASETEXPORT_HOME, else the per-user data
/// folder).</para>
/// </summary>
/// <example>
///   <code>Get-DatasetExportOption</code>
///   <para>Shows the default lake and where the state (destinations, flows, runs) is kept.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "DatasetExportOption")]
[OutputType(typeof(DatasetExportOption))]
public sealed class GetDatasetExportOptionCommand : DatasetExportCmdlet
{
    protected override string ErrorNoun => "Option";

    protected override void ProcessRecordCore() => WriteObject(Read(Engine));

    internal static DatasetExportOption Read(ExportEngine engine) => new()
    {
        LakePath = engine.State.GetOption(ExportEngine.LakePathOption),
        StateHome = engine.StateHome,
    };
}
