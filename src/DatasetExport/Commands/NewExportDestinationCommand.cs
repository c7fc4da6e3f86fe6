using System.Management.Automation;
using System.Security;
using DatasetExport.Engine;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using DatasetExport.Engine.Destinations.Retry;

namespace DatasetExport.Commands;

/// <summary>
/// <para type="synopsis">Creates a destination: where exported files go and how they are written.</para>
/// <para type="description">Each destination type has its own parameter set (see the syntax). Unless -SkipValidation is given,
/// the destination is validated first by writing, reading back and deleting a probe file. Secrets (passwords, keys,
/// connection strings, SAS URIs) are encrypted in the state store and never shown again.</para>
/// </summary>
/// <example>
///   <code>New-ExportDestination -Name archive -Type Local -Path /mnt/backup -FileType Parquet -Compression Zstd -IncludeManifest</code>
///   <para>A folder destination writing zstd-compressed Parquet files and a manifest after them.</para>
/// </example>
/// <example>
///   <code>New-ExportDestination -Name s3 -Type AmazonS3 -Bucket my-exports -Region eu-west-1 -Credential (Get-Credential AKIAEXAMPLEKEYID)</code>
///   <para>An Amazon S3 bucket, signed in with an access key (user name) and its secret (password). The secret is encrypted in the state store and never shown again.</para>
/// </example>
/// <example>
///   <code>New-ExportDestination -Name sftp -Type Sftp -HostName files.example.net -Credential (Get-Credential exporter) -RemotePath /exports</code>
///   <para>An SFTP server. Validation records the server's host key fingerprint, which later connections must match.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ExportDestination", SupportsShouldProcess = true, DefaultParameterSetName = LocalSet)]
[OutputType(typeof(ExportDestination))]
public sealed class NewExportDestinationCommand : DatasetExportCmdlet
{
    private const string LocalSet = "Local";
    private const string AmazonS3Set = "AmazonS3";
    private const string GoogleCloudStorageSet = "GoogleCloudStorage";
    private const string AzureBlobConnectionStringSet = "AzureBlobConnectionString";
    private const string AzureBlobAccountKeySet = "AzureBlobAccountKey";
    private const string AzureBlobSasSet = "AzureBlobSas";
    private const string AzureBlobServicePrincipalSet = "AzureBlobServicePrincipal";
    private const string AzureBlobDefaultCredentialSet = "AzureBlobDefaultCredential";
    private const string AzureDataLakeAccountSet = "AzureDataLakeGen2Account";
    private const string AzureDataLakeUrlSet = "AzureDataLakeGen2Url";
    private const string DataLandingZoneSet = "DataLandingZone";
    private const string SftpPasswordSet = "SftpPassword";
    private const string SftpKeySet = "SftpKeyFile";

    #region Parameters

    /// <summary>A unique name for the destination.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The kind of storage. It must match the parameter set used (e.g. -Path for Local, -Bucket -Region for AmazonS3).</summary>
    [Parameter(Mandatory = true)]
    public DestinationType Type { get; set; }

    /// <summary>Local: the folder to write to (created when missing).</summary>
    [Parameter(Mandatory = true, ParameterSetName = LocalSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>AmazonS3, GoogleCloudStorage: the bucket.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AmazonS3Set)]
    [Parameter(Mandatory = true, ParameterSetName = GoogleCloudStorageSet)]
    [ValidateNotNullOrEmpty]
    public string Bucket { get; set; } = "";

    /// <summary>AmazonS3: the bucket's region, e.g. eu-west-1.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AmazonS3Set)]
    [ValidateNotNullOrEmpty]
    public string Region { get; set; } = "";

    /// <summary>
    /// GoogleCloudStorage: the region its HMAC requests are signed for; default "auto", which Cloud Storage expects. Not
    /// named -Region: with -Bucket, -Region and -Credential the binder could not tell an S3 destination from this one.
    /// </summary>
    [Parameter(ParameterSetName = GoogleCloudStorageSet)]
    [ValidateNotNullOrEmpty]
    public string? SigningRegion { get; set; }

