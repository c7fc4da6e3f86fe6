using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.State;

/// <summary>
/// How SQLite plans the store's statements that would otherwise read the whole history (tens of thousands of runs, millions of
/// exported batches) to find a few rows: each is checked to search an index, never to scan the table. Every export, schedule
/// and Remove-ExportFlow looks for stale runs; Remove-ExportDestination looks for its running runs and deletes its batches.
/// </summary>
public sealed class StateQueryPlanTests : IDisposable
{
    private readonly TempFolder _home = new("de-state-plan");

    public StateQueryPlanTests() => SqliteStateStore.Open(_home.Path).Dispose();

    public void Dispose() => _home.Dispose();

    [Fact]
    public void Stale_runs_are_found_in_the_index_of_running_runs()
    {
        // Planned as written, unbound (the status was a parameter: SCAN runs, saved only by SQLite re-planning with its value).
        Assert.Equal(["SCAN runs USING INDEX runs_one_running"], Plan($"SELECT * FROM runs {SqliteStateStore.StaleRunsCondition}"));
        Assert.Equal(["SCAN runs USING INDEX runs_one_running"], Plan($"UPDATE runs SET status = 'Abandoned' {SqliteStateStore.StaleRunsCondition}"));
    }

    [Fact]
    public void A_destination_removed_reads_only_running_runs_and_its_own_exported_batches()
    {
        // Was: SCAN runs USING INDEX runs_by_start (every run, for its ORDER BY, even with the status bound: 62 ms for 77,580
        // runs), and SCAN exported_batches (every batch of every flow).
        Assert.Equal(["SCAN runs USING INDEX runs_one_running"], Plan(SqliteStateStore.RunningRunsOfDestination));
        var delete = Plan(SqliteStateStore.ExportedBatchesOfDestinationDelete);
        Assert.Equal("SEARCH exported_batches USING PRIMARY KEY (flow_id=? AND destination_id=?)", delete[0]);
        Assert.DoesNotContain(delete, step => step.StartsWith("SCAN exported_batches", StringComparison.Ordinal));
    }

    /// <summary>The details of EXPLAIN QUERY PLAN for <paramref name="sql"/>, its parameters NULL, on a current state database.</summary>
    private List<string> Plan(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = _home.Combine(SqliteStateStore.DatabaseFileName), Pooling = false, Mode = SqliteOpenMode.ReadOnly,
        }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        foreach (var name in System.Text.RegularExpressions.Regex.Matches(sql, @"\$\w+").Select(match => match.Value).Distinct())
        {
            command.Parameters.AddWithValue(name, DBNull.Value);
        }
        using var reader = command.ExecuteReader();
        var steps = new List<string>();
        while (reader.Read()) steps.Add(reader.GetString(3));
        return steps;
    }
}
