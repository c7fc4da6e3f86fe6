using System.Globalization;
using System.Text.RegularExpressions;

namespace DatasetExport.Engine.Destinations.Sftp;

/// <summary>
/// Where and as whom an SFTP destination connects, read and checked from <see cref="DestinationSettings"/>.
/// Holds the secrets, so it has no ToString and every message it makes goes through <see cref="Redact"/>.
/// </summary>
internal sealed partial class SftpEndpoint
{
    public const int DefaultPort = 22;
    public const string FingerprintPrefix = "SHA256:";

    private SftpEndpoint(string hostName, int port, string userName, string? password, string? keyFile, string? keyPassphrase, string? pinnedFingerprint)
    {
        HostName = hostName;
        Port = port;
        UserName = userName;
        Password = password;
        KeyFile = keyFile;
        KeyPassphrase = keyPassphrase;
        PinnedFingerprint = pinnedFingerprint;
    }

    public string HostName { get; }
    public int Port { get; }
    public string UserName { get; }
    public string? Password { get; }
    public string? KeyFile { get; }
    public string? KeyPassphrase { get; }

    /// <summary>The pinned SHA256 host key fingerprint without its "SHA256:" prefix, as SSH.NET reports it; null when none is set.</summary>
    public string? PinnedFingerprint { get; }

    /// <summary>"host:port", for messages.</summary>
    public string Address => HostName.Contains(':') ? $"[{HostName}]:{Port}" : $"{HostName}:{Port}";

    public static SftpEndpoint From(DestinationSettings settings)
    {
        var hostName = settings.GetProperty(DestinationKeys.HostName)?.Trim();
        if (string.IsNullOrEmpty(hostName))
        {
            throw Invalid($"SFTP destination '{settings.Name}' needs a HostName.");
        }
        var userName = settings.GetProperty(DestinationKeys.UserName);
        if (string.IsNullOrWhiteSpace(userName))
        {
            throw Invalid($"SFTP destination '{settings.Name}' needs a UserName.");
        }
        var password = NullIfEmpty(settings.GetSecret(DestinationKeys.Password));
        var keyFile = NullIfEmpty(settings.GetProperty(DestinationKeys.KeyFile));
        if (password is null && keyFile is null)
        {
            throw Invalid($"SFTP destination '{settings.Name}' needs a Password or a KeyFile.");
        }
        return new SftpEndpoint(
            hostName,
            ParsePort(settings),
            userName,
            password,
            keyFile is null ? null : Path.GetFullPath(keyFile),
            NullIfEmpty(settings.GetSecret(DestinationKeys.KeyPassphrase)),
            ParseFingerprint(settings));
    }

    /// <summary>Replaces any secret that an underlying library might have echoed into <paramref name="message"/>.</summary>
    public string Redact(string message)
    {
        foreach (var secret in new[] { Password, KeyPassphrase })
        {
            if (!string.IsNullOrEmpty(secret)) message = message.Replace(secret, "***", StringComparison.Ordinal);
        }
        return message;
    }

    private static int ParsePort(DestinationSettings settings)
    {
        var text = settings.GetProperty(DestinationKeys.Port);
        if (string.IsNullOrWhiteSpace(text)) return DefaultPort;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw Invalid($"SFTP destination '{settings.Name}' has Port '{text}'; it must be a number from 1 to 65535.");
        }
        return port;
    }

    private static string? ParseFingerprint(DestinationSettings settings)
    {
        var text = settings.GetProperty(DestinationKeys.HostKeyFingerprint)?.Trim();
        if (string.IsNullOrEmpty(text)) return null;
        var value = (text.StartsWith(FingerprintPrefix, StringComparison.OrdinalIgnoreCase) ? text[FingerprintPrefix.Length..] : text).TrimEnd('=');
        if (!Sha256Fingerprint().IsMatch(value))
        {
            throw Invalid(
                $"SFTP destination '{settings.Name}' has HostKeyFingerprint '{text}', which is not a SHA256 fingerprint. " +
                "Give it as 'ssh-keygen -lf <host key>.pub' prints it, e.g. SHA256:7U7HhoxxmcTyaQ1WDZuRMskOzgoBr6oMHlcEMkqwMJk.");
        }
        return value;
    }

    // Base64 of 32 bytes without its padding, as OpenSSH prints it (padding given anyway is dropped above).
    [GeneratedRegex("^[A-Za-z0-9+/]{43}$")]
    private static partial Regex Sha256Fingerprint();

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static DestinationException Invalid(string message) => new(DestinationFailure.InvalidConfiguration, message);
}
