using System.Management.Automation;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.State;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Checks that a destination can be written: writes, reads back and deletes a probe file.</para>
/// <para type="description">Returns one result per destination. A failure is also written as an error whose category says
/// what went wrong: AuthenticationError, SecurityError (host key), ObjectNotFound, PermissionDenied, ConnectionError,
/// InvalidArgument (also when its OpenPGP key expired or was revoked since it was stored: its runs would fail), WriteError
/// (any other failure) or InvalidData (StateUnusable: its secrets cannot be decrypted with this state home's keys).</para>
/// </summary>
/// <example>
///   <code>Test-ExportDestination s3</code>
///   <para>Writes, reads back and deletes a probe file, and reports whether the destination works and why not.</para>
/// </example>
/// <example>
///   <code>Get-ExportDestination | Test-ExportDestination</code>
///   <para>Checks every destination.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "ExportDestination")]
[OutputType(typeof(DestinationTestResult))]
public sealed class TestExportDestinationCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The destinations to test: names, or destination objects from the pipeline (a flow or run stands for its destination).</summary>
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
            if (destination is not null) Test(destination);
        }
    }

    private void Test(DestinationSettings destination)
    {
        string? failure = null;
        try
        {
            Wait(() => Engine.TestDestinationAsync(destination, StopToken));
        }
        catch (Exception error) when (error is DestinationException or StateException)
        {
            // StateException: its secrets cannot be read here. Either way the other destinations are still tested.
            failure = error.Message;
            WriteError(ToErrorRecord(error, destination.Name));
        }
        WriteObject(new DestinationTestResult
        {
            Name = destination.Name,
            Type = Enum.Parse<DestinationType>(destination.Type.ToString()),
            Location = EngineMapping.DescribeLocation(destination),
            Succeeded = failure is null,
            Message = failure,
        });
    }
}