    /// <summary>AmazonS3, GoogleCloudStorage: a service endpoint override (S3-compatible storage, tests).</summary>
    [Parameter(ParameterSetName = AmazonS3Set)]
    [Parameter(ParameterSetName = GoogleCloudStorageSet)]
    [ValidateNotNull]
    public Uri? Endpoint { get; set; }

    /// <summary>AmazonS3: a shared credentials profile to use instead of -Credential.</summary>
    [Parameter(ParameterSetName = AmazonS3Set)]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    /// <summary>AmazonS3: a role to assume for writing.</summary>
    [Parameter(ParameterSetName = AmazonS3Set)]
    [ValidateNotNullOrEmpty]
    public string? RoleArn { get; set; }

    /// <summary>AmazonS3: the external id the role requires (with -RoleArn).</summary>
    [Parameter(ParameterSetName = AmazonS3Set)]
    [ValidateNotNullOrEmpty]
    public string? ExternalId { get; set; }

    /// <summary>
    /// AmazonS3: access key id (user name) and secret access key (password). GoogleCloudStorage: HMAC access id and secret.
    /// AzureBlob with -AccountName: the account key as password. With -TenantId: client id and client secret.
    /// AzureDataLakeGen2: the account key, or with -TenantId the client id and secret. Sftp: user name and password, or
    /// with -KeyFile the user name and key passphrase (empty when the key has none).
    /// </summary>
    [Parameter(ParameterSetName = AmazonS3Set)]
    [Parameter(Mandatory = true, ParameterSetName = GoogleCloudStorageSet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobAccountKeySet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobServicePrincipalSet)]
    [Parameter(ParameterSetName = AzureDataLakeAccountSet)]
    [Parameter(ParameterSetName = AzureDataLakeUrlSet)]
    [Parameter(Mandatory = true, ParameterSetName = SftpPasswordSet)]
    [Parameter(ParameterSetName = SftpKeySet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>AzureBlob: the container.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobConnectionStringSet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobAccountKeySet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobSasSet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobServicePrincipalSet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobDefaultCredentialSet)]
    [ValidateNotNullOrEmpty]
    public string Container { get; set; } = "";

    /// <summary>AzureBlob: a storage connection string.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobConnectionStringSet)]
    [ValidateNotNull]
    public SecureString? ConnectionString { get; set; }

    /// <summary>AzureBlob: a container SAS URI. DataLandingZone: the landing zone's SAS URI. A SecureString, or a Uri.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobSasSet)]
    [Parameter(Mandatory = true, ParameterSetName = DataLandingZoneSet)]
    [SecureUriTransformation]
    [ValidateNotNull]
    public SecureString? SasUri { get; set; }

    /// <summary>AzureBlob, AzureDataLakeGen2: the storage account name.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobAccountKeySet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobServicePrincipalSet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobDefaultCredentialSet)]
    [Parameter(Mandatory = true, ParameterSetName = AzureDataLakeAccountSet)]
    [ValidateNotNullOrEmpty]
    public string? AccountName { get; set; }

    /// <summary>AzureBlob, AzureDataLakeGen2: the Entra ID tenant of the service principal given as -Credential.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureBlobServicePrincipalSet)]
    [Parameter(ParameterSetName = AzureDataLakeAccountSet)]
    [Parameter(ParameterSetName = AzureDataLakeUrlSet)]
    [ValidateNotNullOrEmpty]
    public string? TenantId { get; set; }

    /// <summary>AzureBlob, AzureDataLakeGen2: a blob service endpoint override (e.g. Azurite).</summary>
    [Parameter(ParameterSetName = AzureBlobSasSet)]
    [Parameter(ParameterSetName = AzureBlobAccountKeySet)]
    [Parameter(ParameterSetName = AzureBlobServicePrincipalSet)]
    [Parameter(ParameterSetName = AzureBlobDefaultCredentialSet)]
    [Parameter(ParameterSetName = AzureDataLakeAccountSet)]
    [Parameter(ParameterSetName = AzureDataLakeUrlSet)]
    [ValidateNotNull]
    public Uri? ServiceUri { get; set; }

