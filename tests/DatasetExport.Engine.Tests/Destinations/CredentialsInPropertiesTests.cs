using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Destinations.Azure;

namespace DatasetExport.Engine.Tests.Destinations;

/// <summary>
/// Credentials given where plain settings go (a password in an Endpoint URL, a SAS pasted into a property, private key
/// text as the KeyFile) are refused before anything is stored, validated or quoted: properties are plain text in
/// state.db and the messages quote them ("Cannot connect to http://user:password@...", "The KeyFile '-----BEGIN ...'").
/// </summary>
public sealed class CredentialsInPropertiesTests : IDisposable
{
    private const string UrlPassword = "pw-in-url-7Hq2";
    private const string Signature = "c2lnbmF0dXJlLWluLWEtcHJvcGVydHk=";
    private const string KeyBody = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ";
    private const string PrivateKeyText = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + KeyBody + "\n-----END OPENSSH PRIVATE KEY-----\n";

    private readonly TempFolder _stateHome = new("de-credentials-in-properties");

    public void Dispose() => _stateHome.Dispose();

    public static TheoryData<string, DestinationType, string, string, string> CredentialsWherePlainSettingsGo()
    {
        var closed = AzuriteFixture.ClosedPort();
        return new()
        {
            { "s3 endpoint password", DestinationType.AmazonS3, DestinationKeys.Endpoint, $"http://user:{UrlPassword}@127.0.0.1:{closed}/", UrlPassword },
            { "gcs endpoint password", DestinationType.GoogleCloudStorage, DestinationKeys.Endpoint, $"https://user:{UrlPassword}@127.0.0.1:{closed}/", UrlPassword },
            { "blob service uri password", DestinationType.AzureBlob, DestinationKeys.ServiceUri, $"http://devstoreaccount1:{UrlPassword}@127.0.0.1:{closed}/devstoreaccount1", UrlPassword },
            { "sas as container", DestinationType.AzureBlob, DestinationKeys.Container, $"http://127.0.0.1:{closed}/devstoreaccount1/c?sv=2025-01-05&sr=c&sp=rw&sig={Uri.EscapeDataString(Signature)}", Signature },
            { "sas upper case SIG", DestinationType.DataLandingZone, DestinationKeys.Container, $"http://127.0.0.1:{closed}/devstoreaccount1/c?sv=2025-01-05&SIG={Uri.EscapeDataString(Signature)}", Signature },
            { "sas escaped %73ig", DestinationType.DataLandingZone, DestinationKeys.Container, $"http://127.0.0.1:{closed}/devstoreaccount1/c?sv=2025-01-05&%73ig={Uri.EscapeDataString(Signature)}", Signature },
            { "sftp key text as key file", DestinationType.Sftp, DestinationKeys.KeyFile, PrivateKeyText, KeyBody },
            { "sftp password before the host", DestinationType.Sftp, DestinationKeys.HostName, $"u:{UrlPassword}@127.0.0.1", UrlPassword },
        };
    }

    [Theory]
    [MemberData(nameof(CredentialsWherePlainSettingsGo))]
    public async Task A_credential_in_a_property_is_refused_naming_the_property_and_nothing_is_stored(
        string label, DestinationType type, string key, string value, string secret)
    {
        using (var engine = ExportEngine.Open(new EngineOptions { StateHome = _stateHome.Path }))
        {
            foreach (var skipValidation in new[] { false, true })
            {
                var settings = Settings(type, label);
                settings.Properties[key] = value;

                var error = await Assert.ThrowsAsync<DestinationException>(() => engine.AddDestinationAsync(settings, skipValidation, default));

                Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
                Assert.Contains($"The {key} of destination '{settings.Name}' holds ", error.Message, StringComparison.Ordinal);
                SecretAssert.Absent(SecretAssert.Everything(error), secret);
                Assert.Null(engine.State.FindDestination(settings.Name));
            }
        }
        SecretAssert.NotInFiles(_stateHome.Path, secret);
    }

    /// <summary>The folder path is a plain setting too: stored, shown, and quoted when it is refused ("... must be relative").</summary>
    [Theory]
    [InlineData("https://acct.blob.core.windows.net/c/exports?sv=2025-01-05&sr=c&sp=rw&sig=" + Signature, Signature)]
    [InlineData("sftp://exporter:" + UrlPassword + "@sftp.example.test/exports", UrlPassword)]
    public async Task A_credential_in_the_folder_path_is_refused_when_a_destination_is_made_or_changed_and_nothing_is_stored(string folderPath, string secret)
    {
        using (var engine = ExportEngine.Open(new EngineOptions { StateHome = _stateHome.Path }))
        {
            var settings = Settings(DestinationType.AmazonS3, "s3");
            settings.FolderPath = folderPath;

            var made = await Assert.ThrowsAsync<DestinationException>(() => engine.AddDestinationAsync(settings, skipValidation: true, default));

            settings.FolderPath = "exports";
            await engine.AddDestinationAsync(settings, skipValidation: true, default);
            var changed = engine.State.FindDestination(settings.Name)!;
            changed.FolderPath = folderPath;
            var change = await Assert.ThrowsAsync<DestinationException>(() => engine.UpdateDestinationAsync(changed, skipValidation: true, default));

            foreach (var error in new[] { made, change })
            {
                Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
                Assert.StartsWith("The FolderPath of destination 's3' holds ", error.Message, StringComparison.Ordinal);
                SecretAssert.Absent(SecretAssert.Everything(error), secret);
            }
            Assert.Equal("exports", engine.State.FindDestination(settings.Name)!.FolderPath);
        }
        SecretAssert.NotInFiles(_stateHome.Path, secret);
    }

