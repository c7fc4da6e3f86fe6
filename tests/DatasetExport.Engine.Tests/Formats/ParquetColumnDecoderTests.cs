using DatasetExport.Engine.Formats;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;
using Encoding = Parquet.Meta.Encoding;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Our decoding of Parquet columns (<see cref="ParquetColumnDecoder"/>: text, int, long, float, double) against
/// Parquet.Net's, which the reader falls back to: for files written by DuckDB and by our writer, every such leaf of every
/// row group decodes to the same definition levels, repetition levels and values.
/// </summary>
[Collection(FormatsCollection.Name)]
public sealed class ParquetColumnDecoderTests(FormatsFixture fixture)
{
    private const int Rows = 6000;
    // DuckDB's smallest row group (its vector size).
    private const int RowGroupRows = 2048;

    private readonly DuckDb _duck = fixture.Duck;

    /// <summary>
    /// Nulls and empty strings, non-ASCII and surrogate pairs, long values, a low-cardinality column (dictionary), a
    /// unique one (plain or delta once the dictionary is too large), strings in lists, structs and maps, a one-entry
    /// dictionary (0-bit indices) and a column of nulls only (pages without values).
    /// </summary>
    private static string TextSql(int rows) => $$"""
        SELECT
          i AS id,
          CASE WHEN i % 7 = 0 THEN NULL WHEN i % 7 = 1 THEN '' ELSE 'value-' || i || CASE i % 5
            WHEN 0 THEN ' ü€' WHEN 1 THEN ' 😀𝄞' WHEN 2 THEN repeat('long-', 300 + i % 50) ELSE '' END END AS s,
          CASE WHEN i % 11 = 0 THEN NULL ELSE ['red', 'grün', '😀', ''][1 + i % 4] END AS d,
          CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN [] ELSE ['a' || i, NULL, '', 'ü' || (i % 3)] END AS ls,
          CASE WHEN i % 6 = 0 THEN NULL ELSE {'name': 'n' || (i % 13), 'note': CASE WHEN i % 2 = 0 THEN NULL ELSE '😀' || i END} END AS st,
          CASE WHEN i % 5 = 0 THEN NULL ELSE map(['k' || (i % 3), 'z'], ['v' || i, NULL]) END AS mp,
          'same' AS one,
          NULL::VARCHAR AS nothing
        FROM range({{rows}}) r(i)
        """;

    private string DuckDbFile(string codec, string version, string extraOptions = "")
    {
        var path = fixture.NewPath($"text-{codec}-{version}.parquet");
        _duck.Execute($"COPY ({TextSql(Rows)}) TO {DuckDb.Quote(path)} " +
            $"(FORMAT parquet, COMPRESSION {codec}, PARQUET_VERSION {version}, ROW_GROUP_SIZE {RowGroupRows}{extraOptions})");
        return path;
    }

    [Theory]
    [InlineData("uncompressed", "V1")]
    [InlineData("snappy", "V1")]
    [InlineData("zstd", "V1")]
    [InlineData("gzip", "V1")]
    [InlineData("uncompressed", "V2")]
    [InlineData("snappy", "V2")]
    [InlineData("zstd", "V2")]
    [InlineData("gzip", "V2")]
    [InlineData("lz4_raw", "V1")]
    [InlineData("brotli", "V2")]
    public async Task DuckDB_text_columns_decode_as_ParquetNet_decodes_them(string codec, string version)
    {
        var seen = await AssertSameAsParquetNetAsync(DuckDbFile(codec, version));

        Assert.Contains(codec.ToUpperInvariant(), seen.Codecs.Select(c => c.ToString()));
        Assert.Equal((Rows + RowGroupRows - 1) / RowGroupRows, seen.RowGroups);
        // DuckDB writes v1 data pages for V2 too (V2 is about the encodings); v2 pages are made in the test below.
        Assert.Contains(PageType.DATA_PAGE, seen.PageTypes);
        Assert.Contains(PageType.DICTIONARY_PAGE, seen.PageTypes);
    }

    [Fact]
    public async Task Dictionary_plain_and_delta_encodings_are_all_covered()
    {
        var seen = new Coverage();
        foreach (var version in new[] { "V1", "V2" })
        {
            // No dictionary at all past the limit: the unique column falls back to PLAIN (V1) or a delta encoding (V2).
            seen.Add(await AssertSameAsParquetNetAsync(DuckDbFile("snappy", version, ", DICTIONARY_SIZE_LIMIT 1")));
            seen.Add(await AssertSameAsParquetNetAsync(DuckDbFile("snappy", version)));
        }

        Assert.Contains(Encoding.PLAIN, seen.ValueEncodings);
        Assert.Contains(seen.ValueEncodings, e => e is Encoding.PLAIN_DICTIONARY or Encoding.RLE_DICTIONARY);
        // DuckDB writes no DELTA_BYTE_ARRAY: see the test below.
        Assert.Contains(Encoding.DELTA_LENGTH_BYTE_ARRAY, seen.ValueEncodings);
    }

