using Azure.Storage.Sas;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Destinations.Azure;

namespace DatasetExport.Engine.Tests.Destinations;

/// <summary>
/// New credentials on a stored destination (<see cref="DestinationCredentials.Renew"/>): where each kind goes for each way of
/// signing in, what is refused, and a renewal working end to end against Azurite, which checks every signature.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class DestinationCredentialsTests(AzuriteFixture azurite)
{
    private const string Secret = "new-secret-Zz9!";

    public static TheoryData<DestinationType, string, string, string?, string?> Renewals => new()
    {
        // type, properties (k=v;...), old secret key, new property (k=v), new secret key
        { DestinationType.AmazonS3, "Bucket=b", DestinationKeys.SecretAccessKey, "AccessKeyId=new-id", DestinationKeys.SecretAccessKey },
        { DestinationType.GoogleCloudStorage, "Bucket=b;AccessKeyId=old-id", DestinationKeys.SecretAccessKey, "AccessKeyId=new-id", DestinationKeys.SecretAccessKey },
        { DestinationType.AzureBlob, "Container=c;AccountName=a", DestinationKeys.AccountKey, null, DestinationKeys.AccountKey },
        { DestinationType.AzureBlob, "Container=c;AccountName=a;TenantId=t;ClientId=old-id", DestinationKeys.ClientSecret, "ClientId=new-id", DestinationKeys.ClientSecret },
        { DestinationType.AzureDataLakeGen2, "FileSystem=f;AccountName=a", DestinationKeys.AccountKey, null, DestinationKeys.AccountKey },
        { DestinationType.Sftp, "HostName=h;UserName=old-id", DestinationKeys.Password, "UserName=new-id", DestinationKeys.Password },
        { DestinationType.Sftp, "HostName=h;UserName=old-id;KeyFile=/k", DestinationKeys.KeyPassphrase, "UserName=new-id", DestinationKeys.KeyPassphrase },
    };

    [Theory]
    [MemberData(nameof(Renewals))]
    public void A_credential_takes_the_place_of_every_stored_secret(DestinationType type, string properties, string oldSecretKey, string? newProperty, string? newSecretKey)
    {
        var settings = Settings(type, properties);
        settings.Secrets[oldSecretKey] = "old";
        settings.Secrets["Leftover"] = "old";

        DestinationCredentials.Renew(settings, new NewCredential.Pair("new-id", Secret));

        Assert.Equal([(newSecretKey!, Secret)], settings.Secrets.Select(secret => (secret.Key, secret.Value)));
        if (newProperty is not null) Assert.Equal(newProperty.Split('=')[1], settings.GetProperty(newProperty.Split('=')[0]));
        Assert.Null(settings.UnreadableSecrets);
    }

    [Fact]
    public void A_key_file_without_a_passphrase_keeps_no_secret_even_when_the_old_one_could_not_be_read()
    {
        var settings = Settings(DestinationType.Sftp, "HostName=h;UserName=u;KeyFile=/k");
        settings.UnreadableSecrets = "The secrets of destination 'd' cannot be read.";

        DestinationCredentials.Renew(settings, new NewCredential.Pair("u", ""));

        Assert.Empty(settings.Secrets);
        Assert.Null(settings.UnreadableSecrets);
    }

    [Theory]
    [InlineData(DestinationType.Local, "Path=/x", "Credential", "Destination 'd' (Local) stores no credentials: it cannot be given a credential.")]
    [InlineData(DestinationType.AmazonS3, "Bucket=b", "ConnectionString", "Destination 'd' (AmazonS3) takes a credential: access key id and secret: it cannot be given a connection string.")]
    [InlineData(DestinationType.AzureBlob, "Container=c;AccountName=a", "SasUri", "Destination 'd' (AzureBlob) signs in as its storage account and takes a credential: the account key as password, or with a TenantId the client id and secret: it cannot be given a SAS URI.")]
    [InlineData(DestinationType.AzureBlob, "Container=c", "Credential", "Destination 'd' (AzureBlob) signs in to its container and takes a connection string or a SAS URI: it cannot be given a credential.")]
    [InlineData(DestinationType.AzureDataLakeGen2, "FileSystem=f;AccountName=a", "ConnectionString", "Destination 'd' (AzureDataLakeGen2) signs in as its storage account and takes a credential: the account key as password, or with a TenantId the client id and secret: it cannot be given a connection string.")]
    [InlineData(DestinationType.DataLandingZone, "Container=c;ServiceUri=https://a.blob.core.windows.net/c", "Credential", "Destination 'd' (DataLandingZone) takes a SAS URI for its container: it cannot be given a credential.")]
    [InlineData(DestinationType.DataLandingZone, "Container=c;ServiceUri=https://a.blob.core.windows.net/c", "SasUri:https://a.blob.core.windows.net/other?sv=1&sig=SIGNATURE", "The SAS URI names another container than destination 'd' (https://a.blob.core.windows.net/c): a landing zone's new SAS must be for the same container.")]
    [InlineData(DestinationType.AzureBlob, "Container=c", "SasUri:https://user:SIGNATURE@a.blob.core.windows.net/c?sig=SIGNATURE", "The SAS URI must not carry a user name or password before its host")]
    [InlineData(DestinationType.AzureBlob, "Container=c", "SasUri:https://a.blob.core.windows.net/c", "The SAS URI has no query: it must carry the signature")]
    [InlineData(DestinationType.AzureBlob, "Container=c", "SasUri:SIGNATURE", "The SAS URI is not an absolute http(s) URI.")]
    public void A_kind_the_destination_does_not_sign_in_with_is_refused_and_nothing_changes(DestinationType type, string properties, string given, string message)
    {
        var settings = Settings(type, properties);
        settings.Secrets["Stored"] = "old";
        var propertiesBefore = settings.Properties.ToList();
        NewCredential credential = given.Split(':', 2) switch
        {
            ["Credential"] => new NewCredential.Pair("id", "SIGNATURE"),
            ["ConnectionString"] => new NewCredential.ConnectionString("AccountKey=SIGNATURE"),
            ["SasUri"] => new NewCredential.SasUri("https://a.blob.core.windows.net/c?sig=SIGNATURE"),
            [_, var uri] => new NewCredential.SasUri(uri),
            _ => throw new ArgumentException(given),
        };

        var refused = Assert.Throws<ArgumentException>(() => DestinationCredentials.Renew(settings, credential));

        Assert.StartsWith(message, refused.Message);
        Assert.Equal(given.Split(':')[0], refused.ParamName);
        Assert.DoesNotContain("SIGNATURE", refused.Message);
        Assert.DoesNotContain("SIGNATURE", credential.ToString());
        Assert.Equal([("Stored", "old")], settings.Secrets.Select(secret => (secret.Key, secret.Value)));
        Assert.Equal(propertiesBefore, settings.Properties.ToList());
    }

    [Fact]
    public async Task An_expired_landing_zone_sas_is_renewed_and_the_flow_exports_again_while_another_container_is_refused()
    {
        using var home = new TempFolder("de-renew");
        SampleLake.WriteEvents(Path.Combine(home.Path, "lake", "web", "a.jsonl"), 0, 20);
        var container = await azurite.CreateContainerAsync();
        var expired = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddMinutes(-5));
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = home.Combine("state") });
        var landingZone = new DestinationSettings
        {
            Name = "dlz",
            Type = DestinationType.DataLandingZone,
            Properties = { [DestinationKeys.ServiceUri] = container.Uri.ToString().TrimEnd('/'), [DestinationKeys.Container] = container.Name },
            Secrets = { [DestinationKeys.SasUri] = expired },
        };
        await engine.AddDestinationAsync(landingZone, skipValidation: true, default);
        var flow = new FlowRecord { Name = "f", DestinationId = landingZone.Id, DatasetIds = ["web"] };
        engine.AddFlow(flow);
        Assert.Equal(RunStatus.Failed, Assert.Single(await engine.RunFlowAsync(flow, home.Combine("lake"), null, default)).Status);

        var other = await azurite.CreateContainerAsync();
        var stored = engine.State.GetDestination(landingZone.Id)!;
        Assert.Throws<ArgumentException>(() => DestinationCredentials.Renew(stored,
            new NewCredential.SasUri(AzuriteFixture.ContainerSas(other, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1)))));
        DestinationCredentials.Renew(stored, new NewCredential.SasUri(AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1))));
        await engine.UpdateDestinationAsync(stored, skipValidation: false, default);

        var run = Assert.Single(await engine.RunFlowAsync(flow, home.Combine("lake"), null, default));
        Assert.Equal((RunStatus.Succeeded, 20L), (run.Status, run.RecordsWritten));
        var verified = await engine.VerifyRunAsync(run, default);
        Assert.True(verified.IsValid, verified.Problem);
        await foreach (var blob in other.GetBlobsAsync()) Assert.Fail($"{blob.Name} was written to the other container");
    }

    private static DestinationSettings Settings(DestinationType type, string properties)
    {
        var settings = new DestinationSettings { Name = "d", Type = type };
        foreach (var pair in properties.Split(';')) settings.Properties[pair.Split('=', 2)[0]] = pair.Split('=', 2)[1];
        return settings;
    }
}
