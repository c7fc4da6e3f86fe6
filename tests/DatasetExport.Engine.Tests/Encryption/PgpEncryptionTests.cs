using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;
using DatasetExport.Engine.Tests.Formats;

namespace DatasetExport.Engine.Tests.Encryption;

/// <summary>Exports encrypted to a gpg-made key, decrypted again by the gpg command-line tool and compared with the lake.</summary>
public sealed class PgpEncryptionTests : IDisposable
{
    private readonly TempFolder _root = new("de-pgp");
    private readonly Gpg _gpg = new();
    private readonly ExportEngine _engine;

    public PgpEncryptionTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
    }

    private string Lake => _root.Combine("lake");
    private string Output => _root.Combine("out");

    public void Dispose()
    {
        _engine.Dispose();
        _gpg.Dispose();
        _root.Dispose();
    }

    private DestinationSettings LocalDestination(FileType fileType, CompressionKind compression, string? publicKey, bool? encryptManifest = null)
    {
        var destination = new DestinationSettings
        {
            Name = "sealed",
            Type = DestinationType.Local,
            FileType = fileType,
            Compression = compression,
            FolderPath = "exports",
            Properties = { [LocalFolderDestination.PathProperty] = Output },
        };
        if (publicKey is not null) destination.Properties[DestinationKeys.PgpPublicKey] = publicKey;
        if (encryptManifest is { } flag) destination.Properties[DestinationKeys.PgpEncryptManifest] = flag ? "true" : "false";
        return destination;
    }

    private async Task<FlowRecord> AddFlowAsync(DestinationSettings destination)
    {
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "sealed-nightly", DestinationId = destination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(flow);
        return flow;
    }

    private string Decrypt(string encryptedPath)
    {
        var plain = encryptedPath[..^PgpFileEncryption.Suffix.Length];
        var status = _gpg.Decrypt(encryptedPath, plain);
        Assert.Contains("[GNUPG:] DECRYPTION_OKAY", status);
        // GOODMDC: the message carries a modification detection code and it checked out (integrity-protected).
        Assert.Contains("[GNUPG:] GOODMDC", status);
        return plain;
    }

    [Theory]
    [InlineData("default")]          // rsa3072 with an rsa3072 encryption subkey
    [InlineData("future-default")]   // ed25519 with a cv25519 (ECDH) encryption subkey
    public async Task Gzipped_json_parts_are_encrypted_and_gpg_decrypts_exactly_the_lake_records(string algorithm)
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 700);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "b.jsonl.gz"), 700, 300, gzip: true);
        var user = _gpg.GenerateKey("Data Team <data@example.test>", algorithm);
        var flow = await AddFlowAsync(LocalDestination(FileType.Json, CompressionKind.Gzip, _gpg.ExportPublicKey(user)));

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var file = Assert.Single(run.Files);
        Assert.Matches(new Regex(@"^part-00000-[0-9a-f-]{36}\.json\.gz\.gpg$"), file.Name);
        var stored = file.SinkPath;
        Assert.Equal((new FileInfo(stored).Length, Sha256(stored)), (file.Size, file.Sha256));
        Assert.Equal(run.OutputBytes, file.Size);
        Assert.Equal((1000L, 1000L), (run.RecordsWritten, file.Records));

        // Only the encrypted part and the manifest reach the destination: no plain copy, no leftover temporary file.
        Assert.Equal(
            new[] { file.Name, Path.GetFileName(run.ManifestPath!) }.Order(),
            Directory.GetFiles(Path.GetDirectoryName(stored)!).Select(Path.GetFileName).Order());

        var plain = Decrypt(stored);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), SampleLake.Ids(SampleLake.ReadJsonLines(plain)));
        Assert.Equal(
            SampleLake.ReadJsonLines(Path.Combine(Lake, "web", "a.jsonl")).Concat(SampleLake.ReadJsonLines(Path.Combine(Lake, "web", "b.jsonl.gz"))).Select(Canonical),
            SampleLake.ReadJsonLines(plain).Select(Canonical));

        // No OpenPGP compression layer: the literal data sits right inside the integrity-protected packet.
        var packets = _gpg.ListPackets(stored);
        Assert.Contains(":encrypted data packet:", packets);
        Assert.Contains("mdc_method: 2", packets);
        Assert.Contains(":literal data packet:", packets);
        Assert.DoesNotContain(":compressed packet:", packets);

        // The plain manifest lists the encrypted files with the size and hash of what was stored.
        Assert.NotNull(run.ManifestPath);
        Assert.EndsWith(".json", run.ManifestPath);
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Output, "exports", run.ManifestPath)));
        var listed = Assert.Single(manifest.RootElement.GetProperty("exportResults").EnumerateArray());
        Assert.Equal(file.Name, listed.GetProperty("name").GetString());
        Assert.Equal(file.Size, listed.GetProperty("size").GetInt64());
        Assert.Equal(file.Sha256, listed.GetProperty("sha256").GetString());

        var verification = await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default);
        Assert.True(verification.IsValid, verification.Problem);
    }

    [Fact]
    public async Task Row_groups_copied_from_Parquet_batches_are_encrypted_on_their_way_to_the_part()
    {
        var batch = Path.Combine(Lake, "web", "a.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(batch)!);
        using var duck = new DuckDb();
        duck.Execute($"COPY (SELECT i AS id, 'user-' || i AS \"user\" FROM range(20000) r(i)) TO {DuckDb.Quote(batch)} (FORMAT parquet, ROW_GROUP_SIZE 5000, COMPRESSION snappy)");
        var user = _gpg.GenerateKey("Copy Reader <copy@example.test>");
        var flow = await AddFlowAsync(LocalDestination(FileType.Parquet, CompressionKind.Zstd, _gpg.ExportPublicKey(user)));

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var plainParquet = Decrypt(Assert.Single(run.Files).SinkPath);
        // Not hive partitioning: the file sits under exportTime=..., which is not a column.
        var copy = $"read_parquet({DuckDb.Quote(plainParquet)}, hive_partitioning = false)";
        Assert.Equal(string.Join(",", duck.Describe($"read_parquet({DuckDb.Quote(batch)})")), string.Join(",", duck.Describe(copy)));
        // DuckDB's row groups (copied, recompressed with zstd), not ours.
        Assert.Equal(
            duck.Strings($"SELECT row_group_num_rows FROM parquet_metadata({DuckDb.Quote(batch)}) WHERE column_id = 0"),
            duck.Strings($"SELECT row_group_num_rows FROM parquet_metadata({DuckDb.Quote(plainParquet)}) WHERE column_id = 0"));
        Assert.Equal(["ZSTD"], duck.Strings($"SELECT DISTINCT compression FROM parquet_metadata({DuckDb.Quote(plainParquet)})"));
        Assert.Equal(0, duck.Count(
            $"SELECT count(*) FROM (SELECT * FROM read_parquet({DuckDb.Quote(batch)}) EXCEPT SELECT * FROM {copy})"));
        Assert.Equal(20000, duck.Count($"SELECT count(*) FROM {copy}"));
        File.Delete(plainParquet);
        var verification = await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default);
        Assert.True(verification.IsValid, verification.Problem);
    }

    [Fact]
    public async Task Parquet_parts_and_the_manifest_are_encrypted_and_verification_checks_the_stored_bytes()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 500);
        var user = _gpg.GenerateKey("Parquet Reader <parquet@example.test>");
        var flow = await AddFlowAsync(LocalDestination(FileType.Parquet, CompressionKind.Zstd, _gpg.ExportPublicKey(user), encryptManifest: true));

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var file = Assert.Single(run.Files);
        Assert.EndsWith(".parquet.gpg", file.Name);
        var plainParquet = Decrypt(file.SinkPath);
        using (var duck = new DuckDb())
        {
            Assert.Equal(500, duck.Count($"SELECT count(*) FROM read_parquet({DuckDb.Quote(plainParquet)})"));
            var lakeFile = Path.Combine(Lake, "web", "a.jsonl");
            Assert.Equal(0, duck.Count(
                $"SELECT count(*) FROM (SELECT id, \"user\", url, score, active FROM read_json({DuckDb.Quote(lakeFile)}) " +
                $"EXCEPT SELECT id, \"user\", url, score, active FROM read_parquet({DuckDb.Quote(plainParquet)}))"));
        }

        Assert.Matches(new Regex($@"/manifest-{flow.DestinationId:D}-{run.Id:D}\.json\.gpg$"), run.ManifestPath);
        var manifestPath = Path.Combine(Output, "exports", run.ManifestPath!);
        Assert.Equal(Sha256(manifestPath), run.ManifestSha256);
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Decrypt(manifestPath)));
        Assert.Equal(run.Id.ToString("D"), manifest.RootElement.GetProperty("flowRunId").GetString());
        var listed = Assert.Single(manifest.RootElement.GetProperty("exportResults").EnumerateArray());
        Assert.Equal((file.Name, file.Size, file.Sha256), (listed.GetProperty("name").GetString(), listed.GetProperty("size").GetInt64(), listed.GetProperty("sha256").GetString()));
        File.Delete(manifestPath[..^4]);
        File.Delete(plainParquet);

        var stored = _engine.State.GetRun(run.Id)!;
        var intact = await _engine.VerifyRunAsync(stored, default);
        Assert.True(intact.IsValid, intact.Problem);
        Assert.True(intact.ManifestFound);

        var bytes = File.ReadAllBytes(manifestPath);
        bytes[^5] ^= 0x01;
        File.WriteAllBytes(manifestPath, bytes);
        var tampered = await _engine.VerifyRunAsync(stored, default);
        Assert.False(tampered.IsValid);
        Assert.Contains("differs from the one the run wrote", tampered.Problem);
    }

    [Fact]
    public async Task Encrypted_parts_roll_over_at_the_size_limit_and_each_decrypts_on_its_own()
    {
        for (var batch = 0; batch < 3; batch++) SampleLake.WriteEvents(Path.Combine(Lake, "web", $"b{batch}.jsonl"), batch * 6000, 6000);
        var user = _gpg.GenerateKey("Roller <roller@example.test>");
        var destination = LocalDestination(FileType.Json, CompressionKind.None, _gpg.ExportPublicKey(user));
        destination.MaxFileSizeMB = 1;
        var flow = await AddFlowAsync(destination);

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.True(run.Files.Count >= 3, $"expected several parts, got {run.Files.Count}");
        Assert.All(run.Files, f => Assert.EndsWith(".json.gpg", f.Name));
        var ids = new List<long>();
        foreach (var file in run.Files)
        {
            var plain = SampleLake.ReadJsonLines(Decrypt(file.SinkPath));
            Assert.Equal(file.Records, plain.Count);
            ids.AddRange(SampleLake.Ids(plain));
        }
        Assert.Equal(Enumerable.Range(0, 18000).Select(i => (long)i), ids.Order());
        Assert.True((await _engine.VerifyRunAsync(run, default)).IsValid);
    }

    [Fact]
    public async Task Decrypted_parts_and_manifest_are_byte_for_byte_what_an_unencrypted_export_of_the_same_data_writes()
    {
        for (var batch = 0; batch < 3; batch++) SampleLake.WriteEvents(Path.Combine(Lake, "web", $"b{batch}.jsonl"), batch * 6000, 6000);
        var user = _gpg.GenerateKey("Comparer <compare@example.test>");
        var plainDestination = LocalDestination(FileType.Json, CompressionKind.None, null);
        plainDestination.Name = "plain";
        plainDestination.Properties[LocalFolderDestination.PathProperty] = _root.Combine("plain");
        var sealedDestination = LocalDestination(FileType.Json, CompressionKind.None, _gpg.ExportPublicKey(user), encryptManifest: true);
        foreach (var destination in new[] { plainDestination, sealedDestination }) destination.MaxFileSizeMB = 1;
        await _engine.AddDestinationAsync(plainDestination, skipValidation: false, default);
        var plainFlow = new FlowRecord { Name = "plain-nightly", DestinationId = plainDestination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(plainFlow);
        var sealedFlow = await AddFlowAsync(sealedDestination);

        var plainRun = Assert.Single(await _engine.RunFlowAsync(plainFlow, Lake, null, default));
        var sealedRun = Assert.Single(await _engine.RunFlowAsync(sealedFlow, Lake, null, default));

        Assert.True(plainRun.Status == RunStatus.Succeeded, plainRun.Error);
        Assert.True(sealedRun.Status == RunStatus.Succeeded, sealedRun.Error);
        Assert.True(plainRun.Files.Count >= 3, $"expected several parts, got {plainRun.Files.Count}");
        Assert.Equal(plainRun.Files.Count, sealedRun.Files.Count);
        foreach (var (plainFile, sealedFile) in plainRun.Files.Zip(sealedRun.Files))
        {
            Assert.Equal(plainFile.Records, sealedFile.Records);
            var decrypted = Decrypt(sealedFile.SinkPath);
            Assert.Equal(File.ReadAllBytes(plainFile.SinkPath), File.ReadAllBytes(decrypted));
            // The literal packet carries the plain part's own name; the packets are MDC-protected and not compressed.
            var packets = _gpg.ListPackets(sealedFile.SinkPath);
            Assert.Contains($"name=\"{sealedFile.Name[..^PgpFileEncryption.Suffix.Length]}\"", packets);
            Assert.Matches(new Regex(@"^part-\d{5}-[0-9a-f-]{36}\.json$"), sealedFile.Name[..^PgpFileEncryption.Suffix.Length]);
            Assert.Contains("mdc_method: 2", packets);
            Assert.DoesNotContain(":compressed packet:", packets);
        }

        // The encrypted manifest decrypts to the manifest an unencrypted run writes, but for what differs between two runs.
        var manifestPath = Path.Combine(Output, "exports", sealedRun.ManifestPath!);
        var manifestPackets = _gpg.ListPackets(manifestPath);
        Assert.Contains($"name=\"{Path.GetFileName(manifestPath)[..^PgpFileEncryption.Suffix.Length]}\"", manifestPackets);
        Assert.DoesNotContain(":compressed packet:", manifestPackets);
        using var sealedManifest = JsonDocument.Parse(File.ReadAllBytes(Decrypt(manifestPath)));
        using var plainManifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(_root.Combine("plain"), "exports", plainRun.ManifestPath!)));
        string[] sameInBoth = ["datasetId", "fileType", "compression", "recordCount", "schema"];
        foreach (var name in sameInBoth)
        {
            Assert.Equal(Canonical(plainManifest.RootElement.GetProperty(name).GetRawText()), Canonical(sealedManifest.RootElement.GetProperty(name).GetRawText()));
        }
        Assert.Equal(
            sealedRun.Files.Select(f => (f.Name, f.Size, f.Sha256, f.Records)),
            sealedManifest.RootElement.GetProperty("exportResults").EnumerateArray().Select(e =>
                (e.GetProperty("name").GetString()!, e.GetProperty("size").GetInt64(), e.GetProperty("sha256").GetString()!, e.GetProperty("records").GetInt64())));
        var verification = await _engine.VerifyRunAsync(_engine.State.GetRun(sealedRun.Id)!, default);
        Assert.True(verification.IsValid, verification.Problem);
    }

    [Theory]
    [InlineData(FileType.Json, CompressionKind.Gzip)]
    [InlineData(FileType.Parquet, CompressionKind.Zstd)]
    public async Task A_run_with_only_an_empty_batch_writes_no_part_and_no_manifest_as_an_unencrypted_run(FileType fileType, CompressionKind compression)
    {
        Directory.CreateDirectory(Path.Combine(Lake, "web"));
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 3);
        File.WriteAllBytes(Path.Combine(Lake, "web", "b.jsonl"), []);
        var user = _gpg.GenerateKey("Empty <empty@example.test>");
        var plainDestination = LocalDestination(fileType, compression, null);
        plainDestination.Name = "plain";
        plainDestination.Properties[LocalFolderDestination.PathProperty] = _root.Combine("plain");
        await _engine.AddDestinationAsync(plainDestination, skipValidation: false, default);
        var plainFlow = new FlowRecord { Name = "plain-nightly", DestinationId = plainDestination.Id, DatasetIds = ["web"], Mode = ExportMode.Incremental };
        _engine.AddFlow(plainFlow);
        var sealedDestination = LocalDestination(fileType, compression, _gpg.ExportPublicKey(user), encryptManifest: true);
        await _engine.AddDestinationAsync(sealedDestination, skipValidation: false, default);
        var sealedFlow = new FlowRecord { Name = "sealed-nightly", DestinationId = sealedDestination.Id, DatasetIds = ["web"], Mode = ExportMode.Incremental };
        _engine.AddFlow(sealedFlow);
        // The first runs export the three records; then only an empty batch is new.
        Assert.All(await _engine.RunFlowAsync(plainFlow, Lake, null, default), r => Assert.True(r.Status == RunStatus.Succeeded, r.Error));
        Assert.All(await _engine.RunFlowAsync(sealedFlow, Lake, null, default), r => Assert.True(r.Status == RunStatus.Succeeded, r.Error));
        File.WriteAllBytes(Path.Combine(Lake, "web", "c.jsonl"), []);

        var plainRun = Assert.Single(await _engine.RunFlowAsync(plainFlow, Lake, null, default));
        var sealedRun = Assert.Single(await _engine.RunFlowAsync(sealedFlow, Lake, null, default));

        Assert.Equal((plainRun.Status, plainRun.Error, plainRun.RecordsWritten), (sealedRun.Status, sealedRun.Error, sealedRun.RecordsWritten));
        // Nothing to write: no part and no manifest, encrypted or not, and the run succeeds.
        Assert.Equal(RunStatus.Succeeded, sealedRun.Status);
        Assert.Empty(plainRun.Files);
        Assert.Empty(sealedRun.Files);
        Assert.Null(plainRun.ManifestPath);
        Assert.Null(sealedRun.ManifestPath);
    }

    [Fact]
    public async Task Verification_finds_an_encrypted_part_truncated_or_altered_and_gpg_refuses_it_too()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 2000);
        var user = _gpg.GenerateKey("Checker <checker@example.test>");
        var flow = await AddFlowAsync(LocalDestination(FileType.Json, CompressionKind.Gzip, _gpg.ExportPublicKey(user), encryptManifest: true));
        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var part = Assert.Single(run.Files).SinkPath;
        var intact = File.ReadAllBytes(part);
        Assert.True((await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default)).IsValid);

        File.WriteAllBytes(part, intact[..^10]);
        var truncated = await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default);
        Assert.False(truncated.IsValid);
        Assert.Contains("1 of 1 files", truncated.Problem);
        Assert.Throws<InvalidOperationException>(() => _gpg.Decrypt(part, part + ".out"));

        var altered = intact.ToArray();
        altered[altered.Length / 2] ^= 0x40;
        File.WriteAllBytes(part, altered);
        Assert.False((await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default)).IsValid);
        Assert.Throws<InvalidOperationException>(() => _gpg.Decrypt(part, part + ".out"));

        File.WriteAllBytes(part, intact);
        Assert.True((await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default)).IsValid);
    }

    [Fact]
    public async Task A_stored_key_that_can_no_longer_encrypt_fails_the_run_before_anything_is_written()
    {
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 10);
        var user = _gpg.GenerateKey("Rotated <rotated@example.test>");
        var destination = LocalDestination(FileType.Json, CompressionKind.None, _gpg.ExportPublicKey(user));
        var flow = await AddFlowAsync(destination);
        // The state file is edited behind the engine's back (as an older module or a hand edit could): a sign-only key.
        var signer = _gpg.GenerateKey("Signer Later <later@example.test>", "rsa2048", "sign");
        destination.Properties[DestinationKeys.PgpPublicKey] = _gpg.ExportPublicKey(signer);
        _engine.State.UpdateDestination(destination);

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("no key that can encrypt", run.Error);
        Assert.Empty(Directory.Exists(Output) ? Directory.GetFiles(Output, "*", SearchOption.AllDirectories) : []);
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
    }

    [Fact]
    public async Task Garbage_private_and_sign_only_keys_are_refused_when_the_destination_is_added()
    {
        var garbage = await Assert.ThrowsAsync<ArgumentException>(() =>
            _engine.AddDestinationAsync(LocalDestination(FileType.Json, CompressionKind.None, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n"), false, default));
        Assert.Contains("not an OpenPGP public key", garbage.Message);

        var noArmor = await Assert.ThrowsAsync<ArgumentException>(() =>
            _engine.AddDestinationAsync(LocalDestination(FileType.Json, CompressionKind.None, "just some words"), false, default));
        Assert.Contains(DestinationKeys.PgpPublicKey, noArmor.Message);

        var secretHolder = _gpg.GenerateKey("Secret Holder <secret@example.test>");
        var secretKey = _gpg.ExportSecretKey(secretHolder);
        var secret = await Assert.ThrowsAsync<ArgumentException>(() =>
            _engine.AddDestinationAsync(LocalDestination(FileType.Json, CompressionKind.None, secretKey), false, default));
        Assert.Contains("private key", secret.Message);
        Assert.DoesNotContain(secretKey[40..80], secret.Message);

        // An RSA key can encrypt by algorithm, but this one is flagged sign-only and has no encryption subkey.
        var signer = _gpg.GenerateKey("Signer Only <signer@example.test>", "rsa2048", "sign");
        var signOnly = await Assert.ThrowsAsync<ArgumentException>(() =>
            _engine.AddDestinationAsync(LocalDestination(FileType.Json, CompressionKind.None, _gpg.ExportPublicKey(signer)), false, default));
        Assert.Contains("Signer Only <signer@example.test>", signOnly.Message);
        Assert.Contains("no key that can encrypt", signOnly.Message);

        var manifestWithoutKey = await Assert.ThrowsAsync<ArgumentException>(() =>
            _engine.AddDestinationAsync(LocalDestination(FileType.Json, CompressionKind.None, null, encryptManifest: true), false, default));
        Assert.Contains(DestinationKeys.PgpPublicKey, manifestWithoutKey.Message);

        var badFlag = LocalDestination(FileType.Json, CompressionKind.None, null);
        badFlag.Properties[DestinationKeys.PgpEncryptManifest] = "yes";
        await Assert.ThrowsAsync<ArgumentException>(() => _engine.AddDestinationAsync(badFlag, false, default));

        Assert.Empty(_engine.State.ListDestinations());
    }

    [Fact]
    public void Load_reads_armored_text_or_a_key_file_armored_or_binary_and_returns_armored_text()
    {
        var user = _gpg.GenerateKey("Loader <loader@example.test>");
        var armored = _gpg.ExportPublicKey(user);
        var armoredFile = _root.Combine("key.asc");
        File.WriteAllText(armoredFile, armored);
        var binaryFile = _root.Combine("key.gpg");
        File.WriteAllBytes(binaryFile, Dearmor(armored));

        var fromText = PgpKeys.Load(armored, DateTimeOffset.UtcNow);
        var fromFile = PgpKeys.Load(armoredFile, DateTimeOffset.UtcNow);
        var fromBinary = PgpKeys.Load(binaryFile, DateTimeOffset.UtcNow);

        Assert.StartsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----", fromText);
        Assert.Equal(fromText, fromFile);
        Assert.Equal(fromText, fromBinary);
        Assert.Equal(Dearmor(armored), Dearmor(fromText));
        var missing = Assert.Throws<ArgumentException>(() => PgpKeys.Load(_root.Combine("nope.asc"), DateTimeOffset.UtcNow));
        Assert.Contains("nope.asc", missing.Message);
        var notAKey = _root.Combine("notes.txt");
        File.WriteAllText(notAKey, "hello");
        Assert.Contains("notes.txt", Assert.Throws<ArgumentException>(() => PgpKeys.Load(notAKey, DateTimeOffset.UtcNow)).Message);
    }

    private byte[] Dearmor(string armored)
    {
        using var input = Org.BouncyCastle.Bcpg.OpenPgp.PgpUtilities.GetDecoderStream(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(armored)));
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    private static string Canonical(string jsonLine) => JsonSerializer.Serialize(JsonDocument.Parse(jsonLine).RootElement);
}