    [Theory]
    [InlineData("V1")]
    [InlineData("V2")]
    public async Task Numbers_and_text_among_all_types_decode_as_ParquetNet_decodes_them(string version)
    {
        var path = fixture.NewPath($"all-{version}.parquet");
        _duck.Execute($"COPY ({AllTypes.SelectSql(FormatsFixture.Rows)}) TO {DuckDb.Quote(path)} " +
            $"(FORMAT parquet, PARQUET_VERSION {version}, ROW_GROUP_SIZE {AllTypes.RowGroupRows})");

        var seen = await AssertSameAsParquetNetAsync(path);

        // Numbers as stored: id, i32, i64, f, d, tm (TIME microseconds), st.a, st.c.d, lst, lstst.k, stnull.p, lstlst, mp's value, nul.
        // Text: s, st.b, mp's key.
        Assert.Equal((3, 14), (seen.TextColumns / seen.RowGroups, (seen.NumberColumns + seen.FellBack) / seen.RowGroups));
        // V2 writes integers DELTA_BINARY_PACKED (decoded here, and compared with Parquet.Net above) and floating point
        // BYTE_STREAM_SPLIT, left to Parquet.Net.
        Assert.True(version == "V2" ? seen.FellBack > 0 : seen.FellBack == 0, $"{seen.FellBack} chunks not decoded");
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Snappy)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Gzip)]
    public async Task Text_columns_written_by_our_writer_decode_as_ParquetNet_decodes_them(CompressionKind compression)
    {
        var source = DuckDbFile("snappy", "V1");
        var path = fixture.NewPath($"ours-{compression}.parquet");
        var reader = new ParquetBatchReader();
        var schema = await reader.ReadSchemaAsync(source, false, CancellationToken.None);
        await using (var output = File.Create(path))
        await using (var writer = FormatCatalog.CreateWriter(output, schema, FileType.Parquet, compression))
        {
            await foreach (var chunk in reader.ReadAsync(source, false, schema, CancellationToken.None)) await writer.WriteAsync(chunk, CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        var seen = await AssertSameAsParquetNetAsync(path);

        // s, d, ls's element, st's name and note, mp's key and value, one, nothing; id.
        Assert.Equal((9, 1, 0), (seen.TextColumns / seen.RowGroups, seen.NumberColumns / seen.RowGroups, seen.FellBack));
    }

    /// <summary>
    /// DuckDB writes one v1 data page per chunk. Each text chunk of its first row group is rebuilt as a chunk of three
    /// data pages holding the same entries: the v1 page, a v2 page with compressed values and a v2 page whose values are
    /// flagged uncompressed; the chunk decodes to the original levels and values three times over.
    /// </summary>
    [Theory]
    [InlineData(CompressionCodec.UNCOMPRESSED, "V1")]
    [InlineData(CompressionCodec.SNAPPY, "V1")]
    [InlineData(CompressionCodec.GZIP, "V2")]
    [InlineData(CompressionCodec.ZSTD, "V2")]
    public async Task V2_pages_and_chunks_of_several_pages_decode_as_the_v1_page_they_were_made_from(CompressionCodec codec, string version)
    {
        var source = DuckDbFile("uncompressed", version);
        var rebuilt = fixture.NewPath("rebuilt.bin");
        using var sourceFile = File.OpenHandle(source);
        await using var reader = await ParquetReader.CreateAsync(source, ParquetSchemaMapping.ReadOptions());
        using var group = reader.OpenRowGroupReader(0);
        foreach (var field in reader.Schema.GetDataFields().Where(field => field.ClrType == typeof(ReadOnlyMemory<char>)))
        {
            var original = group.GetMetadata(field)!.MetaData!;
            var count = (int)original.NumValues;
            var expected = await ReadWithParquetNetAsync<ReadOnlyMemory<char>, string>(group, field, count, value => value.ToString());
            var chunk = RebuildChunk(sourceFile, original, field, codec, out var dictionaryLength);
            await File.WriteAllBytesAsync(rebuilt, [.. "PAR1"u8, .. chunk]);
            var column = new ColumnChunk
            {
                MetaData = new ColumnMetaData
                {
                    Type = Parquet.Meta.Type.BYTE_ARRAY, Codec = codec, NumValues = 3L * count, TotalCompressedSize = chunk.Length,
                    DictionaryPageOffset = dictionaryLength > 0 ? 4 : null, DataPageOffset = 4 + dictionaryLength,
                    Encodings = original.Encodings, PathInSchema = original.PathInSchema,
                },
            };

            var definitions = new int[field.MaxDefinitionLevel > 0 ? 3 * count : 0];
            var repetitions = new int[field.MaxRepetitionLevel > 0 ? 3 * count : 0];
            var values = new ReadOnlyMemory<byte>[3 * count];
            using (var file = File.OpenHandle(rebuilt))
            using (var pages = ParquetPageReader.Open(file, column, repetitions.Length > 0, definitions.Length > 0))
            {
                ParquetColumnDecoder.Decode(pages, 3 * count, field.MaxDefinitionLevel, field.MaxRepetitionLevel, definitions, repetitions, values.AsSpan(), new ParquetTextDecoder(new Utf8Arena()));
            }

            Assert.Equal(Thrice(expected.Definitions), definitions);
            Assert.Equal(Thrice(expected.Repetitions), repetitions);
            var valueCount = expected.Definitions.Length > 0 ? expected.Definitions.Count(d => d == field.MaxDefinitionLevel) : count;
            Assert.Equal(Thrice(expected.Values[..valueCount]), values.Take(3 * valueCount).Select(value => System.Text.Encoding.UTF8.GetString(value.Span)));
        }
    }

    private static T[] Thrice<T>(T[] items) => [.. items, .. items, .. items];

    /// <summary>
    /// The pages of an uncompressed chunk of one v1 data page (and maybe a dictionary page) compressed with
    /// <paramref name="codec"/>: the dictionary page, the v1 page, then its entries as a v2 page twice.
    /// </summary>
    private static byte[] RebuildChunk(Microsoft.Win32.SafeHandles.SafeFileHandle file, ColumnMetaData original, DataField field, CompressionCodec codec, out int dictionaryLength)
    {
        var bytes = new byte[original.TotalCompressedSize];
        RandomAccess.Read(file, bytes, ParquetThrift.ChunkStart(original));
        using var input = new MemoryStream(bytes);
        using var output = new MemoryStream();
        dictionaryLength = 0;
        while (input.Position < input.Length)
        {
            var header = ParquetThrift.ReadPageHeader(input);
            var body = bytes.AsSpan((int)input.Position, header.CompressedPageSize).ToArray();
            input.Position += header.CompressedPageSize;
            if (header.Type == PageType.DICTIONARY_PAGE)
            {
                WritePage(output, header, Compress(codec, body), body.Length);
                dictionaryLength = (int)output.Length;
                continue;
            }
            var data = header.DataPageHeader!;
            Assert.Equal(PageType.DATA_PAGE, header.Type);
            WritePage(output, header, Compress(codec, body), body.Length);
            // Split the v1 body: each level section after its 4-byte length, then the values.
            var position = 0;
            byte[] Levels(bool present)
            {
                if (!present) return [];
                var length = BitConverter.ToInt32(body, position);
                var levels = body.AsSpan(position + 4, length).ToArray();
                position += 4 + length;
                return levels;
            }
            var repetitionLevels = Levels(field.MaxRepetitionLevel > 0);
            var definitionLevels = Levels(field.MaxDefinitionLevel > 0);
            var values = body[position..];
            foreach (var compressed in new[] { true, false })
            {
                var stored = compressed ? Compress(codec, values) : values;
                var v2 = new PageHeader
                {
                    Type = PageType.DATA_PAGE_V2,
                    DataPageHeaderV2 = new DataPageHeaderV2
                    {
                        NumValues = data.NumValues, NumNulls = 0, NumRows = data.NumValues, Encoding = data.Encoding,
                        DefinitionLevelsByteLength = definitionLevels.Length, RepetitionLevelsByteLength = repetitionLevels.Length, IsCompressed = compressed,
                    },
                };
                WritePage(output, v2, [.. repetitionLevels, .. definitionLevels, .. stored], repetitionLevels.Length + definitionLevels.Length + values.Length);
            }
        }
        return output.ToArray();
    }

    private static void WritePage(Stream output, PageHeader header, byte[] stored, int uncompressedLength)
    {
        header.CompressedPageSize = stored.Length;
        header.UncompressedPageSize = uncompressedLength;
        ParquetThrift.Write(header, output);
        output.Write(stored);
    }

    private static byte[] Compress(CompressionCodec codec, byte[] data)
    {
        switch (codec)
        {
            case CompressionCodec.UNCOMPRESSED:
                return data;
            case CompressionCodec.SNAPPY:
                return Snappier.Snappy.CompressToArray(data);
            case CompressionCodec.ZSTD:
                using (var zstd = new ZstdSharp.Compressor()) return zstd.Wrap(data).ToArray();
            default:
                using (var compressed = new MemoryStream())
                {
                    using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Fastest)) gzip.Write(data);
                    return compressed.ToArray();
                }
        }
    }

    /// <summary>
    /// A required text chunk of three pages holding the same values PLAIN, DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY
    /// (encoded here: DuckDB writes no DELTA_BYTE_ARRAY): prefixes shared within a UTF-8 sequence, empty and long values,
    /// deltas in several blocks and miniblocks of various bit widths.
    /// </summary>
    [Theory]
    [InlineData("V1")]
    [InlineData("V2")]
    public async Task Timestamps_of_every_unit_and_dates_read_as_DuckDB_stores_them(string version)
    {
        // Microseconds (before 1970 too, nulls), milliseconds, seconds (stored as milliseconds), nanoseconds, adjusted to
        // UTC, and in lists, PLAIN or in a dictionary (V1), or DELTA_BINARY_PACKED (V2, which Parquet.Net 6.1.0 does not
        // read for timestamps and dates: "element type System.DateOnly is not supported in DELTA_BINARY_PACKED"); dates
        // before and after 1970, with nulls, and in lists.
        var path = fixture.NewPath($"timestamps-{version}.parquet");
        _duck.Execute($$"""
            COPY (SELECT
              i AS id,
              CASE WHEN i % 5 = 0 THEN NULL ELSE TIMESTAMP '1900-01-02 03:04:05.123456' + to_microseconds(i * 7919123457) END AS us,
              (TIMESTAMP '2024-01-02 03:04:05.678' + to_seconds(i % 50))::TIMESTAMP_MS AS ms,
              (TIMESTAMP '1969-12-31 23:59:59' - to_seconds(i))::TIMESTAMP_S AS s,
              (TIMESTAMP '2024-01-02 03:04:05.123456' + to_microseconds(i))::TIMESTAMP_NS AS ns,
              TIMESTAMPTZ '2024-01-02 03:04:05.5+00' + to_seconds(i) AS tz,
              CASE i % 3 WHEN 0 THEN NULL ELSE [TIMESTAMP '2000-01-01' + to_seconds(i), NULL] END AS lst,
              CASE WHEN i % 7 = 0 THEN NULL ELSE DATE '1969-12-25' + (i * 37 % 20000 - 9000)::INTEGER END AS day,
              CASE i % 4 WHEN 0 THEN NULL ELSE [DATE '0001-01-01' + i::INTEGER, NULL, DATE '9999-12-31' - i::INTEGER] END AS days
            FROM range({{Rows}}) r(i)) TO {{DuckDb.Quote(path)}} (FORMAT parquet, PARQUET_VERSION {{version}}, ROW_GROUP_SIZE {{RowGroupRows}})
            """);
        string Micros(object? value) => value is DateTime time
            ? (time.Kind == DateTimeKind.Utc ? ((time.Ticks - DateTime.UnixEpoch.Ticks) / 10).ToString(System.Globalization.CultureInfo.InvariantCulture) : "not UTC")
            : "null";
        string Days(object? value) => value is DateOnly date
            ? (date.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : "null";

        var ours = await LinesAsOursReadsThemAsync(path, record =>
        {
            var list = record["lst"] is System.Collections.IEnumerable items ? "[" + string.Join(";", items.Cast<object?>().Select(Micros)) + "]" : "null";
            var days = record["days"] is System.Collections.IEnumerable dates ? "[" + string.Join(";", dates.Cast<object?>().Select(Days)) + "]" : "null";
            return string.Join(",", Micros(record["us"]), Micros(record["ms"]), Micros(record["s"]), Micros(record["ns"]), Micros(record["tz"]), list,
                Days(record["day"]), days);
        });

        var expected = _duck.Strings($"""
            SELECT concat_ws(',', coalesce(epoch_us(us)::VARCHAR, 'null'), epoch_us(ms), epoch_us(s), epoch_us(ns), epoch_us(tz),
              CASE WHEN lst IS NULL THEN 'null' ELSE '[' || array_to_string(list_transform(lst, x -> coalesce(epoch_us(x)::VARCHAR, 'null')), ';') || ']' END,
              coalesce((day - DATE '1970-01-01')::VARCHAR, 'null'),
              CASE WHEN days IS NULL THEN 'null' ELSE '[' || array_to_string(list_transform(days, x -> coalesce((x - DATE '1970-01-01')::VARCHAR, 'null')), ';') || ']' END)
            FROM read_parquet({DuckDb.Quote(path)}) ORDER BY id
            """);
        Assert.Equal(Rows, ours.Count);
        Assert.Equal(expected, ours);
    }

    [Theory]
    [InlineData("V1")]
    [InlineData("V2")]
    public async Task Small_integers_and_integer_backed_decimals_read_as_DuckDB_stores_them(string version)
    {
        // V2 stores them DELTA_BINARY_PACKED, which Parquet.Net 6.1.0 does not read for these ("element type System.Int16 is
        // not supported in DELTA_BINARY_PACKED"); V1 PLAIN or in a dictionary. Extremes, negatives, nulls, and in lists.
        var path = fixture.NewPath($"small-{version}.parquet");
        _duck.Execute($$"""
            COPY (SELECT
              i AS id,
              CASE WHEN i % 5 = 0 THEN NULL ELSE ((i * 37) % 256 - 128)::TINYINT END AS i8,
              ((i * 7919) % 65536 - 32768)::SMALLINT AS i16,
              ((i * 13) % 256)::UTINYINT AS u8,
              CASE WHEN i % 9 = 0 THEN 65535 ELSE (i * 7919) % 65536 END::USMALLINT AS u16,
              (((i % 2000) - 1000) / 10)::DECIMAL(4, 1) AS d4,
              CASE WHEN i % 11 = 0 THEN NULL WHEN i % 13 = 0 THEN -999999.999 ELSE (i * 12345 % 1000000000 - 500000000) / 1000 END::DECIMAL(9, 3) AS d9,
              ((i * 1234567891011 % 999999999999999999 - 500000000000000000) / 1000000)::DECIMAL(18, 6) AS d18,
              CASE i % 3 WHEN 0 THEN NULL ELSE [(i % 100)::TINYINT, NULL, (-i % 100)::TINYINT] END AS lst8,
              CASE i % 4 WHEN 0 THEN NULL ELSE [(i / 7)::DECIMAL(9, 2), NULL] END AS lstd
            FROM range({{Rows}}) r(i)) TO {{DuckDb.Quote(path)}} (FORMAT parquet, PARQUET_VERSION {{version}}, ROW_GROUP_SIZE {{RowGroupRows}})
            """);
        string Text(object? value) => value switch
        {
            null => "null",
            decimal number => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
            System.Collections.IEnumerable items and not string => "[" + string.Join(";", items.Cast<object?>().Select(Text)) + "]",
            var other => Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture)!,
        };

        var ours = await LinesAsOursReadsThemAsync(path,
            record => string.Join(",", new[] { "i8", "i16", "u8", "u16", "d4", "d9", "d18", "lst8", "lstd" }.Select(name => Text(record[name]))));

        string List(string column) =>
            $"CASE WHEN {column} IS NULL THEN 'null' ELSE '[' || array_to_string(list_transform({column}, x -> coalesce(x::VARCHAR, 'null')), ';') || ']' END";
        var expected = _duck.Strings($"""
            SELECT concat_ws(',', coalesce(i8::VARCHAR, 'null'), i16, u8, u16, d4, coalesce(d9::VARCHAR, 'null'), d18, {List("lst8")}, {List("lstd")})
            FROM read_parquet({DuckDb.Quote(path)}) ORDER BY id
            """);
        Assert.Equal(Rows, ours.Count);
        Assert.Equal(expected, ours);
    }

    /// <summary>Every record of the file as the engine's reader reads it (in chunks of 1,000), each made a line by <paramref name="line"/>.</summary>
    private static async Task<List<string>> LinesAsOursReadsThemAsync(string path, Func<DatasetExport.Engine.Formats.Record, string> line)
    {
        var schema = await new ParquetBatchReader().ReadSchemaAsync(path, gzipped: false, CancellationToken.None);
        var lines = new List<string>();
        await foreach (var chunk in new ParquetBatchReader(chunkSize: 1000).ReadAsync(path, gzipped: false, schema, CancellationToken.None))
        {
            lines.AddRange(chunk.Records.Select(line));
        }
        return lines;
    }

    [Fact]
    public void Delta_encoded_integers_decode_across_the_whole_range_of_their_type()
    {
        var random = new Random(20261127);
        long[] extremes = [0, long.MaxValue, long.MinValue, -1, 1, long.MinValue, long.MaxValue, 0];
        // Extremes (deltas of every bit width up to 64, wrapping around), a steady ramp (width 0), then random values.
        var longs = extremes.Concat(Enumerable.Range(0, 300).Select(i => 1_700_000_000_000_000L + i * 1000L))
            .Concat(Enumerable.Range(0, 700).Select(_ => random.NextInt64(long.MinValue, long.MaxValue) >> random.Next(64))).ToArray();
        var decodedLongs = new long[longs.Length];
        var encodedLongs = DeltaBinaryPacked(longs, deltasOf32Bits: false);
        Assert.Equal(encodedLongs.Length, DeltaBinaryPackedDecoder.DecodeInt64(encodedLongs, decodedLongs));
        Assert.Equal(longs, decodedLongs);

        var ints = new long[] { 0, int.MaxValue, int.MinValue, -1, 1, int.MinValue, int.MaxValue, 0 }
            .Concat(Enumerable.Range(0, 700).Select(_ => (long)(random.Next(int.MinValue, int.MaxValue) >> random.Next(32)))).ToArray();
        foreach (var deltasOf32Bits in new[] { false, true })
        {
            var encoded = DeltaBinaryPacked(ints, deltasOf32Bits);
            var decoded = new int[ints.Length];
            Assert.Equal(encoded.Length, DeltaBinaryPackedDecoder.DecodeInt32(encoded, decoded));
            Assert.Equal(ints.Select(value => (int)value), decoded);
        }
    }

    [Fact]
    public async Task Delta_encoded_text_decodes_to_the_values_encoded()
    {
        var texts = Enumerable.Range(0, 700).Select(i => i % 50 == 0 ? "" : i % 97 == 0 ? new string('x', 3000 + i)
            : $"prefix/{i / 10:D3}/{(i % 2 == 0 ? "ü" : "ý")}😀{i}").ToArray();
        var utf8 = texts.Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
        var plain = utf8.SelectMany(bytes => BitConverter.GetBytes(bytes.Length).Concat(bytes)).ToArray();
        byte[] lengthsAndBytes(byte[][] values) => [.. DeltaBinaryPacked(values.Select(v => v.Length).ToArray()), .. values.SelectMany(v => v)];
        var prefixes = utf8.Select((bytes, i) => i == 0 ? 0 : CommonPrefix(utf8[i - 1], bytes)).ToArray();
        var suffixes = utf8.Select((bytes, i) => bytes[prefixes[i]..]).ToArray();
        // ü and ý share their first UTF-8 byte: some values share a prefix ending inside a character.
        Assert.Contains(Enumerable.Range(1, utf8.Length - 1), i => prefixes[i] > 0 && prefixes[i] < utf8[i].Length && (utf8[i][prefixes[i]] & 0xC0) == 0x80);

        using var chunk = new MemoryStream();
        foreach (var (encoding, body) in new[]
        {
            (Encoding.PLAIN, plain),
            (Encoding.DELTA_LENGTH_BYTE_ARRAY, lengthsAndBytes(utf8)),
            (Encoding.DELTA_BYTE_ARRAY, [.. DeltaBinaryPacked(prefixes), .. lengthsAndBytes(suffixes)]),
        })
        {
            var header = new PageHeader
            {
                Type = PageType.DATA_PAGE,
                DataPageHeader = new DataPageHeader { NumValues = texts.Length, Encoding = encoding, DefinitionLevelEncoding = Encoding.RLE, RepetitionLevelEncoding = Encoding.RLE },
            };
            WritePage(chunk, header, body, body.Length);
        }
        var path = fixture.NewPath("delta.bin");
        await File.WriteAllBytesAsync(path, [.. "PAR1"u8, .. chunk.ToArray()]);
        var column = new ColumnChunk
        {
            MetaData = new ColumnMetaData
            {
                Type = Parquet.Meta.Type.BYTE_ARRAY, Codec = CompressionCodec.UNCOMPRESSED, NumValues = 3 * texts.Length,
                TotalCompressedSize = chunk.Length, DataPageOffset = 4, Encodings = [], PathInSchema = ["t"],
            },
        };

        var values = new ReadOnlyMemory<byte>[3 * texts.Length];
        using (var file = File.OpenHandle(path))
        using (var pages = ParquetPageReader.Open(file, column, false, false))
        using (var decoder = new ParquetTextDecoder(new Utf8Arena()))
        {
            ParquetColumnDecoder.Decode(pages, values.Length, 0, 0, [], [], values.AsSpan(), decoder);
        }

        Assert.Equal(Thrice(texts), values.Select(value => System.Text.Encoding.UTF8.GetString(value.Span)));
    }

    private static int CommonPrefix(byte[] a, byte[] b)
    {
        var length = 0;
        while (length < a.Length && length < b.Length && a[length] == b[length]) length++;
        return length;
    }

    /// <summary>DELTA_BINARY_PACKED as the format describes it: blocks of 128 deltas in 4 miniblocks, each at the narrowest bit width.</summary>
    private static byte[] DeltaBinaryPacked(int[] values) => DeltaBinaryPacked(values.Select(value => (long)value).ToArray(), deltasOf32Bits: false);

    /// <summary>
    /// Deltas as the format allows writers to take them: in 64 bits wrapping around (INT64), or in 32 bits wrapping around
    /// (<paramref name="deltasOf32Bits"/>: INT32 columns of some writers).
    /// </summary>
    private static byte[] DeltaBinaryPacked(long[] values, bool deltasOf32Bits)
    {
        const int blockSize = 128, miniblocks = 4, perMiniblock = blockSize / miniblocks;
        var output = new List<byte>();
        void VarInt(ulong value)
        {
            for (; value >= 0x80; value >>= 7) output.Add((byte)(value | 0x80));
            output.Add((byte)value);
        }
        void ZigZag(long value) => VarInt((ulong)((value << 1) ^ (value >> 63)));
        VarInt(blockSize);
        VarInt(miniblocks);
        VarInt((ulong)values.Length);
        ZigZag(values.Length > 0 ? values[0] : 0);
        for (var start = 1; start < values.Length; start += blockSize)
        {
            var deltas = Enumerable.Range(start, Math.Min(blockSize, values.Length - start))
                .Select(i => deltasOf32Bits ? unchecked((int)values[i] - (int)values[i - 1]) : unchecked(values[i] - values[i - 1])).ToArray();
            var minimum = deltas.Min();
            ZigZag(minimum);
            var written = (deltas.Length + perMiniblock - 1) / perMiniblock;
            var packed = Enumerable.Range(0, written * perMiniblock).Select(i => i < deltas.Length ? unchecked((ulong)(deltas[i] - minimum)) : 0).ToArray();
            var widths = Enumerable.Range(0, miniblocks)
                .Select(m => m < written ? packed.Skip(m * perMiniblock).Take(perMiniblock).Max() is var max && max > 0 ? 64 - System.Numerics.BitOperations.LeadingZeroCount(max) : 0 : 0)
                .ToArray();
            output.AddRange(widths.Select(width => (byte)width));
            for (var m = 0; m < written; m++)
            {
                var bits = new byte[perMiniblock * widths[m] / 8];
                for (var i = 0; i < perMiniblock; i++)
                {
                    for (var bit = 0; bit < widths[m]; bit++)
                    {
                        if ((packed[m * perMiniblock + i] >> bit & 1) != 0) bits[(i * widths[m] + bit) / 8] |= (byte)(1 << ((i * widths[m] + bit) % 8));
                    }
                }
                output.AddRange(bits);
            }
        }
        return [.. output];
    }

    [Fact]
    public async Task A_codec_not_decoded_here_falls_back_to_ParquetNet_and_reads_the_same_records()
    {
        // The deprecated LZ4 codec (framed differently by different writers) is left to Parquet.Net, which writes it too.
        var id = new DataField<long>("id");
        var s = new DataField<string>("s");
        var ids = Enumerable.Range(0, Rows).Select(i => (long)i).ToArray();
        var texts = Enumerable.Range(0, Rows).Select(i => i % 7 == 0 ? null : $"value-{i} ü😀").ToArray();
        async Task<string> WriteAsync(CompressionMethod compression)
        {
            var path = fixture.NewPath($"parquetnet-{compression}.parquet");
            await using var stream = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, s), stream, new ParquetOptions { CompressionMethod = compression });
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(id, ids, null, null, CancellationToken.None);
            await group.WriteAsync(s, texts!, null);
            group.CompleteValidate();
            return path;
        }
        var lz4 = await WriteAsync(CompressionMethod.LZ4);
        var snappy = await WriteAsync(CompressionMethod.Snappy);
        await using (var reader = await ParquetReader.CreateAsync(lz4, ParquetSchemaMapping.ReadOptions()))
        {
            using var group = reader.OpenRowGroupReader(0);
            using var file = File.OpenHandle(lz4);
            var column = group.GetMetadata(s)!;
            Assert.Equal(CompressionCodec.LZ4, column.MetaData!.Codec);
            Assert.Throws<NotSupportedException>(() => ParquetPageReader.Open(file, column, false, true));
        }

        var batchReader = new ParquetBatchReader();
        var schema = await batchReader.ReadSchemaAsync(snappy, false, CancellationToken.None);
        var expected = await RecordAssert.ReadAllAsync(batchReader, snappy, false, schema);

        RecordAssert.Equal(expected, await RecordAssert.ReadAllAsync(batchReader, lz4, false, schema));
        Assert.Equal(Rows, expected.Count);
        Assert.Equal([null, texts[1]], new[] { expected[0]["s"], expected[1]["s"] });
    }

    [Theory]
    [InlineData("uncompressed")]
    [InlineData("snappy")]
    [InlineData("lz4_raw")]
    [InlineData("brotli")]
    public async Task A_damaged_text_page_fails_with_a_batch_read_exception(string codec)
    {
        // No dictionary: the first page of 's' holds its values PLAIN.
        var path = DuckDbFile(codec, "V1", ", DICTIONARY_SIZE_LIMIT 1");
        var bytes = await File.ReadAllBytesAsync(path);
        var metadata = ParquetThrift.ReadFooter(bytes);
        var chunk = metadata.RowGroups[0].Columns.Select(column => column.MetaData!).Single(column => column.PathInSchema.SequenceEqual(["s"]));
        using (var stream = new MemoryStream(bytes))
        {
            stream.Position = ParquetThrift.ChunkStart(chunk);
            var header = ParquetThrift.ReadPageHeader(stream);
            Assert.Equal(Encoding.PLAIN, header.DataPageHeader!.Encoding);
            var data = (int)stream.Position;
            if (codec == "uncompressed")
            {
                // The first value's length, after the definition levels, claims more bytes than the page holds.
                var values = data + 4 + BitConverter.ToInt32(bytes, data);
                BitConverter.TryWriteBytes(bytes.AsSpan(values, 4), 0x7FFF_0000);
            }
            else
            {
                bytes.AsSpan(data, header.CompressedPageSize).Fill(0xFF);
            }
        }
        await File.WriteAllBytesAsync(path, bytes);

        var reader = new ParquetBatchReader();
        var schema = await reader.ReadSchemaAsync(path, false, CancellationToken.None);
        var error = await Assert.ThrowsAsync<BatchReadException>(() => RecordAssert.ReadAllAsync(reader, path, false, schema));
        Assert.Contains("row group 0", error.Message);
    }

    /// <summary>
    /// Decodes every text and fixed-width number leaf of every row group of <paramref name="path"/> with both decoders and
    /// asserts they agree (a chunk in an encoding not decoded here must say so); returns what the chunks and pages held.
    /// </summary>
    private static async Task<Coverage> AssertSameAsParquetNetAsync(string path)
    {
        var seen = new Coverage();
        using var file = File.OpenHandle(path);
        await using var reader = await ParquetReader.CreateAsync(path, ParquetSchemaMapping.ReadOptions());
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            seen.RowGroups++;
            foreach (var field in reader.Schema.GetDataFields())
            {
                var column = group.GetMetadata(field)!;
                var where = $"{Path.GetFileName(path)} row group {g} column {field.Path}";
                var decoded = field.ClrType switch
                {
                    var t when t == typeof(ReadOnlyMemory<char>) => await AssertSameAsync(group, field, column, file, new ParquetTextDecoder(new Utf8Arena()), (ReadOnlyMemory<char> value) => value.ToString(), (ReadOnlyMemory<byte> value) => System.Text.Encoding.UTF8.GetString(value.Span), where),
                    var t when t == typeof(int) => await AssertSameAsync(group, field, column, file, new ParquetFixedWidthDecoder<int>(), (int value) => value, (int value) => value, where),
                    var t when t == typeof(long) => await AssertSameAsync(group, field, column, file, new ParquetFixedWidthDecoder<long>(), (long value) => value, (long value) => value, where),
                    var t when t == typeof(float) => await AssertSameAsync(group, field, column, file, new ParquetFixedWidthDecoder<float>(), (float value) => value, (float value) => value, where),
                    var t when t == typeof(double) => await AssertSameAsync(group, field, column, file, new ParquetFixedWidthDecoder<double>(), (double value) => value, (double value) => value, where),
                    _ => (bool?)null,
                };
                if (decoded is null) continue;
                var encodings = seen.Add(file, column);
                if (decoded == false)
                {
                    Assert.True(encodings.Contains(Encoding.BYTE_STREAM_SPLIT), $"{where}: not decoded, in {string.Join(", ", encodings)}");
                    seen.FellBack++;
                }
                else if (field.ClrType == typeof(ReadOnlyMemory<char>)) seen.TextColumns++;
                else seen.NumberColumns++;
            }
        }
        return seen;
    }

    /// <summary>True when both decoders agree, false when ours does not decode the chunk.</summary>
    private static async Task<bool> AssertSameAsync<TParquetNet, T, TValue>(
        ParquetRowGroupReader group, DataField field, ColumnChunk column, Microsoft.Win32.SafeHandles.SafeFileHandle file,
        ParquetValueDecoder<T> decoder, Func<TParquetNet, TValue> parquetNetComparable, Func<T, TValue> comparable, string where)
        where TParquetNet : struct
        where T : struct
    {
        var count = (int)column.MetaData!.NumValues;
        var expected = await ReadWithParquetNetAsync(group, field, count, parquetNetComparable);
        var definitions = new int[field.MaxDefinitionLevel > 0 ? count : 0];
        var repetitions = new int[field.MaxRepetitionLevel > 0 ? count : 0];
        var values = new T[count];
        try
        {
            using var pages = ParquetPageReader.Open(file, column, repetitions.Length > 0, definitions.Length > 0);
            using (decoder) ParquetColumnDecoder.Decode(pages, count, field.MaxDefinitionLevel, field.MaxRepetitionLevel, definitions, repetitions, values.AsSpan(), decoder);
        }
        catch (NotSupportedException)
        {
            return false;
        }
        Assert.True(expected.Definitions.SequenceEqual(definitions), $"{where}: definition levels differ");
        Assert.True(expected.Repetitions.SequenceEqual(repetitions), $"{where}: repetition levels differ");
        var valueCount = field.MaxDefinitionLevel > 0 ? definitions.Count(d => d == field.MaxDefinitionLevel) : count;
        Assert.Equal(expected.Values.Take(valueCount), values.Take(valueCount).Select(comparable));
        return true;
    }

    private static async Task<(int[] Definitions, int[] Repetitions, TValue[] Values)> ReadWithParquetNetAsync<T, TValue>(
        ParquetRowGroupReader group, DataField field, int count, Func<T, TValue> comparable)
        where T : struct
    {
        var definitions = new int[field.MaxDefinitionLevel > 0 ? count : 0];
        var repetitions = new int[field.MaxRepetitionLevel > 0 ? count : 0];
        var values = new T[count];
        await group.ReadRawAsync<T>(field, values,
            definitions.Length > 0 ? definitions.AsMemory() : (Memory<int>?)null, repetitions.Length > 0 ? repetitions.AsMemory() : (Memory<int>?)null);
        return (definitions, repetitions, values.Select(comparable).ToArray());
    }

    /// <summary>The codecs, page types and value encodings met in the column chunks decoded.</summary>
    private sealed class Coverage
    {
        public HashSet<CompressionCodec> Codecs { get; } = [];
        public HashSet<PageType> PageTypes { get; } = [];
        public HashSet<Encoding> ValueEncodings { get; } = [];
        public int RowGroups { get; set; }
        public int TextColumns { get; set; }
        public int NumberColumns { get; set; }
        public int FellBack { get; set; }

        public void Add(Coverage other)
        {
            Codecs.UnionWith(other.Codecs);
            PageTypes.UnionWith(other.PageTypes);
            ValueEncodings.UnionWith(other.ValueEncodings);
        }

        /// <summary>Notes the chunk's codec and pages; returns its data pages' value encodings.</summary>
        public HashSet<Encoding> Add(Microsoft.Win32.SafeHandles.SafeFileHandle file, ColumnChunk column)
        {
            var encodings = new HashSet<Encoding>();
            var metadata = column.MetaData!;
            Codecs.Add(metadata.Codec);
            var chunk = new byte[metadata.TotalCompressedSize];
            RandomAccess.Read(file, chunk, ParquetThrift.ChunkStart(metadata));
            using var stream = new MemoryStream(chunk);
            while (stream.Position < stream.Length)
            {
                var header = ParquetThrift.ReadPageHeader(stream);
                PageTypes.Add(header.Type);
                var encoding = header.DataPageHeader?.Encoding ?? header.DataPageHeaderV2?.Encoding;
                if (encoding is { } valueEncoding) encodings.Add(valueEncoding);
                stream.Position += header.CompressedPageSize;
            }
            ValueEncodings.UnionWith(encodings);
            return encodings;
        }
    }
}
