using System.Management.Automation;
using System.Security;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Retry;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Changes how a destination writes files: file type, compression, manifest, file size, folder, encryption, retries.</para>
/// <para type="description">Credentials are replaced with -Credential, -ConnectionString or -SasUri, keeping the way the
/// destination signs in, and an SFTP server's host key pin with -HostKeyFingerprint. Other type-specific settings (bucket,
/// container, host, ...) are not changed here: a destination elsewhere is a new destination. Unless -SkipValidation is given, the changed destination is validated with a probe file.</para>
/// </summary>
/// <example>
///   <code>Set-ExportDestination archive -FileType Json -Compression Gzip -PassThru</code>
///   <para>Makes the destination write gzip-compressed JSON Lines files from the next run on.</para>
/// </example>
/// <example>
///   <code>Set-ExportDestination s3 -Credential (Get-Credential AKIAIOSFODNN7EXAMPLE)</code>
///   <para>Puts a rotated access key in place of the stored one, after a probe file shows it works. Flows keep what they exported there.</para>
/// </example>
/// <example>
///   <code>Set-ExportDestination sftp -HostKeyFingerprint SHA256:7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk</code>
///   <para>Pins the SFTP server's new host key after it was changed on purpose; validation checks the server shows it.</para>
/// </example>
/// <example>
///   <code>Get-ExportDestination s3 | Set-ExportDestination -RetryCount 8 -RetryTimeoutSeconds 600</code>
///   <para>Retries failed transfers to s3 up to 8 times, within 10 minutes.</para>
/// </example>
/// <example>
///   <code>Set-ExportDestination s3 -RetryCount $null -RetryTimeoutSeconds $null</code>
///   <para>Puts both retry settings back to their defaults (4 retries within 300 seconds).</para>
/// </example>
[Cmdlet(VerbsCommon.Set, "ExportDestination", SupportsShouldProcess = true)]
[OutputType(typeof(ExportDestination))]
public sealed class SetExportDestinationCommand : DatasetExportCmdlet
{
    #region Parameters

    /// <summary>The destination to change: its name, or a destination object from the pipeline (a flow or run stands for its destination).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [NameTransformation(typeof(ExportDestination))]
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
    [ValidateRange(1, ExportEngine.MaxFileSizeLimitMB)]
    public int? MaxFileSizeMB { get; set; }

    /// <summary>A folder below the destination's root where exports go; empty for the root.</summary>
    [Parameter]
    [ValidateNotNull]
    public string? FolderPath { get; set; }

    /// <summary>
    /// Encrypt every data file to this OpenPGP public key: a key file's path or the armored key text. An empty string
    /// stops encrypting (and removes -EncryptManifest).
    /// </summary>
    [Parameter]
    [AllowEmptyString]
    [ValidateNotNull]
    public string? PgpPublicKey { get; set; }

    /// <summary>Encrypt the manifest too (-EncryptManifest:$false to stop); needs a key, given now or stored.</summary>
    [Parameter]
    public SwitchParameter EncryptManifest { get; set; }

    /// <summary>The folder of each run's files below -FolderPath, with macros (see New-ExportDestination).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? FolderTemplate { get; set; }

    /// <summary>How often an operation that failed transiently (connection, timeout, throttling, server error) is tried again; default 4, which $null restores.</summary>
    [Parameter]
    [ValidateRangeOrNull(0, RetryPolicy.MaxRetryCount)]
    public int? RetryCount { get; set; }

    /// <summary>No retry starts later than this many seconds after an operation's first attempt; default 300, which $null restores.</summary>
    [Parameter]
    [Alias("RetryTimeout")]
    [ValidateRangeOrNull(1, RetryPolicy.MaxTimeoutSeconds)]
    public int? RetryTimeoutSeconds { get; set; }

    /// <summary>
    /// New credentials in place of the stored ones (a rotated key, secrets this state home can no longer decrypt); the way
    /// the destination signs in stays. AmazonS3 / GoogleCloudStorage: access key id and secret. AzureBlob made with
    /// -AccountName, AzureDataLakeGen2: the account key as password, or with a TenantId the client id and secret. Sftp: user
    /// name and password, or with a key file the key's passphrase (empty when it has none).
    /// </summary>
    [Parameter]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>AzureBlob made with -ConnectionString or -SasUri: a new connection string in place of the stored secret.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? ConnectionString { get; set; }

    /// <summary>AzureBlob made with -ConnectionString or -SasUri, DataLandingZone: a new SAS URI (for a landing zone, of the same container).</summary>
    [Parameter]
    [SecureUriTransformation]
    [ValidateNotNull]
    public SecureString? SasUri { get; set; }

    /// <summary>
    /// Sftp: a new host key pin, "SHA256:..." as ssh-keygen -lf prints it, for a server whose key changed on purpose (validation
    /// then checks the server shows it). '' removes the pin: validation records the key the server shows now (trust on first
    /// use), so '' cannot go with -SkipValidation.
    /// </summary>
    [Parameter]
    [AllowEmptyString]
    [ValidatePattern("^(SHA256:[A-Za-z0-9+/=]+)?$")]
    public string? HostKeyFingerprint { get; set; }

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
        if (!TryValidateFileType(fileType, compression, destination.Name)) return;

