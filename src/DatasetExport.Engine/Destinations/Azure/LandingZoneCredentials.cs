namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>A Data Landing Zone takes a new SAS URI for the same container.</summary>
internal sealed class LandingZoneCredentials : CredentialRenewal
{
    public override string WhatItTakes(DestinationSettings settings) => "takes a SAS URI for its container";

    public override Dictionary<string, string>? Renew(DestinationSettings settings, NewCredential credential)
    {
        if (credential is not NewCredential.SasUri sas) return null;
        var sasUri = DestinationCredentials.CheckedSasUri(sas);
        // The container is part of the destination's identity: its folder and every run's files are there.
        if (!string.Equals(sasUri.GetLeftPart(UriPartial.Path).TrimEnd('/'), settings.GetProperty(DestinationKeys.ServiceUri), StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException(
                $"The SAS URI names another container than destination '{settings.Name}' ({settings.GetProperty(DestinationKeys.ServiceUri)}): " +
                "a landing zone's new SAS must be for the same container.", nameof(NewCredential.SasUri));
        }
        return new(StringComparer.OrdinalIgnoreCase) { [DestinationKeys.SasUri] = sasUri.AbsoluteUri };
    }
}
