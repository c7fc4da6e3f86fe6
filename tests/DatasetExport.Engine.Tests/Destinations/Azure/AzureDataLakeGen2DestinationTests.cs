using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Azure;
using static DatasetExport.Engine.Tests.Destinations.Azure.BlobRoundTrip;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

/// <summary>Azurite has no dfs endpoint, so ADLS Gen2 is exercised through the Blob API it writes with.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureDataLakeGen2DestinationTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Account_key_uploads_reads_and_deletes_files_under_the_folder()
    {
        var fileSystem = await azurite.CreateContainerAsync();
        await using var destination = new AzureDataLakeGen2Destination(KeySettings(fileSystem.Name, "lake/exports"), SmallBlocks);

        await UploadReadBackAndDeleteAsync(destination, fileSystem, "lake/exports");
    }

    [Fact]
    public async Task Sink_path_is_the_abfss_url()
    {
        await using var destination = new AzureDataLakeGen2Destination(KeySettings("raw", "/exports/"), SmallBlocks);

        Assert.Equal($"abfss://raw@{AzuriteFixture.AccountName}.dfs.core.windows.net/exports/ds/exportTime=202611260100/part-00001.json",
            destination.GetSinkPath("ds/exportTime=202611260100/part-00001.json"));
    }

    [Fact]
    public async Task Wrong_account_key_is_an_authentication_failure_without_the_key()
    {
        var fileSystem = await azurite.CreateContainerAsync();
        var wrongKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64));
        var settings = KeySettings(fileSystem.Name, "");
        settings.Secrets[DestinationKeys.AccountKey] = wrongKey;
        await using var destination = new AzureDataLakeGen2Destination(settings, SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Authentication, error.Failure);
        AssertNoSecrets(error, wrongKey);
    }

    [Fact]
    public async Task Missing_file_system_is_not_found()
    {
        await using var destination = new AzureDataLakeGen2Destination(KeySettings($"missing{Guid.NewGuid():N}", ""), SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.NotFound, error.Failure);
        AssertNoSecrets(error, AzuriteFixture.AccountKey);
    }

    [Fact]
    public async Task Closed_port_is_unreachable()
    {
        var settings = KeySettings("raw", "");
        settings.Properties[DestinationKeys.ServiceUri] = $"http://127.0.0.1:{AzuriteFixture.ClosedPort()}/{AzuriteFixture.AccountName}";
        await using var destination = new AzureDataLakeGen2Destination(settings, SmallBlocks);
        using var local = new TempFolder();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadFileAsync(SmallFile(local), "x.json", CancellationToken.None));

        Assert.Equal(DestinationFailure.Unreachable, error.Failure);
    }

    [Fact]
    public void Account_name_and_file_system_are_required()
    {
        var noFileSystem = KeySettings("raw", "");
        noFileSystem.Properties.Remove(DestinationKeys.FileSystem);
        var noAccount = KeySettings("raw", "");
        noAccount.Properties.Remove(DestinationKeys.AccountName);
        noAccount.Properties.Remove(DestinationKeys.ServiceUri);

        var fileSystemError = Assert.Throws<DestinationException>(() => new AzureDataLakeGen2Destination(noFileSystem));
        var accountError = Assert.Throws<DestinationException>(() => new AzureDataLakeGen2Destination(noAccount));

        Assert.Equal(DestinationFailure.InvalidConfiguration, fileSystemError.Failure);
        Assert.Contains("FileSystem", fileSystemError.Message);
        Assert.Equal(DestinationFailure.InvalidConfiguration, accountError.Failure);
        Assert.Contains("AccountName", accountError.Message);
    }

    private DestinationSettings KeySettings(string fileSystem, string folderPath) => Settings(DestinationType.AzureDataLakeGen2, folderPath,
        new()
        {
            [DestinationKeys.AccountName] = AzuriteFixture.AccountName,
            [DestinationKeys.FileSystem] = fileSystem,
            [DestinationKeys.ServiceUri] = azurite.ServiceUri.ToString(),
        },
        new() { [DestinationKeys.AccountKey] = AzuriteFixture.AccountKey });
}
