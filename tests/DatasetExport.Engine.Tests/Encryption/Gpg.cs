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

    /// <summary>Makes a key pair without a passphrase; <paramref name="algorithm"/> and <paramref name="usage"/> as for --quick-gen-key.</summary>
    public string GenerateKey(string userId, string algorithm = "default", string usage = "default")
    {
        Run(["--passphrase", "", "--quick-gen-key", userId, algorithm, usage, "never"]);
        return userId;
    }

    public string ExportPublicKey(string userId) => Run(["--armor", "--export", userId]).Output;

    public string ExportSecretKey(string userId) => Run(["--passphrase", "", "--armor", "--export-secret-keys", userId]).Output;

    /// <summary>Decrypts a file; returns gpg's machine-readable status lines (DECRYPTION_OKAY, GOODMDC, ...).</summary>
    public string Decrypt(string encryptedPath, string plainPath) =>
        Run(["--status-fd", "2", "--yes", "--output", plainPath, "--decrypt", encryptedPath]).Error;

    /// <summary>The OpenPGP packets of a file, as gpg lists them (it decrypts to show the inner packets).</summary>
    public string ListPackets(string encryptedPath) => Run(["--list-packets", encryptedPath]).Output;

    private (string Output, string Error) Run(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("gpg")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--homedir", _home.Path, "--batch", "--pinentry-mode", "loopback" }.Concat(arguments)) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
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
