using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Renames a stored destination, keeping its settings, its credentials and the flows that use it.</para>
/// <para type="description">The flows that export there keep doing so, and an incremental flow still sends only what the
/// destination lacks (a destination removed and made again would get everything again). Recorded runs keep the name they
/// ran with. Its credentials are not read, so a destination whose secrets cannot be decrypted here is renamed too. When its
/// FolderTemplate uses %DESTINATION%, a warning says that later exports go to folders of the new name.</para>
/// </summary>
/// <example>
///   <code>Rename-ExportDestination s3 s3-archive</code>
///   <para>Renames the destination; flows pointed at it now show Destination s3-archive.</para>
/// </example>
[Cmdlet(VerbsCommon.Rename, "ExportDestination", SupportsShouldProcess = true)]
[OutputType(typeof(ExportDestination))]
public sealed class RenameExportDestinationCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The destination to rename: its name, or a destination object from the pipeline (a flow or run stands for its destination).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportDestination))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The destination's new name: unique among destinations, case-insensitively (a change of case alone is a rename too).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string NewName { get; set; } = "";

    /// <summary>Writes the renamed destination.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    #endregion

    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        ThrowIfWildcard(NewName, nameof(NewName));
        var destination = FindDestinationOrWriteError(Name);
        if (destination is null || !ShouldProcess(destination.Name, $"Rename export destination to '{NewName}'")) return;
        Guard(() =>
        {
            foreach (var warning in Engine.RenameDestination(destination, NewName)) WriteWarning(warning);
            if (PassThru) WriteObject(EngineMapping.ToOutput(Engine.State.GetDestination(destination.Id) ?? destination));
        }, destination.Name);
    }
}
