using System.Globalization;
using DatasetExport.Engine.Secrets;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.State;

/// <summary>
/// The embedded state store: one SQLite database, <c>state.db</c>, in the state home, with the key ring that
/// protects destination secrets in <c>keys/</c> beside it. Several processes can use the same home at once: the
/// database runs in WAL mode with a 30 s busy timeout, and every write is one IMMEDIATE transaction. Each instance
/// holds one connection and lets one thread use it at a time.
/// </summary>
public sealed partial class SqliteStateStore : IStateStore
{
    public const string DatabaseFileName = "state.db";
    public const string KeysFolderName = "keys";
    private static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How many runs <see cref="EnumerateRuns"/> reads at a time (changed by tests to cross pages with few runs).</summary>
    internal int RunPageSize { get; set; } = 500;

    /// <summary>Dates are stored as fixed-width UTC text: readable, and ordered correctly by plain text comparison.</summary>
    internal const string DateFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    private readonly object _gate = new();
    private readonly SqliteConnection _connection;
    private readonly DataProtectionSecretProtector _secrets;
    private SqliteTransaction? _transaction;
    private bool _disposed;

    private SqliteStateStore(string location, SqliteConnection connection, DataProtectionSecretProtector secrets)
    {
        Location = location;
        _connection = connection;
        _secrets = secrets;
    }

    /// <summary>
    /// Creates a missing state home readable by its owner only (Unix; Windows' per-user data folder already is): state.db names
    /// hosts, accounts, buckets and what ran where, though its secrets are encrypted. An existing folder keeps its mode: one
    /// an admin shares with a group (a service account's) was made so on purpose.
    /// </summary>
    private static void CreateHome(string home)
    {
        if (OperatingSystem.IsWindows() || Directory.Exists(home))
        {
            Directory.CreateDirectory(home);
            return;
        }
        Directory.CreateDirectory(home, DataProtectionSecretProtector.OwnerOnly);
    }

    /// <summary>The database file.</summary>
    public string Location { get; }

