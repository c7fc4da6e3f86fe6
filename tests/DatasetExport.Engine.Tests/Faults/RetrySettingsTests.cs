using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Retry;
using DatasetExport.Engine.State;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>The destination's RetryCount / RetryTimeoutSeconds properties, and the runs' retry count in the state file.</summary>
public sealed class RetrySettingsTests : IDisposable
{
    private readonly TempFolder _home = new("de-retry-settings");

    public void Dispose() => _home.Dispose();

    [Fact]
    public void Without_properties_the_defaults_apply_and_given_values_are_read()
    {
        Assert.Equal(new RetryPolicy(4, TimeSpan.FromSeconds(300)), RetryPolicy.From(Settings()));
        Assert.Equal(new RetryPolicy(0, TimeSpan.FromSeconds(15)),
            RetryPolicy.From(Settings((DestinationKeys.RetryCount, "0"), (DestinationKeys.RetryTimeoutSeconds, " 15 "))));
    }

    [Theory]
    [InlineData(DestinationKeys.RetryCount, "-1")]
    [InlineData(DestinationKeys.RetryCount, "21")]
    [InlineData(DestinationKeys.RetryCount, "three")]
    [InlineData(DestinationKeys.RetryTimeoutSeconds, "0")]
    [InlineData(DestinationKeys.RetryTimeoutSeconds, "1.5")]
    public async Task An_out_of_range_value_is_refused_when_the_destination_is_added(string key, string value)
    {
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _home.Path });

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => engine.AddDestinationAsync(Settings((key, value)), skipValidation: true, default));

        Assert.Equal(key, refused.ParamName);
        Assert.Contains($"The {key} of destination 'retry-test' is '{value}'", refused.Message);
        Assert.Null(engine.State.FindDestination("retry-test"));
    }

    [Fact]
    public void Jittered_delays_grow_exponentially_up_to_the_cap()
    {
        for (var retry = 1; retry <= 8; retry++)
        {
            var step = Math.Min(30_000, 1000 * Math.Pow(2, retry - 1));
            Assert.InRange(RetryPolicy.DelayBefore(retry).TotalMilliseconds, step / 2, step);
        }
    }

    [Fact]
    public void Runs_of_a_state_file_from_before_retries_were_counted_read_as_zero_retries()
    {
        var path = Path.Combine(_home.Path, SqliteStateStore.DatabaseFileName);
        var runId = Guid.NewGuid();
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            StateSchema.Migrate(connection, path, [StateSchema.Migrations[0]]);
            using var insert = connection.CreateCommand();
            insert.CommandText = $"""
                INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time, started_at,
                                  heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count, export_path, files)
                VALUES ('{runId:D}', '{Guid.NewGuid():D}', 'f', 'web', '{Guid.NewGuid():D}', 'd', 'Failed', 'Full', '2026-11-26T01:00:00.0000000Z',
                        '2026-11-26T01:00:00.0000000Z', '2026-11-26T01:00:00.0000000Z', 0, 0, 0, 0, 0, 0, 'web/exportTime=202611260100', '[]')
                """;
            insert.ExecuteNonQuery();
        }

        using var store = SqliteStateStore.Open(_home.Path);

        Assert.Equal(0, store.GetRun(runId)!.Retries);
    }

    private static DestinationSettings Settings(params (string Key, string Value)[] properties)
    {
        var settings = new DestinationSettings { Name = "retry-test", Type = DestinationType.Local, Properties = { [DestinationKeys.Path] = "/tmp/retry-test" } };
        foreach (var (key, value) in properties) settings.Properties[key] = value;
        return settings;
    }
}
