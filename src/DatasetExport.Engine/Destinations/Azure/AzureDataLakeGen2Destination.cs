namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// An Azure Data Lake Storage Gen2 file system (properties AccountName, FileSystem), signed in with the AccountKey
/// secret, a service principal (TenantId, ClientId, ClientSecret secret) or DefaultAzureCredential. Files are written
/// through the account's Blob endpoint (ServiceUri overrides it): on an account with the hierarchical namespace the
/// folders of a blob's name appear as real directories; on a flat account or Azurite they stay plain blob names.
/// </summary>
public sealed class AzureDataLakeGen2Destination : BlobContainerDestination
{
    private const string Kind = "AzureDataLakeGen2";

    private readonly string _abfssRoot;

    public AzureDataLakeGen2Destination(DestinationSettings settings) : this(settings, AzureClientTuning.Default)
    {
    }

    public AzureDataLakeGen2Destination(DestinationSettings settings, AzureClientTuning tuning)
        : base(AzureBlobConnection.FromAccountSettings(settings, RequireProperty(settings, DestinationKeys.FileSystem), Kind, tuning), settings.FolderPath, tuning)
    {
        _abfssRoot = $"abfss://{RequireProperty(settings, DestinationKeys.FileSystem)}@{RequireProperty(settings, DestinationKeys.AccountName)}.dfs.core.windows.net/";
    }

    /// <summary><c>abfss://filesystem@account.dfs.core.windows.net/folder/path</c>, as Spark and Databricks name it.</summary>
    public override string GetSinkPath(string relativePath) => _abfssRoot + BlobName(relativePath);

    private static string RequireProperty(DestinationSettings settings, string key)
    {
        var value = settings.GetProperty(key);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {Kind} destination '{settings.Name}' needs a {key}.");
        }
        return value;
    }
}
