using System.Text;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Secrets;
using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

public sealed class SecretStateTests : IDisposable
{
    private readonly TempFolder _home = new("de-state");
    private readonly string _secret = "pw-" + Guid.NewGuid().ToString("N") + "-Zz9!";

    private string DatabasePath => _home.Combine(SqliteStateStore.DatabaseFileName);
    private string KeysFolder => _home.Combine(SqliteStateStore.KeysFolderName);

    public void Dispose() => _home.Dispose();

    [Fact]
    public void Secrets_never_reach_the_database_files_in_plain_text()
    {
        var destination = WithSecret(StateSamples.Destination());
        using (var store = SqliteStateStore.Open(_home.Path))
        {
            store.AddDestination(destination);
            destination.Secrets["Password"] = _secret + "-updated";
            store.UpdateDestination(destination);
            // While the store is open the latest pages sit in the WAL file.
            AssertNoPlainText(DatabasePath, DatabasePath + "-wal");
            Assert.Equal(_secret + "-updated", store.FindDestination(destination.Name)!.GetSecret("password"));
        }
        AssertNoPlainText(DatabasePath, DatabasePath + "-wal");
        var stored = ReadProtectedSecrets(destination.Id);
        Assert.DoesNotContain(_secret, stored);
    }

    [Fact]
    public void Another_store_on_the_same_home_decrypts_the_secrets()
    {
        var destination = WithSecret(StateSamples.Destination());
        using var writer = SqliteStateStore.Open(_home.Path);
        using var reader = SqliteStateStore.Open(_home.Path);
        writer.AddDestination(destination);

        var read = reader.GetDestination(destination.Id)!;

        Assert.Equal(_secret, read.GetSecret("Password"));
        Assert.Equal(destination.Secrets["SecretAccessKey"], read.GetSecret("SecretAccessKey"));
    }

    [Fact]
    public void Without_the_keys_a_destination_is_still_read_and_says_why_its_secrets_are_not()
    {
        var destination = WithSecret(StateSamples.Destination());
        var plain = StateSamples.Destination("No secrets");
        plain.Secrets.Clear();
        using (var store = SqliteStateStore.Open(_home.Path))
        {
            store.AddDestination(destination);
            store.AddDestination(plain);
        }
        Directory.Delete(KeysFolder, recursive: true);

        using var reopened = SqliteStateStore.Open(_home.Path);
        // Was: every read of it, and every listing, failed, so it could not even be removed.
        var read = reopened.FindDestination(destination.Name)!;

        Assert.Empty(read.Secrets);
        Assert.Equal(destination.Properties, read.Properties);
        Assert.Contains($"'{destination.Name}'", read.UnreadableSecrets);
        Assert.Contains(KeysFolder, read.UnreadableSecrets);
        Assert.DoesNotContain(_secret, read.UnreadableSecrets);
        Assert.DoesNotContain(ReadProtectedSecrets(destination.Id), read.UnreadableSecrets);
        var refused = Assert.Throws<StateException>(read.ThrowIfSecretsUnreadable);
        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Equal(read.UnreadableSecrets, refused.Message);
        Assert.Equal([destination.Name, plain.Name], reopened.ListDestinations().Select(d => d.Name).Order());
        Assert.Equal([(destination.Id, destination.Name), (plain.Id, plain.Name)], reopened.ListDestinationNames()); // secrets not even read
        Assert.Equal(destination.Name, reopened.GetDestinationName(destination.Id));
        Assert.Null(reopened.GetDestinationName(Guid.NewGuid()));
        // A destination without secrets needs no key.
        var plainRead = reopened.GetDestination(plain.Id)!;
        Assert.Empty(plainRead.Secrets);
        Assert.Null(plainRead.UnreadableSecrets);
    }

