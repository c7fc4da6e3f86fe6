using System.IO.Compression;
using System.Management.Automation;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetExport.Engine.Tests.Encryption;

namespace DatasetExport.Module.Tests;

/// <summary>
/// -PgpPublicKey and -EncryptManifest driven through the cmdlets; the keys are made and the files decrypted by the gpg
/// command-line tool, an OpenPGP implementation independent of the engine's.
/// </summary>
public sealed class EncryptionTests : IDisposable
{
    private const string Recipient = "Module Recipient <recipient@example.com>";
    private static readonly Regex Fingerprint = new("[0-9A-F]{40}");

    private readonly Gpg _gpg = new();
    private readonly ModuleSession _session = new();
    private readonly string _armored;
    private readonly string _keyFile;

    public EncryptionTests()
    {
        _gpg.GenerateKey(Recipient, algorithm: "future-default");
        _armored = _gpg.ExportPublicKey(Recipient);
        _keyFile = _session.Work.Combine("recipient.asc");
        File.WriteAllText(_keyFile, _armored);
    }

    public void Dispose()
    {
        _session.Dispose();
        _gpg.Dispose();
    }

    [Fact]
    public void Files_are_encrypted_to_a_key_given_as_a_path_or_as_armored_text_and_gpg_decrypts_them()
    {
        var (lake, _) = ExportPipelineTests.MakeLake(_session);
        var byFile = _session.Work.Combine("by-file");
        var byText = _session.Work.Combine("by-text");

        var destinations = _session.Run("""
            param($Work, $ByFile, $ByText, $Armored)
            # A relative key path is read from the PowerShell location, not from the process's working folder.
            $ExecutionContext.SessionState.Path.SetLocation($Work) | Out-Null
            New-ExportDestination -Name byfile -Type Local -Path $ByFile -PgpPublicKey recipient.asc -IncludeManifest -EncryptManifest
            New-ExportDestination -Name bytext -Type Local -Path $ByText -PgpPublicKey $Armored -Compression Gzip -IncludeManifest
            """, _session.Work.Path, byFile, byText, _armored).AssertNoErrors().Output;

        Assert.Equal(2, destinations.Count);
        foreach (var destination in destinations)
        {
            Assert.True((bool)destination.Properties["Encrypted"].Value);
            var key = (string)destination.Properties["EncryptionKey"].Value;
            Assert.StartsWith(Recipient + ", ", key);
            Assert.Matches(Fingerprint, key);
            Assert.StartsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----", (string)destination.Properties["PgpPublicKey"].Value);
            Assert.DoesNotContain("PgpPublicKey", ((IDictionary<string, string>)destination.Properties["Settings"].Value).Keys);
        }
        Assert.Equal([true, false], destinations.Select(d => (bool)d.Properties["EncryptManifest"].Value));

        // The table view says whether a destination encrypts and never shows the key. (A short location, never written
        // to, keeps the Encrypted column within the test host's width.)
        _session.Host.ClearText();
        _session.Run("""
            New-ExportDestination -Name v -Type Local -Path /v -PgpPublicKey $args[0] -SkipValidation | Out-Default
            Get-ExportDestination | Out-Default
            """, _armored).AssertNoErrors();
        var table = Regex.Replace(_session.Host.Text, "\u001b\\[[0-9;]*m", "").Split('\n').Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToList();
        Assert.True(table.Contains("Name Type Location FileType Compression Manifest Encrypted Credential"), string.Join('\n', table));
        Assert.Contains("v Local /v Json None False True", table);
        Assert.DoesNotContain("BEGIN PGP", _session.Host.Text);

        var verifications = _session.Run("""
            param($Lake)
            New-ExportFlow -Name viafile -Destination byfile -Dataset orders | Out-Null
            New-ExportFlow -Name viatext -Destination bytext -Dataset orders | Out-Null
            Start-ExportRun -Flow viafile -LakePath $Lake | Test-ExportRun
            Start-ExportRun -Flow viatext -LakePath $Lake | Test-ExportRun
            """, lake).AssertNoErrors().Output;
        Assert.Equal(2, verifications.Count);
        Assert.All(verifications, v => Assert.True((bool)v.Properties["IsValid"].Value, (string?)v.Properties["Problem"].Value));

        var runs = _session.Run("Get-ExportRun").AssertNoErrors().Output.ToDictionary(r => (string)r.Properties["Destination"].Value);
        AssertDecryptsToOrders(runs["byfile"], byFile, gzip: false, encryptedManifest: true);
        AssertDecryptsToOrders(runs["bytext"], byText, gzip: true, encryptedManifest: false);
    }

