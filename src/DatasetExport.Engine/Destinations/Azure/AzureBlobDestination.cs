namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// An Azure Blob Storage container (property Container). Signs in with exactly one of: the ConnectionString
/// secret; the SasUri secret (container SAS, or account SAS plus Container); AccountName + AccountKey secret
/// (ServiceUri overrides the endpoint, e.g. Azurite's <c>http://127.0.0.1:10000/devstoreaccount1</c>); a service
/// principal (TenantId, ClientId, ClientSecret secret); or, when none is given, DefaultAzureCredential.
/// </summary>
public sealed class AzureBlobDestination : BlobContainerDestination
{
    private const string Kind = "AzureBlob";

    public AzureBlobDestination(DestinationSettings settings) : this(settings, AzureClientTuning.Default)
    {
    }

    public AzureBlobDestination(DestinationSettings settings, AzureClientTuning tuning) : base(Connect(settings, tuning), settings.FolderPath, tuning)
    {
    }

    /// <summary>The blob's https URL, without query.</summary>
    public override string GetSinkPath(string relativePath) => BlobUrl(relativePath);

    private static AzureBlobConnection Connect(DestinationSettings settings, AzureClientTuning tuning)
    {
        var signIns = new[] { DestinationKeys.ConnectionString, DestinationKeys.SasUri, DestinationKeys.AccountKey, DestinationKeys.ClientSecret }
            .Where(key => !string.IsNullOrEmpty(settings.GetSecret(key)))
            .ToList();
        if (signIns.Count > 1)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The {Kind} destination '{settings.Name}' has more than one way to sign in ({string.Join(", ", signIns)}): keep one.");
        }

        var container = settings.GetProperty(DestinationKeys.Container);
        var sasUri = settings.GetSecret(DestinationKeys.SasUri);
        if (!string.IsNullOrEmpty(sasUri))
        {
            return AzureBlobConnection.FromSasUri(sasUri, container, Kind, tuning);
        }
        if (string.IsNullOrWhiteSpace(container))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {Kind} destination '{settings.Name}' needs a Container.");
        }
        var connectionString = settings.GetSecret(DestinationKeys.ConnectionString);
        return string.IsNullOrEmpty(connectionString)
            ? AzureBlobConnection.FromAccountSettings(settings, container, Kind, tuning)
            : AzureBlobConnection.FromConnectionString(connectionString, container, tuning);
    }
}
