using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.Tests.Destinations;
using DatasetExport.Engine.Tests.Encryption;
using DatasetExport.Engine.Tests.Formats;
using Xunit.Abstractions;

namespace DatasetExport.Engine.Tests.Net8;

/// <summary>A destination as the .NET 8 host's job names it: its type, the folder its exports go below, its settings (secrets included).</summary>
public sealed record HostDestination(string Type, string FolderPath, Dictionary<string, string> Properties, Dictionary<string, string> Secrets);

/// <summary>
/// The engine on .NET 8 (PowerShell 7.4's runtime) against one destination kind per subclass: the published
/// <see cref="Net8Host"/> adds the destination with validation once per output (Parquet zstd, JSON gzip, JSON gzip
/// encrypted to a gpg-made OpenPGP key), exports a lake it generates (JSON Lines and Parquet batches) and verifies the
/// runs. Here everything stored is read back with a client that shares no code with the engine (boto3, an admin blob
/// client, the server's disk), its sha256 compared with the run's record, its records counted by DuckDB (after gpg
/// decrypted it) and its manifest read.
/// </summary>
public abstract class Net8HostContract : IDisposable
{
    /// <summary>About 3 MB of JSON text: more than one of the gzip writer's 2 MiB blocks, joined on .NET 8's zlib.</summary>
    protected const int JsonRecords = 25_000;
    private const int ParquetRows = 2000;

    /// <summary>The host's upload split size with SmallUploads (its Job.SmallUploadLimit).</summary>
    protected const long SmallUploadLimit = 64 * 1024;
    private static readonly Dictionary<string, long> Expected = new() { ["events"] = JsonRecords, ["metrics"] = ParquetRows };

    private readonly ITestOutputHelper _log;
    private readonly Gpg _gpg = new();

    protected Net8HostContract(ITestOutputHelper log)
    {
        _log = log;
    }

    protected TempFolder Work { get; } = new("de-net8");