    /// <summary>AzureDataLakeGen2: the file system (container).</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureDataLakeAccountSet)]
    [ValidateNotNullOrEmpty]
    public string? FileSystem { get; set; }

    /// <summary>AzureDataLakeGen2: abfss://&lt;file system&gt;@&lt;account&gt;.dfs.core.windows.net, instead of -AccountName and -FileSystem.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AzureDataLakeUrlSet)]
    [ValidateNotNull]
    public Uri? Url { get; set; }

    /// <summary>Sftp: the server's host name or address.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SftpPasswordSet)]
    [Parameter(Mandatory = true, ParameterSetName = SftpKeySet)]
    [ValidateNotNullOrEmpty]
    public string? HostName { get; set; }

    /// <summary>Sftp: the server's port.</summary>
    [Parameter(ParameterSetName = SftpPasswordSet)]
    [Parameter(ParameterSetName = SftpKeySet)]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = 22;

    /// <summary>Sftp: a private key file to sign in with. The user name comes from -Credential, else the current user.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SftpKeySet)]
    [ValidateNotNullOrEmpty]
    public string? KeyFile { get; set; }

    /// <summary>Sftp: the base folder on the server.</summary>
    [Parameter(ParameterSetName = SftpPasswordSet)]
    [Parameter(ParameterSetName = SftpKeySet)]
    [ValidateNotNullOrEmpty]
    public string? RemotePath { get; set; }

    /// <summary>
    /// Sftp: the server's host key pin, "SHA256:..." as ssh-keygen -lf prints it. When omitted, the key the server shows
    /// while the destination is validated is recorded (trust on first use), so it cannot be omitted with -SkipValidation.
    /// </summary>
    [Parameter(ParameterSetName = SftpPasswordSet)]
    [Parameter(ParameterSetName = SftpKeySet)]
    [ValidatePattern("^SHA256:[A-Za-z0-9+/=]+$")]
    public string? HostKeyFingerprint { get; set; }

    /// <summary>
    /// Encrypt every data file to this OpenPGP public key (files are named *.gpg): the path of a key file (armored or
    /// binary, as gpg --export writes it) or the armored key text. Only the public key is stored.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PgpPublicKey { get; set; }

    /// <summary>Encrypt the manifest too (with -PgpPublicKey); Test-ExportRun then checks it by its recorded sha256.</summary>
    [Parameter]
    public SwitchParameter EncryptManifest { get; set; }

    /// <summary>The file type written: Json (JSON Lines) or Parquet.</summary>
    [Parameter]
    public FileType FileType { get; set; } = FileType.Json;

    /// <summary>Compression: None or Gzip for Json; None, Gzip, Snappy or Zstd for Parquet.</summary>
    [Parameter]
    public Compression Compression { get; set; } = Compression.None;

    /// <summary>Write a manifest listing every file with its size, record count and sha256 next to each run's files.</summary>
    [Parameter]
    public SwitchParameter IncludeManifest { get; set; }

    /// <summary>Start a new file when the current one reaches this size.</summary>
    [Parameter]
    [ValidateRange(1, ExportEngine.MaxFileSizeLimitMB)]
    public int MaxFileSizeMB { get; set; } = DestinationSettings.DefaultMaxFileSizeMB;

    /// <summary>A folder below the destination's root (bucket, container, path) where exports go.</summary>
    [Parameter]
    [ValidateNotNull]
    public string FolderPath { get; set; } = "";

