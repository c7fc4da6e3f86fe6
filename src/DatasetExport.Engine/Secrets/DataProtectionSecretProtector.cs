using System.Security.Cryptography;
using DatasetExport.Engine.State;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace DatasetExport.Engine.Secrets;

/// <summary>
/// Protects secrets with ASP.NET Core Data Protection (authenticated AES-256-CBC + HMACSHA256 with rotating keys).
/// The key ring lives in one folder of the state home: owner-only (0700) on Linux and macOS, and each key
/// encrypted with DPAPI for the current user on Windows. Every process that uses the same folder shares the
/// keys, because the application name is fixed.
/// </summary>
public sealed class DataProtectionSecretProtector : ISecretProtector, IDisposable
{
    public const string ApplicationName = "DatasetExport";
    private const string Purpose = "DatasetExport.DestinationSecrets.v1";
    /// <summary>rwx for the owner alone (0700): the keys folder, and a state home the store creates (SqliteStateStore).</summary>
    internal const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly object _gate = new();
    private ServiceProvider? _services;
    private IDataProtector? _protector;

    public DataProtectionSecretProtector(string keysFolder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keysFolder);
        KeysFolder = Path.GetFullPath(keysFolder);
    }

    /// <summary>The folder holding the key ring.</summary>
    public string KeysFolder { get; }

    public string Protect(string plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        try
        {
            return CurrentProtector().Protect(plaintext);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new StateException(StateFailure.Unusable,
                $"Secrets cannot be encrypted with the key ring in '{KeysFolder}': {error.Message}", error);
        }
    }

    public string Unprotect(string protectedText)
    {
        ArgumentNullException.ThrowIfNull(protectedText);
        try
        {
            try
            {
                return CurrentProtector().Unprotect(protectedText);
            }
            catch (CryptographicException)
            {
                // Another process may have created the key after this one cached its key ring (cached for up to a day): reload once.
                Reset();
            }
            return CurrentProtector().Unprotect(protectedText);
        }
        catch (CryptographicException error)
        {
            // The inner message names only the key id, never the protected text.
            throw new StateException(StateFailure.Unusable,
                $"Saved secrets cannot be decrypted: the key that encrypted them is not in '{KeysFolder}' " +
                "(the keys folder was deleted or replaced, or the state database was copied without it). " +
                "Restore the keys folder from the same backup as state.db, or give the destination its secrets again (Set-ExportDestination -Credential, -ConnectionString or -SasUri).", error);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new StateException(StateFailure.Unusable, $"The key ring in '{KeysFolder}' cannot be read: {error.Message}", error);
        }
    }

    public void Dispose() => Reset();

    private IDataProtector CurrentProtector()
    {
        lock (_gate)
        {
            if (_protector is not null) return _protector;
            CreateKeysFolder();
            var builder = new ServiceCollection()
                .AddDataProtection()
                .SetApplicationName(ApplicationName)
                .PersistKeysToFileSystem(new DirectoryInfo(KeysFolder));
            if (OperatingSystem.IsWindows()) builder.ProtectKeysWithDpapi();
            _services = builder.Services.BuildServiceProvider();
            _protector = _services.GetRequiredService<IDataProtectionProvider>().CreateProtector(Purpose);
            return _protector;
        }
    }

    private void Reset()
    {
        lock (_gate)
        {
            _protector = null;
            _services?.Dispose();
            _services = null;
        }
    }

    /// <summary>Creates the folder before Data Protection would, so it is never readable by others, even for a moment.</summary>
    private void CreateKeysFolder()
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(KeysFolder);
            return;
        }
        Directory.CreateDirectory(KeysFolder, OwnerOnly);
        if (File.GetUnixFileMode(KeysFolder) != OwnerOnly) File.SetUnixFileMode(KeysFolder, OwnerOnly);
    }
}