    [Fact]
    public async Task Changing_a_stored_destination_to_a_url_with_a_password_is_refused_and_the_stored_one_kept()
    {
        using (var engine = ExportEngine.Open(new EngineOptions { StateHome = _stateHome.Path }))
        {
            var settings = Settings(DestinationType.AmazonS3, "s3");
            await engine.AddDestinationAsync(settings, skipValidation: true, default);
            var changed = engine.State.FindDestination(settings.Name)!;
            changed.Properties[DestinationKeys.Endpoint] = $"http://user:{UrlPassword}@127.0.0.1:9/";

            var error = await Assert.ThrowsAsync<DestinationException>(() => engine.UpdateDestinationAsync(changed, skipValidation: true, default));

            Assert.Contains("The Endpoint of destination 's3' holds a user name or password in its URL", error.Message, StringComparison.Ordinal);
            SecretAssert.Absent(SecretAssert.Everything(error), UrlPassword);
            Assert.Equal("http://127.0.0.1:9/", engine.State.FindDestination(settings.Name)!.GetProperty(DestinationKeys.Endpoint));
        }
        SecretAssert.NotInFiles(_stateHome.Path, UrlPassword);
    }

    /// <summary>
    /// Settings stored before the check (or written into state.db by hand) are refused when the destination is opened,
    /// before a run is recorded: the run's Error would otherwise be "Cannot connect to http://user:password@...".
    /// </summary>
    [Fact]
    public async Task A_stored_destination_with_a_password_in_its_endpoint_is_refused_before_any_run_or_probe()
    {
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _stateHome.Path });
        var settings = Settings(DestinationType.AmazonS3, "s3");
        settings.Properties[DestinationKeys.Endpoint] = $"http://user:{UrlPassword}@127.0.0.1:{AzuriteFixture.ClosedPort()}/";
        settings.Properties[DestinationKeys.RetryCount] = "0";
        engine.State.AddDestination(settings);
        var flow = new FlowRecord { Name = "f", DestinationId = settings.Id, DatasetIds = ["web"], Mode = ExportMode.Full };
        engine.AddFlow(flow);
        var lake = _stateHome.Combine("lake");
        SampleLake.WriteEvents(Path.Combine(lake, "web", "a.jsonl"), 0, 10);

        var run = await Assert.ThrowsAsync<DestinationException>(() => engine.RunFlowAsync(flow, lake, null, default));
        var probe = await Assert.ThrowsAsync<DestinationException>(() => engine.TestDestinationAsync(settings, default));

        foreach (var error in new[] { run, probe })
        {
            Assert.Equal(DestinationFailure.InvalidConfiguration, error.Failure);
            Assert.Contains("The Endpoint of destination 's3' holds a user name or password in its URL", error.Message, StringComparison.Ordinal);
            SecretAssert.Absent(SecretAssert.Everything(error), UrlPassword);
        }
        Assert.Empty(engine.State.ListRuns(flow.Id));
    }

    [Fact]
    public async Task Ordinary_urls_paths_names_and_public_keys_pass()
    {
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _stateHome.Path });
        var settings = Settings(DestinationType.AmazonS3, "s3");
        settings.Properties[DestinationKeys.Endpoint] = "https://s3.example.test:9000/path?region=eu&signed=1";
        settings.Properties[DestinationKeys.RoleArn] = "arn:aws:iam::123456789012:role/exporter";
        settings.Properties[DestinationKeys.ProfileName] = "user@example.test";
        settings.Properties[DestinationKeys.FolderTemplate] = "%DATASET_ID%/exportTime=%EXPORT_TIME%";

        await engine.AddDestinationAsync(settings, skipValidation: true, default);

        Assert.NotNull(engine.State.FindDestination(settings.Name));
    }

    private static DestinationSettings Settings(DestinationType type, string name)
    {
        var settings = new DestinationSettings { Name = name.Replace(' ', '-').Replace('%', 'p'), Type = type };
        switch (type)
        {
            case DestinationType.AmazonS3 or DestinationType.GoogleCloudStorage:
                settings.Properties[DestinationKeys.Bucket] = "bucket";
                settings.Properties[DestinationKeys.Endpoint] = "http://127.0.0.1:9/";
                settings.Properties[DestinationKeys.AccessKeyId] = "KEYID";
                settings.Secrets[DestinationKeys.SecretAccessKey] = "secret-access-key";
                break;
            case DestinationType.AzureBlob:
                settings.Properties[DestinationKeys.Container] = "c";
                settings.Properties[DestinationKeys.ServiceUri] = $"http://127.0.0.1:9/{AzuriteFixture.AccountName}";
                settings.Secrets[DestinationKeys.AccountKey] = AzuriteFixture.AccountKey;
                break;
            case DestinationType.DataLandingZone:
                settings.Secrets[DestinationKeys.SasUri] = $"http://127.0.0.1:9/{AzuriteFixture.AccountName}/c?sv=2025-01-05&sr=c&sp=rw&sig=c2VjcmV0";
                break;
            case DestinationType.Sftp:
                settings.Properties[DestinationKeys.HostName] = "127.0.0.1";
                settings.Properties[DestinationKeys.Port] = AzuriteFixture.ClosedPort().ToString(System.Globalization.CultureInfo.InvariantCulture);
                settings.Properties[DestinationKeys.UserName] = "u";
                break;
        }
        return settings;
    }
}