    /// <summary>
    /// The folder of each run's files below -FolderPath, with the macros %DATASET_ID% (required), %DATASET_NAME%,
    /// %DESTINATION%, %FLOW_NAME%, %EXPORT_TIME% and %DATETIME(format)%; default %DATASET_ID%/exportTime=%EXPORT_TIME%.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? FolderTemplate { get; set; }

    /// <summary>How often an operation that failed transiently (connection, timeout, throttling, server error) is tried again; default 4.</summary>
    [Parameter]
    [ValidateRangeOrNull(0, RetryPolicy.MaxRetryCount)]
    public int? RetryCount { get; set; }

    /// <summary>No retry starts later than this many seconds after an operation's first attempt; default 300.</summary>
    [Parameter]
    [Alias("RetryTimeout")]
    [ValidateRangeOrNull(1, RetryPolicy.MaxTimeoutSeconds)]
    public int? RetryTimeoutSeconds { get; set; }

    /// <summary>Store the destination without writing a probe file first.</summary>
    [Parameter]
    public SwitchParameter SkipValidation { get; set; }

    #endregion

    protected override string ErrorNoun => "Destination";

    protected override void ProcessRecordCore()
    {
        ThrowIfWildcard(Name, nameof(Name));
        var setType = ParameterSetName.StartsWith("AzureBlob", StringComparison.Ordinal) ? DestinationType.AzureBlob
            : ParameterSetName.StartsWith("AzureDataLakeGen2", StringComparison.Ordinal) ? DestinationType.AzureDataLakeGen2
            : ParameterSetName.StartsWith("Sftp", StringComparison.Ordinal) ? DestinationType.Sftp
            : Enum.Parse<DestinationType>(ParameterSetName);
        if (setType != Type)
        {
            ThrowTerminatingError(new ErrorRecord(
                new PSArgumentException($"-Type {Type} does not match the parameters given, which describe a {setType} destination. See Get-Help New-ExportDestination for each type's parameters.", nameof(Type)),
                "ParametersDoNotMatchType", ErrorCategory.InvalidArgument, Type));
        }
        if (!TryValidateFileType(FileType, Compression, Name)) return;
        if (Engine.State.FindDestination(Name) is not null)
        {
            WriteError($"A destination named '{Name}' already exists. Use Set-ExportDestination to change it, or choose another name.",
                "DestinationAlreadyExists", ErrorCategory.ResourceExists, Name);
            return;
        }

        var destination = new DestinationSettings
        {
            Name = Name,
            Type = Type.ToEngine(),
            FileType = FileType.ToEngine(),
            Compression = Compression.ToEngine(),
            IncludeManifest = IncludeManifest.IsPresent,
            MaxFileSizeMB = MaxFileSizeMB,
            FolderPath = FolderPath.Replace('\\', '/').Trim('/'),
        };
        AddTypeSettings(destination);
        if (FolderTemplate is not null) destination.Properties[DestinationKeys.FolderTemplate] = FolderTemplate;
        SetRetrySettings(destination, RetryCount, RetryTimeoutSeconds);
        if (EncryptManifest && PgpPublicKey is null) ThrowArgument("-EncryptManifest needs -PgpPublicKey: the manifest is encrypted to the same key as the files.", nameof(EncryptManifest));
        if (PgpPublicKey is not null)
        {
            try
            {
                destination.Properties[DestinationKeys.PgpPublicKey] = LoadPgpPublicKey(PgpPublicKey, Name);
            }
            catch (ArgumentException error)
            {
                WriteError(ToErrorRecord(error, Name));
                return;
            }
            destination.Properties[DestinationKeys.PgpEncryptManifest] = EncryptManifest.IsPresent ? "true" : "false";
        }

        Guard(() =>
        {
            // The engine refuses these too, but only after ShouldProcess would have shown the location (-WhatIf, -Verbose,
            // -Confirm) built from them.
            PropertySecrets.ThrowIfAny(destination);
            if (!ShouldProcess($"{Name} ({Type} {EngineMapping.DescribeLocation(destination)})", "Create export destination")) return;
            Wait(() => Engine.AddDestinationAsync(destination, SkipValidation.IsPresent, StopToken));
            WriteObject(EngineMapping.ToOutput(Engine.State.FindDestination(Name) ?? destination));
        }, Name);
    }

