using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;

namespace DatasetExport.Engine.Tests.Lake;

/// <summary>
/// The lake reads a batch's schema once while the file is unchanged. A cache hit is seen by rewriting a file behind the
/// cache with the same size and last-write time: the lake then still reports the schema it read first.
/// </summary>
public sealed class BatchSchemaCacheTests : IDisposable
{
    /// <summary>Batches of the cache's own tests: written long before they are read.</summary>
    private static readonly DateTimeOffset Written = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _lake = new("de-schema-cache");

    public void Dispose() => _lake.Dispose();

    private string WriteBatch(string text) => WriteBatch("a.jsonl", text);

    private string WriteBatch(string name, string text) => WriteSettledBatch(_lake, name, text);

    /// <summary>
    /// Writes a batch of dataset "web" older than the settle time: files written just before their read are not kept
    /// (see the last test).
    /// </summary>
    internal static string WriteSettledBatch(TempFolder lake, string name, string text)
    {
        var path = lake.Combine("web", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-1));
        return path;
    }

    /// <summary>Rewrites the file keeping its last-write time, as if the cache could not tell.</summary>
    internal static void RewriteKeepingTime(string path, string text)
    {
        var time = File.GetLastWriteTimeUtc(path);
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, time);
    }

    private async Task<DatasetInfo> DescribeAsync(bool skipInvalidRecords = false) =>
        await new FolderLake(_lake.Path).GetDatasetAsync("web", new BatchReadOptions(skipInvalidRecords), default);

    private async Task<string?> SchemaAsync(bool skipInvalidRecords = false) => (await DescribeAsync(skipInvalidRecords)).Schema?.ToString();

    [Fact]
    public async Task An_unchanged_batch_is_read_once_and_a_new_last_write_time_reads_it_again()
    {
        var path = WriteBatch("{\"a\":1}\n");
        Assert.Equal("a int64", await SchemaAsync());

        RewriteKeepingTime(path, "{\"b\":1}\n");
        Assert.Equal("a int64", await SchemaAsync());
        Assert.Equal("a int64", (await new FolderLake(_lake.Path).ListDatasetsAsync(default)).Single().Schema!.ToString());

        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(1));
        Assert.Equal("b int64", await SchemaAsync());
    }

    [Fact]
    public async Task A_new_size_with_the_same_last_write_time_reads_the_batch_again()
    {
        var path = WriteBatch("{\"a\":1}\n");
        Assert.Equal("a int64", await SchemaAsync());

        RewriteKeepingTime(path, "{\"a\":1,\"c\":\"x\"}\n");

        Assert.Equal("a int64, c string", await SchemaAsync());
    }

    [Fact]
    public async Task Only_the_changed_batch_of_a_dataset_is_read_again()
    {
        var first = WriteBatch("1.jsonl", "{\"a\":1}\n");
        var second = WriteBatch("2.jsonl", "{\"b\":1}\n");
        Assert.Equal("a int64, b int64", await SchemaAsync());

        RewriteKeepingTime(first, "{\"x\":1}\n");
        WriteBatch("2.jsonl", "{\"b\":1.5}\n");

        Assert.Equal("a int64, b double", await SchemaAsync());
    }

    [Fact]
    public async Task A_lenient_read_is_not_used_for_a_strict_one_but_a_strict_read_serves_both()
    {
        WriteBatch("{\"a\":1}\n{\"a\":\n");
        var lenient = await DescribeAsync(skipInvalidRecords: true);
        Assert.True(lenient.IsEligible, lenient.Reason);

        var strict = await DescribeAsync();
        Assert.False(strict.IsEligible);
        Assert.Contains("(line 2): invalid JSON", strict.Reason);

        var path = WriteBatch("b.jsonl", "{\"b\":1}\n");
        File.Delete(_lake.Combine("web", "a.jsonl"));
        Assert.Equal("b int64", await SchemaAsync());
        RewriteKeepingTime(path, "{\"q\":1}\n");
        Assert.Equal("b int64", await SchemaAsync(skipInvalidRecords: true));
    }

    [Fact]
    public async Task A_batch_that_failed_is_read_again()
    {
        var path = WriteBatch("{\"a\":1}\n{\"a\":\n");
        Assert.False((await DescribeAsync()).IsEligible);

        RewriteKeepingTime(path, "{\"a\":1}\n{\"a\":2}\n");

        Assert.Equal("a int64", await SchemaAsync());
    }

    [Fact]
    public async Task A_batch_written_just_before_its_read_is_not_kept()
    {
        var path = WriteBatch("{\"a\":1}\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        Assert.Equal("a int64", await SchemaAsync());

        RewriteKeepingTime(path, "{\"b\":1}\n");

        Assert.Equal("b int64", await SchemaAsync());
    }

    [Fact]
    public void The_least_recently_used_entry_goes_when_the_cache_is_full()
    {
        var cache = new BatchSchemaCache(capacity: 2);
        var (a, b, c) = (Batch("a"), Batch("b"), Batch("c"));
        cache.Remember(KnownBatchSchema.Of(a, false, Schema("a"), 1));
        cache.Remember(KnownBatchSchema.Of(b, false, Schema("b"), 2));
        Assert.True(cache.TryGet(a, false, out _));

        cache.Remember(KnownBatchSchema.Of(c, false, Schema("c"), 3));

        Assert.False(cache.TryGet(b, false, out _));
        Assert.True(cache.TryGet(a, false, out var knownA));
        Assert.Equal((Schema("a"), 1L), (knownA.Schema, knownA.RecordCount));
        Assert.True(cache.TryGet(c, false, out var knownC));
        Assert.Equal(Schema("c"), knownC.Schema);
    }

    [Fact]
    public void Readers_and_writers_on_many_threads_only_ever_see_the_entry_of_their_own_file()
    {
        var cache = new BatchSchemaCache(capacity: 50);
        var batches = Enumerable.Range(0, 200).Select(i => Batch("f" + i)).ToArray();

        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var index = i * 7919 % batches.Length;
            var batch = batches[index];
            if (cache.TryGet(batch, false, out var known))
            {
                Assert.Equal(Schema(batch.RelativePath), known.Schema);
                Assert.Equal(index, known.RecordCount);
            }
            else
            {
                cache.Remember(KnownBatchSchema.Of(batch, false, Schema(batch.RelativePath), index));
            }
        });

        Assert.Equal(50, batches.Count(batch => cache.TryGet(batch, false, out _)));
    }

    private static BatchInfo Batch(string name) => new(name, "/lake/web/" + name, 100, Written, BatchFormat.JsonLines, Gzipped: false);

    private static DatasetSchema Schema(string field) => new([new SchemaField(field, FieldKind.Int64)]);
}
