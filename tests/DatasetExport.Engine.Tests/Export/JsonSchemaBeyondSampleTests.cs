using System.Text;
using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;
using Parquet;

namespace DatasetExport.Engine.Tests.Export;

/// <summary>
/// The schema a JSON Lines export writes when the line that shapes it comes late in a batch, past the lines the export
/// infers a batch's schema from. Whatever the export does with such a line, the outcome is the one full inference over
/// every line gives: the dataset schema the lake reports (docs/formats.md), every record written once with its late value,
/// one run recorded, and nothing in the destination but that run's files and manifest.
/// </summary>
public sealed class JsonSchemaBeyondSampleTests : IDisposable
{
    /// <summary>
    /// Lines in every batch. The export infers a batch's schema from a sample of its first 4,096 lines (JsonLinesBatchReader.SchemaSampleLines) and checks the
    /// later ones against it; each line that matters here sits after line 25,000, well past that sample.
    /// </summary>
    private const int LinesPastTheSample = 30_000;

    /// <summary>Where most cases put the line that would change the schema (a line number, from 1).</summary>
    private const int LateLine = 26_000;

    private static readonly DateTimeOffset FirstSlot = new(2026, 7, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _root = new("de-schema-beyond");
    private readonly ExportEngine _engine;

    public JsonSchemaBeyondSampleTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");

    public void Dispose()
    {
        _engine.Dispose();
        _root.Dispose();
    }

    [Theory]
    [InlineData(FileType.Parquet)]
    [InlineData(FileType.Json)]
    public async Task A_top_level_field_first_seen_late_is_a_nullable_column_holding_its_value(FileType fileType)
    {
        WriteBatch("newfield", "a.jsonl", line => line == LateLine
            ? $$"""{"id":{{line}},"name":"u{{line % 7}}","late":"arrived at line {{line}}"}"""
            : $$"""{"id":{{line}},"name":"u{{line % 7}}"}""");
        var flow = await CreateFlowAsync("newfield", fileType);

        var run = await RunAsync(flow, FirstSlot);

        var rows = await AssertExportedAsync(flow, run, LinesPastTheSample, fileType, "id int64, name string, late string?");
        AssertIdsAreTheLineNumbers(rows);
        Assert.Equal($"arrived at line {LateLine}", rows[LateLine - 1].GetProperty("late").GetString());
        Assert.Equal([LateLine - 1], RowsWhere(rows, row => row.GetProperty("late").ValueKind != JsonValueKind.Null));
    }

    [Theory]
    [InlineData(FileType.Parquet)]
    [InlineData(FileType.Json)]
    public async Task An_integer_field_that_gets_a_fraction_late_in_the_second_batch_becomes_double_and_keeps_every_integer_exact(FileType fileType)
    {
        // Integers near 2^53, the largest a double holds exactly: a value rounded on its way to double would show.
        const long Big = 9_007_199_254_700_000;
        WriteBatch("widened", "a.jsonl", line => $$"""{"id":{{Id(0, line)}},"n":{{Big + Id(0, line)}}}""");
        WriteBatch("widened", "b.jsonl", line => line == LateLine
            ? $$"""{"id":{{Id(1, line)}},"n":1.5}"""
            : $$"""{"id":{{Id(1, line)}},"n":{{Big + Id(1, line)}}}""");
        var flow = await CreateFlowAsync("widened", fileType);

        var run = await RunAsync(flow, FirstSlot);

        var rows = await AssertExportedAsync(flow, run, 2 * LinesPastTheSample, fileType, "id int64, n double");
        AssertAPartWasStoredBeforeTheSecondBatch(run, fileType);
        var late = LinesPastTheSample + LateLine - 1;
        Assert.Equal(1.5, rows[late].GetProperty("n").GetDouble());
        Assert.Equal([late], RowsWhere(rows, row => row.GetProperty("n").GetDouble() != Big + row.GetProperty("id").GetInt64()));
        Assert.Equal(Big + 1, (long)rows[0].GetProperty("n").GetDouble());
    }

    [Theory]
    [InlineData(FileType.Parquet)]
    [InlineData(FileType.Json)]
    public async Task A_late_null_and_a_late_missing_field_make_both_columns_nullable(FileType fileType)
    {
        const int MissingLine = 27_000;
        WriteBatch("nulls", "a.jsonl", line => line switch
        {
            LateLine => $$"""{"id":{{line}},"a":null,"b":{{line}}}""",
            MissingLine => $$"""{"id":{{line}},"a":"a{{line}}"}""",
            _ => $$"""{"id":{{line}},"a":"a{{line}}","b":{{line}}}""",
        });
        var flow = await CreateFlowAsync("nulls", fileType);

        var run = await RunAsync(flow, FirstSlot);

        var rows = await AssertExportedAsync(flow, run, LinesPastTheSample, fileType, "id int64, a string?, b int64?");
        AssertIdsAreTheLineNumbers(rows);
        Assert.Equal([LateLine - 1], RowsWhere(rows, row => row.GetProperty("a").ValueKind == JsonValueKind.Null));
        Assert.Equal([MissingLine - 1], RowsWhere(rows, row => row.GetProperty("b").ValueKind == JsonValueKind.Null));
        Assert.Equal(LateLine, rows[LateLine - 1].GetProperty("b").GetInt64());
        Assert.Equal($"a{MissingLine}", rows[MissingLine - 1].GetProperty("a").GetString());
    }

    [Theory]
    [InlineData(FileType.Parquet)]
    [InlineData(FileType.Json)]
    public async Task A_list_only_ever_empty_until_late_gets_the_element_kind_it_then_holds_with_no_null_elements(FileType fileType)
    {
        const int LastEmptyLine = 25_000;
        WriteBatch("lists", "a.jsonl", line => line <= LastEmptyLine
            ? $$"""{"id":{{line}},"tags":[]}"""
            : $$"""{"id":{{line}},"tags":["a","b"]}""");
        var flow = await CreateFlowAsync("lists", fileType);

        var run = await RunAsync(flow, FirstSlot);

        // An element seen only as strings, never null, is a required string: full inference says so once it sees
        // the first element (an array only ever empty would have been list<string> with nullable elements).
        var rows = await AssertExportedAsync(flow, run, LinesPastTheSample, fileType, "id int64, tags list<element string>");
        AssertIdsAreTheLineNumbers(rows);
        Assert.Equal(JsonValueKind.Array, rows[LastEmptyLine - 1].GetProperty("tags").ValueKind);
        Assert.Equal(LastEmptyLine, RowsWhere(rows, row => row.GetProperty("tags").GetArrayLength() == 0).Count);
        Assert.Equal(["a", "b"], rows[LastEmptyLine].GetProperty("tags").EnumerateArray().Select(tag => tag.GetString()));
        Assert.Equal(["a", "b"], rows[^1].GetProperty("tags").EnumerateArray().Select(tag => tag.GetString()));
    }

    [Theory]
    [InlineData(FileType.Parquet)]
    [InlineData(FileType.Json)]
    public async Task A_nested_struct_that_gets_a_new_child_late_in_the_second_batch_has_it_as_a_nullable_child(FileType fileType)
    {
        WriteBatch("nested", "a.jsonl", line => $$$"""{"id":{{{Id(0, line)}}},"geo":{"country":"FR"}}""");
        WriteBatch("nested", "b.jsonl", line => line == LateLine
            ? $$$"""{"id":{{{Id(1, line)}}},"geo":{"country":"DE","city":"Lyon"}}"""
            : $$$"""{"id":{{{Id(1, line)}}},"geo":{"country":"FR"}}""");
        var flow = await CreateFlowAsync("nested", fileType);

        var run = await RunAsync(flow, FirstSlot);

        var rows = await AssertExportedAsync(flow, run, 2 * LinesPastTheSample, fileType, "id int64, geo struct<country string, city string?>");
        AssertAPartWasStoredBeforeTheSecondBatch(run, fileType);
        var late = LinesPastTheSample + LateLine - 1;
        Assert.Equal(Id(1, LateLine), rows[late].GetProperty("id").GetInt64());
        Assert.Equal(("DE", "Lyon"), (rows[late].GetProperty("geo").GetProperty("country").GetString(), rows[late].GetProperty("geo").GetProperty("city").GetString()));
        Assert.Equal([late], RowsWhere(rows, row => row.GetProperty("geo").GetProperty("city").ValueKind != JsonValueKind.Null));
    }

    [Fact]
    public async Task Fields_only_null_until_late_take_the_kind_they_then_hold_as_nullable_columns()
    {
        // A field only ever null is a nullable string: the same as "note" ends up, but not as "count" does.
        const int LastNullLine = 25_000;
        WriteBatch("onlynull", "a.jsonl", line => line <= LastNullLine
            ? $$"""{"id":{{line}},"note":null,"count":null}"""
            : $$"""{"id":{{line}},"note":"note {{line}}","count":{{line}}}""");
        var flow = await CreateFlowAsync("onlynull", FileType.Parquet);

        var run = await RunAsync(flow, FirstSlot);

        var rows = await AssertExportedAsync(flow, run, LinesPastTheSample, FileType.Parquet, "id int64, note string?, count int64?");
        AssertIdsAreTheLineNumbers(rows);
        Assert.Equal(Enumerable.Range(0, LastNullLine), RowsWhere(rows, row => row.GetProperty("note").ValueKind == JsonValueKind.Null));
        Assert.Equal(Enumerable.Range(0, LastNullLine), RowsWhere(rows, row => row.GetProperty("count").ValueKind == JsonValueKind.Null));
        Assert.Equal(($"note {LastNullLine + 1}", LastNullLine + 1L), (rows[LastNullLine].GetProperty("note").GetString(), rows[LastNullLine].GetProperty("count").GetInt64()));
        Assert.Equal(($"note {LinesPastTheSample}", (long)LinesPastTheSample), (rows[^1].GetProperty("note").GetString(), rows[^1].GetProperty("count").GetInt64()));
    }

    [Theory]
    [InlineData(FileType.Parquet)]
    [InlineData(FileType.Json)]
    public async Task A_conflict_only_after_the_sample_fails_the_run_with_full_inferences_message_and_leaves_no_file(FileType fileType)
    {
        WriteBatch("conflict", "a.jsonl", line => $$"""{"id":{{Id(0, line)}},"name":"u{{line % 7}}"}""");
        var second = WriteBatch("conflict", "b.jsonl", line => line == LateLine
            ? $$"""{"id":{{Id(1, line)}},"name":{{line}}}"""
            : $$"""{"id":{{Id(1, line)}},"name":"u{{line % 7}}"}""");
        var flow = await CreateFlowAsync("conflict", fileType);

        var run = await RunAsync(flow, FirstSlot);

        var problem = $"Batch 'b.jsonl' cannot be exported with the others: {second} (line {LateLine}): field 'name' is an integer here but a string on earlier lines.";
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Equal($"Dataset 'conflict' cannot be exported: {problem}", run.Error);
        Assert.Equal((0L, 0L), (run.RecordsRead, run.RecordsWritten));
        Assert.Empty(run.Files);
        Assert.Null(run.ManifestPath);
        var stored = Assert.Single(_engine.State.ListRuns(flow.Id));
        Assert.Equal((RunStatus.Failed, run.Error), (stored.Status, stored.Error));
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "conflict"));
        Assert.Empty(Directory.Exists(Output) ? Directory.GetFiles(Output, "*", SearchOption.AllDirectories) : []);
        Assert.False(Directory.Exists(StagingFolder(run)), "the run left its staging folder");
        // What the lake reports for the dataset (Get-EligibleDataset -IncludeIneligible): the same problem.
        var dataset = Assert.Single(_engine.GetDatasets(Lake, includeIneligible: true, default));
        Assert.Equal(problem, dataset.Reason);
        Assert.Null(dataset.Schema);
    }

    [Fact]
    public async Task With_SkipInvalidRecords_a_late_line_that_is_not_JSON_is_skipped_and_counted_and_a_late_field_still_exported()
    {
        const int BrokenLine = 25_500;
        WriteBatch("skipping", "a.jsonl", line => line switch
        {
            BrokenLine => $$"""{"id":{{line}},"name":""",
            LateLine => $$"""{"id":{{line}},"name":"u{{line % 7}}","late":"arrived at line {{line}}"}""",
            _ => $$"""{"id":{{line}},"name":"u{{line % 7}}"}""",
        });
        var flow = await CreateFlowAsync("skipping", FileType.Parquet, skipInvalidRecords: true);

        var run = await RunAsync(flow, FirstSlot);

        var rows = await AssertExportedAsync(flow, run, LinesPastTheSample - 1, FileType.Parquet, "id int64, name string, late string?");
        Assert.Equal(1L, run.RecordsSkipped);
        Assert.Equal(0L, run.RecordsFailed);
        Assert.Equal(Enumerable.Range(1, LinesPastTheSample).Where(line => line != BrokenLine).Select(line => (long)line), rows.Select(row => row.GetProperty("id").GetInt64()));
        // The broken line is left out, so the late line is one row earlier than its line number says.
        var late = LateLine - 2;
        Assert.Equal(LateLine, rows[late].GetProperty("id").GetInt64());
        Assert.Equal($"arrived at line {LateLine}", rows[late].GetProperty("late").GetString());
        Assert.Equal([late], RowsWhere(rows, row => row.GetProperty("late").ValueKind != JsonValueKind.Null));
    }

    [Fact]
    public async Task An_incremental_run_exports_only_the_new_batch_with_the_field_its_late_line_adds()
    {
        WriteBatch("incremental", "a.jsonl", line => $$"""{"id":{{Id(0, line)}},"name":"u{{line % 7}}"}""");
        var flow = await CreateFlowAsync("incremental", FileType.Parquet, ExportMode.Incremental);
        var first = await RunAsync(flow, FirstSlot);
        Assert.True(first.Status == RunStatus.Succeeded, first.Error);
        Assert.Equal("id int64, name string", Describe(await ReadParquetSchemaAsync(Assert.Single(first.Files).SinkPath)));

        WriteBatch("incremental", "b.jsonl", line => line == LateLine
            ? $$"""{"id":{{Id(1, line)}},"name":"u{{line % 7}}","late":"arrived at line {{line}}"}"""
            : $$"""{"id":{{Id(1, line)}},"name":"u{{line % 7}}"}""");
        var second = await RunAsync(flow, FirstSlot.AddHours(1));

        var rows = await AssertExportedAsync(flow, second, LinesPastTheSample, FileType.Parquet, "id int64, name string, late string?", first);
        Assert.Equal(1, second.BatchCount);
        Assert.Equal(Enumerable.Range(1, LinesPastTheSample).Select(line => Id(1, line)), rows.Select(row => row.GetProperty("id").GetInt64()));
        Assert.Equal($"arrived at line {LateLine}", rows[LateLine - 1].GetProperty("late").GetString());
        Assert.Equal([LateLine - 1], RowsWhere(rows, row => row.GetProperty("late").ValueKind != JsonValueKind.Null));
        Assert.Equal(["a.jsonl", "b.jsonl"], _engine.State.GetExportedBatches(flow.Id, "incremental").Select(key => key.Split('|')[0]).Order());
    }

    [Fact]
    public async Task Lines_all_alike_export_a_Parquet_schema_equal_to_the_dataset_schema()
    {
        WriteBatch("alike", "a.jsonl", line => $$"""{"id":{{line}},"name":"u{{line % 7}}","score":{{line}}.5,"ok":{{(line % 2 == 0 ? "true" : "false")}}}""");
        var flow = await CreateFlowAsync("alike", FileType.Parquet);
        var messages = new List<string>();
        _engine.Log = messages.Add;

        var run = await RunAsync(flow, FirstSlot);

        Assert.DoesNotContain(messages, StartedOver);

        var rows = await AssertExportedAsync(flow, run, LinesPastTheSample, FileType.Parquet, "id int64, name string, score double, ok boolean");
        AssertIdsAreTheLineNumbers(rows);
        var dataset = await new FolderLake(Lake).GetDatasetAsync("alike", default);
        // Flat columns: no group the Parquet file could declare differently, so the two schemas are equal as they are.
        Assert.Equal(dataset.Schema, await ReadParquetSchemaAsync(Assert.Single(run.Files).SinkPath));
        Assert.Equal((LateLine + 0.5, true), (rows[LateLine - 1].GetProperty("score").GetDouble(), rows[LateLine - 1].GetProperty("ok").GetBoolean()));
    }

    [Fact]
    public async Task A_run_starts_over_once_for_a_line_its_sample_missed_and_the_next_run_starts_from_the_stored_schemas()
    {
        WriteBatch("again", "a.jsonl", line => line == LateLine
            ? $$"""{"id":{{line}},"late":true}"""
            : $$"""{"id":{{line}}}""");
        // Files written in the last seconds are not remembered (clocks are coarse): the lake would read them again.
        foreach (var file in Directory.GetFiles(Lake, "*", SearchOption.AllDirectories)) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-1));
        var messages = new List<string>();
        _engine.Log = messages.Add;
        var flow = await CreateFlowAsync("again", FileType.Parquet);

        var first = await RunAsync(flow, FirstSlot);
        var message = Assert.Single(messages, StartedOver);
        var second = await RunAsync(flow, FirstSlot.AddHours(1));

        Assert.Contains($"Line {LateLine} of '{Path.Combine(Lake, "again", "a.jsonl")}'", message);
        Assert.Contains("a field 'late' the schema lacks", message);
        Assert.All([first, second], run => Assert.Equal((RunStatus.Succeeded, (long)LinesPastTheSample), (run.Status, run.RecordsWritten)));
        Assert.Single(messages, StartedOver);
    }

    private static bool StartedOver(string logMessage) => logMessage.Contains("does not fit the schema inferred from the batch's first lines");

    /// <summary>The id of line <paramref name="line"/> (from 1) of batch <paramref name="batch"/> (from 0): ids run on across batches.</summary>
    private static long Id(int batch, int line) => (long)batch * LinesPastTheSample + line;

    /// <summary>Writes a batch of <see cref="LinesPastTheSample"/> lines, line n (from 1) being <paramref name="lineAt"/>(n); its full path.</summary>
    private string WriteBatch(string dataset, string fileName, Func<int, string> lineAt)
    {
        var path = Path.Combine(Lake, dataset, fileName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        for (var line = 1; line <= LinesPastTheSample; line++)
        {
            writer.Write(lineAt(line));
            writer.Write('\n');
        }
        return path;
    }

    /// <summary>
    /// A Local destination writing Parquet with snappy or plain JSON Lines, and a flow exporting one dataset to it. Parts
    /// roll over at 1 MB: 30,000 JSON lines are about that, so a two-batch JSON export stores a part before it reads the
    /// second batch's late line, and an attempt given up there would have a stored file to take back.
    /// </summary>
    private async Task<FlowRecord> CreateFlowAsync(string datasetId, FileType fileType, ExportMode mode = ExportMode.Full, bool skipInvalidRecords = false)
    {
        var destination = new DestinationSettings
        {
            Name = "local",
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = fileType == FileType.Parquet ? CompressionKind.Snappy : CompressionKind.None,
            MaxFileSizeMB = 1,
            FolderPath = "exports",
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "schema", DestinationId = destination.Id, DatasetIds = [datasetId], Mode = mode, SkipInvalidRecords = skipInvalidRecords };
        _engine.AddFlow(flow);
        return flow;
    }

    private async Task<RunRecord> RunAsync(FlowRecord flow, DateTimeOffset slot) =>
        Assert.Single(await _engine.RunFlowAsync(flow, Lake, slot, null, default));

    /// <summary>
    /// What every successful case checks: the run succeeded with <paramref name="records"/> read and written and is the
    /// flow's only run after <paramref name="earlierRuns"/>; the destination holds exactly these runs' files and manifests;
    /// the lake's schema for the dataset is <paramref name="expectedSchema"/> (<see cref="Describe(DatasetSchema)"/>), and
    /// the manifest, the Parquet files and every row written have it. Returns the rows written, in order, as JSON.
    /// </summary>
    private async Task<List<JsonElement>> AssertExportedAsync(
        FlowRecord flow, RunRecord run, long records, FileType fileType, string expectedSchema, params RunRecord[] earlierRuns)
    {
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal((records, records), (run.RecordsRead, run.RecordsWritten));
        var stored = _engine.State.ListRuns(flow.Id);
        Assert.Equal(earlierRuns.Length + 1, stored.Count);
        Assert.Equal(RunStatus.Succeeded, stored.Single(r => r.Id == run.Id).Status);
        AssertDestinationHoldsExactly([.. earlierRuns, run]);

        // The schema the lake reports for the dataset, read as the export reads it (Get-EligibleDataset for strict flows).
        var dataset = await new FolderLake(Lake).GetDatasetAsync(run.DatasetId, new BatchReadOptions(flow.SkipInvalidRecords, flow.SkipInvalidBatches), default);
        Assert.True(dataset.IsEligible, dataset.Reason);
        var schema = dataset.Schema!;
        Assert.Equal(expectedSchema, Describe(schema));

        var manifest = ExportManifest.Parse(File.ReadAllBytes(Path.Combine(Output, "exports", run.ManifestPath!)));
        Assert.Equal(run.Files.Select(ManifestFile.From), manifest.ExportResults);
        Assert.Equal(run.RecordsWritten, manifest.RecordCount);
        Assert.Equal(schema.Fields.Select(f => new ManifestColumn(f.Name, f.TypeName, f.Nullable)), manifest.Schema);

        var rows = new List<JsonElement>();
        foreach (var file in run.Files)
        {
            if (fileType == FileType.Parquet)
            {
                var written = await ReadParquetSchemaAsync(file.SinkPath);
                Assert.Equal(Describe(AsParquetDeclares(schema)), Describe(written));
                Assert.Equal([Parquet.Meta.CompressionCodec.SNAPPY], await ColumnCodecsAsync(file.SinkPath));
                await foreach (var chunk in FormatCatalog.GetReader(BatchFormat.Parquet).ReadAsync(file.SinkPath, false, written, default))
                {
                    rows.AddRange(chunk.Records.Select(record => JsonSerializer.SerializeToElement(record)));
                }
            }
            else
            {
                rows.AddRange(SampleLake.ReadJsonLines(file.SinkPath).Select(line => JsonSerializer.Deserialize<JsonElement>(line)));
            }
        }
        Assert.Equal(records, rows.Count);
        // Every row, JSON or Parquet, has exactly the schema's fields in its order (nulls written, none left out).
        var names = schema.Fields.Select(f => f.Name).ToList();
        var odd = rows.FindIndex(row => !row.EnumerateObject().Select(p => p.Name).SequenceEqual(names));
        Assert.True(odd < 0, $"row {odd} has the fields {(odd < 0 ? "" : string.Join(", ", rows[odd].EnumerateObject().Select(p => p.Name)))}, not {string.Join(", ", names)}");
        return rows;
    }

    /// <summary>
    /// Under the destination's folder there is exactly what these runs recorded: their files and manifests, each in its
    /// run's export folder; nothing of an attempt given up on, no temporary file. Their staging folders are gone too.
    /// </summary>
    private void AssertDestinationHoldsExactly(params RunRecord[] runs)
    {
        List<string> Recorded(RunRecord run) => [.. run.Files.Select(f => f.SinkPath), Path.Combine(Output, "exports", run.ManifestPath!)];
        foreach (var run in runs)
        {
            Assert.NotNull(run.ManifestPath);
            var folder = Path.Combine(Output, "exports", run.ExportPath);
            Assert.Equal(Recorded(run).Order(StringComparer.Ordinal), Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
            Assert.False(Directory.Exists(StagingFolder(run)), "the run left its staging folder");
        }
        Assert.Equal(runs.SelectMany(Recorded).Order(StringComparer.Ordinal), Directory.GetFiles(Output, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
    }

    /// <summary>Where a run writes its parts before storing them (ExportRunner's staging folder).</summary>
    private static string StagingFolder(RunRecord run) => Path.Combine(Path.GetTempPath(), "DatasetExport", run.Id.ToString("N"));

    private static Task<DatasetSchema> ReadParquetSchemaAsync(string path) =>
        FormatCatalog.GetReader(BatchFormat.Parquet).ReadSchemaAsync(path, false, default);

    /// <summary>The distinct compression codecs of the file's column chunks, read from its footer by Parquet.Net.</summary>
    private static async Task<List<Parquet.Meta.CompressionCodec>> ColumnCodecsAsync(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        return reader.Metadata!.RowGroups.SelectMany(group => group.Columns).Select(column => column.MetaData!.Codec).Distinct().ToList();
    }

    /// <summary>
    /// The dataset schema as a Parquet file of it declares it: structs, lists and maps are always optional groups there
    /// (docs/formats.md: Parquet.Net writes no required groups); leaves keep their nullability.
    /// </summary>
    private static DatasetSchema AsParquetDeclares(DatasetSchema schema) => new(schema.Fields.Select(AsParquetDeclares).ToList());

    private static SchemaField AsParquetDeclares(SchemaField field) => field.Kind is FieldKind.Struct or FieldKind.List or FieldKind.Map
        ? field with { Nullable = true, Children = field.ChildFields.Select(AsParquetDeclares).ToList() }
        : field;

    /// <summary>Names, kinds, children and nullability (a trailing '?') in order, e.g. <c>id int64, geo struct&lt;city string?&gt;</c>.</summary>
    private static string Describe(DatasetSchema schema) => string.Join(", ", schema.Fields.Select(Describe));

    private static string Describe(SchemaField field)
    {
        var type = field.Kind is FieldKind.Struct or FieldKind.List or FieldKind.Map
            ? $"{field.Kind.ToString().ToLowerInvariant()}<{string.Join(", ", field.ChildFields.Select(Describe))}>"
            : field.TypeName;
        return $"{field.Name} {type}{(field.Nullable ? "?" : "")}";
    }

    /// <summary>
    /// A JSON export of two batches stored its first part before it read the second batch's late line (parts roll over at
    /// 1 MB, about one batch): had it given up an attempt there, that file was in the destination to be taken back.
    /// </summary>
    private static void AssertAPartWasStoredBeforeTheSecondBatch(RunRecord run, FileType fileType)
    {
        if (fileType != FileType.Json) return;
        Assert.True(run.Files.Count >= 2, $"expected the JSON export to roll over into several parts, got {run.Files.Count}");
        Assert.True(run.Files[0].Records < LinesPastTheSample + LateLine, $"part 0 holds {run.Files[0].Records} records, the late line's too");
    }

    /// <summary>The ids of a single-batch dataset's rows are its line numbers: every line arrived once, in order.</summary>
    private static void AssertIdsAreTheLineNumbers(List<JsonElement> rows) =>
        Assert.Equal(Enumerable.Range(1, LinesPastTheSample).Select(line => (long)line), rows.Select(row => row.GetProperty("id").GetInt64()));

    /// <summary>The indexes of the rows <paramref name="match"/> holds for.</summary>
    private static List<int> RowsWhere(List<JsonElement> rows, Func<JsonElement, bool> match) =>
        Enumerable.Range(0, rows.Count).Where(i => match(rows[i])).ToList();
}
