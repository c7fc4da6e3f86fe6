using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Destinations.FlowMatrix;

/// <summary>How a test breaks a working destination.</summary>
public enum Breakage
{
    WrongCredentials,
    MissingContainer,
    ClosedPort,
}

/// <summary>What a broken destination must report: the failure kind, words the message must contain, secrets it must not.</summary>
public sealed record ExpectedFailure(DestinationFailure Failure, string[] MessageContains, string[] Secrets);

/// <summary>
/// Issue 3's test matrix at the flow level, run once per destination kind (one subclass each) through the engine:
/// add the destination (validated), add a flow, run it, verify it, then read everything back with a client that
/// shares no code with the destination and compare it with the lake, record by record, using DuckDB. Uploads use
/// small thresholds (the subclass's <see cref="Create"/>) so several files go up in parts or blocks.
/// </summary>
public abstract class FlowMatrixContract : IDisposable
{
    protected const string FolderPath = "exports";
    private const string DatasetId = "web";
    private static readonly DateTimeOffset Slot = new(2026, 5, 6, 7, 8, 30, TimeSpan.Zero);
    private const string ExportFolder = $"{FolderPath}/{DatasetId}/exportTime=202605060708";

    private readonly ExportEngine _engine;

    protected FlowMatrixContract()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = Work.Combine("state"), DestinationFactory = settings => Create(settings) });
    }

    protected TempFolder Work { get; } = new("de-flow-matrix");

    /// <summary>Settings for a fresh, empty place of this kind (bucket, container, remote folder) with working credentials.</summary>
    protected abstract Task<DestinationSettings> NewDestinationAsync();

    /// <summary>The destination object the engine uses for these settings, with small upload thresholds.</summary>
    internal abstract IExportDestination Create(DestinationSettings settings);

    /// <summary>Files larger than this go up in parts or blocks (SFTP: in many write requests).</summary>
    protected abstract long UploadSplitThreshold { get; }

    /// <summary>
    /// Everything stored under the settings' root (bucket, container, RemotePath), key to size, read with an
    /// independent client holding admin credentials; null when the root itself does not exist.
    /// </summary>
    protected abstract Task<Dictionary<string, long>?> ListAsync(DestinationSettings settings);

    /// <summary>Downloads <paramref name="key"/> (relative to the root) with the independent client.</summary>
    protected abstract Task DownloadAsync(DestinationSettings settings, string key, string localPath);

    /// <summary>The sink path users know for <paramref name="key"/>, worked out here rather than asked of the destination.</summary>
    protected abstract string ExpectedSinkPath(DestinationSettings settings, string key);

    /// <summary>Where the server shows it, checks that a file above <see cref="UploadSplitThreshold"/> went up in parts.</summary>
    protected virtual Task AssertStoredInPartsAsync(DestinationSettings settings, string key, long size) => Task.CompletedTask;

    /// <summary>Changes working <paramref name="settings"/> as <paramref name="breakage"/> says and tells what must be reported.</summary>
    protected abstract Task<ExpectedFailure> BreakAsync(DestinationSettings settings, Breakage breakage);

    public void Dispose()
    {
        _engine.Dispose();
        Work.Dispose();
    }

    /// <summary>JSON files of 7 MB exceed every kind's upload threshold; Parquet rolls over at its 100,000-record row groups.</summary>
    [Theory]
    [InlineData(FileType.Json, CompressionKind.None, 7, true)]
    [InlineData(FileType.Parquet, CompressionKind.Snappy, 1, false)]
    public async Task A_multi_batch_dataset_exports_in_the_seed_layout_and_reads_back_record_for_record(
        FileType fileType, CompressionKind compression, int maxFileSizeMB, bool filesAboveUploadThreshold)
    {
        var lake = FlowMatrixLake.Large;
        var settings = await FreshDestinationAsync();
        settings.FileType = fileType;
        settings.Compression = compression;
        settings.MaxFileSizeMB = maxFileSizeMB;
        var (flow, run) = await AddAndRunAsync(settings, lake.Path);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 2, $"expected several part files, got {run.Files.Count}");
        var stored = (await ListAsync(settings))!;
        var manifestKey = $"{ExportFolder}/manifest-{settings.Id:D}-{run.Id:D}.json";
        var dataKeys = AssertSeedLayout(stored, manifestKey, FormatCatalog.FileExtension(fileType, compression));
        Assert.Equal(run.Files.Select(file => $"{FolderPath}/{file.RelativePath}"), dataKeys);

        using var duck = new DuckDb();
        var downloads = new List<string>();
        var perFile = new List<(string Key, long Size, string Sha256, long Records)>();
        foreach (var key in dataKeys)
        {
            var local = Work.Combine(key.Split('/')[^1]);
            await DownloadAsync(settings, key, local);
            downloads.Add(local);
            perFile.Add((key, new FileInfo(local).Length, Sha256Of(local), duck.Count($"SELECT count(*) FROM {Relation(fileType, [local])}")));
            Assert.Equal(stored[key], new FileInfo(local).Length);
        }
        lake.AssertSameRecords(duck, Relation(fileType, downloads));

        var big = perFile.Where(file => file.Size > UploadSplitThreshold).ToList();
        Assert.True(!filesAboveUploadThreshold || big.Count > 0, $"no file exceeded the upload threshold of {UploadSplitThreshold} bytes: {string.Join(", ", perFile.Select(f => f.Size))}");
        foreach (var file in big) await AssertStoredInPartsAsync(settings, file.Key, file.Size);

        var manifestPath = Work.Combine("manifest.json");
        await DownloadAsync(settings, manifestKey, manifestPath);
        using var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(manifestPath));
        var root = manifest.RootElement;
        Assert.Equal(run.Id.ToString("D"), root.GetProperty("flowRunId").GetString());
        Assert.Equal(flow.Id.ToString("D"), root.GetProperty("flowId").GetString());
        Assert.Equal(DatasetId, root.GetProperty("datasetId").GetString());
        Assert.Equal(new DateTimeOffset(2026, 5, 6, 7, 8, 0, TimeSpan.Zero), root.GetProperty("scheduledTime").GetDateTimeOffset());
        Assert.Equal("202605060708", root.GetProperty("exportTime").GetString());
        Assert.Equal(fileType.ToString(), root.GetProperty("fileType").GetString());
        Assert.Equal(compression.ToString(), root.GetProperty("compression").GetString());
        Assert.Equal(FlowMatrixLake.LargeRecords, root.GetProperty("recordCount").GetInt64());
        var schema = _engine.GetDataset(lake.Path, DatasetId, default).Schema!;
        Assert.Equal(
            schema.Fields.Select(field => (field.Name, field.TypeName, field.Nullable)),
            root.GetProperty("schema").EnumerateArray().Select(c => (c.GetProperty("name").GetString()!, c.GetProperty("type").GetString()!, c.GetProperty("nullable").GetBoolean())));
        Assert.Equal(
            perFile.Select(file => (ExpectedSinkPath(settings, file.Key), file.Key.Split('/')[^1], file.Size, file.Records, file.Sha256)),
            root.GetProperty("exportResults").EnumerateArray().Select(r => (
                r.GetProperty("sinkPath").GetString()!, r.GetProperty("name").GetString()!, r.GetProperty("size").GetInt64(),
                r.GetProperty("records").GetInt64(), r.GetProperty("sha256").GetString()!)));

        var verification = await _engine.VerifyRunAsync(run, default);
        Assert.True(verification.IsValid, verification.Problem);
        Assert.True(verification.ManifestFound);
        Assert.Equal(FlowMatrixLake.Large.BatchCount, _engine.State.GetExportedBatches(flow.Id, DatasetId).Count);
    }

    [Fact]
    public async Task Two_runs_for_the_same_slot_get_unique_names_and_never_overwrite_each_other()
    {
        var settings = await FreshDestinationAsync();
        var (flow, first) = await AddAndRunAsync(settings, FlowMatrixLake.Small.Path);
        var second = Assert.Single(await _engine.RunFlowAsync(flow, FlowMatrixLake.Small.Path, Slot, null, default));

        Assert.True(first.Status == RunStatus.Succeeded, first.Error);
        Assert.True(second.Status == RunStatus.Succeeded, second.Error);
        var stored = (await ListAsync(settings))!;
        var firstKeys = first.Files.Select(file => $"{FolderPath}/{file.RelativePath}").Append($"{FolderPath}/{first.ManifestPath}").ToList();
        var secondKeys = second.Files.Select(file => $"{FolderPath}/{file.RelativePath}").Append($"{FolderPath}/{second.ManifestPath}").ToList();
        Assert.Empty(firstKeys.Intersect(secondKeys));
        Assert.Equal(firstKeys.Concat(secondKeys).Order(StringComparer.Ordinal), stored.Keys.Order(StringComparer.Ordinal));
        Assert.All(second.Files, file => Assert.StartsWith($"{DatasetId}/exportTime=202605060708/part-00000-", file.RelativePath));
        foreach (var run in new[] { first, second })
        {
            var verification = await _engine.VerifyRunAsync(run, default);
            Assert.True(verification.IsValid, verification.Problem);
        }
    }

    [Theory]
    [InlineData(Breakage.WrongCredentials)]
    [InlineData(Breakage.MissingContainer)]
    [InlineData(Breakage.ClosedPort)]
    public async Task A_broken_destination_is_refused_when_added_and_fails_its_run_leaving_nothing(Breakage breakage)
    {
        var settings = await FreshDestinationAsync();
        var expected = await BreakAsync(settings, breakage);

        var refused = await Assert.ThrowsAsync<DestinationException>(() => _engine.AddDestinationAsync(settings, skipValidation: false, default));

        Assert.Equal(expected.Failure, refused.Failure);
        AssertSaysWhatFailed(refused.Message, expected);
        SecretAssert.Absent(SecretAssert.Everything(refused), expected.Secrets);
        Assert.Null(_engine.State.FindDestination(settings.Name));

        var (flow, run) = await AddAndRunAsync(settings, FlowMatrixLake.Small.Path, skipValidation: true);

        Assert.Equal(RunStatus.Failed, run.Status);
        AssertSaysWhatFailed(run.Error!, expected);
        SecretAssert.Absent(run.Error!, expected.Secrets);
        Assert.Null(run.ManifestPath);
        Assert.Empty(run.Files);
        var recorded = _engine.State.GetRun(run.Id)!;
        Assert.Equal((RunStatus.Failed, null, run.Error), (recorded.Status, recorded.ManifestPath, recorded.Error));
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, DatasetId));
        var stored = await ListAsync(settings);
        if (breakage == Breakage.MissingContainer) Assert.Null(stored);
        else Assert.Empty(stored!);
    }

    private async Task<DestinationSettings> FreshDestinationAsync()
    {
        var settings = await NewDestinationAsync();
        settings.FolderPath = FolderPath;
        return settings;
    }

    private async Task<(FlowRecord Flow, RunRecord Run)> AddAndRunAsync(DestinationSettings settings, string lake, bool skipValidation = false)
    {
        await _engine.AddDestinationAsync(settings, skipValidation, default);
        var flow = new FlowRecord { Name = "matrix", DestinationId = settings.Id, DatasetIds = [DatasetId], Mode = ExportMode.Full };
        _engine.AddFlow(flow);
        var run = Assert.Single(await _engine.RunFlowAsync(flow, lake, Slot, null, default));
        return (flow, run);
    }

    /// <summary>
    /// Asserts the stored keys are the data files and the manifest, nothing else (no probe, no temporary), named
    /// <c>folder/dataset/exportTime=YYYYMMDDHHMM/part-NNNNN-uuid.ext</c> with consecutive numbers and distinct uuids.
    /// Returns the data keys in part order.
    /// </summary>
    private static List<string> AssertSeedLayout(Dictionary<string, long> stored, string manifestKey, string extension)
    {
        Assert.Contains(manifestKey, stored.Keys);
        var pattern = new Regex($@"^{Regex.Escape(ExportFolder)}/part-(?<number>\d{{5}})-(?<uuid>[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}){Regex.Escape(extension)}$");
        var dataKeys = stored.Keys.Where(key => key != manifestKey).ToList();
        var matches = dataKeys.Select(key => (Key: key, Match: pattern.Match(key))).ToList();
        Assert.All(matches, m => Assert.True(m.Match.Success, $"'{m.Key}' does not follow the seed's naming"));
        var ordered = matches.OrderBy(m => int.Parse(m.Match.Groups["number"].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(0, ordered.Count), ordered.Select(m => int.Parse(m.Match.Groups["number"].Value, CultureInfo.InvariantCulture)));
        Assert.Equal(ordered.Count, ordered.Select(m => m.Match.Groups["uuid"].Value).Distinct().Count());
        return ordered.Select(m => m.Key).ToList();
    }

    private static string Relation(FileType fileType, IEnumerable<string> paths)
    {
        var list = "[" + string.Join(", ", paths.Select(DuckDb.Quote)) + "]";
        return fileType == FileType.Parquet ? $"read_parquet({list})" : $"read_json({list}, format = 'newline_delimited')";
    }

    private static void AssertSaysWhatFailed(string message, ExpectedFailure expected)
    {
        foreach (var part in expected.MessageContains) Assert.Contains(part, message, StringComparison.Ordinal);
    }

    private static string Sha256Of(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }
}
