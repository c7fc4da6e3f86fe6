using System.Buffers;
using System.Text;
using DatasetExport.Engine.Formats;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;
using Encoding = Parquet.Meta.Encoding;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// The engine's encoder of BYTE_ARRAY column chunks (<see cref="ParquetByteArrayColumnEncoder"/>, used by
/// <see cref="ParquetFileWriter"/> for every text and binary leaf; text here, binaries in <see cref="ParquetValueColumnEncoderTests"/>)
/// and its RLE/bit-packed hybrid encoder: what they write is read back the same by DuckDB, Parquet.Net and the engine's own
/// reader, with the statistics Parquet.Net writes.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParquetByteArrayColumnEncoderTests(FormatsFixture fixture)
{
    private const int Rows = 3000;
    private readonly DuckDb _duck = fixture.Duck;

    private static readonly DatasetSchema Schema = new([
        new SchemaField("id", FieldKind.Int64, Nullable: false),
        new SchemaField("required", FieldKind.String, Nullable: false),
        new SchemaField("nullable", FieldKind.String),
        new SchemaField("few", FieldKind.String),
        new SchemaField("none", FieldKind.String),
        new SchemaField("st", FieldKind.Struct, Children: [new SchemaField("name", FieldKind.String), new SchemaField("n", FieldKind.Int32)]),
        new SchemaField("only_text", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.String)]),
        new SchemaField("tags", FieldKind.List, Children: [new SchemaField("element", FieldKind.String)]),
        new SchemaField("labels", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]),
    ]);

    /// <summary>Text of every shape: empty, non-ASCII, surrogate pairs, chars from U+E000 up (ordered after surrogates in UTF-8).</summary>
    private static readonly string[] Samples = ["", "a", "é", "日本語", "😀", "\uE000", "\uFFFD", "z", "a😀b", "tab\tand\nnewline", "\uFF21"];

    private static string Unique(int i) => $"{Samples[i % Samples.Length]}-{i}-{new string('x', i % 13)}";

    private static List<Record> Records(int count) => Enumerable.Range(0, count).Select(i => new Record
    {
        ["id"] = (long)i,
        ["required"] = Unique(i),
        ["nullable"] = i % 5 == 0 ? null : Samples[i % Samples.Length] + i,
        ["few"] = i % 7 == 0 ? null : Samples[i % Samples.Length],
        ["none"] = null,
        ["st"] = i % 11 == 0 ? null : new Dictionary<string, object?> { ["name"] = i % 3 == 0 ? null : Samples[i % 4], ["n"] = i },
        ["only_text"] = i % 9 == 0 ? null : new Dictionary<string, object?> { ["a"] = i % 4 == 0 ? null : Unique(i) },
        ["tags"] = i % 6 == 0 ? null : Enumerable.Range(0, i % 4).Select(j => j == 1 && i % 3 == 0 ? null : (object?)Samples[(i + j) % Samples.Length]).ToList(),
        ["labels"] = i % 8 == 0 ? null : Enumerable.Range(0, i % 3).Select(j => new KeyValuePair<object, object?>($"k{j}😀", j == 0 ? null : (long)(i * j))).ToList(),
    }).ToList();

    private Task<string> WriteAsync(IReadOnlyList<Record> records, CompressionKind compression) =>
        ParquetEncoderChecks.WriteAsync(fixture.NewPath("text.parquet"), Schema, records, compression, rowGroupRecords: 1000);

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    public async Task Text_of_every_shape_reads_back_the_same_in_DuckDB_ParquetNet_and_our_reader(CompressionKind compression)
    {
        var records = Records(Rows);
        var path = await WriteAsync(records, compression);

        // Our reader: every record as written.
        var reader = new ParquetBatchReader();
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(reader, path, false, Schema));

        // DuckDB: each text column, row by row.
        var file = $"read_parquet({DuckDb.Quote(path)})";
        Assert.Equal(records.Select(r => (string?)r["required"]), _duck.Strings($"SELECT required FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => (string?)r["nullable"]), _duck.Strings($"SELECT nullable FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => (string?)r["few"]), _duck.Strings($"SELECT few FROM {file} ORDER BY id"));
        Assert.Equal(Rows, _duck.Count($"SELECT count(*) FROM {file} WHERE \"none\" IS NULL"));
        Assert.Equal(records.Select(r => (string?)(r["st"] as IReadOnlyDictionary<string, object?>)?["name"]), _duck.Strings($"SELECT st.name FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => (string?)(r["only_text"] as IReadOnlyDictionary<string, object?>)?["a"]), _duck.Strings($"SELECT only_text.a FROM {file} ORDER BY id"));
        Assert.Equal(
            records.Select(r => r["tags"] is List<object?> tags ? "[" + string.Join('\u0001', tags.Select(tag => (string?)tag ?? "<null>")) + "]" : null),
            _duck.Strings($"SELECT '[' || array_to_string(list_transform(tags, x -> coalesce(x, '<null>')), chr(1)) || ']' FROM {file} ORDER BY id"));
        Assert.Equal(
            records.Select(r => r["labels"] is List<KeyValuePair<object, object?>> labels ? string.Join('\u0001', labels.Select(label => $"{label.Key}={label.Value ?? "<null>"}")) : null),
            _duck.Strings($"SELECT array_to_string(list_transform(map_entries(labels), e -> e.key || '=' || coalesce(e.value::VARCHAR, '<null>')), chr(1)) FROM {file} ORDER BY id"));

        // Parquet.Net: every text leaf's levels and values, as the writer received them.
        await AssertParquetNetReadsTheLevelsAndValuesAsync(path, records);
    }

    [Fact]
    public async Task A_file_of_text_columns_only_needs_no_ParquetNet_row_group()
    {
        var schema = new DatasetSchema([
            new SchemaField("s", FieldKind.String),
            new SchemaField("m", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.String)]),
            new SchemaField("l", FieldKind.List, Children: [new SchemaField("element", FieldKind.String, Nullable: false)]),
        ]);
        var records = Enumerable.Range(0, 2500).Select(i => new Record
        {
            ["s"] = i % 4 == 0 ? null : Unique(i),
            ["m"] = i % 5 == 0 ? null : Enumerable.Range(0, i % 3).Select(j => new KeyValuePair<object, object?>($"k{j}", j == 1 ? null : Samples[(i + j) % Samples.Length])).ToList(),
            ["l"] = i % 6 == 0 ? null : Enumerable.Range(0, i % 4).Select(j => (object?)Samples[(i * j) % Samples.Length]).ToList(),
        }).ToList();
        var path = fixture.NewPath("text-only.parquet");
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, CompressionKind.Zstd, rowGroupRecords: 1000))
        {
            foreach (var chunk in records.Chunk(999)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
        var file = $"read_parquet({DuckDb.Quote(path)})";
        Assert.Equal(3, _duck.Count($"SELECT count(DISTINCT row_group_id) FROM parquet_metadata({DuckDb.Quote(path)})"));
        Assert.Equal(records.Select(r => (string?)r["s"]), _duck.Strings($"SELECT s FROM {file}"));
        Assert.Equal(
            records.Select(r => r["m"] is List<KeyValuePair<object, object?>> entries ? string.Join('\u0001', entries.Select(e => $"{e.Key}={e.Value ?? "<null>"}")) : null),
            _duck.Strings($"SELECT array_to_string(list_transform(map_entries(m), e -> e.key || '=' || coalesce(e.value, '<null>')), chr(1)) FROM {file}"));
        Assert.Equal(
            records.Select(r => r["l"] is List<object?> items ? "[" + string.Join('\u0001', items) + "]" : null),
            _duck.Strings($"SELECT '[' || array_to_string(l, chr(1)) || ']' FROM {file}"));
    }

    [Fact]
    public async Task Few_distinct_values_are_dictionary_encoded_and_many_plain()
    {
        var path = await WriteAsync(Records(Rows), CompressionKind.Snappy);

        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));
        var columns = footer.RowGroups.SelectMany(group => group.Columns).GroupBy(column => string.Join('.', column.MetaData!.PathInSchema)).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var column in columns["few"]) Assert.Contains(Encoding.RLE_DICTIONARY, column.MetaData!.Encodings);
        foreach (var column in columns["few"]) Assert.NotNull(column.MetaData!.DictionaryPageOffset);
        foreach (var column in columns["required"]) Assert.Equal([Encoding.PLAIN, Encoding.RLE], column.MetaData!.Encodings);
        foreach (var column in columns["required"]) Assert.Null(column.MetaData!.DictionaryPageOffset);
        // DuckDB sees the same pages.
        Assert.Contains("RLE_DICTIONARY", _duck.Strings($"SELECT encodings FROM parquet_metadata({DuckDb.Quote(path)}) WHERE path_in_schema = 'few'").First(s => s is not null)!);
    }

    [Fact]
    public async Task Values_longer_than_the_writers_blocks_read_back_whole()
    {
        // The writer buffers text as UTF-8 in 256 KB blocks; longer values, ASCII or not, get arrays of their own.
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("s", FieldKind.String)]);
        string[] texts = ["short", new string('a', 300_000), "between", string.Concat(Enumerable.Repeat("日本😀", 40_000)), new string('z', 262_144), "after"];
        var records = texts.Select((text, i) => new Record { ["id"] = (long)i, ["s"] = text }).ToList();
        var path = fixture.NewPath("long.parquet");
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, CompressionKind.Snappy))
        {
            foreach (var chunk in records.Chunk(2)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
        Assert.Equal(texts, _duck.Strings($"SELECT s FROM read_parquet({DuckDb.Quote(path)}) ORDER BY id"));
    }

    [Fact]
    public async Task A_dictionary_of_thousands_of_values_keeps_each_value_its_own_entry()
    {
        // 6,000 rows of 2,500 distinct values (some only a char apart, some empty or long) in one row group: the
        // dictionary's table grows several times and every value must still find its own entry.
        var schema = new DatasetSchema([new SchemaField("id", FieldKind.Int64, Nullable: false), new SchemaField("s", FieldKind.String)]);
        string Value(int i) => (i % 2500) switch
        {
            0 => "",
            var k when k % 3 == 0 => new string('ä', k % 40) + k,
            var k => Samples[k % Samples.Length] + k.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var records = Enumerable.Range(0, 6000).Select(i => new Record { ["id"] = (long)i, ["s"] = i % 97 == 0 ? null : Value(i * 7919) }).ToList();
        var path = fixture.NewPath("dictionary.parquet");
        await using (var output = File.Create(path))
        await using (var writer = new ParquetFileWriter(output, schema, CompressionKind.Snappy, rowGroupRecords: 6000))
        {
            foreach (var chunk in records.Chunk(1000)) await writer.WriteAsync(new RecordChunk(schema, chunk), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));
        Assert.Contains(Encoding.RLE_DICTIONARY, footer.RowGroups.Single().Columns[1].MetaData!.Encodings);
        RecordAssert.Equal(records, await RecordAssert.ReadAllAsync(new ParquetBatchReader(), path, false, schema));
        var file = $"read_parquet({DuckDb.Quote(path)})";
        Assert.Equal(records.Select(r => (string?)r["s"]), _duck.Strings($"SELECT s FROM {file} ORDER BY id"));
        Assert.Equal(records.Select(r => (string?)r["s"]).OfType<string>().Distinct().Count(), _duck.Count($"SELECT count(DISTINCT s) FROM {file}"));
    }

    [Fact]
    public async Task Statistics_are_those_ParquetNet_writes_and_DuckDB_prunes_by_them()
    {
        var records = Records(Rows);
        var path = await WriteAsync(records, CompressionKind.Snappy);
        var footer = ParquetThrift.ReadFooter(await File.ReadAllBytesAsync(path));

        foreach (var name in new[] { "required", "nullable", "few", "none" })
        {
            for (var g = 0; g < footer.RowGroups.Count; g++)
            {
                var ours = footer.RowGroups[g].Columns.Single(column => column.MetaData!.PathInSchema.SequenceEqual([name])).MetaData!.Statistics;
                var values = records.Skip(g * 1000).Take(1000).Select(record => (string?)record[name]).ToArray();
                var parquetNet = await ParquetNetStatisticsAsync(values);
                Assert.Equal(parquetNet.NullCount, ours.NullCount);
                // Like Parquet.Net, the legacy fields hold the same values (none when all are null).
                Assert.Equal(parquetNet.MinValue is null, ours.MinValue is null);
                Assert.Equal(ours.MinValue, ours.Min);
                Assert.Equal(ours.MaxValue, ours.Max);
                // Unlike Parquet.Net 6.1.0, which orders the UTF-16 strings (U+FFFD above U+1F600), the UTF-8 extremes
                // compared unsigned byte by byte, as the format says and readers that prune by them expect.
                var utf8 = values.OfType<string>().Select(System.Text.Encoding.UTF8.GetBytes).Order(Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToList();
                Assert.Equal(utf8.FirstOrDefault(), ours.MinValue);
                Assert.Equal(utf8.LastOrDefault(), ours.MaxValue);
            }
        }

        var file = $"read_parquet({DuckDb.Quote(path)})";
        // A value above U+FFFF: a row group whose maximum were ordered by UTF-16 would be skipped.
        var wanted = (string)records[2347]["required"]!;
        Assert.StartsWith("😀", wanted);
        Assert.Equal(1, _duck.Count($"SELECT count(*) FROM {file} WHERE required = {DuckDb.Quote(wanted)}"));
        Assert.Equal(records.Count(r => string.CompareOrdinal((string)r["required"]!, "z") >= 0 && !((string)r["required"]!).StartsWith('\uD83D')),
            _duck.Count($"SELECT count(*) FROM {file} WHERE required >= 'z' AND required < '\uD83D\uDE00'"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(20)]
    [InlineData(31)]
    [InlineData(32)]
    public void Rle_bit_packed_encoding_decodes_to_the_same_values(int bitWidth)
    {
        var random = new Random(bitWidth);
        var max = bitWidth == 32 ? int.MaxValue : (int)((1L << bitWidth) - 1);
        foreach (var count in new[] { 0, 1, 7, 8, 9, 63, 64, 65, 1000, 10_007 })
        {
            foreach (var meanRun in new[] { 1, 3, 8, 9, 50, 10_000 })
            {
                var values = new int[count];
                var i = 0;
                while (i < count)
                {
                    var value = random.Next(4) == 0 ? max : random.Next(0, max == int.MaxValue ? max : max + 1);
                    var run = Math.Min(count - i, 1 + random.Next(2 * meanRun));
                    values.AsSpan(i, run).Fill(value);
                    i += run;
                }
                var output = new ArrayBufferWriter<byte>();
                var written = RleBitPackedEncoder.Encode(values, bitWidth, output);
                Assert.Equal(output.WrittenCount, written);

                var decoded = new int[count];
                RleBitPackedDecoder.Decode(output.WrittenSpan, bitWidth, decoded);
                Assert.True(values.AsSpan().SequenceEqual(decoded), $"{count} values of {bitWidth} bits, runs of about {meanRun}");
                if (meanRun >= 50 && count > 0) Assert.True(written < (long)count * bitWidth / 8 + 8, $"long runs are not run-length encoded: {written} bytes for {count} values of {bitWidth} bits");
            }
        }
    }

    /// <summary>Parquet.Net's raw levels and values of every text leaf equal those of the chunks the writer received.</summary>
    private static async Task AssertParquetNetReadsTheLevelsAndValuesAsync(string path, IReadOnlyList<Record> records)
    {
        var written = new RecordChunk(Schema, records);
        await using var reader = await ParquetReader.CreateAsync(path, ParquetSchemaMapping.ReadOptions());
        var fields = reader.Schema.GetDataFields();
        var textLeaves = written.Columns.Where(column => column.Leaf.Field.Kind == FieldKind.String).ToList();
        Assert.Equal(8, textLeaves.Count);
        foreach (var column in textLeaves)
        {
            var field = fields[column.Leaf.Index];
            var expected = (ColumnData<ReadOnlyMemory<byte>>)column;
            var (definitions, repetitions, values) = await ParquetEncoderChecks.ReadRawAsync<ReadOnlyMemory<char>>(reader, field, value => value.ToString());
            Assert.Equal(field.MaxDefinitionLevel > 0 ? expected.Definitions.ToArray() : [], definitions);
            Assert.Equal(field.MaxRepetitionLevel > 0 ? expected.Repetitions.ToArray() : [], repetitions);
            Assert.Equal(expected.Values.ToArray().Select(value => (object?)System.Text.Encoding.UTF8.GetString(value.Span)), values);
        }
    }

    /// <summary>The statistics Parquet.Net writes for a nullable text column of <paramref name="values"/>.</summary>
    private static async Task<Statistics> ParquetNetStatisticsAsync(string?[] values)
    {
        var field = new DataField<string>("s", true);
        using var file = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), file))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(field, values, null);
            group.CompleteValidate();
        }
        return ParquetThrift.ReadFooter(file.ToArray()).RowGroups.Single().Columns.Single().MetaData!.Statistics;
    }
}