    [Fact]
    public void Settings_with_unreadable_secrets_are_written_back_only_with_new_secrets_and_can_be_removed()
    {
        var refused = WithSecret(StateSamples.Destination("Refused"));
        var renewed = WithSecret(StateSamples.Destination("Renewed"));
        var removed = WithSecret(StateSamples.Destination("Removed"));
        using (var store = SqliteStateStore.Open(_home.Path))
        {
            foreach (var destination in new[] { refused, renewed, removed }) store.AddDestination(destination);
        }
        var keysBackup = _home.Combine("keys-backup");
        CopyFolder(KeysFolder, keysBackup);
        Directory.Delete(KeysFolder, recursive: true);
        var storedSecrets = ReadProtectedSecrets(refused.Id);

        using (var reopened = SqliteStateStore.Open(_home.Path))
        {
            var read = reopened.FindDestination(refused.Name)!;
            read.MaxFileSizeMB = 8;
            // Writing it back without secrets would have dropped the stored ones for good.
            Assert.Equal(StateFailure.Unusable, Assert.Throws<StateException>(() => reopened.UpdateDestination(read, read.ModifiedAt)).Failure);
            Assert.Equal(storedSecrets, ReadProtectedSecrets(refused.Id));
            Assert.Equal(64, reopened.GetDestination(refused.Id)!.MaxFileSizeMB);

            var renewing = reopened.FindDestination(renewed.Name)!;
            renewing.Secrets["Password"] = _secret + "-new";
            renewing.MaxFileSizeMB = 8;
            reopened.UpdateDestination(renewing, renewing.ModifiedAt);
            var afterRenewal = reopened.GetDestination(renewed.Id)!;
            Assert.Null(afterRenewal.UnreadableSecrets);
            Assert.Equal(_secret + "-new", afterRenewal.GetSecret("Password"));
            Assert.Equal(8, afterRenewal.MaxFileSizeMB);

            reopened.RemoveDestination(reopened.FindDestination(removed.Name)!.Id);
            Assert.Null(reopened.FindDestination(removed.Name));
        }

        // The old keys restored beside the new one: the refused destination's secrets were kept as they were.
        CopyFolder(keysBackup, KeysFolder);
        using var restored = SqliteStateStore.Open(_home.Path);
        Assert.Equal(_secret, restored.GetDestination(refused.Id)!.GetSecret("Password"));
        Assert.Equal(_secret + "-new", restored.GetDestination(renewed.Id)!.GetSecret("Password"));
    }

    [Fact]
    public async Task A_destination_whose_secrets_cannot_be_read_opens_for_nothing_and_stops_no_other_flow()
    {
        var lake = _home.Combine("lake");
        SampleLake.WriteEvents(Path.Combine(lake, "web", "a.jsonl"), 0, 10);
        var home = _home.Combine("engine");
        FlowRecord locked, open;
        using (var engine = ExportEngine.Open(new EngineOptions { StateHome = home }))
        {
            locked = await AddLocalFlowAsync(engine, "a-locked", withSecret: true);
            open = await AddLocalFlowAsync(engine, "b-open", withSecret: false);
        }
        Directory.Delete(Path.Combine(home, SqliteStateStore.KeysFolderName), recursive: true);

        using var reopened = ExportEngine.Open(new EngineOptions { StateHome = home });
        var settings = reopened.State.GetDestination(locked.DestinationId)!;
        Assert.Equal(StateFailure.Unusable, (await Assert.ThrowsAsync<StateException>(() => reopened.TestDestinationAsync(settings, default))).Failure);
        var notRun = await Assert.ThrowsAsync<StateException>(() => reopened.RunFlowAsync(locked, lake, null, default));
        Assert.Equal(settings.UnreadableSecrets, notRun.Message);
        Assert.Empty(reopened.State.ListRuns(locked.Id));

        // Was: the schedule stopped at the first flow, whose destination could not be read, and the other never ran.
        var runs = await reopened.RunDueFlowsAsync(lake, null, null, default);

        Assert.Equal(2, runs.Count);
        Assert.Equal(RunStatus.Succeeded, runs.Single(run => run.FlowId == open.Id).Status);
        var failed = runs.Single(run => run.FlowId == locked.Id);
        Assert.Equal((RunStatus.Failed, settings.UnreadableSecrets), (failed.Status, failed.Error));
        Assert.Empty(Directory.GetFiles(_home.Combine("out-a-locked"), "*", SearchOption.AllDirectories));
    }

