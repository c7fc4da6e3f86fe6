namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>
/// Azure Blob and ADLS Gen2 destinations made with an account name sign in as the account: its key, or with a TenantId a
/// service principal's client id and secret. An Azure Blob destination made for a container signs in with a connection
/// string or a SAS URI.
/// </summary>
internal sealed class AzureStorageCredentials : CredentialRenewal
{
    public override string WhatItTakes(DestinationSettings settings) => SignsInAsAccount(settings)
        ? "signs in as its storage account and takes a credential: the account key as password, or with a TenantId the client id and secret"
        : "signs in to its container and takes a connection string or a SAS URI";

    public override Dictionary<string, string>? Renew(DestinationSettings settings, NewCredential credential)
    {
        var secrets = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        switch (credential)
        {
            case NewCredential.Pair pair when SignsInAsAccount(settings):
                if (settings.GetProperty(DestinationKeys.TenantId) is not null)
                {
                    settings.Properties[DestinationKeys.ClientId] = pair.UserName;
                    secrets[DestinationKeys.ClientSecret] = pair.Secret;
                }
                else
                {
                    secrets[DestinationKeys.AccountKey] = pair.Secret;
                }
                return secrets;
            case NewCredential.ConnectionString connectionString when !SignsInAsAccount(settings):
                secrets[DestinationKeys.ConnectionString] = connectionString.Value;
                return secrets;
            case NewCredential.SasUri sas when !SignsInAsAccount(settings):
                secrets[DestinationKeys.SasUri] = DestinationCredentials.CheckedSasUri(sas).AbsoluteUri;
                return secrets;
            default:
                return null;
        }
    }

    private static bool SignsInAsAccount(DestinationSettings settings) =>
        settings.Type == DestinationType.AzureDataLakeGen2 || settings.GetProperty(DestinationKeys.AccountName) is not null;
}