        destination.FileType = fileType.ToEngine();
        destination.Compression = compression.ToEngine();
        if (MyInvocation.BoundParameters.ContainsKey(nameof(IncludeManifest))) destination.IncludeManifest = IncludeManifest.IsPresent;
        if (MaxFileSizeMB is { } maxFileSize) destination.MaxFileSizeMB = maxFileSize;
        if (FolderPath is not null) destination.FolderPath = FolderPath.Replace('\\', '/').Trim('/');
        if (FolderTemplate is not null) destination.Properties[DestinationKeys.FolderTemplate] = FolderTemplate;
        SetRetrySettings(destination, RetryCount, RetryTimeoutSeconds);
        if (!TryApplyHostKeyPin(destination)) return;
        if (!TryApplyEncryption(destination)) return;
        if (!TryRenewCredential(destination)) return;

        if (!ShouldProcess(destination.Name, "Change export destination settings")) return;
        Guard(() =>
        {
            Wait(() => Engine.UpdateDestinationAsync(destination, SkipValidation.IsPresent, StopToken));
            if (PassThru) WriteObject(EngineMapping.ToOutput(Engine.State.GetDestination(destination.Id) ?? destination));
        }, destination.Name);
    }

    /// <summary>Puts the credential given (one kind at most) in place of the stored secrets; false after writing an error.</summary>
    private bool TryRenewCredential(DestinationSettings destination)
    {
        var given = new (string Parameter, NewCredential? Credential)[]
        {
            (nameof(Credential), Credential is null ? null : new NewCredential.Pair(Credential.UserName, PasswordOf(Credential))),
            (nameof(ConnectionString), ConnectionString is null ? null : new NewCredential.ConnectionString(Reveal(ConnectionString))),
            (nameof(SasUri), SasUri is null ? null : new NewCredential.SasUri(Reveal(SasUri))),
        }.Where(entry => entry.Credential is not null).ToList();
        if (given.Count == 0) return true;
        try
        {
            if (given.Count > 1)
            {
                throw new PSArgumentException($"Give one credential at a time, not {string.Join(" and ", given.Select(entry => "-" + entry.Parameter))}.", given[1].Parameter);
            }
            DestinationCredentials.Renew(destination, given[0].Credential!);
            return true;
        }
        catch (ArgumentException error)
        {
            WriteError(new ErrorRecord(error, "InvalidDestinationParameter", ErrorCategory.InvalidArgument, destination.Name));
            return false;
        }
    }

    /// <summary>Sets or removes an SFTP destination's host key pin; false after writing an error (not Sftp, or '' without validation).</summary>
    private bool TryApplyHostKeyPin(DestinationSettings destination)
    {
        if (HostKeyFingerprint is null) return true;
        var problem = destination.Type.ToString() != nameof(DestinationType.Sftp)
            ? $"-HostKeyFingerprint applies to Sftp destinations; '{destination.Name}' is a {destination.Type} destination."
            : HostKeyFingerprint.Length == 0 && SkipValidation
                ? $"-HostKeyFingerprint '' needs validation, which records the key the server shows: drop -SkipValidation, or give the new pin (ssh-keygen -lf on the server's host key)."
                : null;
        if (problem is not null)
        {
            WriteError(new ErrorRecord(new PSArgumentException(problem, nameof(HostKeyFingerprint)), "InvalidDestinationParameter", ErrorCategory.InvalidArgument, destination.Name));
            return false;
        }
        if (HostKeyFingerprint.Length == 0) destination.Properties.Remove(DestinationKeys.HostKeyFingerprint);
        else destination.Properties[DestinationKeys.HostKeyFingerprint] = HostKeyFingerprint;
        return true;
    }

    /// <summary>Sets or removes the key and the manifest flag; false after writing an error (bad key, manifest without key).</summary>
    private bool TryApplyEncryption(DestinationSettings destination)
    {
        var properties = destination.Properties;
        if (PgpPublicKey is { Length: 0 })
        {
            properties.Remove(DestinationKeys.PgpPublicKey);
            properties.Remove(DestinationKeys.PgpEncryptManifest);
        }
        else if (PgpPublicKey is not null)
        {
            try
            {
                properties[DestinationKeys.PgpPublicKey] = LoadPgpPublicKey(PgpPublicKey, destination.Name);
            }
            catch (ArgumentException error)
            {
                WriteError(ToErrorRecord(error, destination.Name));
                return false;
            }
        }
        if (!MyInvocation.BoundParameters.ContainsKey(nameof(EncryptManifest))) return true;
        if (EncryptManifest && !properties.ContainsKey(DestinationKeys.PgpPublicKey))
        {
            WriteError(new ErrorRecord(
                new PSArgumentException($"-EncryptManifest needs a key: destination '{destination.Name}' has no -PgpPublicKey, and the manifest is encrypted to the same key as the files.", nameof(EncryptManifest)),
                "InvalidDestinationParameter", ErrorCategory.InvalidArgument, destination.Name));
            return false;
        }
        if (properties.ContainsKey(DestinationKeys.PgpPublicKey)) properties[DestinationKeys.PgpEncryptManifest] = EncryptManifest.IsPresent ? "true" : "false";
        else properties.Remove(DestinationKeys.PgpEncryptManifest);
        return true;
    }
}
