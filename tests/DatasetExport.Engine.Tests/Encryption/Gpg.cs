using System.Diagnostics;

namespace DatasetExport.Engine.Tests.Encryption;

/// <summary>
/// The GnuPG command-line tool (/usr/bin/gpg) in a keyring of its own: the independent OpenPGP implementation that
/// makes the keys and decrypts what the engine wrote. Its agent is stopped when the keyring is disposed.
/// </summary>
internal sealed class Gpg : IDisposable
{
    private readonly TempFolder _home = new("de-gpg");

    public Gpg()
    {
        File.WriteAllText(Path.Combine(_home.Path, "gpg-agent.conf"), "allow-loopback-pinentry\n");
    }

    /// <summary>Makes a key pair (without a passphrase unless given); <paramref name="algorithm"/> and <paramref name="usage"/> as for --quick-gen-key.</summary>
    public string GenerateKey(string userId, string algorithm = "default", string usage = "default", string passphrase = "")
    {
        Run(["--passphrase", passphrase, "--quick-gen-key", userId, algorithm, usage, "never"]);
        return userId;
    }

    /// <summary>
    /// Makes a key pair without a passphrase as if the clock read <paramref name="at"/> (gpg's --faked-system-time), so
    /// keys can be made that expired in the past; <paramref name="expire"/> as for --quick-gen-key ("never", "1y", a date).
    /// </summary>
    public string GenerateKeyAt(DateTime at, string userId, string algorithm, string usage, string expire)
    {
        Run(["--faked-system-time", FakedTime(at), "--passphrase", "", "--quick-gen-key", userId, algorithm, usage, expire]);
        return userId;
    }

    /// <summary>Adds a subkey made as if the clock read <paramref name="at"/>; returns its fingerprint.</summary>
    public string AddSubkeyAt(DateTime at, string userId, string algorithm, string usage, string expire)
    {
        var before = SubkeyFingerprints(userId);
        Run(["--faked-system-time", FakedTime(at), "--passphrase", "", "--quick-add-key", Fingerprint(userId), algorithm, usage, expire]);
        return SubkeyFingerprints(userId).Except(before).Single();
    }

    /// <summary>Sets the expiry of the primary key (no <paramref name="subkeys"/>) or of the subkeys given, signed as if the clock read <paramref name="at"/>.</summary>
    public void SetExpireAt(DateTime at, string userId, string expire, params string[] subkeys) =>
        Run(["--faked-system-time", FakedTime(at), "--passphrase", "", "--quick-set-expire", Fingerprint(userId), expire, .. subkeys]);

    /// <summary>Revokes the whole key by importing the revocation certificate gpg stored when it made the key.</summary>
    public void RevokeKey(string userId)
    {
        var certificate = File.ReadAllText(Path.Combine(_home.Path, "openpgp-revocs.d", Fingerprint(userId) + ".rev"));
        // gpg stores it with a ':' before the armor line so that it is not imported by accident.
        Run(["--import"], certificate.Replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----", StringComparison.Ordinal));
    }

    /// <summary>Revokes one subkey (gpg --edit-key: key N, revkey), N counting the subkeys from 1 in gpg's order.</summary>
    public void RevokeSubkey(string userId, string subkeyFingerprint)
    {
        var index = SubkeyFingerprints(userId).IndexOf(subkeyFingerprint) + 1;
        Assert.True(index > 0, $"{subkeyFingerprint} is no subkey of {userId}");
        Run(["--command-fd", "0", "--passphrase", "", "--edit-key", Fingerprint(userId)], $"key {index}\nrevkey\ny\n0\n\ny\nsave\n");
    }

    public string Fingerprint(string userId) => Fingerprints(userId)[0];

    public List<string> SubkeyFingerprints(string userId) => Fingerprints(userId).Skip(1).ToList();

    private List<string> Fingerprints(string userId) =>
        Run(["--with-colons", "--list-keys", userId]).Output.Split('\n').Where(line => line.StartsWith("fpr:", StringComparison.Ordinal))
            .Select(line => line.Split(':')[9]).ToList();

    private static string FakedTime(DateTime at) => at.ToUniversalTime().ToString("yyyyMMdd'T'HHmmss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The armored public key; with several user ids, all the keys in one armor block.</summary>
    public string ExportPublicKey(params string[] userIds) => Run(["--armor", "--export", .. userIds]).Output;

    public byte[] ExportPublicKeyBinary(string userId)
    {
        var file = Path.Combine(_home.Path, $"export-{Guid.NewGuid():N}.gpg");
        Run(["--output", file, "--export", userId]);
        return File.ReadAllBytes(file);
    }

    public string ExportSecretKey(string userId, string passphrase = "") => Run(["--passphrase", passphrase, "--armor", "--export-secret-keys", userId]).Output;

    public byte[] ExportSecretKeyBinary(string userId, string passphrase = "")
    {
        var file = Path.Combine(_home.Path, $"export-{Guid.NewGuid():N}.gpg");
        Run(["--passphrase", passphrase, "--output", file, "--export-secret-keys", userId]);
        return File.ReadAllBytes(file);
    }

    /// <summary>Decrypts a file; returns gpg's machine-readable status lines (DECRYPTION_OKAY, GOODMDC, ...).</summary>
    public string Decrypt(string encryptedPath, string plainPath) =>
        Run(["--status-fd", "2", "--yes", "--output", plainPath, "--decrypt", encryptedPath]).Error;

    /// <summary>The OpenPGP packets of a file, as gpg lists them (it decrypts to show the inner packets).</summary>
    public string ListPackets(string encryptedPath) => Run(["--list-packets", encryptedPath]).Output;

    private (string Output, string Error) Run(IEnumerable<string> arguments, string? input = null)
    {
        var start = new ProcessStartInfo("gpg")
        {
            RedirectStandardInput = input is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--homedir", _home.Path, "--batch", "--pinentry-mode", "loopback" }.Concat(arguments)) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill();
            throw new TimeoutException($"gpg {string.Join(' ', start.ArgumentList)} did not finish.");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"gpg {string.Join(' ', start.ArgumentList)} failed ({process.ExitCode}): {error.Result}");
        return (output.Result, error.Result);
    }

    public void Dispose()
    {
        using (var stop = Process.Start(new ProcessStartInfo("gpgconf", ["--homedir", _home.Path, "--kill", "gpg-agent"]) { UseShellExecute = false }))
        {
            stop?.WaitForExit(TimeSpan.FromSeconds(30));
        }
        _home.Dispose();
    }
}
