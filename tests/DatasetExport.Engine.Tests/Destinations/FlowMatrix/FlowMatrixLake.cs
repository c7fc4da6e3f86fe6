using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Destinations.FlowMatrix;

/// <summary>
/// The lakes the flow matrix exports, written once per test run and shared (they are only read): dataset 'web' in
/// several JSON Lines batches, some gzipped. Large holds enough records for several part files in both file types
/// (Parquet rolls over at its 100,000-record row groups) and JSON files above every upload threshold.
/// </summary>
internal sealed class FlowMatrixLake
{
    public const int LargeRecords = 110_000;

    private static readonly Lazy<FlowMatrixLake> LargeLake = new(() => Write("large", LargeRecords, batchCount: 4));
    private static readonly Lazy<FlowMatrixLake> SmallLake = new(() => Write("small", 10, batchCount: 2));

    private readonly TempFolder _folder;
    private readonly List<string> _batches;

    private FlowMatrixLake(TempFolder folder, List<string> batches)
    {
        _folder = folder;
        _batches = batches;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => _folder.Dispose();
    }

    public static FlowMatrixLake Large => LargeLake.Value;
    public static FlowMatrixLake Small => SmallLake.Value;

    public string Path => _folder.Path;
    public int BatchCount => _batches.Count;

    /// <summary>
    /// Asserts that <paramref name="exported"/> (a DuckDB relation over the files read back) holds exactly the lake's
    /// records: the same ids once each, and every column of every record equal to the source's, read by DuckDB.
    /// </summary>
    public void AssertSameRecords(DuckDb duck, string exported)
    {
        var source = $"read_json([{string.Join(", ", _batches.Select(DuckDb.Quote))}], format = 'newline_delimited')";
        var columns = duck.Describe(source).Keys.ToList();
        Assert.Equal(columns, duck.Describe(exported).Keys);
        var count = duck.Count($"SELECT count(*) FROM {source}");
        Assert.Equal(count, duck.Count($"SELECT count(DISTINCT id) FROM {exported}"));
        duck.AssertSameRows(exported, source, columns.Select(column => $"o.\"{column}\" IS NOT DISTINCT FROM e.\"{column}\"").ToList(), count);
    }

    private static FlowMatrixLake Write(string name, int records, int batchCount)
    {
        var folder = new TempFolder($"de-flow-matrix-lake-{name}");
        var batches = new List<string>();
        var perBatch = records / batchCount;
        for (var batch = 0; batch < batchCount; batch++)
        {
            var gzip = batch % 2 == 1;
            var path = folder.Combine("web", $"batch-{batch}.jsonl{(gzip ? ".gz" : "")}");
            var first = batch * perBatch;
            SampleLake.WriteEvents(path, first, batch == batchCount - 1 ? records - first : perBatch, gzip);
            batches.Add(path);
        }
        return new FlowMatrixLake(folder, batches);
    }
}
