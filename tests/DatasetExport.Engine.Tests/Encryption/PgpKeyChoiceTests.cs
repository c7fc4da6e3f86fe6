using Microsoft.Extensions.Time.Testing;
using System.Text;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Encryption;

/// <summary>
/// Which key the files are encrypted to, for the keys gpg makes and the states they reach (expired, revoked, several
/// subkeys, tampered), and how key files are read. Keys are made by the gpg command-line tool (with --faked-system-time
/// for keys that expired in the past) and gpg decrypts, reporting the key the file was encrypted to (ENC_TO).
/// </summary>
public sealed class PgpKeyChoiceTests : IDisposable
{
    private static readonly DateTime Now = DateTime.UtcNow;
    private readonly TempFolder _root = new("de-pgpkeys");
    private readonly Gpg _gpg = new();
    private readonly ExportEngine _engine;
    private int _destinations;

    public PgpKeyChoiceTests()
    {
        _engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("state") });
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "a.jsonl"), 0, 50);
    }

    private string Lake => _root.Combine("lake");

    public void Dispose()
    {
        _engine.Dispose();
        _gpg.Dispose();
        _root.Dispose();
    }

    [Theory]
    [InlineData("default", "default", true)]          // rsa3072 primary with an rsa3072 encryption subkey
    [InlineData("future-default", "default", true)]   // ed25519 primary with a cv25519 (ECDH) encryption subkey
    [InlineData("rsa4096", "encr", false)]            // one rsa4096 key, no subkey, flagged to encrypt
    public async Task Files_are_encrypted_to_the_encryption_key_of_the_keys_gpg_makes(string algorithm, string usage, bool bySubkey)
    {
        var user = _gpg.GenerateKey($"Made {algorithm} <made@example.test>", algorithm, usage);
        var expected = bySubkey ? Assert.Single(_gpg.SubkeyFingerprints(user)) : _gpg.Fingerprint(user);

        Assert.Equal(KeyId(expected), await EncryptedToAsync(_gpg.ExportPublicKey(user)));
    }

    [Theory]
    [InlineData("nistp256", "nistp256")]
    [InlineData("nistp384", "nistp384")]
    [InlineData("brainpoolP256r1", "brainpoolP256r1")]
    [InlineData("dsa2048", "elg2048")]
    public async Task Encryption_subkeys_of_other_algorithms_gpg_offers_work_too(string primaryAlgorithm, string subkeyAlgorithm)
    {
        var user = _gpg.GenerateKey($"Curve {primaryAlgorithm} <curve@example.test>", primaryAlgorithm, "sign");
        var subkey = _gpg.AddSubkeyAt(DateTime.UtcNow.AddSeconds(1), user, subkeyAlgorithm, "encr", "never");

        Assert.Equal(KeyId(subkey), await EncryptedToAsync(_gpg.ExportPublicKey(user)));
    }

    [Fact]
    public async Task The_newest_valid_encryption_subkey_is_used_and_expired_or_revoked_newer_ones_are_passed_over()
    {
        var user = _gpg.GenerateKeyAt(Now.AddDays(-30), "Rotating <rotating@example.test>", "rsa2048", "sign", "never");
        var oldest = _gpg.AddSubkeyAt(Now.AddDays(-20), user, "rsa2048", "encr", "never");
        var newer = _gpg.AddSubkeyAt(Now.AddDays(-10), user, "cv25519", "encr", "never");
        Assert.Equal(KeyId(newer), await EncryptedToAsync(_gpg.ExportPublicKey(user)));

        // A newer subkey that has expired (made 5 days ago, valid for 2) is passed over.
        _gpg.AddSubkeyAt(Now.AddDays(-5), user, "rsa2048", "encr", "2d");
        Assert.Equal(KeyId(newer), await EncryptedToAsync(_gpg.ExportPublicKey(user)));

        // The newest one revoked: the one before it.
        _gpg.RevokeSubkey(user, newer);
        Assert.Equal(KeyId(oldest), await EncryptedToAsync(_gpg.ExportPublicKey(user)));

        // All revoked or expired: refused, saying why.
        _gpg.RevokeSubkey(user, oldest);
        var refused = await RefusedAsync(_gpg.ExportPublicKey(user));
        Assert.Contains("no key that can encrypt", refused.Message);
        Assert.Contains($"{KeyId(oldest)} is revoked", refused.Message);
        Assert.Contains($"{KeyId(newer)} is revoked", refused.Message);
        Assert.Matches(new Regex($"{_gpg.SubkeyFingerprints(user)[2][^16..]} expired on \\d{{4}}-\\d\\d-\\d\\d"), refused.Message);
    }

    [Fact]
    public async Task A_key_whose_primary_key_expired_is_refused_although_its_subkey_has_no_expiry()
    {
        // Made 400 days ago without expiry; 300 days ago the owner set the primary key to expire 200 days ago.
        var user = _gpg.GenerateKeyAt(Now.AddDays(-400), "Lapsed <lapsed@example.test>", "rsa2048", "sign", "never");
        _gpg.AddSubkeyAt(Now.AddDays(-400), user, "rsa2048", "encr", "never");
        _gpg.SetExpireAt(Now.AddDays(-300), user, Now.AddDays(-200).ToString("yyyy-MM-dd"));

        var refused = await RefusedAsync(_gpg.ExportPublicKey(user));

        Assert.Contains("Lapsed <lapsed@example.test>", refused.Message);
        Assert.Matches(new Regex($"key expired on {Now.AddDays(-200):yyyy-MM-dd}"), refused.Message);
    }

    [Fact]
    public async Task A_revoked_key_is_refused_although_its_encryption_subkey_is_not_revoked()
    {
        var user = _gpg.GenerateKey("Revoked <revoked@example.test>");
        _gpg.RevokeKey(user);

        var refused = await RefusedAsync(_gpg.ExportPublicKey(user));

        Assert.Contains("Revoked <revoked@example.test>", refused.Message);
        Assert.Contains("is revoked", refused.Message);
    }

    [Fact]
    public async Task An_expiry_lifted_after_the_key_expired_makes_the_key_usable_again()
    {
        var user = _gpg.GenerateKeyAt(Now.AddDays(-100), "Renewed <renewed@example.test>", "rsa2048", "sign", "50d");
        var subkey = _gpg.AddSubkeyAt(Now.AddDays(-100), user, "rsa2048", "encr", "50d");
        Assert.Contains("expired on", (await RefusedAsync(_gpg.ExportPublicKey(user))).Message);

        // The owner lifts the expiry of both keys: the newer self-signatures say "never".
        _gpg.SetExpireAt(Now.AddDays(-1), user, "never");
        _gpg.SetExpireAt(Now.AddDays(-1), user, "never", subkey);

        Assert.Equal(KeyId(subkey), await EncryptedToAsync(_gpg.ExportPublicKey(user)));
    }

    [Fact]
    public async Task A_subkey_not_bound_by_the_primary_key_is_never_used()
    {
        // Someone who can change the key file on its way to the admin appends a newer encryption subkey of their own (with
        // their own binding signature): the primary key, its user id and fingerprint, which the admin checks, are unchanged.
        var owner = _gpg.GenerateKeyAt(Now.AddDays(-10), "Owner <owner@example.test>", "default", "default", "never");
        var ownersSubkey = Assert.Single(_gpg.SubkeyFingerprints(owner));
        var intruder = _gpg.GenerateKeyAt(Now.AddDays(-1), "Intruder <intruder@example.test>", "default", "default", "never");
        var intruderPackets = Packets(_gpg.ExportPublicKeyBinary(intruder));
        var subkeyAt = intruderPackets.FindIndex(p => p.Tag == 14);
        var tampered = _gpg.ExportPublicKeyBinary(owner).Concat(intruderPackets[subkeyAt].Bytes).Concat(intruderPackets[subkeyAt + 1].Bytes).ToArray();
        var armored = PgpKeys.Load(WriteFile("tampered.gpg", tampered), DateTimeOffset.UtcNow);
        Assert.StartsWith("Owner <owner@example.test>, " + _gpg.Fingerprint(owner), PgpKeys.Describe(armored));

        Assert.Equal(KeyId(ownersSubkey), await EncryptedToAsync(armored));

        // Its subkey alone, without a binding signature: not used either.
        var bare = _gpg.ExportPublicKeyBinary(owner).Concat(intruderPackets[subkeyAt].Bytes).ToArray();
        Assert.Equal(KeyId(ownersSubkey), await EncryptedToAsync(PgpKeys.Load(WriteFile("bare.gpg", bare), DateTimeOffset.UtcNow)));
    }

    [Fact]
    public async Task A_stored_key_that_expired_since_fails_the_next_run_saying_so_before_anything_is_written()
    {
        // The destination was stored while the key was valid (as the state holds it); the key expired since.
        var user = _gpg.GenerateKeyAt(Now.AddDays(-30), "Expiring <expiring@example.test>", "default", "default", "20d");
        var good = _gpg.GenerateKey("Good <good@example.test>");
        var output = _root.Combine("expired-out");
        var destination = Local(output, _gpg.ExportPublicKey(good));
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        destination.Properties[DestinationKeys.PgpPublicKey] = _gpg.ExportPublicKey(user);
        _engine.State.UpdateDestination(destination);
        var flow = new FlowRecord { Name = "expiring", DestinationId = destination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(flow);

        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains($"destination '{destination.Name}' (Expiring <expiring@example.test>, {_gpg.Fingerprint(user)})", run.Error);
        Assert.Contains($"key expired on {Now.AddDays(-10):yyyy-MM-dd}", run.Error);
        Assert.Empty(Directory.Exists(output) ? Directory.GetFiles(output, "*", SearchOption.AllDirectories) : []);
        Assert.Empty(_engine.State.GetExportedBatches(flow.Id, "web"));
    }

    [Fact]
    public async Task A_key_is_judged_by_the_engines_clock_so_the_day_it_expires_runs_fail_and_the_destination_says_why()
    {
        // Valid for 2 days from now; the engine's clock then moves 3 days on (was: judged by the machine's clock, so the
        // run went on encrypting to the expired key and Test-ExportDestination found nothing wrong).
        var user = _gpg.GenerateKeyAt(DateTime.UtcNow, "Two Days <two-days@example.test>", "future-default", "default", "2d");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = _root.Combine("clock-state"), TimeProvider = clock });
        var output = _root.Combine("clock-out");
        var destination = Local(output, _gpg.ExportPublicKey(user));
        await engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "two-days", DestinationId = destination.Id, DatasetIds = ["web"] };
        engine.AddFlow(flow);
        Assert.Null(engine.EncryptionKeyProblem(destination));

        clock.Advance(TimeSpan.FromDays(3));
        var expiry = $"expired on {clock.GetUtcNow().AddDays(-1):yyyy-MM-dd}";
        var problem = engine.EncryptionKeyProblem(engine.State.GetDestination(destination.Id)!);
        Assert.Contains(expiry, problem);
        var tested = await Assert.ThrowsAsync<DestinationException>(() => engine.TestDestinationAsync(engine.State.GetDestination(destination.Id)!, default));
        Assert.Equal((DestinationFailure.InvalidConfiguration, problem), (tested.Failure, tested.Message));
        var run = Assert.Single(await engine.RunFlowAsync(flow, Lake, null, default));
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains(expiry, run.Error);
        Assert.Empty(Directory.GetFiles(output, "*", SearchOption.AllDirectories));
        Assert.Contains(expiry, Assert.Throws<ArgumentException>(() => PgpKeys.Load(_gpg.ExportPublicKey(user), clock.GetUtcNow())).Message);
    }

    [Fact]
    public void The_expiry_shown_is_that_of_the_key_in_use_or_of_its_primary_key_whichever_comes_first()
    {
        static DateTimeOffset Second(DateTime time) => new(time.Ticks - time.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var now = DateTimeOffset.UtcNow;

        var lasting = _gpg.GenerateKey("Lasting <lasting@example.test>");
        Assert.Null(PgpKeys.ExpiresAt(_gpg.ExportPublicKey(lasting), now));

        // An encryption subkey valid for 30 days under a primary key that never expires: the subkey's day.
        var made = Now.AddDays(-1);
        var rotating = _gpg.GenerateKeyAt(made, "Rotating Expiry <rotating-expiry@example.test>", "rsa2048", "sign", "never");
        _gpg.AddSubkeyAt(made, rotating, "cv25519", "encr", "30d");
        Assert.Equal(Second(made).AddDays(30), PgpKeys.ExpiresAt(_gpg.ExportPublicKey(rotating), now));

        // The primary key expiring before its subkey does: the primary's day (gpg's quick-gen-key sets both).
        var bounded = _gpg.GenerateKeyAt(made, "Bounded <bounded@example.test>", "default", "default", "20d");
        _gpg.AddSubkeyAt(made.AddSeconds(1), bounded, "cv25519", "encr", "never");
        Assert.Equal(Second(made).AddDays(20), PgpKeys.ExpiresAt(_gpg.ExportPublicKey(bounded), now));

        // None usable at that time: refused as for a run.
        Assert.Contains("expired on", Assert.Throws<ArgumentException>(() => PgpKeys.ExpiresAt(_gpg.ExportPublicKey(bounded), now.AddDays(25))).Message);
    }

    [Fact]
    public async Task A_changed_key_applies_from_the_next_run_and_a_removed_key_makes_the_next_run_plain()
    {
        var first = _gpg.GenerateKey("First <first@example.test>");
        var second = _gpg.GenerateKey("Second <second@example.test>");
        var output = _root.Combine("changing");
        var destination = Local(output, _gpg.ExportPublicKey(first));
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "changing", DestinationId = destination.Id, DatasetIds = ["web"], Mode = ExportMode.Incremental };
        _engine.AddFlow(flow);

        var run1 = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        Assert.Equal(KeyId(Assert.Single(_gpg.SubkeyFingerprints(first))), EncryptedTo(Assert.Single(run1.Files).SinkPath, 0, 50));

        destination.Properties[DestinationKeys.PgpPublicKey] = _gpg.ExportPublicKey(second);
        await _engine.UpdateDestinationAsync(destination, skipValidation: false, default);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "b.jsonl"), 50, 20);
        var run2 = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        Assert.Equal(KeyId(Assert.Single(_gpg.SubkeyFingerprints(second))), EncryptedTo(Assert.Single(run2.Files).SinkPath, 50, 20));

        destination.Properties.Remove(DestinationKeys.PgpPublicKey);
        await _engine.UpdateDestinationAsync(destination, skipValidation: false, default);
        SampleLake.WriteEvents(Path.Combine(Lake, "web", "c.jsonl"), 70, 5);
        var run3 = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        Assert.True(run3.Status == RunStatus.Succeeded, run3.Error);
        var plain = Assert.Single(run3.Files);
        Assert.EndsWith(".json", plain.Name);
        Assert.Equal(Enumerable.Range(70, 5).Select(i => (long)i), SampleLake.Ids(SampleLake.ReadJsonLines(plain.SinkPath)));
        Assert.EndsWith(".json", run3.ManifestPath);
        foreach (var run in new[] { run1, run2, run3 })
        {
            var verification = await _engine.VerifyRunAsync(_engine.State.GetRun(run.Id)!, default);
            Assert.True(verification.IsValid, verification.Problem);
        }
    }

    [Fact]
    public void Key_files_are_read_whatever_their_text_encoding_line_ends_or_surrounding_text()
    {
        var user = _gpg.GenerateKey("Files <files@example.test>");
        var armored = _gpg.ExportPublicKey(user);
        var expected = PgpKeys.Load(armored, DateTimeOffset.UtcNow);

        // Windows PowerShell 5.1 writes "gpg --export -a ... > key.asc" as UTF-16 with a BOM; Notepad and
        // Set-Content -Encoding UTF8 write UTF-8 with a BOM.
        Assert.Equal(expected, PgpKeys.Load(WriteFile("utf8bom.asc", [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(armored)]), DateTimeOffset.UtcNow));
        Assert.Equal(expected, PgpKeys.Load(WriteFile("utf16.asc", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(armored)]), DateTimeOffset.UtcNow));
        var crlf = armored.ReplaceLineEndings("\r\n");
        Assert.Equal(expected, PgpKeys.Load(WriteFile("crlf.asc", Encoding.ASCII.GetBytes(crlf)), DateTimeOffset.UtcNow));
        Assert.Equal(expected, PgpKeys.Load(crlf, DateTimeOffset.UtcNow));
        Assert.Equal(expected, PgpKeys.Load("\uFEFF" + armored, DateTimeOffset.UtcNow));
        var mail = "Hello, here is my key:\n\n" + armored + "\nRegards,\nFiles\n";
        Assert.Equal(expected, PgpKeys.Load(mail, DateTimeOffset.UtcNow));
        Assert.Equal(expected, PgpKeys.Load(WriteFile("mail.txt", Encoding.UTF8.GetBytes(mail)), DateTimeOffset.UtcNow));
        Assert.Equal(expected, PgpKeys.Load(WriteFile("binary.gpg", _gpg.ExportPublicKeyBinary(user)), DateTimeOffset.UtcNow));
    }

    [Fact]
    public void A_file_or_text_with_several_keys_or_none_is_refused()
    {
        var first = _gpg.GenerateKey("First <first@example.test>");
        var second = _gpg.GenerateKey("Second <second@example.test>");

        // One armor block holding both keys (gpg --armor --export a b), and two blocks one after the other (cat a.asc b.asc).
        var oneBlock = _gpg.ExportPublicKey(first, second);
        var twoBlocks = _gpg.ExportPublicKey(first) + _gpg.ExportPublicKey(second);
        foreach (var text in new[] { oneBlock, twoBlocks })
        {
            Assert.Contains("holds 2 public keys; give exactly one", Assert.Throws<ArgumentException>(() => PgpKeys.Load(text, DateTimeOffset.UtcNow)).Message);
            Assert.Contains("holds 2 public keys; give exactly one", Assert.Throws<ArgumentException>(() => PgpKeys.Load(WriteFile($"keys-{text.Length}.asc", Encoding.ASCII.GetBytes(text)), DateTimeOffset.UtcNow)).Message);
        }
        var binaryTwo = _gpg.ExportPublicKeyBinary(first).Concat(_gpg.ExportPublicKeyBinary(second)).ToArray();
        Assert.Contains("holds 2 public keys", Assert.Throws<ArgumentException>(() => PgpKeys.Load(WriteFile("two.gpg", binaryTwo), DateTimeOffset.UtcNow)).Message);

        var empty = WriteFile("empty.asc", []);
        var refused = Assert.Throws<ArgumentException>(() => PgpKeys.Load(empty, DateTimeOffset.UtcNow));
        Assert.Contains(empty, refused.Message);
        Assert.Contains("holds no OpenPGP public key", refused.Message);
        var missing = Assert.Throws<ArgumentException>(() => PgpKeys.Load(_root.Combine("nowhere", "key.asc"), DateTimeOffset.UtcNow));
        Assert.Contains("neither an existing key file", missing.Message);
    }

    [Fact]
    public void A_private_key_armored_or_binary_with_or_without_passphrase_is_refused_without_quoting_it()
    {
        var user = _gpg.GenerateKey("Private <private@example.test>");
        var armoredSecret = _gpg.ExportSecretKey(user);
        var binarySecret = _gpg.ExportSecretKeyBinary(user);

        foreach (var given in new[] { armoredSecret, WriteFile("secret.asc", Encoding.ASCII.GetBytes(armoredSecret)), WriteFile("secret.gpg", binarySecret) })
        {
            var refused = Assert.Throws<ArgumentException>(() => PgpKeys.Load(given, DateTimeOffset.UtcNow));
            Assert.Contains("is a private key", refused.Message);
            var text = refused.ToString();
            Assert.All(armoredSecret.Split('\n').Where(line => line.Length > 20), line => Assert.DoesNotContain(line.Trim(), text));
        }
    }

    private async Task<string> EncryptedToAsync(string armored)
    {
        var output = _root.Combine($"out-{++_destinations}");
        var destination = Local(output, armored);
        await _engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = $"flow-{_destinations}", DestinationId = destination.Id, DatasetIds = ["web"] };
        _engine.AddFlow(flow);
        var run = Assert.Single(await _engine.RunFlowAsync(flow, Lake, null, default));
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        return EncryptedTo(Assert.Single(run.Files).SinkPath, 0, 50);
    }

    /// <summary>Decrypts with gpg, checks the records and returns the id of the key gpg says the file was encrypted to.</summary>
    private string EncryptedTo(string encryptedPath, int firstId, int count)
    {
        Assert.EndsWith(PgpFileEncryption.Suffix, encryptedPath);
        var plain = encryptedPath[..^PgpFileEncryption.Suffix.Length];
        var status = _gpg.Decrypt(encryptedPath, plain);
        Assert.Contains("[GNUPG:] DECRYPTION_OKAY", status);
        Assert.Contains("[GNUPG:] GOODMDC", status);
        Assert.Equal(Enumerable.Range(firstId, count).Select(i => (long)i), SampleLake.Ids(SampleLake.ReadJsonLines(plain)));
        File.Delete(plain);
        return Assert.Single(Regex.Matches(status, @"\[GNUPG:\] ENC_TO ([0-9A-F]{16})")).Groups[1].Value;
    }

    private async Task<ArgumentException> RefusedAsync(string armored)
    {
        var refused = await Assert.ThrowsAsync<ArgumentException>(() =>
            _engine.AddDestinationAsync(Local(_root.Combine("refused"), armored), skipValidation: false, default));
        Assert.Throws<ArgumentException>(() => PgpKeys.Load(armored, DateTimeOffset.UtcNow));
        return refused;
    }

    private DestinationSettings Local(string output, string armored) => new()
    {
        Name = $"dest-{++_destinations}",
        Type = DestinationType.Local,
        FileType = FileType.Json,
        Compression = CompressionKind.None,
        Properties = { [LocalFolderDestination.PathProperty] = output, [DestinationKeys.PgpPublicKey] = armored },
    };

    private string WriteFile(string name, byte[] bytes)
    {
        var path = _root.Combine(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string KeyId(string fingerprint) => fingerprint[^16..];

    /// <summary>The OpenPGP packets of a binary key (gpg writes old-format headers for them), each with its header.</summary>
    private static List<(int Tag, byte[] Bytes)> Packets(byte[] data)
    {
        var packets = new List<(int, byte[])>();
        for (var at = 0; at < data.Length;)
        {
            var header = data[at];
            Assert.True((header & 0x80) != 0);
            int tag, headerLength;
            long length;
            if ((header & 0x40) == 0)
            {
                tag = (header >> 2) & 0x0F;
                (headerLength, length) = (header & 0x03) switch
                {
                    0 => (2, data[at + 1]),
                    1 => (3, (data[at + 1] << 8) | data[at + 2]),
                    2 => (5, ((long)data[at + 1] << 24) | ((long)data[at + 2] << 16) | ((long)data[at + 3] << 8) | data[at + 4]),
                    _ => throw new InvalidDataException("indeterminate length"),
                };
            }
            else
            {
                tag = header & 0x3F;
                var first = data[at + 1];
                (headerLength, length) = first switch
                {
                    < 192 => (2, first),
                    < 224 => (3, ((first - 192) << 8) + data[at + 2] + 192),
                    255 => (6, ((long)data[at + 2] << 24) | ((long)data[at + 3] << 16) | ((long)data[at + 4] << 8) | data[at + 5]),
                    _ => throw new InvalidDataException("partial length"),
                };
            }
            var total = headerLength + (int)length;
            packets.Add((tag, data[at..(at + total)]));
            at += total;
        }
        return packets;
    }
}
