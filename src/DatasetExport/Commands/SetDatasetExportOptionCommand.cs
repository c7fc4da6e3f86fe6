using System.Management.Automation;
using DatasetExport.Engine;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Sets the module's stored options, such as the default lake.</para>
/// <para type="description">The lake path is stored in the state database (in the state home: $env:DATASETEXPORT_HOME, else
/// the per-user data folder) and used whenever a cmdlet gets no -LakePath. -LakePath $null removes it, so $env:DATASETEXPORT_LAKE applies again.</para>
/// </summary>
/// <example>
///   <code>Set-DatasetExportOption -LakePath /data/lake -PassThru</code>
///   <para>Makes /data/lake the lake that cmdlets use when -LakePath is not given.</para>
/// </example>
/// <example>
///   <code>Set-DatasetExportOption -LakePath $null</code>
///   <para>Removes the stored lake: cmdlets without -LakePath then use $env:DATASETEXPORT_LAKE.</para>
/// </example>
[Cmdlet(VerbsCommon.Set, "DatasetExportOption", SupportsShouldProcess = true)]
[OutputType(typeof(DatasetExportOption))]
public sealed class SetDatasetExportOptionCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The lake folder: a folder of dataset folders. It must exist. $null (or '') removes the stored one.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [AllowNull]
    [AllowEmptyString]
    public string? LakePath { get; set; }

    /// <summary>Return the options after the change.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    #endregion

    protected override string ErrorNoun => "Option";

    protected override void ProcessRecordCore()
    {
        if (string.IsNullOrEmpty(LakePath))
        {
            if (!ShouldProcess(Engine.State.Location, "Remove the default lake")) return;
            Engine.State.SetOption(ExportEngine.LakePathOption, null);
            if (PassThru) WriteObject(GetDatasetExportOptionCommand.Read(Engine));
            return;
        }
        var fullPath = GetUnresolvedProviderPathFromPSPath(LakePath);
        if (!Directory.Exists(fullPath))
        {
            WriteError($"The lake folder '{fullPath}' does not exist.", "LakePathNotFound", ErrorCategory.ObjectNotFound, fullPath);
            return;
        }
        if (!ShouldProcess(Engine.State.Location, $"Set the default lake to '{fullPath}'")) return;
        Engine.State.SetOption(ExportEngine.LakePathOption, fullPath);
        if (PassThru) WriteObject(GetDatasetExportOptionCommand.Read(Engine));
    }
}
