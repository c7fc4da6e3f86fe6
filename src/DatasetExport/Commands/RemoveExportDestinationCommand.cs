using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Removes a stored destination and its encrypted credentials. Fails while a flow still uses it.</para>
/// <para type="description">Refused (DestinationInUse) while a flow uses it or a run still writes to it. Files exported there
/// stay, and what flows exported there is forgotten: a destination made again under its name is new. Files that failed or
/// interrupted runs left uncommitted there (no manifest lists them) are deleted once it is removed, with the settings it
/// had, as the runs of their flows would have; a warning says when some could not be.</para>
/// </summary>
/// <example>
///   <code>Remove-ExportDestination old-archive -Confirm:$false</code>
///   <para>Removes the destination without asking. It is refused while a flow still uses it; files already exported stay.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExportDestination", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveExportDestinationCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The destinations to remove: names, or destination objects from the pipeline (a flow or run stands for its destination).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportDestination))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string[] Name { get; set; } = [];

    #endregion

    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        foreach (var name in Name)
        {
            var destination = FindDestinationOrWriteError(name);
            if (destination is null || !ShouldProcess(destination.Name, "Remove export destination")) continue;
            Guard(() =>
            {
                foreach (var warning in Wait(() => Engine.RemoveDestinationAsync(destination, StopToken))) WriteWarning(warning);
            }, destination.Name);
        }
    }
}
