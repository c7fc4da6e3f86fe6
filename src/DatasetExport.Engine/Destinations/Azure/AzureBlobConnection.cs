using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;

namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// A container client built from one way of signing in, plus what a shared access signature grants when one is
/// used (to explain permission and expiry failures). Never keeps a secret where it could be printed: a SAS goes
/// into an <see cref="AzureSasCredential"/>, so <see cref="Location"/> and the client's Uri carry no signature.
/// </summary>
internal sealed class AzureBlobConnection
{
    private AzureBlobConnection(BlobContainerClient container, SasGrant? sas)
    {
        Container = container;
        Sas = sas;
        Location = WithoutQuery(container.Uri);
    }

    public BlobContainerClient Container { get; }

    /// <summary>What the SAS in use grants, or null for other credentials.</summary>
    public SasGrant? Sas { get; }

    /// <summary>The container's URL without any query, safe to show.</summary>
    public string Location { get; }

    public static AzureBlobConnection FromConnectionString(string connectionString, string containerName, AzureClientTuning tuning)
    {
        BlobServiceClient service;
        try
        {
            service = new BlobServiceClient(connectionString, CreateOptions(tuning));
        }
        catch (Exception error) when (error is FormatException or ArgumentException or InvalidOperationException)
        {
            // The parser's message may quote parts of the connection string: do not pass it on.
            throw new DestinationException(DestinationFailure.InvalidConfiguration, "The ConnectionString secret is not a valid Azure Storage connection string.");
        }
        return new AzureBlobConnection(service.GetBlobContainerClient(containerName), sas: null);
    }

