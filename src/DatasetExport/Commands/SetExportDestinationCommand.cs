using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Changes how a destination writes files: file type, compression, manifest, file size, folder.</para>
/// <para type="description">Type-specific settings (bucket, credentials, ...) are not changed here: remove the destination and
/// create it again. Unless -SkipValidation is given, the changed destination is validated with a probe file.</para>
/// </summary>
[Cmdlet(VerbsCommon.Set, "ExportDestination", SupportsShouldProcess = true)]
[OutputType(typeof(ExportDestination))]
public sealed class SetExportDestinationCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The destination to change: its name, or a destination object from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The file type written: Json (JSON Lines) or Parquet.</summary>
    [Parameter]
    public FileType? FileType { get; set; }

    /// <summary>Compression: None or Gzip for Json; None, Gzip, Snappy or Zstd for Parquet.</summary>
    [Parameter]
    public Compression? Compression { get; set; }

    /// <summary>Write a manifest with each run (-IncludeManifest:$false to stop).</summary>
    [Parameter]
    public SwitchParameter IncludeManifest { get; set; }

    /// <summary>Start a new file when the current one reaches this size.</summary>
    [Parameter]
    [ValidateRange(1, 1024 * 1024)]
    public int? MaxFileSizeMB { get; set; }

    /// <summary>A folder below the destination's root where exports go; empty for the root.</summary>
    [Parameter]
    [ValidateNotNull]
    public string? FolderPath { get; set; }

    /// <summary>Store the change without writing a probe file first.</summary>
    [Parameter]
    public SwitchParameter SkipValidation { get; set; }

    /// <summary>Return the changed destination.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    #endregion

    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        var destination = FindDestinationOrWriteError(Name);
        if (destination is null) return;

        var fileType = FileType ?? Enum.Parse<FileType>(destination.FileType.ToString());
        var compression = Compression ?? Enum.Parse<Compression>(destination.Compression.ToString());
        ValidateFileType(fileType, compression, Name);

        destination.FileType = fileType.ToEngine();
        destination.Compression = compression.ToEngine();
        if (MyInvocation.BoundParameters.ContainsKey(nameof(IncludeManifest))) destination.IncludeManifest = IncludeManifest.IsPresent;
        if (MaxFileSizeMB is { } maxFileSize) destination.MaxFileSizeMB = maxFileSize;
        if (FolderPath is not null) destination.FolderPath = FolderPath.Replace('\\', '/').Trim('/');

        if (!ShouldProcess(destination.Name, "Change export destination settings")) return;
        Guard(() =>
        {
            Wait(() => Engine.UpdateDestinationAsync(destination, SkipValidation.IsPresent, StopToken));
            if (PassThru) WriteObject(EngineMapping.ToOutput(Engine.State.GetDestination(destination.Id) ?? destination));
        }, destination.Name);
    }
}