    /// <summary>Maps the type's parameters to the plain properties and the secrets the destination classes read.</summary>
    private void AddTypeSettings(DestinationSettings destination)
    {
        var properties = destination.Properties;
        var secrets = destination.Secrets;
        switch (ParameterSetName)
        {
            case LocalSet:
                properties[DestinationKeys.Path] = GetUnresolvedProviderPathFromPSPath(Path);
                break;

            case AmazonS3Set:
            case GoogleCloudStorageSet:
                properties[DestinationKeys.Bucket] = Bucket;
                if (ParameterSetName == AmazonS3Set) properties[DestinationKeys.Region] = Region;
                if (SigningRegion is not null) properties[DestinationKeys.Region] = SigningRegion;
                if (Endpoint is not null) properties[DestinationKeys.Endpoint] = Endpoint.AbsoluteUri;
                if (ProfileName is not null) properties[DestinationKeys.ProfileName] = ProfileName;
                if (ExternalId is not null && RoleArn is null) ThrowArgument("-ExternalId needs -RoleArn.", nameof(ExternalId));
                if (RoleArn is not null) properties[DestinationKeys.RoleArn] = RoleArn;
                if (ExternalId is not null) properties[DestinationKeys.ExternalId] = ExternalId;
                if (Credential is not null)
                {
                    properties[DestinationKeys.AccessKeyId] = Credential.UserName;
                    secrets[DestinationKeys.SecretAccessKey] = PasswordOf(Credential);
                }
                break;

            case AzureBlobConnectionStringSet:
                properties[DestinationKeys.Container] = Container;
                secrets[DestinationKeys.ConnectionString] = Reveal(ConnectionString!);
                break;

            case AzureBlobSasSet:
                properties[DestinationKeys.Container] = Container;
                secrets[DestinationKeys.SasUri] = RevealUri(SasUri!, nameof(SasUri)).AbsoluteUri;
                break;

            case AzureBlobAccountKeySet:
            case AzureBlobServicePrincipalSet:
            case AzureBlobDefaultCredentialSet:
                properties[DestinationKeys.Container] = Container;
                properties[DestinationKeys.AccountName] = AccountName!;
                AddAzureCredential(destination);
                break;

            case AzureDataLakeAccountSet:
                properties[DestinationKeys.AccountName] = AccountName!;
                properties[DestinationKeys.FileSystem] = FileSystem!;
                AddAzureCredential(destination);
                break;

            case AzureDataLakeUrlSet:
                var location = ParseDataLakeUrl(Url!);
                properties[DestinationKeys.AccountName] = location.AccountName;
                properties[DestinationKeys.FileSystem] = location.FileSystem;
                // A path in the URL is the folder exports go to; -FolderPath goes below it.
                destination.FolderPath = string.Join('/', new[] { location.Path, destination.FolderPath }.Where(part => part.Length > 0));
                AddAzureCredential(destination);
                break;

            case DataLandingZoneSet:
                var sasUri = RevealUri(SasUri!, nameof(SasUri));
                var withoutQuery = sasUri.GetLeftPart(UriPartial.Path).TrimEnd('/');
                var container = withoutQuery[(withoutQuery.LastIndexOf('/') + 1)..];
                if (container.Length == 0 || string.IsNullOrEmpty(sasUri.Query))
                {
                    ThrowArgument("-SasUri must be a container SAS URI: https://<account>.blob.core.windows.net/<container>?<signature>.", nameof(SasUri));
                }
                properties[DestinationKeys.ServiceUri] = withoutQuery;
                properties[DestinationKeys.Container] = container;
                secrets[DestinationKeys.SasUri] = sasUri.AbsoluteUri;
                break;

            case SftpPasswordSet:
            case SftpKeySet:
                properties[DestinationKeys.HostName] = HostName!;
                properties[DestinationKeys.Port] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                properties[DestinationKeys.UserName] = Credential?.UserName ?? Environment.UserName;
                if (RemotePath is not null) properties[DestinationKeys.RemotePath] = RemotePath;
                if (HostKeyFingerprint is not null) properties[DestinationKeys.HostKeyFingerprint] = HostKeyFingerprint;
                else if (SkipValidation)
                {
                    // The key is recorded while validating; an SFTP destination without a pin never connects.
                    ThrowArgument("-SkipValidation needs -HostKeyFingerprint for Sftp: without validation the server's host key cannot be recorded, "
                        + "and the destination refuses to connect to an unpinned server. Give the pin (ssh-keygen -lf on the server's host key) or drop -SkipValidation.",
                        nameof(HostKeyFingerprint));
                }
                if (ParameterSetName == SftpPasswordSet)
                {
                    secrets[DestinationKeys.Password] = PasswordOf(Credential!);
                    break;
                }
                // Key text pasted as -KeyFile would be quoted back (and resolved as a path): refuse it without echoing it.
                if (KeyFile!.Contains("PRIVATE KEY", StringComparison.OrdinalIgnoreCase) || KeyFile.Contains('\n'))
                {
                    ThrowArgument("-KeyFile takes the path of a private key file, not the key itself; its passphrase goes in -Credential.", nameof(KeyFile));
                }
                var keyFile = GetUnresolvedProviderPathFromPSPath(KeyFile);
                if (!File.Exists(keyFile)) ThrowArgument($"The key file '{keyFile}' does not exist.", nameof(KeyFile));
                properties[DestinationKeys.KeyFile] = keyFile;
                if (Credential is not null && PasswordOf(Credential) is { Length: > 0 } passphrase)
                {
                    secrets[DestinationKeys.KeyPassphrase] = passphrase;
                }
                break;
        }
    }