    public void Dispose()
    {
        _gpg.Dispose();
        Work.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs the host for <paramref name="destination"/> and checks everything it stored, read back independently.</summary>
    /// <param name="downloadAll">
    /// Downloads everything stored below the destination's root (bucket, container, remote folder) into the given local
    /// folder, one file per key ('/' making folders).
    /// </param>
    /// <param name="smallUploads">The host uploads files above <see cref="SmallUploadLimit"/> in parts (S3) or blocks (Azure) of half of it.</param>
    /// <param name="assertStoredInParts">With <paramref name="smallUploads"/>, where the server shows it: checks that the key of that size went up in parts.</param>
    /// <param name="scheduleTimeZone">When given, the host also runs an hourly cron flow in this time zone (see the host).</param>
    /// <returns>The host's result, for checks of its own.</returns>
    protected async Task<JsonElement> ExportAndReadBackAsync(HostDestination destination, Func<string, Task> downloadAll, Uri? awsEmulatorUrl = null,
        bool smallUploads = false, Func<string, long, Task>? assertStoredInParts = null, string? scheduleTimeZone = null)
    {
        var user = _gpg.GenerateKey("Net8 Reader <net8@example.test>", "future-default");
        var outcome = await RunHostAsync(destination, awsEmulatorUrl, _gpg.ExportPublicKey(user), smallUploads, scheduleTimeZone);

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        var result = outcome.Result!.Value;
        AssertRanOnNet8(result, outcome);
        var exports = result.GetProperty("exports").EnumerateArray().ToList();
        Assert.Equal(["parquet-zstd", "json-gzip", "json-gzip-pgp"], exports.Select(export => export.GetProperty("label").GetString()));

        var readBack = Work.Combine("read-back");
        await downloadAll(readBack);
        var stored = Directory.GetFiles(readBack, "*", SearchOption.AllDirectories).Select(path => Path.GetRelativePath(readBack, path).Replace('\\', '/')).ToHashSet();
        var expectedKeys = new List<string>();
        var splitUploads = 0;
        using var duck = new DuckDb();
        foreach (var export in exports)
        {
            var label = export.GetProperty("label").GetString()!;
            var folderPath = export.GetProperty("folderPath").GetString()!;
            var runs = export.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(Expected.Keys.Order(), runs.Select(run => run.GetProperty("dataset").GetString()!).Order());
            foreach (var run in runs)
            {
                var dataset = run.GetProperty("dataset").GetString()!;
                var context = $"{label} {dataset}: {outcome}";
                Assert.True(run.GetProperty("status").GetString() == "Succeeded", context);
                Assert.True(run.GetProperty("verified").GetBoolean(), context);
                Assert.Equal(Expected[dataset], run.GetProperty("recordsWritten").GetInt64());

                var readable = new List<string>();
                var files = run.GetProperty("files").EnumerateArray().ToList();
                Assert.NotEmpty(files);
                Assert.Equal(Expected[dataset], files.Sum(file => file.GetProperty("records").GetInt64()));
                foreach (var file in files)
                {
                    var key = $"{folderPath}/{file.GetProperty("relativePath").GetString()}";
                    Assert.Contains(key, stored);
                    expectedKeys.Add(key);
                    var local = Path.Combine(readBack, key);
                    Assert.Equal(file.GetProperty("size").GetInt64(), new FileInfo(local).Length);
                    Assert.Equal(file.GetProperty("sha256").GetString(), Sha256(local));
                    if (smallUploads && new FileInfo(local).Length > SmallUploadLimit)
                    {
                        splitUploads++;
                        if (assertStoredInParts is not null) await assertStoredInParts(key, new FileInfo(local).Length);
                    }
                    readable.Add(label.EndsWith("-pgp", StringComparison.Ordinal) ? Decrypt(local) : local);
                }

                var manifestKey = $"{folderPath}/{run.GetProperty("manifestPath").GetString()}";
                Assert.Contains(manifestKey, stored);
                expectedKeys.Add(manifestKey);
                var manifestPath = Path.Combine(readBack, manifestKey);
                using (var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(manifestPath)))
                {
                    Assert.Equal(
                        files.Select(file => file.GetProperty("sha256").GetString()).Order(),
                        manifest.RootElement.GetProperty("exportResults").EnumerateArray().Select(listed => listed.GetProperty("sha256").GetString()).Order());
                }

                AssertRecords(duck, label, readable, Expected[dataset]);
                if (dataset == "events" && label.StartsWith("json", StringComparison.Ordinal))
                {
                    var text = readable.Sum(file => { using var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress); return CountBytes(gzip); });
                    Assert.True(text > ParallelGzipWriter.DefaultBlockBytes, $"{label} events: {text} bytes of JSON fit in one gzip block");
                }
            }
        }
        // The events' JSON gzip parts (~200 KB) exceed the small upload limit: multipart uploads and staged blocks ran on .NET 8 too.
        if (smallUploads) Assert.True(splitUploads >= 2, $"only {splitUploads} files above {SmallUploadLimit} bytes");
        // Nothing else reached the destination: no plain copy of an encrypted part, no temporary file.
        Assert.Equal(expectedKeys.Order(StringComparer.Ordinal), stored.Order(StringComparer.Ordinal));
        return result;
    }

    /// <summary>Runs the host with settings the server must refuse: it reports an authentication failure and shows no secret.</summary>
    protected async Task AssertRejectedAsync(HostDestination destination, string[] messageContains, string[] secrets, Uri? awsEmulatorUrl = null)
    {
        var outcome = await RunHostAsync(destination, awsEmulatorUrl, pgpPublicKey: null, smallUploads: false, scheduleTimeZone: null);

        Assert.True(outcome.ExitCode == 2, outcome.ToString());
        var result = outcome.Result!.Value;
        AssertRanOnNet8(result, outcome);
        Assert.Equal("Authentication", result.GetProperty("failure").GetString());
        var message = result.GetProperty("message").GetString()!;
        foreach (var words in messageContains) Assert.Contains(words, message);
        SecretAssert.Absent(outcome.Output + outcome.Error, secrets);
    }

    private async Task<Net8Host.Outcome> RunHostAsync(HostDestination destination, Uri? awsEmulatorUrl, string? pgpPublicKey, bool smallUploads, string? scheduleTimeZone)
    {
        var published = Net8Host.Get();
        _log.WriteLine($"published the .NET 8 host once for this test run in {published.PublishTime.TotalSeconds:F1} s");
        var outcome = await Net8Host.RunAsync(new
        {
            work = Work.Combine("host"),
            destination,
            awsEmulatorUrl = awsEmulatorUrl?.ToString(),
            pgpPublicKey,
            smallUploads,
            scheduleTimeZone,
            jsonRecords = JsonRecords,
            parquetRows = ParquetRows,
        });
        _log.WriteLine(outcome.ToString());
        return outcome;
    }

    private static void AssertRanOnNet8(JsonElement result, Net8Host.Outcome outcome)
    {
        var runtime = Version.Parse(result.GetProperty("runtime").GetString()!);
        Assert.True(runtime.Major == 8, $"the host ran on {runtime}, not .NET 8: {outcome}");
    }

    /// <summary>DuckDB reads the files: exactly the lake's ids 0..expected-1, once each; Parquet parts are zstd-compressed.</summary>
    private static void AssertRecords(DuckDb duck, string label, List<string> files, long expected)
    {
        var list = "[" + string.Join(", ", files.Select(DuckDb.Quote)) + "]";
        string relation;
        if (label.StartsWith("parquet", StringComparison.Ordinal))
        {
            relation = $"read_parquet({list}, hive_partitioning = false)";
            Assert.Equal(["ZSTD"], duck.Strings($"SELECT DISTINCT compression FROM parquet_metadata({list})"));
        }
        else
        {
            Assert.All(files, file => Assert.EndsWith(".json.gz", file));
            // gzip itself checks the member: deflate data, CRC-32 (System.IO.Hashing on .NET 8) and length in the trailer.
            Assert.All(files, file => TestProcess.Run("gzip", null, null, "--test", file));
            relation = $"read_json({list}, format = 'newline_delimited')";
        }
        Assert.Equal([expected.ToString(), expected.ToString(), "0", (expected - 1).ToString()],
            duck.Strings($"SELECT unnest([count(*), count(DISTINCT id), min(id), max(id)]) FROM {relation}"));
    }

    private string Decrypt(string encrypted)
    {
        Assert.EndsWith(".gpg", encrypted);
        var plain = encrypted[..^".gpg".Length];
        var status = _gpg.Decrypt(encrypted, plain);
        Assert.Contains("[GNUPG:] DECRYPTION_OKAY", status);
        Assert.Contains("[GNUPG:] GOODMDC", status);
        return plain;
    }

    private static long CountBytes(Stream stream)
    {
        var buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0) total += read;
        return total;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
