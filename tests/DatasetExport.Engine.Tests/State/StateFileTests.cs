using System.Security.Cryptography;
using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

public sealed class StateFileTests : IDisposable
{
    private readonly TempFolder _home = new("de-state");

    private string DatabasePath => _home.Combine(SqliteStateStore.DatabaseFileName);

    public void Dispose() => _home.Dispose();

    [Fact]
    public void A_new_home_gets_a_current_wal_database()
    {
        var home = _home.Combine("not", "yet", "there");
        using (var store = SqliteStateStore.Open(home))
        {
            Assert.Equal(Path.Combine(home, SqliteStateStore.DatabaseFileName), store.Location);
        }

        Assert.Equal(StateSchema.LatestVersion, ReadPragma(Path.Combine(home, SqliteStateStore.DatabaseFileName), "user_version"));
        Assert.Equal(StateSchema.ApplicationId, ReadPragma(Path.Combine(home, SqliteStateStore.DatabaseFileName), "application_id"));
        Assert.Equal("wal", ReadText(Path.Combine(home, SqliteStateStore.DatabaseFileName), "PRAGMA journal_mode"));
    }

    [Fact]
    public void A_state_home_made_here_is_its_owner_s_alone_and_one_made_before_keeps_its_mode()
    {
        // Was: made with the process's umask (0755 here), so every local user could read state.db: hosts, accounts,
        // buckets and run history (not the secrets, encrypted with keys only the owner can read).
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        var made = _home.Combine("made", "here");
        using (SqliteStateStore.Open(made)) { }
        Assert.Equal(ownerOnly, File.GetUnixFileMode(made));

        var shared = _home.Combine("shared");
        Directory.CreateDirectory(shared, ownerOnly | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        using (SqliteStateStore.Open(shared)) { }
        Assert.Equal(ownerOnly | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, File.GetUnixFileMode(shared));
    }

    [Fact]
    public void Reopening_keeps_the_data_and_an_empty_file_is_taken_as_new_state()
    {
        File.WriteAllBytes(DatabasePath, []);
        using (var store = SqliteStateStore.Open(_home.Path)) store.SetOption("LakePath", "/lake");
        using (var store = SqliteStateStore.Open(_home.Path)) Assert.Equal("/lake", store.GetOption("LakePath"));
        Assert.Equal(StateSchema.LatestVersion, ReadPragma(DatabasePath, "user_version"));
    }

    [Fact]
    public void Migrations_apply_in_order_and_a_failing_step_changes_nothing()
    {
        using (var store = SqliteStateStore.Open(_home.Path)) store.SetOption("LakePath", "/lake");
        var path = DatabasePath;
        using var connection = Connect(path);
        IReadOnlyList<string> failing = [.. StateSchema.Migrations, "CREATE TABLE added (x); INSERT INTO missing_table VALUES (1);"];
        Assert.Throws<SqliteException>(() => StateSchema.Migrate(connection, path, failing));
        Assert.Equal(StateSchema.LatestVersion, ReadPragma(path, "user_version"));
        Assert.Equal("0", ReadText(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'added'"));

        IReadOnlyList<string> next = [.. StateSchema.Migrations, "ALTER TABLE options ADD COLUMN note TEXT;", "UPDATE options SET note = 'migrated';"];
        StateSchema.Migrate(connection, path, next);

        Assert.Equal(StateSchema.LatestVersion + 2, ReadPragma(path, "user_version"));
        Assert.Equal("migrated", ReadText(path, "SELECT note FROM options WHERE name = 'LakePath'"));
        Assert.Equal("/lake", ReadText(path, "SELECT value FROM options WHERE name = 'LakePath'"));
    }

    [Fact]
    public void A_database_from_a_newer_version_is_refused_and_left_untouched()
    {
        var newer = StateSchema.LatestVersion + 41;
        Execute(DatabasePath, $"PRAGMA application_id = {StateSchema.ApplicationId}; PRAGMA user_version = {newer}; CREATE TABLE future (x);");
        var before = Hash(DatabasePath);

        var refused = Assert.Throws<StateException>(() => SqliteStateStore.Open(_home.Path));

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains(DatabasePath, refused.Message);
        Assert.Contains($"schema version {newer}", refused.Message);
        Assert.Contains($"schema version {StateSchema.LatestVersion}", refused.Message);
        Assert.Equal(before, Hash(DatabasePath));
        Assert.Equal(newer, ReadPragma(DatabasePath, "user_version"));
    }

    [Fact]
    public void A_garbage_file_is_refused_with_its_path_and_left_untouched()
    {
        var garbage = new byte[8192];
        new Random(7).NextBytes(garbage);
        "this is not a database"u8.CopyTo(garbage);
        File.WriteAllBytes(DatabasePath, garbage);

        var refused = Assert.Throws<StateException>(() => SqliteStateStore.Open(_home.Path));

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains(DatabasePath, refused.Message);
        Assert.Contains("damaged", refused.Message);
        Assert.Equal(garbage, File.ReadAllBytes(DatabasePath));
        Assert.False(File.Exists(DatabasePath + "-wal"));
    }

    [Fact]
    public void A_database_damaged_after_its_header_is_refused_when_read()
    {
        using (var store = SqliteStateStore.Open(_home.Path))
        {
            for (var i = 0; i < 200; i++) store.SetOption($"Option{i}", new string('x', 500));
        }
        // Overwrite every page after the first one (the header and schema survive, the tables do not).
        var bytes = File.ReadAllBytes(DatabasePath);
        var pageSize = ReadPragma(DatabasePath, "page_size");
        Assert.True(bytes.Length > 2 * pageSize);
        Array.Fill(bytes, (byte)0xA5, pageSize, bytes.Length - pageSize);
        File.WriteAllBytes(DatabasePath, bytes);

        var refused = Assert.Throws<StateException>(() =>
        {
            using var store = SqliteStateStore.Open(_home.Path);
            store.GetOption("Option1");
        });

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains(DatabasePath, refused.Message);
        Assert.Equal(bytes, File.ReadAllBytes(DatabasePath));
    }

    [Fact]
    public void Another_applications_database_is_refused_and_left_untouched()
    {
        Execute(DatabasePath, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('Ada');");
        var before = Hash(DatabasePath);

        var refused = Assert.Throws<StateException>(() => SqliteStateStore.Open(_home.Path));

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains(DatabasePath, refused.Message);
        Assert.Contains("another application", refused.Message);
        Assert.Equal(before, Hash(DatabasePath));
    }

    [Fact]
    public void A_value_edited_by_hand_is_reported_with_the_file()
    {
        using var store = SqliteStateStore.Open(_home.Path);
        var destination = StateSamples.Destination();
        store.AddDestination(destination);
        Execute(DatabasePath, "UPDATE destinations SET type = 'Teleporter'");

        var refused = Assert.Throws<StateException>(() => store.GetDestination(destination.Id));

        Assert.Equal(StateFailure.Unusable, refused.Failure);
        Assert.Contains(DatabasePath, refused.Message);
        Assert.Contains("Teleporter", refused.Message);
    }

    [Fact]
    public void A_disposed_store_refuses_further_use()
    {
        var store = SqliteStateStore.Open(_home.Path);
        store.Dispose();
        Assert.Throws<ObjectDisposedException>(() => store.GetOption("LakePath"));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static SqliteConnection Connect(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    private static void Execute(string path, string sql)
    {
        using var connection = Connect(path);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string ReadText(string path, string sql)
    {
        using var connection = Connect(path);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar())!;
    }

    private static int ReadPragma(string path, string pragma) => int.Parse(ReadText(path, $"PRAGMA {pragma}"));
}
