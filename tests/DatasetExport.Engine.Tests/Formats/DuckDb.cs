using DuckDB.NET.Data;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>An in-memory DuckDB: the independent implementation that writes fixtures and judges our output.</summary>
internal sealed class DuckDb : IDisposable
{
    private readonly DuckDBConnection _connection = new("DataSource=:memory:");

    public DuckDb() => _connection.Open();

    public void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public object? Scalar(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public long Count(string sql) => Convert.ToInt64(Scalar(sql));

    /// <summary>The first column of every row as text.</summary>
    public List<string?> Strings(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string?>();
        while (reader.Read()) values.Add(reader.IsDBNull(0) ? null : Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture));
        return values;
    }

    /// <summary>Column name to DuckDB type of a query's result.</summary>
    public Dictionary<string, string> Describe(string relation)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"DESCRIBE SELECT * FROM {relation}";
        using var reader = command.ExecuteReader();
        var types = new Dictionary<string, string>();
        while (reader.Read()) types[reader.GetString(0)] = reader.GetString(1);
        return types;
    }

    /// <summary>
    /// Asserts that every row of <paramref name="ours"/> (alias o) has a row in <paramref name="original"/> (alias e) with the
    /// same id that satisfies every condition; a failure lists the conditions that do not hold.
    /// </summary>
    public void AssertSameRows(string ours, string original, IReadOnlyList<string> conditions, long expectedRows)
    {
        Assert.Equal(expectedRows, Count($"SELECT count(*) FROM {ours}"));
        // One join, one count per condition.
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT " + string.Join(", ", conditions.Select(condition => $"count(*) FILTER (WHERE {condition})"))
            + $" FROM {ours} o JOIN {original} e USING (id)";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        var failing = conditions.Where((_, i) => Convert.ToInt64(reader.GetValue(i)) != expectedRows).ToList();
        Assert.True(failing.Count == 0, "conditions failing for some rows: " + string.Join("; ", failing));
    }

    public static string Quote(string path) => "'" + path.Replace("'", "''") + "'";

    public void Dispose() => _connection.Dispose();
}
