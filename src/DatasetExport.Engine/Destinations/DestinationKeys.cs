namespace DatasetExport.Engine.Destinations;

/// <summary>
/// Names of the type-specific entries in <see cref="DestinationSettings.Properties"/> (plain, may be shown)
/// and <see cref="DestinationSettings.Secrets"/> (encrypted at rest, never shown). The cmdlets fill them,
/// the destination classes read them.
/// </summary>
public static class DestinationKeys
{
    // Properties.
    public const string Path = "Path";                        // Local: folder
    public const string Bucket = "Bucket";                    // AmazonS3, GoogleCloudStorage
    public const string Region = "Region";                    // AmazonS3; GoogleCloudStorage signing region (default "auto")
    public const string Endpoint = "Endpoint";                // AmazonS3 (S3-compatible), GoogleCloudStorage (override for tests)
    public const string ProfileName = "ProfileName";          // AmazonS3: shared credentials profile
    public const string RoleArn = "RoleArn";                  // AmazonS3: role to assume
    public const string ExternalId = "ExternalId";            // AmazonS3: external id for the role
    public const string AccessKeyId = "AccessKeyId";          // AmazonS3, GoogleCloudStorage (HMAC access id): shown, not secret
    public const string Container = "Container";              // AzureBlob, DataLandingZone (from the SAS URI)
    public const string AccountName = "AccountName";          // AzureBlob, AzureDataLakeGen2
    public const string ServiceUri = "ServiceUri";            // AzureBlob/AzureDataLakeGen2: blob endpoint override (Azurite), or SAS URI without its query
    public const string FileSystem = "FileSystem";            // AzureDataLakeGen2
    public const string TenantId = "TenantId";                // Azure service principal
    public const string ClientId = "ClientId";                // Azure service principal
    public const string HostName = "HostName";                // Sftp
    public const string Port = "Port";                        // Sftp
    public const string UserName = "UserName";                // Sftp
    public const string RemotePath = "RemotePath";            // Sftp: base folder on the server
    public const string KeyFile = "KeyFile";                  // Sftp: private key file path
    public const string HostKeyFingerprint = "HostKeyFingerprint"; // Sftp: SHA256:... pin (recorded on first use when not given)
    public const string PgpPublicKey = "PgpPublicKey";        // any type: armored OpenPGP public key; files are encrypted to it (.gpg)
    public const string PgpEncryptManifest = "PgpEncryptManifest"; // any type: "true" encrypts the manifest too (default "false")
    public const string FolderTemplate = "FolderTemplate";    // every type: folder of a run's files below FolderPath (default %DATASET_ID%/exportTime=%EXPORT_TIME%)
    public const string RetryCount = "RetryCount";            // every type: retries of a transiently failed operation (default 4)
    public const string RetryTimeoutSeconds = "RetryTimeoutSeconds"; // every type: no retry starts later than this after the first attempt (default 300)

    // Secrets.
    public const string SecretAccessKey = "SecretAccessKey";  // AmazonS3, GoogleCloudStorage (HMAC secret)
    public const string ConnectionString = "ConnectionString";// AzureBlob
    public const string AccountKey = "AccountKey";            // AzureBlob, AzureDataLakeGen2
    public const string SasUri = "SasUri";                    // AzureBlob, DataLandingZone: full URI with signature
    public const string ClientSecret = "ClientSecret";        // Azure service principal
    public const string Password = "Password";                // Sftp password
    public const string KeyPassphrase = "KeyPassphrase";      // Sftp key passphrase
}
