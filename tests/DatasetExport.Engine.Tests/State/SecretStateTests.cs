using System.Text;
using DatasetExport.Engine.Destinations;
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
    public void Without_the_keys_reading_secrets_fails_clearly()
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
        var refused = Assert.Throws<StateException>(() => reopened.FindDestination(destination.Name));

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains($"'{destination.Name}'", refused.Message);
        Assert.Contains(KeysFolder, refused.Message);
        Assert.DoesNotContain(_secret, refused.ToString());
        Assert.DoesNotContain(ReadProtectedSecrets(destination.Id), refused.ToString());
        Assert.Equal(StateFailure.Unusable, Assert.Throws<StateException>(() => reopened.ListDestinations()).Failure);
        // A destination without secrets needs no key.
        Assert.Empty(reopened.GetDestination(plain.Id)!.Secrets);
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
        Assert.Equal(StateFailure.Unusable, Assert.Throws<StateException>(() => reopened.GetDestination(destination.Id)).Failure);
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