    private async Task<FlowRecord> AddLocalFlowAsync(ExportEngine engine, string name, bool withSecret)
    {
        var output = _home.Combine("out-" + name);
        var destination = new DestinationSettings
        {
            Name = name,
            Type = DestinationType.Local,
            Properties = { [LocalFolderDestination.PathProperty] = output },
        };
        // A Local destination reads no secret; one stored with it still needs the keys.
        if (withSecret) destination.Secrets["Password"] = _secret;
        await engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord
        {
            Name = name, DestinationId = destination.Id, DatasetIds = ["web"], ScheduleKind = ScheduleKind.Once,
            StartTime = engine.Time.GetUtcNow().AddMinutes(-5),
        };
        engine.AddFlow(flow);
        return flow;
    }

    [Fact]
    public void Keys_from_another_home_do_not_decrypt()
    {
        var destination = WithSecret(StateSamples.Destination());
        using (var store = SqliteStateStore.Open(_home.Path)) store.AddDestination(destination);
        using var elsewhere = new TempFolder("de-state");
        using (var other = SqliteStateStore.Open(elsewhere.Path)) other.AddDestination(WithSecret(StateSamples.Destination("Other")));
        Directory.Delete(KeysFolder, recursive: true);
        CopyFolder(Path.Combine(elsewhere.Path, SqliteStateStore.KeysFolderName), KeysFolder);

        using var reopened = SqliteStateStore.Open(_home.Path);
        Assert.NotNull(reopened.GetDestination(destination.Id)!.UnreadableSecrets);
    }

    [Fact]
    public void The_keys_are_protected_by_the_platform()
    {
        using (var store = SqliteStateStore.Open(_home.Path)) store.AddDestination(WithSecret(StateSamples.Destination()));

        var keyFiles = Directory.GetFiles(KeysFolder, "key-*.xml");
        Assert.NotEmpty(keyFiles);
        foreach (var keyFile in keyFiles)
        {
            var xml = File.ReadAllText(keyFile);
            Assert.DoesNotContain(_secret, xml);
            // Windows: each key encrypted with DPAPI; elsewhere the folder is the owner's alone.
            if (OperatingSystem.IsWindows()) Assert.Contains("<encryptedSecret", xml);
        }
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(KeysFolder));
        }
    }

    [Fact]
    public void The_protector_round_trips_and_refuses_tampered_text()
    {
        using var protector = new DataProtectionSecretProtector(KeysFolder);
        var protectedText = protector.Protect(_secret);
        Assert.DoesNotContain(_secret, protectedText);
        Assert.Equal(_secret, protector.Unprotect(protectedText));

        var tampered = protectedText[..^4] + (protectedText[^4] == 'A' ? 'B' : 'A') + protectedText[^3..];
        var refused = Assert.Throws<StateException>(() => protector.Unprotect(tampered));
        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.DoesNotContain(tampered, refused.ToString());
    }

    [Fact]
    public void A_key_another_process_created_after_this_one_loaded_its_keys_is_found()
    {
        using var protector = new DataProtectionSecretProtector(KeysFolder);
        Assert.Equal("warm-up", protector.Unprotect(protector.Protect("warm-up")));
        // Another process, which started on an empty key ring at the same time, made its own key and used it.
        var otherKeys = _home.Combine("other-process-keys");
        string protectedElsewhere;
        using (var otherProcess = new DataProtectionSecretProtector(otherKeys)) protectedElsewhere = otherProcess.Protect(_secret);
        CopyFolder(otherKeys, KeysFolder);

        Assert.Equal(_secret, protector.Unprotect(protectedElsewhere));
    }

    private DestinationSettings WithSecret(DestinationSettings destination)
    {
        destination.Secrets["Password"] = _secret;
        return destination;
    }

    private void AssertNoPlainText(params string[] paths)
    {
        foreach (var path in paths.Where(File.Exists))
        {
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(_secret)));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(_secret)));
        }
    }

    private string ReadProtectedSecrets(Guid destinationId)
    {
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT protected_secrets FROM destinations WHERE id = $id";
        command.Parameters.AddWithValue("$id", destinationId.ToString("D"));
        return (string)command.ExecuteScalar()!;
    }

    private static void CopyFolder(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: false);
    }
}