    /// <summary>
    /// A SAS URI of a container (<c>https://acct.blob.core.windows.net/container?sv=...&amp;sig=...</c>) or of the
    /// account (then <paramref name="containerName"/> names the container).
    /// </summary>
    public static AzureBlobConnection FromSasUri(string sasUri, string? containerName, string kind, AzureClientTuning tuning)
    {
        if (!Uri.TryCreate(sasUri, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The SasUri secret of the {kind} destination is not an absolute http(s) URI.");
        }
        BlobUriBuilder parts;
        try
        {
            parts = new BlobUriBuilder(uri);
        }
        catch (Exception error) when (error is FormatException or ArgumentException)
        {
            // The SDK reads the SAS fields (times, IP range, protocol) and quotes the one it cannot read; it never parses 'sig'.
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The SasUri of the {kind} destination ({WithoutQuery(uri)}) is not a valid SAS URI: {error.Message}");
        }
        if (string.IsNullOrEmpty(parts.Sas?.Signature))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The SasUri of the {kind} destination ({WithoutQuery(uri)}) has no signature ('sig').");
        }
        if (!string.IsNullOrEmpty(parts.BlobName))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The SasUri of the {kind} destination ({WithoutQuery(uri)}) points at a blob; give a container or account SAS.");
        }
        var uriContainer = parts.BlobContainerName;
        if (!string.IsNullOrEmpty(uriContainer) && !string.IsNullOrEmpty(containerName) && !string.Equals(uriContainer, containerName, StringComparison.Ordinal))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The Container '{containerName}' differs from the container '{uriContainer}' in the SasUri of the {kind} destination.");
        }
        var container = string.IsNullOrEmpty(uriContainer) ? containerName : uriContainer;
        if (string.IsNullOrEmpty(container))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The SasUri of the {kind} destination ({WithoutQuery(uri)}) is an account SAS: set the Container as well.");
        }

        var grant = new SasGrant(parts.Sas.Permissions ?? "", parts.Sas.StartsOn, parts.Sas.ExpiresOn);
        var signature = new AzureSasCredential(uri.Query.TrimStart('?'));
        parts.Sas = null;
        parts.Query = null;
        parts.BlobContainerName = container;
        return new AzureBlobConnection(new BlobContainerClient(parts.ToUri(), signature, CreateOptions(tuning)), grant);
    }

    public static AzureBlobConnection FromAccountKey(Uri serviceUri, string accountName, string accountKey, string containerName, AzureClientTuning tuning)
    {
        StorageSharedKeyCredential credential;
        try
        {
            credential = new StorageSharedKeyCredential(accountName, accountKey);
        }
        catch (FormatException)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The AccountKey secret for account '{accountName}' is not valid base64.");
        }
        return new AzureBlobConnection(new BlobContainerClient(ContainerUri(serviceUri, containerName), credential, CreateOptions(tuning)), sas: null);
    }

    /// <summary>Entra ID: a service principal's <see cref="ClientSecretCredential"/> or <see cref="DefaultAzureCredential"/>.</summary>
    public static AzureBlobConnection FromTokenCredential(Uri serviceUri, TokenCredential credential, string containerName, string kind, AzureClientTuning tuning)
    {
        if (serviceUri.Scheme != Uri.UriSchemeHttps)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"Entra ID sign-in for the {kind} destination needs an https endpoint, not {serviceUri}.");
        }
        return new AzureBlobConnection(new BlobContainerClient(ContainerUri(serviceUri, containerName), credential, CreateOptions(tuning)), sas: null);
    }

    /// <summary>
    /// Signs in as the account: with the AccountKey secret when given, else as a service principal (TenantId,
    /// ClientId, ClientSecret), else with <see cref="DefaultAzureCredential"/> (environment, managed identity, CLI).
    /// </summary>
    public static AzureBlobConnection FromAccountSettings(DestinationSettings settings, string containerName, string kind, AzureClientTuning tuning)
    {
        var serviceUri = ResolveServiceUri(settings, kind);
        var accountKey = settings.GetSecret(DestinationKeys.AccountKey);
        if (!string.IsNullOrEmpty(accountKey))
        {
            return FromAccountKey(serviceUri, ResolveAccountName(settings, serviceUri, kind), accountKey, containerName, tuning);
        }
        return FromTokenCredential(serviceUri, CreateTokenCredential(settings, kind), containerName, kind, tuning);
    }

    /// <summary>The blob endpoint: the ServiceUri property (e.g. Azurite's) or the public one of the account.</summary>
    public static Uri ResolveServiceUri(DestinationSettings settings, string kind)
    {
        var serviceUri = settings.GetProperty(DestinationKeys.ServiceUri);
        if (!string.IsNullOrWhiteSpace(serviceUri))
        {
            if (!Uri.TryCreate(serviceUri, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(uri.Query))
            {
                throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The ServiceUri of the {kind} destination must be an absolute http(s) URI without a query.");
            }
            return uri;
        }
        var accountName = settings.GetProperty(DestinationKeys.AccountName);
        if (string.IsNullOrWhiteSpace(accountName))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {kind} destination needs an AccountName (or a ServiceUri).");
        }
        return new Uri($"https://{accountName}.blob.core.windows.net");
    }

    /// <summary>The AccountName property, or the account the ServiceUri names (also for Azurite's path-style URIs).</summary>
    public static string ResolveAccountName(DestinationSettings settings, Uri serviceUri, string kind)
    {
        var accountName = settings.GetProperty(DestinationKeys.AccountName);
        if (string.IsNullOrWhiteSpace(accountName))
        {
            accountName = new BlobUriBuilder(serviceUri).AccountName;
        }
        if (string.IsNullOrWhiteSpace(accountName))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The {kind} destination needs an AccountName for its AccountKey.");
        }
        return accountName;
    }

    private static TokenCredential CreateTokenCredential(DestinationSettings settings, string kind)
    {
        var tenantId = settings.GetProperty(DestinationKeys.TenantId);
        var clientId = settings.GetProperty(DestinationKeys.ClientId);
        var clientSecret = settings.GetSecret(DestinationKeys.ClientSecret);
        if (string.IsNullOrWhiteSpace(tenantId) && string.IsNullOrWhiteSpace(clientId) && string.IsNullOrEmpty(clientSecret))
        {
            return new DefaultAzureCredential();
        }
        var missing = new[] { (DestinationKeys.TenantId, tenantId), (DestinationKeys.ClientId, clientId), (DestinationKeys.ClientSecret, clientSecret) }
            .Where(entry => string.IsNullOrWhiteSpace(entry.Item2))
            .Select(entry => entry.Item1)
            .ToList();
        if (missing.Count > 0)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"A service principal for the {kind} destination needs TenantId, ClientId and ClientSecret; missing: {string.Join(", ", missing)}.");
        }
        return new ClientSecretCredential(tenantId, clientId, clientSecret);
    }

    public static string WithoutQuery(Uri uri) => new UriBuilder(uri) { Query = "", Fragment = "" }.Uri.AbsoluteUri;

    /// <summary>Appends the container to the endpoint's path (Azurite and proxies put the account there).</summary>
    private static Uri ContainerUri(Uri serviceUri, string containerName) =>
        new(serviceUri.AbsoluteUri.TrimEnd('/') + "/" + Uri.EscapeDataString(containerName));

    private static BlobClientOptions CreateOptions(AzureClientTuning tuning)
    {
        var options = new BlobClientOptions();
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = tuning.MaxRetries;
        options.Retry.Delay = tuning.RetryDelay;
        options.Retry.NetworkTimeout = tuning.NetworkTimeout;
        options.Diagnostics.IsLoggingEnabled = false;
        options.Diagnostics.IsTelemetryEnabled = false;
        return options;
    }
}

/// <summary>What a shared access signature grants (its 'sp', 'st' and 'se' fields); holds no signature.</summary>
internal sealed record SasGrant(string Permissions, DateTimeOffset StartsOn, DateTimeOffset ExpiresOn)
{
    public bool HasExpired(DateTimeOffset now) => ExpiresOn != default && ExpiresOn <= now;

    public bool IsNotYetValid(DateTimeOffset now) => StartsOn != default && StartsOn > now;
}
