using System.Management.Automation;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Lists stored destinations. Secrets are never shown: Credential holds the key id or user name only.</para>
/// <para type="description">Destinations are returned in name order; Settings holds the plain type settings (bucket,
/// region, host, ...), and Credential the access key id, client id or user name, or **** when only a secret is stored. A
/// destination whose secrets this state home's keys cannot decrypt, or whose OpenPGP key expired or was revoked since it
/// was stored, is listed with a warning saying so. A name without wildcards that matches nothing is a DestinationNotFound
/// error. A flow or run from the pipeline stands for its destination.</para>
/// </summary>
/// <example>
///   <code>Get-ExportDestination</code>
///   <para>Lists every stored destination; secrets are never shown.</para>
/// </example>
/// <example>
///   <code>Get-ExportDestination s3*</code>
///   <para>The destinations whose names start with s3.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExportDestination")]
[OutputType(typeof(ExportDestination))]
public sealed class GetExportDestinationCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>Destination names; wildcards allowed. All destinations when omitted. A flow or run from the pipeline stands for its destination.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [NameTransformation(typeof(ExportDestination))]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(DestinationNameCompleter))]
    public string[]? Name { get; set; }

    #endregion

    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        var destinations = Engine.State.ListDestinations().OrderBy(d => d.Name, StringComparer.OrdinalIgnoreCase).ToList();
        foreach (var destination in FilterByName(destinations, d => [d.Name], Name, "Destination"))
        {
            // Listed all the same, so it can be removed or given its secrets or key again; it cannot export until then.
            if (destination.UnreadableSecrets is { } unreadable) WriteWarning(unreadable);
            if (Engine.EncryptionKeyProblem(destination) is { } keyProblem) WriteWarning(keyProblem);
            WriteObject(EngineMapping.ToOutput(destination));
        }
    }
}
