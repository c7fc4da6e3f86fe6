using System.Globalization;
using DatasetExport.Engine.Formats;
using DuckDB.NET.Data;

namespace DatasetExport.Bench;

/// <summary>
/// Writes the benchmark lake with DuckDB: a web-events dataset as Parquet batches (snappy, DuckDB's default row
/// groups), the same rows as JSON Lines batches and, when a conversion asks for them, those rows with a map (in JSON
/// an object whose keys are data), as JSON Lines and as Parquet. Every value derives from the row number and the seed through DuckDB's hash(), so the
/// same rows, seed and batch count always give the same data.
/// </summary>
public static class SyntheticLake
{
    /// <summary>The web events as JSON Lines with <c>attributes</c>, an object of 0 to 6 keys out of 2,000 names.</summary>
    public const string JsonEventsWithMaps = "web_events_jsonl_maps";

    /// <summary>The same rows as Parquet batches, <c>attributes</c> a MAP(VARCHAR, BIGINT) column.</summary>
    public const string ParquetEventsWithMaps = "web_events_parquet_maps";

    /// <summary>The datasets whose rows carry the attributes map.</summary>
    public static bool HasMaps(string datasetId) => datasetId is JsonEventsWithMaps or ParquetEventsWithMaps;

    /// <summary>The format of a dataset's batches.</summary>
    public static BatchFormat FormatOf(string datasetId) =>
        datasetId == DatasetId(BatchFormat.Parquet) || datasetId == ParquetEventsWithMaps ? BatchFormat.Parquet : BatchFormat.JsonLines;

    public static string DatasetId(BatchFormat format) => format == BatchFormat.Parquet ? "web_events_parquet" : "web_events_jsonl";

    public static string BatchExtension(BatchFormat format) => format == BatchFormat.Parquet ? ".parquet" : ".jsonl";

    /// <summary>
    /// The lake folder for these settings, with the Parquet and JSON Lines events and the <paramref name="extraDatasets"/>;
    /// each dataset is generated unless an earlier run completed it.
    /// </summary>
    public static string Ensure(string workFolder, long rows, int batches, int seed, IEnumerable<string>? extraDatasets = null)
    {
        var lake = Path.Combine(workFolder, $"lake-{rows}-b{batches}-s{seed}");
        Directory.CreateDirectory(lake);
        string[] datasets = [DatasetId(BatchFormat.Parquet), DatasetId(BatchFormat.JsonLines), .. extraDatasets ?? []];
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        foreach (var datasetId in datasets.Distinct())
        {
            var complete = Path.Combine(lake, ".complete-" + datasetId);
            if (File.Exists(complete)) continue;
            var folder = Path.Combine(lake, datasetId);
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            Directory.CreateDirectory(folder);
            var format = FormatOf(datasetId);
            var withMaps = HasMaps(datasetId);
            for (var batch = 0; batch < batches; batch++)
            {
                var first = rows * batch / batches;
                var end = rows * (batch + 1) / batches;
                var file = Path.Combine(folder, $"batch-{batch:D4}{BatchExtension(format)}");
                using var command = connection.CreateCommand();
                command.CommandText = format == BatchFormat.Parquet
                    ? $"COPY ({RowsQuery(first, end, seed, withMaps)}) TO {Sql.Quote(file)} (FORMAT parquet, COMPRESSION snappy)"
                    // JSON has no timestamp type: ISO-8601 UTC text, as web-event JSON usually carries it.
                    : $"COPY (SELECT * REPLACE (strftime(event_time, '%Y-%m-%dT%H:%M:%S.%fZ') AS event_time) FROM ({RowsQuery(first, end, seed, withMaps)})) TO {Sql.Quote(file)} (FORMAT json)";
                command.ExecuteNonQuery();
            }
            File.WriteAllText(complete, DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        }
        return lake;
    }

    /// <summary>Total size of a dataset's batch files, the input side of MB/s.</summary>
    public static long DatasetBytes(string lake, BatchFormat format) => DatasetBytes(lake, DatasetId(format), format);

    public static long DatasetBytes(string lake, string datasetId, BatchFormat format) =>
        Directory.EnumerateFiles(Path.Combine(lake, datasetId), "*" + BatchExtension(format)).Sum(f => new FileInfo(f).Length);

    /// <summary>
    /// Rows [first, end): string ids, URLs, 32- and 64-bit integers, doubles, booleans, a timestamp, a nullable
    /// column (referrer, ~30% null), a nested struct (geo) and a list (tags, 0 to 3 elements); <paramref name="withMaps"/>
    /// adds attributes, a map of 0 to 6 distinct keys out of 2,000 names ('attr_0'..'attr_1999') to integers, written to
    /// JSON as an object whose keys are data.
    /// </summary>
    private static string RowsQuery(long first, long end, int seed, bool withMaps) => $$"""
        SELECT
          'evt-' || lpad(to_hex(h1), 16, '0') AS event_id,
          'user-' || (h2 % 200000)::VARCHAR AS user_id,
          'sess-' || lpad(to_hex(hash(i // 25, {{seed}})), 16, '0') AS session_id,
          'https://shop.example.com/' || ['home','search','product','cart','checkout','account','blog','help'][1 + (h1 % 8)::INTEGER]
            || '/' || (h3 % 50000)::VARCHAR || '?utm_source=' || ['google','newsletter','direct','partner','social'][1 + (h2 % 5)::INTEGER] AS url,
          CASE WHEN h3 % 10 < 3 THEN NULL
               ELSE 'https://' || ['www.google.com','news.example.org','t.co','www.bing.com','partner.example.net'][1 + (h3 // 10 % 5)::INTEGER] || '/'
          END AS referrer,
          [200,200,200,200,200,200,301,304,404,500][1 + (h2 // 7 % 10)::INTEGER]::INTEGER AS status_code,
          (h1 // 11 % 30000)::BIGINT AS duration_ms,
          (h3 // 13 % 100000)::DOUBLE / 100 AS price,
          (h2 // 17 % 20 = 0) AS is_bot,
          make_timestamp(1767225600000000 + i * 3000000 + (h1 // 19 % 3000000)::BIGINT) AS event_time,
          {'country': ['FR','DE','US','GB','JP','BR','IN','ES'][1 + (h2 // 23 % 8)::INTEGER],
           'city': 'city-' || (h3 // 29 % 500)::VARCHAR,
           'lat': ((h1 // 31 % 180000)::DOUBLE - 90000) / 1000,
           'lon': ((h2 // 37 % 360000)::DOUBLE - 180000) / 1000} AS geo,
          CASE h3 // 41 % 4 WHEN 0 THEN []::VARCHAR[] WHEN 1 THEN ['mobile'] WHEN 2 THEN ['mobile', 'returning']
               ELSE ['desktop', 'promo', 'vip'] END AS tags
          {{(withMaps ? AttributesColumn : "")}}
        FROM (SELECT i, hash(i, {{seed}}, 1) AS h1, hash(i, {{seed}}, 2) AS h2, hash(i, {{seed}}, 3) AS h3 FROM range({{first}}, {{end}}) t(i))
        ORDER BY i
        """;

    // Keys (a + 1919 k) mod 2000 for k = 0..6 are distinct, as a map's keys must be.
    private const string AttributesColumn = """
        , map_from_entries(list_transform(range((h3 // 43 % 7)::BIGINT),
            k -> {'key': 'attr_' || ((((h2 // 47) % 2000)::BIGINT + k * 1919) % 2000)::VARCHAR, 'value': ((h1 // 53) % 1000)::BIGINT + k})) AS attributes
        """;
}
