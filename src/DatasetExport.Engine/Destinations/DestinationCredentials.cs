namespace DatasetExport.Engine.Destinations;

/// <summary>Credentials given to replace a destination's stored ones: one kind at a time.</summary>
public abstract record NewCredential
{
    private NewCredential()
    {
    }

    /// <summary>A user name, key id or client id (stored as a plain property where the type has one) and its secret.</summary>
    public sealed record Pair(string UserName, string Secret) : NewCredential
    {
        public override string ToString() => $"Pair {{ UserName = {UserName} }}";
    }

    /// <summary>An Azure storage connection string.</summary>
    public sealed record ConnectionString(string Value) : NewCredential
    {
        public override string ToString() => "ConnectionString";
    }

    /// <summary>A SAS URI, signature included.</summary>
    public sealed record SasUri(string Value) : NewCredential
    {
        public override string ToString() => "SasUri";
    }
}

/// <summary>
/// Replaces a stored destination's credentials (a rotated key, an expired SAS, secrets this state home can no longer
/// decrypt) without making it anew, which would lose what its flows exported there. The way it signs in stays: the new
/// credential must be of the kind that way takes, and it replaces every stored secret.
/// </summary>
public static class DestinationCredentials
{
    /// <summary>
    /// Puts <paramref name="credential"/> in place of the destination's secrets (and its public half in the property that
    /// names it); ArgumentException naming the kind given when the destination does not sign in with that kind. Messages never
    /// quote a secret.
    /// </summary>
    public static void Renew(DestinationSettings settings, NewCredential credential)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(credential);
        var properties = settings.Properties;
        var secrets = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        switch (settings.Type, credential)
        {
            case (DestinationType.AmazonS3 or DestinationType.GoogleCloudStorage, NewCredential.Pair pair):
                properties[DestinationKeys.AccessKeyId] = pair.UserName;
                secrets[DestinationKeys.SecretAccessKey] = pair.Secret;
                break;
            case (DestinationType.AzureBlob or DestinationType.AzureDataLakeGen2, NewCredential.Pair pair) when SignsInAsAccount(settings):
                if (settings.GetProperty(DestinationKeys.TenantId) is not null)
                {
                    properties[DestinationKeys.ClientId] = pair.UserName;
                    secrets[DestinationKeys.ClientSecret] = pair.Secret;
                }
                else
                {
                    secrets[DestinationKeys.AccountKey] = pair.Secret;
                }
                break;
            case (DestinationType.AzureBlob, NewCredential.ConnectionString connectionString) when !SignsInAsAccount(settings):
                secrets[DestinationKeys.ConnectionString] = connectionString.Value;
                break;
            case (DestinationType.AzureBlob, NewCredential.SasUri sas) when !SignsInAsAccount(settings):
                secrets[DestinationKeys.SasUri] = CheckedSasUri(sas).AbsoluteUri;
                break;
            case (DestinationType.DataLandingZone, NewCredential.SasUri sas):
                var sasUri = CheckedSasUri(sas);
                // The container is part of the destination's identity: its folder and every run's files are there.
                if (!string.Equals(sasUri.GetLeftPart(UriPartial.Path).TrimEnd('/'), settings.GetProperty(DestinationKeys.ServiceUri), StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException(
                        $"The SAS URI names another container than destination '{settings.Name}' ({settings.GetProperty(DestinationKeys.ServiceUri)}): " +
                        "a landing zone's new SAS must be for the same container.", nameof(NewCredential.SasUri));
                }
                secrets[DestinationKeys.SasUri] = sasUri.AbsoluteUri;
                break;
            case (DestinationType.Sftp, NewCredential.Pair pair):
                properties[DestinationKeys.UserName] = pair.UserName;
                if (settings.GetProperty(DestinationKeys.KeyFile) is null) secrets[DestinationKeys.Password] = pair.Secret;
                else if (pair.Secret.Length > 0) secrets[DestinationKeys.KeyPassphrase] = pair.Secret;
                break;
            default:
                throw new ArgumentException(
                    $"Destination '{settings.Name}' ({settings.Type}) {WhatItTakes(settings)}: it cannot be given a {Describe(credential)}.", ParameterName(credential));
        }
        settings.Secrets = secrets;
        // Whatever was stored is replaced, readable here or not.
        settings.UnreadableSecrets = null;
    }

    /// <summary>Azure destinations made with an account name sign in as the account (key, service principal, default chain).</summary>
    private static bool SignsInAsAccount(DestinationSettings settings) =>
        settings.Type == DestinationType.AzureDataLakeGen2 || settings.GetProperty(DestinationKeys.AccountName) is not null;

    private static string WhatItTakes(DestinationSettings settings) => settings.Type switch
    {
        DestinationType.AmazonS3 or DestinationType.GoogleCloudStorage => "takes a credential: access key id and secret",
        DestinationType.AzureBlob or DestinationType.AzureDataLakeGen2 when SignsInAsAccount(settings) =>
            "signs in as its storage account and takes a credential: the account key as password, or with a TenantId the client id and secret",
        DestinationType.AzureBlob => "signs in to its container and takes a connection string or a SAS URI",
        DestinationType.DataLandingZone => "takes a SAS URI for its container",
        DestinationType.Sftp => "takes a credential: user name and password, or with a KeyFile the key's passphrase",
        _ => "stores no credentials",
    };

    private static string Describe(NewCredential credential) => credential switch
    {
        NewCredential.Pair => "credential",
        NewCredential.ConnectionString => "connection string",
        _ => "SAS URI",
    };

    private static string ParameterName(NewCredential credential) => credential switch
    {
        NewCredential.Pair => "Credential",
        NewCredential.ConnectionString => nameof(NewCredential.ConnectionString),
        _ => nameof(NewCredential.SasUri),
    };

    /// <summary>
    /// <paramref name="value"/> as an absolute http(s) URI without user:password@; otherwise ArgumentException (named
    /// <paramref name="parameterName"/>) saying so of <paramref name="subject"/>, never quoting the value, which is a secret.
    /// </summary>
    public static Uri ParseSasUri(string value, string subject, string parameterName)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw new ArgumentException($"{subject} is not an absolute http(s) URI.", parameterName);
        }
        if (uri.UserInfo.Length > 0)
        {
            throw new ArgumentException($"{subject} must not carry a user name or password before its host (user:password@): a SAS URI signs in by its query alone.", parameterName);
        }
        return uri;
    }

    private static Uri CheckedSasUri(NewCredential.SasUri sas)
    {
        var uri = ParseSasUri(sas.Value, "The SAS URI", nameof(NewCredential.SasUri));
        if (uri.Query.Length == 0)
        {
            throw new ArgumentException("The SAS URI has no query: it must carry the signature (?sv=...&sig=...).", nameof(NewCredential.SasUri));
        }
        return uri;
    }
}
