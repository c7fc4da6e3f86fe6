using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Renci.SshNet;
using Renci.SshNet.Common;
using Renci.SshNet.Sftp;

namespace DatasetExport.Engine.Destinations.Sftp;

/// <summary>
/// A folder on an SFTP server (properties HostName, Port, UserName, RemotePath, KeyFile, HostKeyFingerprint;
/// secrets Password, KeyPassphrase). Files land at <c>RemotePath/FolderPath/relativePath</c>: uploaded under a
/// temporary name in the target folder, size-checked, then renamed into place. The server's host key must
/// match the pinned HostKeyFingerprint; <see cref="ReadHostKeyFingerprintAsync"/> reads it for pinning on first use.
/// </summary>
/// <remarks>
/// One SSH connection per instance, opened on first use and reopened when it drops. SSH.NET multiplexes
/// concurrent SFTP requests over it, so the instance may be used from several threads at once. Across the process, the
/// instances connecting to one server sign in one at a time (<see cref="HandshakesPerServer"/>).
/// RemotePath must already exist on the server; the folders below it are created as needed.
/// </remarks>
public sealed class SftpDestination : IExportDestination
{
    private const string TemporarySuffix = ".part";
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many connection attempts (TCP connect, key exchange, sign-in, opening SFTP; and reading the host key for trust on
    /// first use) one process makes to one server at once. Servers limit the connections not yet signed in and drop the
    /// ones beyond (OpenSSH's MaxStartups, by default 10:30:100: from 10 on it drops new ones at random; servers that limit
    /// connections admit fewer), so many flows to one server (<c>Invoke-ExportSchedule -ThrottleLimit 32</c>) sign in one
    /// after another rather than all at once and failing their retries. Signed in, each keeps its own connection as before.
    /// The server is the address and port its HostName resolves to, so spellings of one server (a name and its address,
    /// <c>localhost</c> and <c>127.0.0.1</c>) share its turn; see <see cref="WaitForTurnAsync"/>. An attempt
    /// resolves and waits for its turn at most <see cref="ConnectTimeout"/> in all, then goes ahead anyway: a server that
    /// does not answer (or a DNS server that does not) holds each attempt up by at most one connect timeout more.
    /// </summary>
    private const int HandshakesPerServer = 1;

    /// <summary>
    /// The turns of <see cref="HandshakesPerServer"/> for the whole process, one per server address and port as
    /// <see cref="IPEndPoint.ToString"/> writes it ("127.0.0.1:22", "[::1]:22"), or per spelling
    /// (<see cref="SftpEndpoint.Address"/>, "host:port") of a host name that could not be resolved.
    /// </summary>
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> HandshakeGates = new(StringComparer.OrdinalIgnoreCase);

    private readonly SftpEndpoint _endpoint;
    private readonly TimeSpan _requestTimeout;
    private readonly string _basePath;
    private readonly string _exportRoot;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly ConcurrentDictionary<string, bool> _knownFolders = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _abandonedTemporaries = new();
    private AuthenticationMethod[]? _authentication;
    private PrivateKeyFile? _privateKey;
    private SftpClient? _client;
    private ServerAddresses? _serverAddresses;
    private bool _basePathChecked;
    private volatile bool _posixRenameRefused;
    private volatile bool _disposed;

    public SftpDestination(DestinationSettings settings) : this(settings, DefaultRequestTimeout)
    {
    }

    /// <param name="requestTimeout">How long one SFTP request may go unanswered before it fails (and may be retried); tests shorten it.</param>
    internal SftpDestination(DestinationSettings settings, TimeSpan requestTimeout)
    {
        _requestTimeout = requestTimeout;
        _endpoint = SftpEndpoint.From(settings);
        _basePath = NormalizeBasePath(settings.GetProperty(DestinationKeys.RemotePath));
        _exportRoot = Join(_basePath, Validation.NormalizeFolderPath(settings.FolderPath));
    }

    /// <summary>
    /// Connects to the settings' host and returns its host key fingerprint as <c>ssh-keygen -l</c> prints it
    /// (<c>SHA256:...</c>), without authenticating and without trusting the key. The engine stores it as
    /// HostKeyFingerprint when a destination is created without one (trust on first use).
    /// </summary>
    public static async Task<string> ReadHostKeyFingerprintAsync(DestinationSettings settings, CancellationToken cancellationToken)
    {
        var endpoint = SftpEndpoint.From(settings);
        using var noAuthentication = new NoneAuthenticationMethod(endpoint.UserName);
        var connection = new ConnectionInfo(endpoint.HostName, endpoint.Port, endpoint.UserName, noAuthentication)
        {
            Timeout = ConnectTimeout,
        };
        using var client = new SftpClient(connection);
        string? received = null;
        client.HostKeyReceived += (_, e) =>
        {
            received = e.FingerPrintSHA256;
            e.CanTrust = false; // Reading the key is all we came for: stop before sending any credentials.
        };
        // Like a sign-in, it counts against the server's limit of connections not yet signed in: it waits for its turn.
        var started = Stopwatch.GetTimestamp();
        var server = await ResolveServerAsync(endpoint, cancellationToken).ConfigureAwait(false);
        using (await WaitForTurnAsync(server, started, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (received is not null && error is SshConnectionException)
            {
                // Expected: the connection ends because the key was not trusted.
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                throw Translate(endpoint, error, endpoint.Address);
            }
            finally
            {
                client.Dispose(); // closed before the next attempt's turn
            }
        }
        return received is null
            ? throw new DestinationException(DestinationFailure.Other, $"The SFTP server at {endpoint.Address} did not present a host key.")
            : SftpEndpoint.FingerprintPrefix + received;
    }

    public async Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken)
    {
        var target = RemotePathOf(relativePath);
        // Opened before connecting: a missing local file is the caller's problem, reported as such.
        await using var source = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await ExecuteAsync(target, async (client, token) =>
        {
            await EnsureFolderAsync(client, ParentOf(target), token).ConfigureAwait(false);
            var temporary = Join(ParentOf(target), $".{NameOf(target)}.{Guid.NewGuid():N}{TemporarySuffix}");
            try
            {
                source.Position = 0; // a retry after a dropped connection starts over
                await UploadPipelinedAsync(client, source, temporary, token).ConfigureAwait(false);
                var stored = await client.GetAttributesAsync(temporary, token).ConfigureAwait(false);
                if (stored.Size != source.Length)
                {
                    throw new DestinationException(DestinationFailure.Other,
                        $"Uploading '{localPath}' to {SinkPathOf(target)} stored {stored.Size} of {source.Length} bytes.");
                }
                await RenameIntoPlaceAsync(client, temporary, target, token).ConfigureAwait(false);
                return true;
            }
            catch
            {
                await DiscardTemporaryAsync(client, temporary).ConfigureAwait(false);
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes <paramref name="source"/> to a new file at <paramref name="path"/> and returns once every write is
    /// acknowledged and the file closed. SSH.NET's UploadFileAsync writes through an SftpFileStream that waits for each
    /// 32 KB write's acknowledgement before sending the next; its Begin/EndUploadFile sends the writes back to back (as far
    /// as the channel window lets) and collects the acknowledgements as they come: 65 MB to OpenSSH over loopback in a
    /// median 0.34 s against 0.49 s. Cancelling stops the sending; the caller then discards the partial file.
    /// </summary>
    private static async Task UploadPipelinedAsync(SftpClient client, Stream source, string path, CancellationToken cancellationToken)
    {
        var upload = (SftpUploadAsyncResult)client.BeginUploadFile(source, path, canOverride: false, asyncCallback: null, state: null);
        await using (cancellationToken.Register(() => upload.IsUploadCanceled = true).ConfigureAwait(false))
        {
            await Task.Factory.FromAsync(upload, client.EndUploadFile).ConfigureAwait(false);
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    public async Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken)
    {
        var path = RemotePathOf(relativePath);
        return await ExecuteAsync<Stream>(path, async (client, token) =>
            await client.OpenAsync(path, FileMode.Open, FileAccess.Read, token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
    }

    public Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken)
    {
        var path = RemotePathOf(relativePath);
        return ExecuteAsync(path, async (client, token) =>
        {
            var attributes = await TryGetAttributesAsync(client, path, token).ConfigureAwait(false);
            return attributes is { IsRegularFile: true } ? new StoredFileInfo(relativePath, attributes.Size) : null;
        }, cancellationToken);
    }

    public Task DeleteAsync(string relativePath, CancellationToken cancellationToken)
    {
        var path = RemotePathOf(relativePath);
        return ExecuteAsync(path, async (client, token) =>
        {
            try
            {
                await client.DeleteFileAsync(path, token).ConfigureAwait(false);
            }
            catch (SftpPathNotFoundException)
            {
                // Already gone: deleting is idempotent, as for the other destinations.
            }
            return true;
        }, cancellationToken);
    }

    /// <summary><c>sftp://user@host:port/absolute/path</c>; a RemotePath relative to the login folder shows as <c>/~/relative/path</c>.</summary>
    public string GetSinkPath(string relativePath) => SinkPathOf(RemotePathOf(relativePath));

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _connectGate.WaitAsync().ConfigureAwait(false);
        try
        {
            _client?.Dispose();
            _client = null;
            foreach (var method in _authentication ?? [])
            {
                (method as IDisposable)?.Dispose();
            }
            _privateKey?.Dispose();
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>
    /// Runs one operation on the shared connection. A connection that dropped is reopened and the operation run once
    /// more; failures become <see cref="DestinationException"/>s that name the target and never a secret.
    /// </summary>
    private async Task<T> ExecuteAsync<T>(string target, Func<SftpClient, CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (var attempt = 1; ; attempt++)
        {
            var client = await ConnectedClientAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return await operation(client, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (attempt == 1 && IsConnectionLoss(error, client) && !cancellationToken.IsCancellationRequested)
            {
                // The server or the network dropped the connection: reconnect and try once more.
            }
            catch (Exception error) when (IsConnectionLoss(error, client) && !cancellationToken.IsCancellationRequested)
            {
                throw new DestinationException(DestinationFailure.Unreachable,
                    $"The connection to the SFTP server at {_endpoint.Address} was lost again ({SinkPathOf(target)}): {_endpoint.Redact(error.Message)}", error);
            }
            catch (Exception error) when (error is not (OperationCanceledException or DestinationException))
            {
                // A request that timed out leaves the connection in an unknown state: the next attempt starts a new one.
                if (error is SshOperationTimeoutException) Abandon(client);
                throw Translate(_endpoint, error, SinkPathOf(target));
            }
        }
    }

    private async Task<SftpClient> ConnectedClientAsync(CancellationToken cancellationToken)
    {
        var current = _client;
        if (current is not null && IsConnected(current)) return current;
        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_client is not null && IsConnected(_client)) return _client;
            _client?.Dispose();
            _client = null;
            var client = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await CheckBasePathAsync(client, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                client.Dispose();
                throw;
            }
            _client = client;
            for (var pending = _abandonedTemporaries.Count; pending > 0 && _abandonedTemporaries.TryDequeue(out var abandoned); pending--)
            {
                await DiscardTemporaryAsync(client, abandoned).ConfigureAwait(false);
            }
            return client;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private async Task<SftpClient> ConnectAsync(CancellationToken cancellationToken)
    {
        var pin = _endpoint.PinnedFingerprint ?? throw new DestinationException(DestinationFailure.InvalidConfiguration,
            $"No HostKeyFingerprint is set for the SFTP server at {_endpoint.Address}, so its identity cannot be checked. " +
            "Validating the destination when it is added records it; or set it to what 'ssh-keygen -lf <host key>.pub' " +
            $"or 'ssh-keyscan -p {_endpoint.Port} {_endpoint.HostName} | ssh-keygen -lf -' prints.");
        var connection = new ConnectionInfo(_endpoint.HostName, _endpoint.Port, _endpoint.UserName, Authentication())
        {
            Timeout = ConnectTimeout,
        };
        PreferFastAlgorithms(connection);
        var client = new SftpClient(connection)
        {
            OperationTimeout = _requestTimeout,
            KeepAliveInterval = KeepAliveInterval,
        };
        string? received = null;
        string? keyType = null;
        client.HostKeyReceived += (_, e) =>
        {
            received = e.FingerPrintSHA256;
            keyType = e.HostKeyName;
            e.CanTrust = string.Equals(e.FingerPrintSHA256, pin, StringComparison.Ordinal);
        };
        HandshakeTurn? turn = null;
        try
        {
            // Resolved once per instance (unless resolving failed): reconnects wait for the turn of the server found first.
            var started = Stopwatch.GetTimestamp();
            var server = _serverAddresses ?? await ResolveServerAsync(_endpoint, cancellationToken).ConfigureAwait(false);
            if (server.Resolved) _serverAddresses = server;
            turn = await WaitForTurnAsync(server, started, cancellationToken).ConfigureAwait(false);
            await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch (Exception error)
        {
            client.Dispose();
            if (error is OperationCanceledException) throw;
            if (received is not null && !string.Equals(received, pin, StringComparison.Ordinal))
            {
                throw new DestinationException(DestinationFailure.HostKeyMismatch,
                    $"The SFTP server at {_endpoint.Address} presented host key {SftpEndpoint.FingerprintPrefix}{received} ({keyType}), " +
                    $"but {SftpEndpoint.FingerprintPrefix}{pin} is pinned (HostKeyFingerprint). Someone may be intercepting the connection; " +
                    "if the server's key was changed on purpose, update the destination's HostKeyFingerprint.", error);
            }
            if (connection.IsAuthenticated && SftpRefusal(error) is { } refusal)
            {
                throw new DestinationException(DestinationFailure.InvalidConfiguration,
                    $"The SFTP server at {_endpoint.Address} signed in user '{_endpoint.UserName}' but {refusal} ({_endpoint.Redact(error.Message).TrimEnd('.')}). " +
                    "This is how the server is set up, not a passing fault: it is not retried.", error);
            }
            throw Translate(_endpoint, error, _endpoint.Address);
        }
        finally
        {
            turn?.Dispose();
        }
    }

    /// <summary>
    /// What went wrong when the server, having signed the user in, did not start SFTP, told by SSH.NET's words (2026.0.0)
    /// for the SSH session (channel) that SFTP runs in, while the connection itself stays up: the server refused to open it
    /// (OpenSSH's MaxSessions 0), refused the sftp subsystem (no "Subsystem sftp" line), or closed it as soon as it started
    /// (a subsystem or ForceCommand that cannot run for the account: "Channel was closed.", or "The session is not open." when
    /// it closed before SSH.NET sent its first SFTP request). These are the server's setup, so the error is permanent. Null
    /// for anything else: a connection that drops after sign-in (SshConnectionException) stays a transient Unreachable.
    /// </summary>
    private static string? SftpRefusal(Exception error)
    {
        var closedAtOnce = error is InvalidOperationException { Message: "The session is not open." };
        if (error.GetType() != typeof(SshException) && !closedAtOnce) return null;
        if (error.Message.StartsWith("Failed to open a channel", StringComparison.Ordinal))
        {
            return "refused to open a session for SFTP: it allows this account no sessions " +
                   "(OpenSSH: MaxSessions 0, maybe in a Match block); its administrator can allow one";
        }
        if (error.Message.StartsWith("Subsystem 'sftp' could not be executed", StringComparison.Ordinal))
        {
            return "refused to start SFTP: it offers no 'sftp' subsystem (OpenSSH: no 'Subsystem sftp' line in sshd_config), " +
                   "or HostName and Port name an SSH server that is not the SFTP one";
        }
        if (closedAtOnce || error.Message.StartsWith("Channel was closed", StringComparison.Ordinal))
        {
            return "SFTP ended as soon as it started: the server's sftp subsystem or ForceCommand cannot run for this account " +
                   "(e.g. an sftp-server path that does not exist, or a login shell such as nologin that refuses to run it; " +
                   "the server's log tells which)";
        }
        return null;
    }

    /// <summary>
    /// The gate keys of the server <paramref name="endpoint"/> names: every address its HostName resolves to (SSH.NET tries
    /// them in turn), with the port; an address is its own only key. A name that cannot be resolved, or not within
    /// <see cref="ConnectTimeout"/>, keeps its spelling as its key (not <see cref="ServerAddresses.Resolved"/>), and
    /// SSH.NET's own lookup then reports the failure as before.
    /// </summary>
    private static async Task<ServerAddresses> ResolveServerAsync(SftpEndpoint endpoint, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(ConnectTimeout);
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(endpoint.HostName, limit.Token).ConfigureAwait(false);
            if (addresses.Length > 0)
            {
                return new ServerAddresses(addresses
                    .Select(address => new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, endpoint.Port).ToString())
                    .Distinct(StringComparer.OrdinalIgnoreCase)
                    .Order(StringComparer.OrdinalIgnoreCase)
                    .ToArray(), Resolved: true);
            }
        }
        catch (Exception error) when (error is SocketException or ArgumentException
                                      || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Unknown or malformed name, or a DNS server that does not answer: the spelling is all there is.
        }
        return new ServerAddresses([endpoint.Address], Resolved: false);
    }

    /// <summary>
    /// Waits for this process's turn to connect to <paramref name="server"/> (<see cref="HandshakesPerServer"/>): the turn of
    /// each of its addresses, taken in order so that two attempts never hold one each. Stops waiting once
    /// <see cref="ConnectTimeout"/> has passed since <paramref name="started"/> (before resolving: both share that time) and
    /// goes ahead with the turns it has. Dispose the result when the attempt is over.
    /// </summary>
    private static async Task<HandshakeTurn> WaitForTurnAsync(ServerAddresses server, long started, CancellationToken cancellationToken)
    {
        var turn = new HandshakeTurn();
        try
        {
            foreach (var key in server.Keys)
            {
                var gate = HandshakeGates.GetOrAdd(key, _ => new SemaphoreSlim(HandshakesPerServer));
                var left = ConnectTimeout - Stopwatch.GetElapsedTime(started);
                if (await gate.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false)) turn.Taken.Add(gate);
            }
            return turn;
        }
        catch
        {
            turn.Dispose();
            throw;
        }
    }

    /// <summary>What <see cref="ResolveServerAsync"/> found: the gate keys of one server, in the order their turns are taken.</summary>
    private sealed record ServerAddresses(string[] Keys, bool Resolved);

    /// <summary>The turns one connection attempt holds; released on dispose.</summary>
    private sealed class HandshakeTurn : IDisposable
    {
        public List<SemaphoreSlim> Taken { get; } = [];

        public void Dispose()
        {
            foreach (var gate in Taken) gate.Release();
            Taken.Clear();
        }
    }

    /// <summary>
    /// Reorders the ciphers SSH.NET proposes (the client's order decides) for speed, measured on a 65 MB upload to
    /// OpenSSH 9.2: AES-GCM (.NET's hardware AesGcm, an AEAD with no separate MAC) ahead of aes-ctr with an HMAC computed
    /// in managed code, median 0.50 -> 0.47 s. Servers lacking it negotiate the next one as before. Key exchange keeps
    /// SSH.NET's order: curve25519 ahead of the post-quantum sntrup761x25519 would save about 60 ms of CPU per
    /// connection, not worth giving up protection of recorded sessions against later decryption.
    /// </summary>
    private static void PreferFastAlgorithms(ConnectionInfo connection) =>
        MoveAhead(connection.Encryptions, ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"], before: "aes128-ctr");

    /// <summary>Moves <paramref name="names"/>, in their order, to just ahead of <paramref name="before"/>; missing names are skipped.</summary>
    private static void MoveAhead<T>(IOrderedDictionary<string, T> algorithms, string[] names, string before)
    {
        foreach (var name in names)
        {
            var target = algorithms.IndexOf(before);
            var current = algorithms.IndexOf(name);
            if (target < 0 || current < 0 || current < target) continue;
            algorithms.SetPosition(name, target);
        }
    }

    /// <summary>The key file is read once per instance, on first connect, and reused for reconnects.</summary>
    private AuthenticationMethod[] Authentication()
    {
        if (_authentication is not null) return _authentication;
        var methods = new List<AuthenticationMethod>();
        if (_endpoint.KeyFile is { } keyFile)
        {
            _privateKey = LoadPrivateKey(keyFile);
            methods.Add(new PrivateKeyAuthenticationMethod(_endpoint.UserName, _privateKey));
        }
        if (_endpoint.Password is { } password)
        {
            methods.Add(new PasswordAuthenticationMethod(_endpoint.UserName, password));
        }
        return _authentication = methods.ToArray();
    }

    private PrivateKeyFile LoadPrivateKey(string keyFile)
    {
        try
        {
            return new PrivateKeyFile(keyFile, _endpoint.KeyPassphrase);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The KeyFile '{keyFile}' does not exist.", error);
        }
        catch (UnauthorizedAccessException error)
        {
            throw new DestinationException(DestinationFailure.PermissionDenied, $"The KeyFile '{keyFile}' cannot be read: access denied.", error);
        }
        catch (SshPassPhraseNullOrEmptyException error)
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The KeyFile '{keyFile}' is encrypted: give its passphrase as KeyPassphrase.", error);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            var reason = _endpoint.KeyPassphrase is null
                ? "it is not an RSA, ECDSA or Ed25519 private key in OpenSSH, PEM or PuTTY format"
                : "the KeyPassphrase is wrong, or it is not an RSA, ECDSA or Ed25519 private key in OpenSSH, PEM or PuTTY format";
            var failure = _endpoint.KeyPassphrase is null ? DestinationFailure.InvalidConfiguration : DestinationFailure.Authentication;
            throw new DestinationException(failure, $"The KeyFile '{keyFile}' cannot be used: {reason} ({_endpoint.Redact(error.Message)}).", error);
        }
    }

    /// <summary>RemotePath belongs to the server's administrator: a missing one is reported, not created.</summary>
    private async Task CheckBasePathAsync(SftpClient client, CancellationToken cancellationToken)
    {
        if (_basePathChecked || _basePath.Length == 0) return;
        SftpFileAttributes? attributes;
        try
        {
            attributes = await TryGetAttributesAsync(client, _basePath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            throw Translate(_endpoint, error, SinkPathOf(_basePath));
        }
        if (attributes is not { IsDirectory: true })
        {
            throw new DestinationException(DestinationFailure.NotFound,
                $"The RemotePath {SinkPathOf(_basePath)} {(attributes is null ? "does not exist" : "is not a folder")}; create it on the server or change RemotePath.");
        }
        _basePathChecked = true;
    }

    /// <summary>Creates <paramref name="folder"/> and the missing folders above it, one level at a time; parallel uploads may race here harmlessly.</summary>
    private async Task EnsureFolderAsync(SftpClient client, string folder, CancellationToken cancellationToken)
    {
        if (folder == _basePath || _knownFolders.ContainsKey(folder)) return;
        var attributes = await TryGetAttributesAsync(client, folder, cancellationToken).ConfigureAwait(false);
        if (attributes is null)
        {
            await EnsureFolderAsync(client, ParentOf(folder), cancellationToken).ConfigureAwait(false);
            try
            {
                await client.CreateDirectoryAsync(folder, cancellationToken).ConfigureAwait(false);
            }
            catch (SftpException)
            {
                // Another upload may have created it meanwhile; anything else surfaces from the check below.
                attributes = await TryGetAttributesAsync(client, folder, cancellationToken).ConfigureAwait(false);
                if (attributes is not { IsDirectory: true }) throw;
            }
        }
        else if (!attributes.IsDirectory)
        {
            throw new DestinationException(DestinationFailure.Other, $"{SinkPathOf(folder)} exists but is not a folder.");
        }
        _knownFolders.TryAdd(folder, true);
    }

    /// <summary>
    /// posix-rename@openssh.com replaces the target atomically. Servers without it (or refusing it) get a plain SFTP
    /// rename, which cannot replace: an existing target is deleted first, leaving a short moment without the file.
    /// </summary>
    private async Task RenameIntoPlaceAsync(SftpClient client, string temporary, string target, CancellationToken cancellationToken)
    {
        if (!_posixRenameRefused)
        {
            try
            {
                // SSH.NET offers posix-rename only synchronously; it is one request.
                await Task.Run(() => client.RenameFile(temporary, target, isPosix: true), cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception error) when (error is NotSupportedException or SftpPermissionDeniedException)
            {
                // Not offered, or refused by the server's policy: a plain rename below tells which.
            }
        }
        if (await TryGetAttributesAsync(client, target, cancellationToken).ConfigureAwait(false) is { IsRegularFile: true })
        {
            await client.DeleteFileAsync(target, cancellationToken).ConfigureAwait(false);
        }
        await client.RenameFileAsync(temporary, target, cancellationToken).ConfigureAwait(false);
        _posixRenameRefused = true;
    }

    /// <summary>Deletes a failed upload's temporary file now, or after the next connect when the connection is gone.</summary>
    private async Task DiscardTemporaryAsync(SftpClient client, string temporary)
    {
        if (IsConnected(client))
        {
            try
            {
                await client.DeleteFileAsync(temporary, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (SftpPathNotFoundException)
            {
                return; // The upload failed before creating it.
            }
            catch (Exception error) when (error is SshException or SocketException or IOException or ObjectDisposedException)
            {
                if (IsConnected(client)) return; // The server refuses; the original failure is what matters.
            }
        }
        _abandonedTemporaries.Enqueue(temporary);
    }

    private static async Task<SftpFileAttributes?> TryGetAttributesAsync(SftpClient client, string path, CancellationToken cancellationToken)
    {
        try
        {
            return await client.GetAttributesAsync(path.Length == 0 ? "." : path, cancellationToken).ConfigureAwait(false);
        }
        catch (SftpPathNotFoundException)
        {
            return null;
        }
    }

    private static void Abandon(SftpClient client)
    {
        try
        {
            client.Disconnect();
        }
        catch (Exception error) when (error is SshException or SocketException or IOException or ObjectDisposedException)
        {
            // Already broken: it is not reused either way.
        }
    }

    private static bool IsConnected(SftpClient client)
    {
        try
        {
            return client.IsConnected;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static bool IsConnectionLoss(Exception error, SftpClient client) =>
        error is SshException or SocketException or IOException or ObjectDisposedException
        && error is not (SftpPathNotFoundException or SftpPermissionDeniedException)
        && !IsConnected(client);

    private static DestinationException Translate(SftpEndpoint endpoint, Exception error, string target)
    {
        var detail = endpoint.Redact(error.Message);
        // Connecting, the target is the server itself: named once.
        var during = target == endpoint.Address ? "" : $" ({target})";
        return error switch
        {
            DestinationException destination => destination,
            SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } =>
                new(DestinationFailure.Unreachable, $"The SFTP host name '{endpoint.HostName}' cannot be resolved: {detail}", error),
            SocketException =>
                new(DestinationFailure.Unreachable, $"Cannot connect to the SFTP server at {endpoint.Address}: {detail}", error),
            SshOperationTimeoutException =>
                new(DestinationFailure.Unreachable, $"The SFTP server at {endpoint.Address} did not answer in time{during}: {detail}", error),
            ProxyException or SshConnectionException =>
                new(DestinationFailure.Unreachable, $"The connection to the SFTP server at {endpoint.Address} failed{during}: {detail}", error),
            SshAuthenticationException =>
                new(DestinationFailure.Authentication, $"The SFTP server at {endpoint.Address} rejected user '{endpoint.UserName}' ({AuthenticationKinds(endpoint)}): {detail}", error),
            SftpPermissionDeniedException =>
                new(DestinationFailure.PermissionDenied, $"Permission denied on {target}: {detail}", error),
            SftpPathNotFoundException =>
                new(DestinationFailure.NotFound, $"{target} does not exist: {detail}", error),
            IOException when error.InnerException is SocketException =>
                new(DestinationFailure.Unreachable, $"The connection to the SFTP server at {endpoint.Address} failed{during}: {detail}", error),
            _ => new(DestinationFailure.Other, $"SFTP operation on {target} failed: {detail}", error),
        };
    }

    private static string AuthenticationKinds(SftpEndpoint endpoint) => (endpoint.KeyFile, endpoint.Password) switch
    {
        (not null, not null) => $"key file '{endpoint.KeyFile}', then password",
        (not null, null) => $"key file '{endpoint.KeyFile}'",
        _ => "password",
    };

    private string RemotePathOf(string relativePath)
    {
        if (string.IsNullOrEmpty(relativePath) || relativePath.StartsWith('/') || relativePath.Any(char.IsControl)
            || relativePath.Split('/').Any(segment => segment is "" or "." or ".."))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration,
                $"The path '{relativePath}' is not a relative path inside the destination ('/'-separated, no empty, '.' or '..' segments).");
        }
        return Join(_exportRoot, relativePath);
    }

    private string SinkPathOf(string remotePath)
    {
        var host = _endpoint.HostName.Contains(':') ? $"[{_endpoint.HostName}]" : _endpoint.HostName;
        var path = remotePath.StartsWith('/') ? remotePath : remotePath.Length == 0 ? "/~" : "/~/" + remotePath;
        return $"sftp://{Uri.EscapeDataString(_endpoint.UserName)}@{host}:{_endpoint.Port}{path}";
    }

    /// <summary>"" is the login folder; "~" and "~/x" are spelled relative to it; absolute paths keep their leading '/'.</summary>
    private static string NormalizeBasePath(string? remotePath)
    {
        var path = (remotePath ?? "").Trim();
        if (path == "~") return "";
        if (path.StartsWith("~/", StringComparison.Ordinal)) path = path[2..];
        if (path.Any(char.IsControl) || path.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"RemotePath '{remotePath}' cannot contain '.' or '..' segments or control characters.");
        }
        var absolute = path.StartsWith('/');
        var trimmed = string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        return absolute ? "/" + trimmed : trimmed;
    }

    private static string Join(string left, string right) =>
        right.Length == 0 ? left : left.Length == 0 ? right : left.EndsWith('/') ? left + right : left + "/" + right;

    private static string ParentOf(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? "" : slash == 0 ? "/" : path[..slash];
    }

    private static string NameOf(string path) => path[(path.LastIndexOf('/') + 1)..];
}
