using System.IO.Compression;
using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// JSON Lines chunks closed on the bytes they hold (<see cref="JsonLinesBatchReader.ChunkBytes"/>) give exactly the records
/// chunks of 4,096 lines give, in order: lines of varied width (a few far wider than the budget), structs, lists of structs,
/// maps, escaped field names (read by <c>Utf8JsonReader</c>, not the scanner), lines that fail half-way and are rolled back
/// or left out under SkipInvalidRecords, gzip; with an export's pools (chunks released as they are written, the read
/// waiting while those not yet released hold its bytes-ahead budget).
/// </summary>
public sealed class JsonChunkBytesTests : IDisposable
{
    private readonly TempFolder _folder = new("de-chunkbytes");

    public void Dispose() => _folder.Dispose();

    private static readonly DatasetSchema Schema = new(
    [
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("name", FieldKind.String),
        new SchemaField("score", FieldKind.Double),
        new SchemaField("s", FieldKind.Struct, Children:
        [
            new SchemaField("a", FieldKind.String),
            new SchemaField("inner", FieldKind.Struct, Children: [new SchemaField("x", FieldKind.Int64), new SchemaField("y", FieldKind.String)]),
        ]),
        new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)]),
        new SchemaField("items", FieldKind.List, Children:
        [
            new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.String), new SchemaField("v", FieldKind.Int64)]),
        ]),
        new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]),
        new SchemaField("we\"ird", FieldKind.String),
        new SchemaField("last", FieldKind.Int64),
    ]);

    /// <summary>
    /// 3,000 lines: mostly narrow, every 97th wide (20 KB of text in tags), lines 1,000, 1,001 and 2,500 far wider (300 KB);
    /// every 13th line has an escaped field name, every 41st fails at its last field (a string for int64: rolled back after
    /// its text was copied), every 59th is no JSON. The count of lines that are valid.
    /// </summary>
    private static (string Text, int Valid) Lines()
    {
        var random = new Random(7);
        var text = new StringBuilder();
        var valid = 0;
        for (var line = 0; line < 3000; line++)
        {
            if (line % 59 == 58)
            {
                text.Append("{\"id\": ").Append(line).Append(", \"name\": \"broken\n");
                continue;
            }
            text.Append("{\"id\":").Append(line);
            text.Append(",\"name\":\"n").Append(line).Append(new string('x', random.Next(0, 40))).Append('"');
            if (line % 3 != 0) text.Append(",\"score\":").Append(line).Append(".25");
            if (line % 4 != 0)
            {
                text.Append(",\"s\":{\"a\":\"a").Append(line).Append('"');
                if (line % 5 != 0) text.Append(",\"inner\":{\"x\":").Append(line * 3).Append(",\"y\":\"y").Append(line).Append("\"}");
                text.Append('}');
            }
            var tagCount = line is 1000 or 1001 or 2500 ? 300 : line % 97 == 0 ? 20 : random.Next(0, 4);
            var tagLength = tagCount >= 20 ? 1000 : 6;
            if (line % 7 != 0)
            {
                text.Append(",\"tags\":[");
                for (var t = 0; t < tagCount; t++) text.Append(t == 0 ? "" : ",").Append('"').Append(new string((char)('a' + t % 26), tagLength)).Append('"');
                text.Append(']');
            }
            if (line % 6 != 0)
            {
                text.Append(",\"items\":[");
                var items = random.Next(0, 4);
                for (var i = 0; i < items; i++) text.Append(i == 0 ? "" : ",").Append("{\"k\":\"k").Append(i).Append("\",\"v\":").Append(line + i).Append('}');
                text.Append(']');
            }
            if (line % 8 != 0)
            {
                text.Append(",\"m\":{");
                var entries = random.Next(0, 5);
                for (var e = 0; e < entries; e++) text.Append(e == 0 ? "" : ",").Append("\"key").Append(random.Next(0, 5000)).Append("-").Append(e).Append("\":").Append(e * line);
                text.Append('}');
            }
            if (line % 13 == 0) text.Append(",\"we\\\"ird\":\"w").Append(line).Append('"');
            text.Append(",\"last\":").Append(line % 41 == 40 ? "\"not a number\"" : line.ToString(System.Globalization.CultureInfo.InvariantCulture));
            text.Append("}\n");
            if (line % 41 != 40) valid++;
        }
        return (text.ToString(), valid);
    }

    private string Write(string name, bool gzipped)
    {
        var path = _folder.Combine(name);
        var bytes = new UTF8Encoding(false).GetBytes(Lines().Text);
        if (!gzipped)
        {
            File.WriteAllBytes(path, bytes);
            return path;
        }
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(bytes);
        return path;
    }

    /// <summary>The records of every chunk in order, the chunks' row counts, and the lines left out (their line numbers).</summary>
    private static async Task<(List<Record> Records, List<int> Rows, List<string> Skipped)> ReadAsync(
        string path, bool gzipped, int chunkSize, long chunkBytes, RowGroupPools? pools = null, long bytesAhead = JsonLinesBatchReader.DefaultBytesAhead)
    {
        var skipped = new List<string>();
        var reader = new JsonLinesBatchReader(chunkSize, invalid => skipped.Add(invalid.Location), pools, sample: null, chunkBytes, bytesAhead);
        var records = new List<Record>();
        var rows = new List<int>();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await foreach (var chunk in reader.ReadAsync(path, gzipped, Schema, guard.Token))
        {
            rows.Add(chunk.RowCount);
            records.AddRange(chunk.Records);
            chunk.Release();
        }
        return (records, rows, skipped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chunks_closed_on_their_bytes_hold_the_records_of_4096_line_chunks_in_order(bool gzipped)
    {
        var path = Write(gzipped ? "varied.jsonl.gz" : "varied.jsonl", gzipped);
        var (expected, expectedRows, expectedSkipped) = await ReadAsync(path, gzipped, 4096, long.MaxValue);
        Assert.Equal(Lines().Valid, expected.Count);
        Assert.Equal([expected.Count], expectedRows);
        var ids = expected.Select(r => Convert.ToInt64(r["id"], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(3000 - expected.Count, expectedSkipped.Count);

        foreach (var chunkBytes in new[] { 1L, 100, 5_000, 60_000, 300_000, 1_000_000, JsonLinesBatchReader.DefaultChunkBytes })
        {
            foreach (var chunkSize in new[] { 4096, 500, 7 })
            {
                var (records, rows, skipped) = await ReadAsync(path, gzipped, chunkSize, chunkBytes);
                RecordAssert.Equal(expected, records);
                Assert.Equal(expectedSkipped, skipped);
                Assert.All(rows, r => Assert.InRange(r, 1, chunkSize));
                if (chunkBytes == 1) Assert.All(rows, r => Assert.Equal(1, r));
            }
        }
    }

    [Theory]
    [InlineData(1L, 1L)]
    [InlineData(5_000L, 1L)]
    [InlineData(60_000L, 100_000L)]
    [InlineData(300_000L, 200_000L)]
    public async Task An_exports_read_waiting_for_its_chunks_to_be_released_gives_the_same_records(long chunkBytes, long bytesAhead)
    {
        var path = Write("varied-export.jsonl.gz", gzipped: true);
        var (expected, _, expectedSkipped) = await ReadAsync(path, true, 4096, long.MaxValue);

        var (records, _, skipped) = await ReadAsync(path, true, 4096, chunkBytes, new RowGroupPools(oneRowGroupAtATime: true), bytesAhead);

        RecordAssert.Equal(expected, records);
        Assert.Equal(expectedSkipped, skipped);
    }
    [Fact]
    public async Task Binary_values_count_in_the_bytes_that_close_a_chunk()
    {
        // A binary column (base64 in the lines; a dataset whose Parquet batches have it) holds each value's bytes in its
        // chunk like text: 40 lines of 10,000 bytes each reach a 50,000-byte budget at their 5th line (4 hold 40,000 and
        // their slices). Not counted, all 40 lines (400 KB) were one chunk; 4,096 lines of 1 MB values would be 4 GB.
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("b", FieldKind.Binary)]);
        var text = new StringBuilder();
        var records = new List<Record>();
        for (var line = 0; line < 40; line++)
        {
            var bytes = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7 + line)).ToArray();
            text.Append("{\"id\":").Append(line).Append(",\"b\":\"").Append(Convert.ToBase64String(bytes)).Append("\"}\n");
            records.Add(new Record { ["id"] = (long)line, ["b"] = bytes });
        }
        var path = _folder.Combine("binary.jsonl");
        File.WriteAllText(path, text.ToString(), new UTF8Encoding(false));

        var rows = new List<int>();
        var read = new List<Record>();
        await foreach (var chunk in new JsonLinesBatchReader(chunkBytes: 50_000).ReadAsync(path, false, schema, CancellationToken.None))
        {
            rows.Add(chunk.RowCount);
            read.AddRange(chunk.Records);
            chunk.Release();
        }

        Assert.Equal(Enumerable.Repeat(5, 8), rows);
        RecordAssert.Equal(records, read);
    }
    [Fact]
    public async Task An_exports_read_waiting_for_its_chunks_to_be_released_stops_when_cancelled()
    {
        // Chunks held unreleased past a budget of 1 byte: the read waits for room after handing out the first; cancelled, it
        // stops with OperationCanceledException instead of waiting on (a run stopped while its writer holds chunks).
        var path = Write("varied-cancel.jsonl", gzipped: false);
        var reader = new JsonLinesBatchReader(4096, onInvalidRecord: _ => { }, new RowGroupPools(oneRowGroupAtATime: true), sample: null, chunkBytes: 5_000, bytesAhead: 1);
        using var stop = new CancellationTokenSource();
        var chunks = reader.ReadAsync(path, false, Schema, stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await chunks.MoveNextAsync());
        var kept = chunks.Current;

        var next = chunks.MoveNextAsync().AsTask();
        stop.Cancel();
        var finished = await Task.WhenAny(next, Task.Delay(TimeSpan.FromMinutes(1)));

        Assert.Same(next, finished);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next);
        await chunks.DisposeAsync();
        kept.Release();
    }
}
