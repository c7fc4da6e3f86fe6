using Azure.Storage.Sas;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using static DatasetExport.Engine.Tests.Destinations.Azure.BlobRoundTrip;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

[Collection(AzuriteCollection.Name)]
public sealed class AzureBlobDestinationTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Connection_string_uploads_reads_and_deletes_files_under_the_folder()
    {
        var container = await azurite.CreateContainerAsync();
        var settings = Settings(DestinationType.AzureBlob, "exports/daily",
            new() { [DestinationKeys.Container] = container.Name },
            new() { [DestinationKeys.ConnectionString] = azurite.ConnectionString });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);

        await UploadReadBackAndDeleteAsync(destination, container, "exports/daily");
    }

    [Fact]
    public async Task Account_key_with_service_uri_uploads_reads_and_deletes_files()
    {
        var container = await azurite.CreateContainerAsync();
        var settings = Settings(DestinationType.AzureBlob, "",
            new()
            {
                [DestinationKeys.Container] = container.Name,
                [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
                [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString(),
            },
            new() { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);

        await UploadReadBackAndDeleteAsync(destination, container, "");
    }

    [Fact]
    public async Task Container_sas_uploads_reads_and_deletes_files()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        var settings = Settings(DestinationType.AzureBlob, "/sas/", secrets: new() { [DestinationKeys.SasUri] = sasUri });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);

        await UploadReadBackAndDeleteAsync(destination, container, "sas");
    }

    [Fact]
    public async Task Account_sas_with_container_uploads_reads_and_deletes_files()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = azurite.AccountSas(AccountSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        var settings = Settings(DestinationType.AzureBlob, "acct",
            new() { [DestinationKeys.Container] = container.Name },
            new() { [DestinationKeys.SasUri] = sasUri });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);

        await UploadReadBackAndDeleteAsync(destination, container, "acct");
    }

    [Fact]
    public async Task Connection_string_with_a_sas_works_and_never_shows_the_signature()
    {
        var container = await azurite.CreateContainerAsync();
        var writable = new Uri(azurite.AccountSas(AccountSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1))).Query.TrimStart('?');
        var readOnly = new Uri(azurite.AccountSas(AccountSasPermissions.Read | AccountSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1))).Query.TrimStart('?');
        AzureBlobDestination Destination(string sas) => new(Settings(DestinationType.AzureBlob, "cs",
            new() { [DestinationKeys.Container] = container.Name },
            new() { [DestinationKeys.ConnectionString] = $"BlobEndpoint={azurite.ServiceUri};SharedAccessSignature={sas}" }), SmallBlocks);
        await using var withWrite = Destination(writable);
        await using var withReadOnly = Destination(readOnly);
        using var local = new TempFolder();

        await withWrite.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None);
        var error = await Assert.ThrowsAsync<DestinationException>(() => withReadOnly.UploadFileAsync(SmallFile(local), "y.json", CancellationToken.None));

        Assert.True((await container.GetBlobClient("cs/x.json").ExistsAsync()).Value);
        Assert.Equal($"{azurite.ServiceUri}/{container.Name}/cs/x.json", withWrite.GetSinkPath("x.json"));
        Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
        AssertNoSecrets(error, Signature(azurite.ServiceUri + "?" + readOnly));
    }

    [Fact]
    public async Task Uploading_again_replaces_the_blob_whole()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = ConnectionStringDestination(container.Name, "f");
        using var local = new TempFolder();
        var path = local.Combine("big.bin");
        var first = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BigFileSize);
        var second = System.Security.Cryptography.RandomNumberGenerator.GetBytes(BigFileSize / 2);

        File.WriteAllBytes(path, first);
        await destination.UploadFileAsync(path, "big.bin", CancellationToken.None);
        File.WriteAllBytes(path, second);
        await destination.UploadFileAsync(path, "big.bin", CancellationToken.None);

        var stored = await container.GetBlobClient("f/big.bin").DownloadContentAsync();
        Assert.Equal(Sha256(second), Sha256(stored.Value.Content.ToArray()));
    }

    [Fact]
    public async Task Names_with_spaces_and_special_characters_round_trip()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = ConnectionStringDestination(container.Name, "exports/with space");
        using var local = new TempFolder();
        const string relativePath = "ds/exportTime=202611260100/part #1+ü%.json";

        await destination.UploadFileAsync(SmallFile(local), relativePath, CancellationToken.None);

        var stored = new List<string>();
        await foreach (var item in container.GetBlobsAsync())
        {
            stored.Add(item.Name);
        }
        Assert.Equal(["exports/with space/" + relativePath], stored);
        Assert.Equal(new StoredFileInfo(relativePath, new FileInfo(SmallFile(local)).Length), await destination.GetFileInfoAsync(relativePath, CancellationToken.None));
        var sinkPath = new Uri(destination.GetSinkPath(relativePath));
        Assert.Equal($"/{AzuriteFixture.AccountName}/{container.Name}/exports/with space/{relativePath}", Uri.UnescapeDataString(sinkPath.AbsolutePath));
    }

    [Fact]
    public async Task Sink_path_is_the_blob_url_without_query()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        await using var withSas = new AzureBlobDestination(Settings(DestinationType.AzureBlob, "out", secrets: new() { [DestinationKeys.SasUri] = sasUri }), SmallBlocks);
        await using var withKey = ConnectionStringDestination(container.Name, "out");

        var expected = $"{azurite.ServiceUri}/{container.Name}/out/ds/exportTime=202611260100/part%2300001%20a.json";
        Assert.Equal(expected, withSas.GetSinkPath("ds/exportTime=202611260100/part#00001 a.json"));
        Assert.Equal(expected, withKey.GetSinkPath("ds/exportTime=202611260100/part#00001 a.json"));
    }

    [Fact]
    public async Task Read_only_sas_is_permission_denied_saying_write_is_missing()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.Read | BlobContainerSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1));
        await using var destination = new AzureBlobDestination(Settings(DestinationType.AzureBlob, "", secrets: new() { [DestinationKeys.SasUri] = sasUri }), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
        Assert.Contains("lacks write ('w'/'c') permission", error.Message);
        Assert.Contains($"{azurite.ServiceUri}/{container.Name}", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
        Assert.False((await container.GetBlobClient("x.json").ExistsAsync()).Value);
    }

    [Fact]
    public async Task Account_sas_without_object_access_is_permission_denied()
    {
        var container = await azurite.CreateContainerAsync();
        var sas = new AccountSasBuilder(AccountSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1), AccountSasServices.Blobs, AccountSasResourceTypes.Container)
            .ToSasQueryParameters(new global::Azure.Storage.StorageSharedKeyCredential(AzuriteFixture.AccountName, AzuriteFixture.AccountKey));
        var sasUri = new UriBuilder(azurite.ServiceUri) { Query = sas.ToString() }.Uri.ToString();
        await using var destination = new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = container.Name }, new() { [DestinationKeys.SasUri] = sasUri }), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.PermissionDenied, error.Failure);
        Assert.Contains("AuthorizationResourceTypeMismatch", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
    }

    [Fact]
    public void Container_differing_from_the_sas_uri_is_refused()
    {
        const string sasUri = "http://127.0.0.1:10000/devstoreaccount1/landing?sv=2025-01-05&sr=c&sp=racwl&se=2099-01-01&sig=c2VjcmV0";

        var error = Assert.Throws<DestinationException>(() => new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = "other" }, new() { [DestinationKeys.SasUri] = sasUri })));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("'other' differs from the container 'landing'", error.Message);
        AssertNoSecrets(error, "c2VjcmV0");
    }

    [Fact]
    public async Task Expired_sas_is_an_authentication_failure_saying_expired()
    {
        var container = await azurite.CreateContainerAsync();
        var sasUri = AzuriteFixture.ContainerSas(container, BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddMinutes(-5));
        await using var destination = new AzureBlobDestination(Settings(DestinationType.AzureBlob, "", secrets: new() { [DestinationKeys.SasUri] = sasUri }), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        Assert.Contains("expired", error.Message);
        AssertNoSecrets(error, Signature(sasUri));
    }

    [Fact]
    public async Task Wrong_account_key_is_an_authentication_failure_without_the_key()
    {
        var container = await azurite.CreateContainerAsync();
        var wrongKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64));
        var settings = Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = container.Name, [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString() },
            new() { [DestinationKeys.AccountKey] = wrongKey });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);
        using var local = new TempFolder();

        var upload = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));
        var info = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, upload.Failure);
        Assert.Equal(DestinationFailure.Authentication, info.Failure);
        Assert.Contains("rejected the credentials", upload.Message);
        AssertNoSecrets(upload, wrongKey);
        AssertNoSecrets(info, wrongKey);
    }

    [Fact]
    public async Task Connection_string_with_wrong_key_never_shows_the_connection_string()
    {
        var container = await azurite.CreateContainerAsync();
        var wrongKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64));
        var connectionString = azurite.ConnectionString.Replace(AzuriteFixture.AccountKey, wrongKey);
        var settings = Settings(DestinationType.AzureBlob, "", new() { [DestinationKeys.Container] = container.Name }, new() { [DestinationKeys.ConnectionString] = connectionString });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        AssertNoSecrets(error, wrongKey, connectionString);
    }

    [Fact]
    public async Task Missing_container_is_not_found()
    {
        await using var destination = ConnectionStringDestination($"missing{Guid.NewGuid():N}", "");
        using var local = new TempFolder();

        var upload = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));
        var info = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.NotFound, upload.Failure);
        Assert.Contains("container", upload.Message);
        Assert.Equal(DestinationFailure.NotFound, info.Failure);
    }

    [Fact]
    public async Task Closed_port_is_unreachable()
    {
        var settings = Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = "exports", [DestinationKeys.ServiceUri] = $"http://127.0.0.1:{AzuriteFixture.ClosedPort()}/{AzuriteFixture.AccountName}" },
            new() { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
        Assert.Contains("Cannot reach", error.Message);
        AssertNoSecrets(error, AzuriteFixture.AccountKey);
    }

    [Fact]
    public async Task Unknown_host_is_unreachable()
    {
        // '.invalid' never resolves (RFC 6761), so this needs no network.
        var settings = Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = "exports", [DestinationKeys.AccountName] = AzuriteFixture.AccountName, [DestinationKeys.ServiceUri] = "http://no-such-host.invalid/devstoreaccount1" },
            new() { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey });
        await using var destination = new AzureBlobDestination(settings, SmallBlocks);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync("x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
        Assert.Contains("http://no-such-host.invalid/devstoreaccount1/exports", error.Message);
    }

    [Fact]
    public async Task Cancelled_upload_of_a_big_file_leaves_no_blob()
    {
        var container = await azurite.CreateContainerAsync();
        await using var destination = ConnectionStringDestination(container.Name, "");
        using var local = new TempFolder();
        var path = local.Combine("big.bin");
        File.WriteAllBytes(path, System.Security.Cryptography.RandomNumberGenerator.GetBytes(BigFileSize));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => destination.UploadFileAsync(path, "big.bin", new CancellationToken(canceled: true)));

        Assert.False((await container.GetBlobClient("big.bin").ExistsAsync()).Value);
    }

    [Theory]
    [InlineData("../escape.json")]
    [InlineData("a//b.json")]
    [InlineData("./a.json")]
    [InlineData("")]
    public async Task Paths_with_empty_dot_or_dot_dot_parts_are_refused(string relativePath)
    {
        await using var destination = ConnectionStringDestination("exports", "");

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.GetFileInfoAsync(relativePath, CancellationToken.None));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
    }

    [Theory]
    [InlineData("../up")]
    [InlineData("a/./b")]
    [InlineData("a//b")]
    public void Folder_paths_with_empty_dot_or_dot_dot_parts_are_refused(string folderPath)
    {
        var error = Assert.Throws<DestinationException>(() => ConnectionStringDestination("exports", folderPath));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains(folderPath, error.Message);
    }

    [Fact]
    public void Settings_without_container_or_with_two_sign_ins_are_refused()
    {
        var noContainer = Assert.Throws<DestinationException>(() => new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            secrets: new() { [DestinationKeys.ConnectionString] = azurite.ConnectionString })));
        var twoSignIns = Assert.Throws<DestinationException>(() => new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = "exports", [DestinationKeys.AccountName] = AzuriteFixture.AccountName },
            new() { [DestinationKeys.ConnectionString] = azurite.ConnectionString, [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey })));
        var partialPrincipal = Assert.Throws<DestinationException>(() => new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = "exports", [DestinationKeys.AccountName] = "acct", [DestinationKeys.TenantId] = "tenant" },
            new() { [DestinationKeys.ClientSecret] = "client-secret-value" })));
        var badConnectionString = Assert.Throws<DestinationException>(() => new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            new() { [DestinationKeys.Container] = "exports" },
            new() { [DestinationKeys.ConnectionString] = "not a connection string secret-part" })));

        Assert.Equal(DestinationFailure.InvalidConfiguration, noContainer.Failure);
        Assert.Contains("needs a Container", noContainer.Message);
        Assert.Equal(DestinationFailure.InvalidConfiguration, twoSignIns.Failure);
        Assert.Contains("ConnectionString, AccountKey", twoSignIns.Message);
        AssertNoSecrets(twoSignIns, AzuriteFixture.AccountKey);
        Assert.Equal(DestinationFailure.InvalidConfiguration, partialPrincipal.Failure);
        Assert.Contains("missing: ClientId", partialPrincipal.Message);
        AssertNoSecrets(partialPrincipal, "client-secret-value");
        Assert.Equal(DestinationFailure.InvalidConfiguration, badConnectionString.Failure);
        AssertNoSecrets(badConnectionString, "secret-part");
    }

    [Fact]
    public void Entra_id_sign_in_needs_an_https_endpoint()
    {
        var error = Assert.Throws<DestinationException>(() => new AzureBlobDestination(Settings(DestinationType.AzureBlob, "",
            new()
            {
                [DestinationKeys.Container] = "exports",
                [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString(),
                [DestinationKeys.TenantId] = "tenant",
                [DestinationKeys.ClientId] = "client",
            },
            new() { [DestinationKeys.ClientSecret] = "client-secret-value" })));

        Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
        Assert.Contains("https", error.Message);
        AssertNoSecrets(error, "client-secret-value");
    }

    [Fact]
    public void Registry_creates_the_three_azure_kinds()
    {
        var container = "exports";
        var sas = $"{azurite.ServiceUri}/{container}?sv=2025-01-05&sr=c&sp=racwl&se=2099-01-01T00%3A00%3A00Z&sig=abc";
        var keyProperties = new Dictionary<string, string>
        {
            [DestinationKeys.Container] = container,
            [DestinationKeys.FileSystem] = container,
            [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
            [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString(),
        };
        var keySecrets = new Dictionary<string, string> { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey };

        Assert.IsType<AzureBlobDestination>(DestinationRegistry.Create(Settings(DestinationType.AzureBlob, "", keyProperties, keySecrets)));
        Assert.IsType<AzureDataLakeGen2Destination>(DestinationRegistry.Create(Settings(DestinationType.AzureDataLakeGen2, "", keyProperties, keySecrets)));
        Assert.IsType<DataLandingZoneDestination>(DestinationRegistry.Create(Settings(DestinationType.DataLandingZone, "", secrets: new() { [DestinationKeys.SasUri] = sas })));
    }

    private AzureBlobDestination ConnectionStringDestination(string container, string folderPath) =>
        new(Settings(DestinationType.AzureBlob, folderPath, new() { [DestinationKeys.Container] = container }, new() { [DestinationKeys.ConnectionString] = azurite.ConnectionString }), SmallBlocks);
}