    /// <summary>Account key, or with -TenantId a service principal; nothing means the default credential chain.</summary>
    private void AddAzureCredential(DestinationSettings destination)
    {
        if (ServiceUri is not null) destination.Properties[DestinationKeys.ServiceUri] = ServiceUri.AbsoluteUri.TrimEnd('/');
        if (TenantId is not null && Credential is null)
        {
            ThrowArgument("-TenantId needs -Credential with the service principal's client id (user name) and client secret (password).", nameof(TenantId));
        }
        if (Credential is null) return;
        if (TenantId is not null)
        {
            destination.Properties[DestinationKeys.TenantId] = TenantId;
            destination.Properties[DestinationKeys.ClientId] = Credential.UserName;
            destination.Secrets[DestinationKeys.ClientSecret] = PasswordOf(Credential);
        }
        else
        {
            destination.Secrets[DestinationKeys.AccountKey] = PasswordOf(Credential);
        }
    }

    private AdlsLocation ParseDataLakeUrl(Uri url)
    {
        try
        {
            return AdlsUrl.Parse(url.OriginalString);
        }
        catch (ArgumentException error)
        {
            ThrowArgument(error.Message.Replace(" (Parameter 'url')", ""), nameof(Url));
            throw; // not reached: ThrowArgument throws
        }
    }

    private Uri RevealUri(SecureString secure, string parameterName)
    {
        try
        {
            return DestinationCredentials.ParseSasUri(Reveal(secure), $"-{parameterName}", parameterName);
        }
        catch (ArgumentException error)
        {
            ThrowArgument(error.Message.Replace($" (Parameter '{parameterName}')", ""), parameterName);
            throw; // not reached: ThrowArgument throws
        }
    }

    private void ThrowArgument(string message, string parameterName) =>
        ThrowTerminatingError(new ErrorRecord(new PSArgumentException(message, parameterName), "InvalidDestinationParameter", ErrorCategory.InvalidArgument, Name));
}
