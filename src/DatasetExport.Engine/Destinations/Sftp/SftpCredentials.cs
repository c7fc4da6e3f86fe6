namespace DatasetExport.Engine.Destinations.Sftp;

/// <summary>SFTP takes a user name and password, or with a KeyFile the key's passphrase (none for a key without one).</summary>
internal sealed class SftpCredentials : CredentialRenewal
{
    public override string WhatItTakes(DestinationSettings settings) => "takes a credential: user name and password, or with a KeyFile the key's passphrase";

    public override Dictionary<string, string>? Renew(DestinationSettings settings, NewCredential credential)
    {
        if (credential is not NewCredential.Pair pair) return null;
        settings.Properties[DestinationKeys.UserName] = pair.UserName;
        var secrets = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (settings.GetProperty(DestinationKeys.KeyFile) is null) secrets[DestinationKeys.Password] = pair.Secret;
        else if (pair.Secret.Length > 0) secrets[DestinationKeys.KeyPassphrase] = pair.Secret;
        return secrets;
    }
}