    [Fact]
    public void Set_ExportDestination_turns_encryption_on_and_off()
    {
        _session.Run("New-ExportDestination -Name d -Type Local -Path $args[0] -IncludeManifest | Out-Null", _session.Work.Combine("out")).AssertNoErrors();

        ExportPipelineTests.AssertError(_session.Run("Set-ExportDestination d -EncryptManifest"),
            "InvalidDestinationParameter", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "d");

        var encrypting = _session.Run("Set-ExportDestination d -PgpPublicKey $args[0] -EncryptManifest -PassThru", _keyFile).AssertNoErrors().Output.Single();
        Assert.Equal((true, true), ((bool)encrypting.Properties["Encrypted"].Value, (bool)encrypting.Properties["EncryptManifest"].Value));
        Assert.StartsWith(Recipient, (string)encrypting.Properties["EncryptionKey"].Value);

        var filesOnly = _session.Run("Set-ExportDestination d -EncryptManifest:$false -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal((true, false), ((bool)filesOnly.Properties["Encrypted"].Value, (bool)filesOnly.Properties["EncryptManifest"].Value));

        _session.Run("Set-ExportDestination d -PgpPublicKey ''").AssertNoErrors();
        var plain = _session.Run("Get-ExportDestination d").AssertNoErrors().Output.Single();
        Assert.False((bool)plain.Properties["Encrypted"].Value);
        Assert.False((bool)plain.Properties["EncryptManifest"].Value);
        Assert.Null(plain.Properties["EncryptionKey"].Value);
        Assert.Null(plain.Properties["PgpPublicKey"].Value);
    }

    [Fact]
    public void Unusable_keys_are_InvalidArgument_errors_naming_the_destination_and_nothing_is_stored()
    {
        _gpg.GenerateKey("Signer <signer@example.com>", algorithm: "rsa2048", usage: "sign");
        var now = DateTime.UtcNow;
        _gpg.GenerateKeyAt(now.AddDays(-30), "Lapsed <lapsed@example.com>", "default", "default", "10d");
        _gpg.GenerateKey("Withdrawn <withdrawn@example.com>");
        _gpg.RevokeKey("Withdrawn <withdrawn@example.com>");
        var privateKey = _gpg.ExportSecretKey(Recipient);
        const string Garbage = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5IGF0IGFsbA==\n-----END PGP PUBLIC KEY BLOCK-----\n";
        var cases = new (string Name, string Key, string Expected)[]
        {
            ("garbage", Garbage, "is not an OpenPGP public key"),
            ("missing", "missing.asc", _session.Work.Combine("missing.asc")),
            ("private", privateKey, "is a private key"),
            ("signonly", _gpg.ExportPublicKey("Signer <signer@example.com>"), "has no key that can encrypt"),
            ("expired", _gpg.ExportPublicKey("Lapsed <lapsed@example.com>"), $"the key expired on {now.AddDays(-20):yyyy-MM-dd}"),
            ("revoked", _gpg.ExportPublicKey("Withdrawn <withdrawn@example.com>"), "is revoked"),
        };
        _session.Run("$ExecutionContext.SessionState.Path.SetLocation($args[0]) | Out-Null", _session.Work.Path).AssertNoErrors();

        var errorText = new System.Text.StringBuilder();
        foreach (var (name, key, expected) in cases)
        {
            var result = _session.Run("New-ExportDestination -Name $args[0] -Type Local -Path $args[1] -PgpPublicKey $args[2]", name, _session.Work.Combine("out"), key);

            Assert.Empty(result.Output);
            ExportPipelineTests.AssertError(result, "InvalidArgument", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, name);
            var message = result.Errors[0].Exception.Message;
            Assert.Contains($"destination '{name}'", message);
            Assert.Contains(expected, message);
            Assert.Equal("PgpPublicKey", Assert.IsAssignableFrom<ArgumentException>(result.Errors[0].Exception).ParamName);
            Assert.DoesNotContain("(Parameter", message);
            errorText.AppendLine(result.Errors[0].ToString()).AppendLine(result.Errors[0].Exception.ToString());
        }
        var privateBody = privateKey.Split('\n').Where(line => line.Length > 40).ToList();
        Assert.NotEmpty(privateBody);
        Assert.All(privateBody, line => Assert.DoesNotContain(line.Trim(), errorText.ToString()));
        Assert.Empty(_session.Run("Get-ExportDestination").AssertNoErrors().Output);

        ExportPipelineTests.AssertError(_session.Run("New-ExportDestination -Name nokey -Type Local -Path $args[0] -EncryptManifest", _session.Work.Combine("out")),
            "InvalidDestinationParameter", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "nokey");

        // A bad key on Set- leaves the stored key as it was.
        var stored = _session.Run("New-ExportDestination -Name good -Type Local -Path $args[0] -PgpPublicKey $args[1]", _session.Work.Combine("out"), _armored)
            .AssertNoErrors().Output.Single().Properties["EncryptionKey"].Value;
        var refused = _session.Run("Set-ExportDestination good -PgpPublicKey $args[0]", Garbage);
        ExportPipelineTests.AssertError(refused, "InvalidArgument", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "good");
        Assert.Equal(stored, _session.Run("(Get-ExportDestination good).EncryptionKey").AssertNoErrors().Output.Single().BaseObject);
    }

    [Fact]
    public void A_stored_key_that_expired_since_is_flagged_by_Get_and_fails_Test_ExportDestination()
    {
        // Stored while valid; the key in the state then replaced by one that expired 10 days ago (as time would).
        var now = DateTime.UtcNow;
        _gpg.GenerateKeyAt(now.AddDays(-30), "Lapsed <lapsed@example.com>", "default", "default", "20d");
        _session.Run("New-ExportDestination -Name lapsing -Type Local -Path $args[0] -PgpPublicKey $args[1]; New-ExportDestination -Name fine -Type Local -Path $args[0]",
            _session.Work.Combine("out"), _armored).AssertNoErrors();
        Assert.Equal(1, _session.ExecuteOnState("UPDATE destinations SET properties = json_set(properties, '$.PgpPublicKey', $key) WHERE name = 'lapsing'",
            ("$key", _gpg.ExportPublicKey("Lapsed <lapsed@example.com>"))));
        var expiry = $"the key expired on {now.AddDays(-10):yyyy-MM-dd}";

        var listed = _session.Run("Get-ExportDestination").AssertNoErrors();
        Assert.Equal(["fine", "lapsing"], listed.Output.Select(d => (string)d.Properties["Name"].Value));
        var warning = Assert.Single(listed.OtherStreams);
        Assert.Contains("destination 'lapsing'", warning);
        Assert.Contains(expiry, warning);
        Assert.Contains("Set-ExportDestination -PgpPublicKey", warning);

        var tested = _session.Run("Test-ExportDestination lapsing, fine");
        Assert.Equal([false, true], tested.Output.Select(result => (bool)result.Properties["Succeeded"].Value));
        Assert.Contains(expiry, (string)tested.Output[0].Properties["Message"].Value);
        ExportPipelineTests.AssertError(tested, "DestinationInvalidConfiguration", "TestExportDestinationCommand", ErrorCategory.InvalidArgument, "lapsing");

        Assert.Null(listed.Output[1].Properties["EncryptionKeyExpires"].Value);

        // A new key mends it; one that expires shows when, for a runbook to check ahead.
        _gpg.GenerateKeyAt(now, "Renewed <renewed@example.com>", "future-default", "default", "90d");
        var renewed = _session.Run("Set-ExportDestination lapsing -PgpPublicKey $args[0] -PassThru", _gpg.ExportPublicKey("Renewed <renewed@example.com>"))
            .AssertNoErrors().Output.Single();
        Assert.Equal(now.AddDays(90).Date, ((DateTimeOffset)renewed.Properties["EncryptionKeyExpires"].Value).UtcDateTime.Date);
        Assert.Empty(_session.Run("Get-ExportDestination lapsing").AssertNoErrors().OtherStreams);
        Assert.True((bool)_session.Run("Test-ExportDestination lapsing").AssertNoErrors().Output.Single().Properties["Succeeded"].Value);
        Assert.Single(_session.Run("Get-ExportDestination | Where-Object { $_.EncryptionKeyExpires -and $_.EncryptionKeyExpires -lt [DateTimeOffset]::UtcNow.AddDays(100) }").AssertNoErrors().Output);
    }

    /// <summary>
    /// A private key (armored or binary, with or without passphrase, as text or file) given to -PgpPublicKey on New- and
    /// Set-ExportDestination, with -Verbose, -Debug and -WhatIf: refused each time, and none of it in any output, stream,
    /// error, host text or the state home's files (state.db), as SecretSweepTests checks the other secrets.
    /// </summary>
    [Fact]
    public void A_private_key_given_as_PgpPublicKey_is_refused_on_every_path_and_never_shown_or_stored()
    {
        _gpg.GenerateKey("Plain Secret <plain@example.com>");
        _gpg.GenerateKey("Guarded Secret <guarded@example.com>", passphrase: "guarded-passphrase-1");
        var plainSecret = _gpg.ExportSecretKey("Plain Secret <plain@example.com>");
        var guardedSecret = _gpg.ExportSecretKey("Guarded Secret <guarded@example.com>", passphrase: "guarded-passphrase-1");
        var armoredFile = _session.Work.Combine("secret.asc");
        File.WriteAllText(armoredFile, plainSecret);
        var binaryFile = _session.Work.Combine("secret.gpg");
        File.WriteAllBytes(binaryFile, _gpg.ExportSecretKeyBinary("Guarded Secret <guarded@example.com>", passphrase: "guarded-passphrase-1"));
        var output = _session.Work.Combine("out");
        _session.Run("New-ExportDestination -Name good -Type Local -Path $args[0] -PgpPublicKey $args[1] | Out-Null", output, _armored).AssertNoErrors();

        var result = _session.Run("""
            param($Out, $Keys)
            foreach ($key in $Keys) {
                New-ExportDestination -Name p -Type Local -Path $Out -PgpPublicKey $key -Verbose -Debug
                New-ExportDestination -Name p -Type Local -Path $Out -PgpPublicKey $key -SkipValidation -WhatIf -Verbose
                Set-ExportDestination good -PgpPublicKey $key -Verbose -Debug
                Set-ExportDestination good -PgpPublicKey $key -WhatIf -Verbose
            }
            Get-ExportDestination | ForEach-Object { $_.PSObject.Properties | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value } }
            """, output, new object[] { plainSecret, guardedSecret, armoredFile, binaryFile });

        Assert.Equal(16, result.Errors.Count);
        Assert.All(result.Errors, error =>
        {
            Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
            Assert.Contains("is a private key", error.Exception.Message);
        });
        var markers = new[] { plainSecret, guardedSecret }.SelectMany(text => text.Split('\n'))
            .Select(line => line.Trim()).Where(line => line.Length >= 40 && !line.StartsWith("-----", StringComparison.Ordinal)).ToArray();
        Assert.True(markers.Length > 10);
        SecretSweepTests.AssertAbsent(_session, result, [.. markers, "guarded-passphrase-1"], [], mustSee: "Name=good");
        var listed = Assert.Single(_session.Run("Get-ExportDestination").AssertNoErrors().Output);
        Assert.StartsWith(Recipient, (string)listed.Properties["EncryptionKey"].Value);
    }

    [Fact]
    public void A_stored_key_edited_behind_the_module_is_still_listed_and_a_run_with_it_fails_before_writing()
    {
        var (lake, output) = ExportPipelineTests.MakeLake(_session);
        _session.Run("""
            param($Out, $Key)
            New-ExportDestination -Name signonly -Type Local -Path "$Out/signonly" -PgpPublicKey $Key | Out-Null
            New-ExportDestination -Name garbled -Type Local -Path "$Out/garbled" -PgpPublicKey $Key | Out-Null
            New-ExportFlow -Name f -Destination signonly -Dataset orders | Out-Null
            """, output, _armored).AssertNoErrors();
        // As an older module or a hand edit could leave it: a key that cannot encrypt, and text that is no key at all.
        _gpg.GenerateKey("Signer Later <later@example.com>", algorithm: "rsa2048", usage: "sign");
        SetStoredKey("signonly", _gpg.ExportPublicKey("Signer Later <later@example.com>"));
        SetStoredKey("garbled", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nZ2FyYmxlZA==\n-----END PGP PUBLIC KEY BLOCK-----\n");

        var listed = _session.Run("Get-ExportDestination").AssertNoErrors().Output.ToDictionary(d => (string)d.Properties["Name"].Value);
        Assert.StartsWith("Signer Later <later@example.com>, ", (string)listed["signonly"].Properties["EncryptionKey"].Value);
        Assert.StartsWith("(unreadable: ", (string)listed["garbled"].Properties["EncryptionKey"].Value);
        Assert.All(listed.Values, d => Assert.True((bool)d.Properties["Encrypted"].Value));

        var result = _session.Run("Start-ExportRun -Flow f -LakePath $args[0]", lake);
        Assert.Equal("Failed", Assert.Single(result.Output).Properties["Status"].Value.ToString());
        Assert.Contains("no key that can encrypt", Assert.Single(result.Errors).Exception.Message);
        var folder = Path.Combine(output, "signonly");
        Assert.Empty(Directory.Exists(folder) ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories) : []);
    }

    private void SetStoredKey(string destination, string armored) =>
        Assert.Equal(1, _session.ExecuteOnState(
            "UPDATE destinations SET properties = json_set(properties, '$.PgpPublicKey', $key) WHERE name = $name",
            ("$key", armored), ("$name", destination)));

    /// <summary>Every part is *.gpg, gpg decrypts it with integrity protection, and together they hold exactly the lake's orders.</summary>
    private void AssertDecryptsToOrders(PSObject run, string destinationFolder, bool gzip, bool encryptedManifest)
    {
        Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString());
        var ids = new List<long>();
        foreach (var file in (object[])run.Properties["Files"].Value)
        {
            var sinkPath = (string)PSObject.AsPSObject(file).Properties["SinkPath"].Value;
            Assert.EndsWith(gzip ? ".json.gz.gpg" : ".json.gpg", sinkPath);
            var plain = Decrypt(sinkPath);
            using var stream = gzip ? (Stream)new GZipStream(File.OpenRead(plain), CompressionMode.Decompress) : File.OpenRead(plain);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { Length: > 0 } line) ids.Add(JsonDocument.Parse(line).RootElement.GetProperty("id").GetInt64());
        }
        Assert.Equal(Enumerable.Range(0, 3 * 40).Select(i => (long)i), ids.Order());
        Assert.Equal((long)ids.Count, (long)run.Properties["RecordsWritten"].Value);

        var manifest = Path.Combine(destinationFolder, ((string)run.Properties["ManifestPath"].Value).Replace('/', Path.DirectorySeparatorChar));
        Assert.EndsWith(encryptedManifest ? ".json.gpg" : ".json", manifest);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(manifest))), (string)run.Properties["ManifestSha256"].Value, ignoreCase: true);
        var manifestText = File.ReadAllText(encryptedManifest ? Decrypt(manifest) : manifest);
        Assert.Contains("exportResults", manifestText);
    }

    private string Decrypt(string encryptedPath)
    {
        var plain = _session.Work.Combine($"plain-{Guid.NewGuid():N}");
        var status = _gpg.Decrypt(encryptedPath, plain);
        Assert.Contains("DECRYPTION_OKAY", status);
        Assert.Contains("GOODMDC", status);
        return plain;
    }
}
