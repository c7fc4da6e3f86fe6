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

    public static string Quote(string path) => "'" + path.Replace("'", "''") + "'";

    public void Dispose() => _connection.Dispose();
}
