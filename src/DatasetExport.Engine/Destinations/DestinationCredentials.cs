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
/// How one destination type takes new credentials: one implementation per way of signing in, beside the type's class,
/// named for the type in <see cref="DestinationRegistry"/>.
/// </summary>
public abstract class CredentialRenewal
{
    /// <summary>What the destination takes, for refusing another kind: e.g. "takes a credential: access key id and secret".</summary>
    public abstract string WhatItTakes(DestinationSettings settings);

    /// <summary>
    /// The secrets that replace every stored one (the public half, such as a key id, put in <paramref name="settings"/>'
    /// properties), or null, changing nothing, when the destination does not sign in with <paramref name="credential"/>'s
    /// kind. ArgumentException for a credential of the right kind that cannot be used (messages never quote a secret).
    /// </summary>
    public abstract Dictionary<string, string>? Renew(DestinationSettings settings, NewCredential credential);
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
        var renewal = DestinationRegistry.CredentialsOf(settings.Type);
        var secrets = renewal?.Renew(settings, credential) ?? throw new ArgumentException(
            $"Destination '{settings.Name}' ({settings.Type}) {renewal?.WhatItTakes(settings) ?? "stores no credentials"}: it cannot be given a {Describe(credential)}.",
            ParameterName(credential));
        settings.Secrets = secrets;
        // Whatever was stored is replaced, readable here or not.
        settings.UnreadableSecrets = null;
    }

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

    /// <summary>A new SAS URI as a destination stores it: parsed as <see cref="ParseSasUri"/> does, and carrying a signature.</summary>
    internal static Uri CheckedSasUri(NewCredential.SasUri sas)
    {
        var uri = ParseSasUri(sas.Value, "The SAS URI", nameof(NewCredential.SasUri));
        if (uri.Query.Length == 0)
        {
            throw new ArgumentException("The SAS URI has no query: it must carry the signature (?sv=...&sig=...).", nameof(NewCredential.SasUri));
        }
        return uri;
    }
}