    /// <summary>
    /// Opens <c>&lt;stateHome&gt;/state.db</c>, creating it (and the folder) when missing and migrating an older schema.
    /// Throws <see cref="StateException"/> (Unusable) for a damaged file, another application's database, or one
    /// written by a newer version; such files are left untouched.
    /// </summary>
    public static IStateStore Open(string stateHome)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stateHome);
        var home = Path.GetFullPath(stateHome);
        var path = Path.Combine(home, DatabaseFileName);
        if (NetworkFileSystem.Of(home) is { } network)
        {
            // Refused before anything is created there: SQLite's own errors would come later, or never (damage instead).
            throw new StateException(StateFailure.Unusable,
                $"The state folder '{home}' is on a network file system ({network}). SQLite's locking does not hold there between " +
                "machines, so sessions on two of them could run one slot twice or damage the state. Point " +
                $"$env:{ExportEngine.StateHomeVariable} at a folder on a local disk (destinations may still write to network folders).");
        }
        SqliteConnection? connection = null;
        try
        {
            CreateHome(home);
            connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = path,
                Mode = SqliteOpenMode.ReadWriteCreate,
                // The store keeps its connection for its lifetime; closing it really closes the file.
                Pooling = false,
                DefaultTimeout = (int)BusyTimeout.TotalSeconds,
            }.ToString());
            connection.Open();
            StateSchema.Prepare(connection, path, BusyTimeout);
            return new SqliteStateStore(path, connection, new DataProtectionSecretProtector(Path.Combine(home, KeysFolderName)));
        }
        catch (Exception error)
        {
            connection?.Dispose();
            throw error switch
            {
                SqliteException { SqliteErrorCode: SqliteErrorCodes.ReadOnly or SqliteErrorCodes.CantOpen } when WriteProblem(home) is { } problem =>
                    new StateException(StateFailure.Unusable,
                        $"The state folder '{home}' cannot be written ({problem}), so '{path}' cannot be used: SQLite writes the database's " +
                        $"-wal and -shm files beside it even to read it. Make the folder writable, or point $env:{ExportEngine.StateHomeVariable} at another folder.", error),
                SqliteException sqlite => Translate(sqlite, path),
                IOException or UnauthorizedAccessException => new StateException(StateFailure.Unusable,
                    $"The state folder '{home}' cannot be used: {error.Message}", error),
                _ => error,
            };
        }
    }

    /// <summary>Why no file can be created in <paramref name="folder"/> (a read-only disk, no permission), or null when one can.</summary>
    private static string? WriteProblem(string folder)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(folder, $".write-probe-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write,
                FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return error.Message;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _connection.Dispose();
            _secrets.Dispose();
        }
    }

    // ---- Options ----

    public string? GetOption(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return Read(() => Scalar("SELECT value FROM options WHERE name = $name", ("$name", name)) as string);
    }

    public void SetOption(string name, string? value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Write(() =>
        {
            if (value is null)
            {
                Execute("DELETE FROM options WHERE name = $name", ("$name", name));
            }
            else
            {
                Execute("INSERT INTO options (name, value) VALUES ($name, $value) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    ("$name", name), ("$value", value));
            }
        });
    }

    // ---- Connection, transactions and errors ----

    /// <summary>Runs <paramref name="read"/> on the connection, outside any transaction (one statement is its own snapshot).</summary>
    private T Read<T>(Func<T> read)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                return read();
            }
            catch (SqliteException error)
            {
                throw Translate(error, Location);
            }
            catch (Exception error) when (IsUnreadableValue(error))
            {
                throw UnreadableValue(error);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> in one IMMEDIATE transaction: the write lock is taken first, so a
    /// read-then-write never fails half-way on another process's lock; any exception rolls everything back.
    /// </summary>
    private T Write<T>(Func<T> write)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                using var transaction = _connection.BeginTransaction(deferred: false);
                _transaction = transaction;
                var result = write();
                transaction.Commit();
                return result;
            }
            catch (SqliteException error)
            {
                throw Translate(error, Location);
            }
            catch (Exception error) when (IsUnreadableValue(error))
            {
                throw UnreadableValue(error);
            }
            finally
            {
                _transaction = null;
            }
        }
    }

    private void Write(Action write) => Write(() =>
    {
        write();
        return true;
    });

    /// <summary>Runs one statement in the current transaction; returns the number of rows it changed. Null values become SQL NULL.</summary>
    private int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        return command.ExecuteNonQuery();
    }

    private object? Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        return command.ExecuteScalar();
    }

    private List<T> ReadAll<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(map(reader));
        return rows;
    }

    private SqliteCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    private static StateException Translate(SqliteException error, string path) => error.SqliteErrorCode switch
    {
        SqliteErrorCodes.Corrupt or SqliteErrorCodes.NotADatabase => new StateException(StateFailure.Unusable,
            $"'{path}' is damaged or is not a DatasetExport state database ({error.Message}). It was left as it is: " +
            "restore it from a backup, or move it aside to start with empty state.", error),
        SqliteErrorCodes.Busy or SqliteErrorCodes.Locked => new StateException(StateFailure.Unusable,
            $"'{path}' stayed locked by another process for more than {BusyTimeout.TotalSeconds:0} seconds.", error),
        _ => new StateException(StateFailure.Unusable, $"The state database '{path}' cannot be used: {error.Message}", error),
    };

    /// <summary>A stored value the row mappers cannot parse: the file was edited by hand or damaged.</summary>
    private static bool IsUnreadableValue(Exception error) => error is FormatException or System.Text.Json.JsonException or ArgumentException;

    private StateException UnreadableValue(Exception error) => new(StateFailure.Unusable,
        $"'{Location}' holds a value this version cannot read ({error.Message}); the file was damaged or edited by hand.", error);

    private static bool IsUniqueViolation(SqliteException error) => error.SqliteExtendedErrorCode == SqliteErrorCodes.ConstraintUnique;
    private static bool IsPrimaryKeyViolation(SqliteException error) => error.SqliteExtendedErrorCode == SqliteErrorCodes.ConstraintPrimaryKey;
    private static bool IsForeignKeyViolation(SqliteException error) => error.SqliteExtendedErrorCode == SqliteErrorCodes.ConstraintForeignKey;

    /// <summary>The SQLite result codes the store tells apart (https://sqlite.org/rescode.html).</summary>
    private static class SqliteErrorCodes
    {
        public const int Busy = 5;
        public const int Locked = 6;
        public const int ReadOnly = 8;
        public const int Corrupt = 11;
        public const int CantOpen = 14;
        public const int NotADatabase = 26;
        public const int ConstraintForeignKey = 787;
        public const int ConstraintPrimaryKey = 1555;
        public const int ConstraintUnique = 2067;
    }

    // ---- Values ----

    private static string NameKey(string name) => name.ToUpperInvariant();
    private static string IdText(Guid id) => id.ToString("D");
    private static string DateText(DateTimeOffset value) => value.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);
    private static string? DateText(DateTimeOffset? value) => value is { } date ? DateText(date) : null;

    /// <summary>An update refused because another session wrote the record after the caller read it (<paramref name="storedAt"/>: stored modified_at text).</summary>
    private static StateException ChangedSinceRead(string kind, string name, string storedAt) => new(StateFailure.InUse,
        $"{kind} '{name}' was changed by another session (at {storedAt}) after this command read it; nothing was written. " +
        "Run the command again to apply the change to what is stored now.");

    private static void ValidateName(string? name, string kind)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException($"A {kind} needs a name.", nameof(name));
    }
}

/// <summary>Reads typed values from the store's rows by column name.</summary>
internal static class StateRowExtensions
{
    public static string Text(this SqliteDataReader row, string column) => row.GetString(row.GetOrdinal(column));

    public static string? NullableText(this SqliteDataReader row, string column)
    {
        var ordinal = row.GetOrdinal(column);
        return row.IsDBNull(ordinal) ? null : row.GetString(ordinal);
    }

    public static Guid Id(this SqliteDataReader row, string column) => Guid.ParseExact(row.Text(column), "D");
    public static long Int64(this SqliteDataReader row, string column) => row.GetInt64(row.GetOrdinal(column));
    public static int Int32(this SqliteDataReader row, string column) => row.GetInt32(row.GetOrdinal(column));

    public static long? NullableInt64(this SqliteDataReader row, string column)
    {
        var ordinal = row.GetOrdinal(column);
        return row.IsDBNull(ordinal) ? null : row.GetInt64(ordinal);
    }

    public static int? NullableInt32(this SqliteDataReader row, string column)
    {
        var ordinal = row.GetOrdinal(column);
        return row.IsDBNull(ordinal) ? null : row.GetInt32(ordinal);
    }

    public static DateTimeOffset Date(this SqliteDataReader row, string column) => ParseDate(row.Text(column));

    public static DateTimeOffset? NullableDate(this SqliteDataReader row, string column) =>
        row.NullableText(column) is { } text ? ParseDate(text) : null;

    public static bool Flag(this SqliteDataReader row, string column) => row.GetInt64(row.GetOrdinal(column)) != 0;
    private static DateTimeOffset ParseDate(string text) => new(
        DateTime.ParseExact(text, SqliteStateStore.DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
        TimeSpan.Zero);

    public static TEnum Enum<TEnum>(this SqliteDataReader row, string column) where TEnum : struct, Enum => System.Enum.Parse<TEnum>(row.Text(column));
}
