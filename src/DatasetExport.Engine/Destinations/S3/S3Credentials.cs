namespace DatasetExport.Engine.Destinations.S3;

/// <summary>Amazon S3 and Google Cloud Storage (HMAC) take a key id and its secret.</summary>
internal sealed class S3Credentials : CredentialRenewal
{
    public override string WhatItTakes(DestinationSettings settings) => "takes a credential: access key id and secret";

    public override Dictionary<string, string>? Renew(DestinationSettings settings, NewCredential credential)
    {
        if (credential is not NewCredential.Pair pair) return null;
        settings.Properties[DestinationKeys.AccessKeyId] = pair.UserName;
        return new(StringComparer.OrdinalIgnoreCase) { [DestinationKeys.SecretAccessKey] = pair.Secret };
    }
}
