using Azure.Storage.Sas;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using static DatasetExport.Engine.Tests.Destinations.Azure.BlobRoundTrip;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

[Collection(AzuriteCollection.Name)]
public sealed class DataLandingZoneDestinationTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Container_sas_uploads_reads_and_deletes_files_under_the_folder()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, "landing"), SmallBlocks);

        await UploadReadBackAndDeleteAsync(destination, container, "landing");
    }

    [Fact]
    public async Task Sink_path_is_the_blob_url_without_the_sas()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, "landing"), SmallBlocks);

        var sinkPath = destination.GetSinkPath("ds/part-00001.json");

        Assert.Equal($"{azurite.ServiceUri}/{container.Name}/landing/ds/part-00001.json", sinkPath);
        Assert.DoesNotContain("sig=", sinkPath);
    }

    [Fact]
    public async Task Read_only_sas_is_permission_denied_saying_write_is_missing()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.Read | BlobContainerSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, ""), SmallBlocks);
        using var local = new TempFolder();
        WriteLocalFiles(local);
        var big = Files.Single(file => file.Size == BigFileSize).RelativePath;

        var small = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));
        var staged = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(local.Combine(big.Split('/')), big, CancellationToken.None));

        foreach (var error in new[] { small, staged })
        {
            Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
            Assert.Contains("lacks write ('w'/'c') permission", error.Message);
            Assert.Contains($"{azurite.ServiceUri}/{container.Name}", error.Message);
            AssertNoSecrets(error, Signature(sasUri));
        }
        Assert.Empty(await ListAsync(container));
    }

    [Fact]
    public async Task Write_only_sas_uploads_but_reading_back_says_read_is_missing()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.Create | BlobContainerSasPermissions.Write, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, ""), SmallBlocks);
        using var local = new TempFolder();

        await destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None);
        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.json", CancellationToken.None));

        Assert.True((await container.GetBlobClient("x.json").ExistsAsync()).Value);
        Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
        Assert.Contains("lacks read ('r') permission", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
    }

    [Fact]
    public async Task Validating_a_sas_that_cannot_read_fails_and_leaves_no_probe_file_behind()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container,
            BlobContainerSasPermissions.Create | BlobContainerSasPermissions.Write | BlobContainerSasPermissions.Delete, DateTimeOffset.UtcNow.AddHours(1));
        using var state = new TempFolder();
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = state.Path });
        var settings = SasSettings(sasUri, "");

        // The probe goes up, reading it back is refused: the probe must not stay in the landing zone.
        var error = await Assert.ThrowsAsync<DestinationException>(() => engine.AddDestinationAsync(settings, skipValidation: false, default));

        Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
        Assert.Contains("lacks read ('r') permission", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
        Assert.Null(engine.State.FindDestination(settings.Name));
        Assert.Empty(await ListAsync(container));
    }

    [Fact]
    public async Task Expired_sas_is_an_authentication_failure_saying_expired()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddMinutes(-5));
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, ""), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains("expired", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
    }

    [Fact]
    public async Task Tampered_signature_is_an_authentication_failure_without_the_signature()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        var forged = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var tampered = sasUri.Replace(Uri.EscapeDataString(Signature(sasUri)), Uri.EscapeDataString(forged));
        Assert.NotEqual(sasUri, tampered);
        await using var destination = new DataLandingZoneDestination(SasSettings(tampered, ""), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains("check the SAS URI", error.Message);
        AssertNoSecrets(error, forged);
    }

    [Fact]
    public async Task A_signature_escaped_as_percent_73ig_still_signs_and_stays_out_of_the_sink_path()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(Respell(sasUri, "%73ig="), ""), SmallBlocks);
        using var local = new TempFolder();

        await destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None);

        Assert.Equal($"{azurite.ServiceUri}/{container.Name}/x.json", destination.GetSinkPath("x.json"));
        Assert.Equal(["x.json"], await ListAsync(container));
    }

    [Fact]
    public async Task A_signature_named_SIG_is_refused_as_credentials_without_showing_it()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(Respell(sasUri, "SIG="), ""), SmallBlocks);
        using var local = new TempFolder();

        // The SDK reads the parameter in any case; Azurite, like Azure Storage, only knows 'sig'.
        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains($"{azurite.ServiceUri}/{container.Name} rejected the credentials (403 AuthorizationFailure): check the SAS URI", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
        Assert.Empty(await ListAsync(container));
    }

    [Fact]
    public async Task Sas_of_a_missing_container_is_not_found()
    {
        var missing = azurite.AdminClient.GetBlobContainerClient($"missing{Guid.NewGuid():N}");
        var sasUri = AzuriteFixture.ContainerSas(missing, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, ""), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.NotFound, error.Failure);
        Assert.Contains(missing.Name, error.Message);
        AssertNoSecrets(error, Signature(sasUri));
    }

    [Fact]
    public async Task Closed_port_is_unreachable_without_the_signature()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1))
            .Replace($":{azurite.Port}/", $":{AzuriteFixture.ClosedPort()}/");
        await using var destination = new DataLandingZoneDestination(SasSettings(sasUri, ""), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
        AssertNoSecrets(error, Signature(sasUri));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a uri")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/landing")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/landing/file.json?sv=2025-01-05&sr=b&sp=r&se=2099-01-01&sig=c2VjcmV0")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1?sv=2025-01-05&ss=b&srt=co&sp=rwl&se=2099-01-01&sig=c2VjcmV0")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/landing?sv=2025-01-05&sr=c&sp=rw&se=garbage&sig=c2VjcmV0")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/landing?sv=2025-01-05&sr=c&sp=rw&sip=garbage&sig=c2VjcmV0")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/landing?sv=2025-01-05&sr=c&sp=rw&spr=ftp&sig=c2VjcmV0")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/landing?sv=2025-01-05&sr=c&sp=rw&sig=c2VjcmV0&sig=c2VjcmV0")]
    public void Anything_but_a_container_sas_uri_is_refused_without_the_signature(string sasUri)
    {
        var error = Assert.Throws<DestinationException>(() => new DataLandingZoneDestination(SasSettings(sasUri, "")));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        AssertNoSecrets(error, "c2VjcmV0");
    }

    private static string Respell(string sasUri, string signatureParameter)
    {
        var respelled = sasUri.Replace("sig=", signatureParameter, StringComparison.Ordinal);
        Assert.NotEqual(sasUri, respelled);
        return respelled;
    }

    private static DestinationSettings SasSettings(string sasUri, string folderPath) =>
        Settings(DestinationType.DataLandingZone, folderPath, secrets: new() { [DestinationKeys.SasUri] = sasUri });

    private static async Task<List<string>> ListAsync(global::Azure.Storage.Blobs.BlobContainerClient container)
    {
        var names = new List<string>();
        await foreach (var item in container.GetBlobsAsync())
        {
            names.Add(item.Name);
        }
        return names;
    }
}
