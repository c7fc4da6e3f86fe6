using System.Net;
using System.Net.Sockets;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a real server that injects network faults on demand: it resets connections
/// (RST, as a crashed peer or a broken network does) or stalls them after a number of bytes sent towards the server,
/// for a set number of times or until healed. It counts every byte it forwards towards the server, so tests can tell
/// how much an upload sent again after a fault.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _connections = [];
    private readonly object _gate = new();
    private readonly Task _acceptLoop;
    private static readonly byte[] HttpRequestLineEnd = " HTTP/1.1\r\n"u8.ToArray();

    private long _upstreamBytes;
    private int _connectionCount;
    private int _httpRequests;
    private int _faultsInjected;
    private int _stallsAbandoned;
    private ConnectionFault? _connectionFault;
    private long? _dropAtTotalBytes;
    private (byte[] Response, int Remaining)? _cannedAnswer;
    private CancellationTokenSource _stallsEnd = new();

    public FaultProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Bytes forwarded from clients to the server since the start or the last <see cref="ResetCounters"/>.</summary>
    public long UpstreamBytes => Interlocked.Read(ref _upstreamBytes);

    /// <summary>Connections accepted since the start or the last <see cref="ResetCounters"/>.</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>HTTP/1.1 requests sent towards the server (request lines seen), for HTTP servers; the bodies here never hold that text.</summary>
    public int HttpRequests => Volatile.Read(ref _httpRequests);

    /// <summary>Resets and stalls done so far.</summary>
    public int FaultsInjected => Volatile.Read(ref _faultsInjected);

    /// <summary>Stalled connections the client closed before the stall was over: its timeout fired.</summary>
    public int StallsAbandoned => Volatile.Read(ref _stallsAbandoned);

    public void ResetCounters()
    {
        Interlocked.Exchange(ref _upstreamBytes, 0);
        Interlocked.Exchange(ref _connectionCount, 0);
        Interlocked.Exchange(ref _httpRequests, 0);
        Interlocked.Exchange(ref _faultsInjected, 0);
    }

    /// <summary>
    /// Resets connections, <paramref name="times"/> times in all (<see cref="int.MaxValue"/>: until healed): any connection,
    /// open or new, as soon as it has sent more than <paramref name="afterBytes"/> bytes towards the server (0: at its first byte);
    /// with <paramref name="countingFromNow"/>, more than that since this call, so a small request on a kept-alive connection
    /// that carried more before gets through.
    /// </summary>
    public void DropConnections(long afterBytes, int times = int.MaxValue, bool countingFromNow = false) =>
        SetConnectionFault(new ConnectionFault(afterBytes, times, Stall: null, countingFromNow));

    /// <summary>
    /// Like <see cref="DropConnections"/>, but the proxy stops forwarding the client's bytes for <paramref name="stall"/>
    /// (or until the client closes the connection, see <see cref="StallsAbandoned"/>, or <see cref="EndStalls"/>), then resets.
    /// </summary>
    public void StallConnections(long afterBytes, TimeSpan stall, int times = int.MaxValue) =>
        SetConnectionFault(new ConnectionFault(afterBytes, times, stall));

    /// <summary>Ends the stalls under way now (see <see cref="StallConnections"/>): their connections are reset at once.</summary>
    public void EndStalls()
    {
        CancellationTokenSource ending;
        lock (_gate) (ending, _stallsEnd) = (_stallsEnd, new CancellationTokenSource());
        ending.Cancel();
        ending.Dispose();
    }

    /// <summary>Resets the one connection whose bytes carry the total sent towards the server past <paramref name="totalBytes"/>, once.</summary>
    public void DropOnceAtTotal(long totalBytes)
    {
        lock (_gate) _dropAtTotalBytes = UpstreamBytes + totalBytes;
    }

    /// <summary>
    /// Answers the first request of the next <paramref name="times"/> new connections with <paramref name="response"/>
    /// (see <see cref="HttpError"/>) instead of passing it on, then closes the connection, as an overloaded server or its
    /// load balancer does.
    /// </summary>
    public void AnswerNewConnections(byte[] response, int times)
    {
        lock (_gate) _cannedAnswer = (response, times);
    }

    /// <summary>An HTTP error response in the shape S3 and Azure Storage use: the code in an XML body and in x-ms-error-code.</summary>
    public static byte[] HttpError(int status, string reason, string code)
    {
        var body = $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{reason}</Message></Error>";
        return System.Text.Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {body.Length}\r\nx-ms-error-code: {code}\r\n" +
            $"Connection: close\r\n\r\n{body}");
    }

    /// <summary>Stops injecting faults; connections already stalled stay stalled until their time is up.</summary>
    public void Heal()
    {
        lock (_gate)
        {
            _connectionFault = null;
            _dropAtTotalBytes = null;
            _cannedAnswer = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener.Stop();
        try { await _acceptLoop; } catch (Exception error) when (error is OperationCanceledException or SocketException or ObjectDisposedException) { }
        Task[] connections;
        lock (_gate) connections = [.. _connections];
        await Task.WhenAll(connections);
        _stopping.Dispose();
        lock (_gate) _stallsEnd.Dispose();
    }

    private void SetConnectionFault(ConnectionFault fault)
    {
        lock (_gate) _connectionFault = fault with { Serial = ++_faultSerial };
    }

    private long _faultSerial;

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            Interlocked.Increment(ref _connectionCount);
            var connection = ServeAsync(client);
            lock (_gate) _connections.Add(connection);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var server = new TcpClient();
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        using (client)
        {
            try
            {
                if (TakeCannedAnswer() is { } answer)
                {
                    await AnswerAsync(client.GetStream(), answer, closing.Token);
                    return;
                }
                client.NoDelay = server.NoDelay = true;
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, closing.Token);
                var state = new ConnectionState();
                var upstream = PumpUpstreamAsync(client, server, state, closing.Token);
                var downstream = PumpAsync(server.GetStream(), client.GetStream(), closing.Token);
                var first = await Task.WhenAny(upstream, downstream);
                if (state.Reset) Reset(client, server);
                else if (first == upstream && upstream.IsCompletedSuccessfully) await downstream; // the client finished sending; the answer may still come
            }
            catch (Exception error) when (error is SocketException or IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                // The server is down or a side went away (GetStream throws InvalidOperationException then): the client sees its connection end.
                Reset(client, server);
            }
            finally
            {
                closing.Cancel();
            }
        }
    }

    /// <summary>Forwards client bytes to the server, applying the faults; returns when either side ends or a fault resets.</summary>
    private async Task PumpUpstreamAsync(TcpClient client, TcpClient server, ConnectionState state, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var from = client.GetStream();
        var to = server.GetStream();
        while (true)
        {
            var read = await from.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                server.Client.Shutdown(SocketShutdown.Send);
                return;
            }
            var (forward, fault) = Plan(state, read);
            if (forward > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, forward), cancellationToken);
                CountRequestLines(state, buffer.AsSpan(0, forward));
                state.Sent += forward;
                Interlocked.Add(ref _upstreamBytes, forward);
            }
            if (fault is null) continue;
            Interlocked.Increment(ref _faultsInjected);
            if (fault.Stall is { } stall && await StallAsync(from, stall, cancellationToken)) Interlocked.Increment(ref _stallsAbandoned);
            state.Reset = true;
            return;
        }
    }

    /// <summary>How many of the <paramref name="read"/> bytes to forward, and the fault that strikes after them, if any.</summary>
    private (int Forward, ConnectionFault? Fault) Plan(ConnectionState state, int read)
    {
        lock (_gate)
        {
            if (_connectionFault is { Remaining: > 0 } fault)
            {
                if (fault.CountingFromNow && state.FaultSerial != fault.Serial)
                {
                    state.FaultSerial = fault.Serial;
                    state.SentBeforeFault = state.Sent;
                }
                var sent = fault.CountingFromNow ? state.Sent - state.SentBeforeFault : state.Sent;
                if (sent + read > fault.AfterBytes)
                {
                    _connectionFault = fault with { Remaining = fault.Remaining == int.MaxValue ? int.MaxValue : fault.Remaining - 1 };
                    return ((int)Math.Max(0, fault.AfterBytes - sent), fault);
                }
            }
            if (_dropAtTotalBytes is { } total && UpstreamBytes + read > total)
            {
                _dropAtTotalBytes = null;
                return ((int)Math.Max(0, total - UpstreamBytes), new ConnectionFault(0, 1, Stall: null));
            }
            return (read, null);
        }
    }

    private byte[]? TakeCannedAnswer()
    {
        lock (_gate)
        {
            if (_cannedAnswer is not { Remaining: > 0 } canned) return null;
            _cannedAnswer = canned with { Remaining = canned.Remaining - 1 };
            Interlocked.Increment(ref _faultsInjected);
            return canned.Response;
        }
    }

    /// <summary>Reads the request's headers, sends the canned answer, and swallows any body the client still sends until it hangs up.</summary>
    private async Task AnswerAsync(NetworkStream client, byte[] answer, CancellationToken cancellationToken)
    {
        var received = new List<byte>();
        var buffer = new byte[64 * 1024];
        while (received.Count < 4 || !received.TakeLast(4).SequenceEqual("\r\n\r\n"u8.ToArray()))
        {
            var read = await client.ReadAsync(buffer.AsMemory(0, 1), cancellationToken);
            if (read == 0) return;
            received.Add(buffer[0]);
        }
        CountRequestLines(new ConnectionState(), received.ToArray());
        await client.WriteAsync(answer, cancellationToken);
        await ClientLeavesWithinAsync(client, TimeSpan.FromSeconds(10), cancellationToken);
    }

    /// <summary>A stall that <see cref="EndStalls"/> cuts short; true when the client closed the connection before it was over.</summary>
    private async Task<bool> StallAsync(NetworkStream from, TimeSpan stall, CancellationToken cancellationToken)
    {
        CancellationToken ends;
        lock (_gate) ends = _stallsEnd.Token;
        using var stallOrEnd = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, ends);
        try
        {
            return await ClientLeavesWithinAsync(from, stall, stallOrEnd.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // ended early
        }
    }

    /// <summary>Swallows what the client still sends during a stall; true when it closes the connection before <paramref name="stall"/> is over.</summary>
    private static async Task<bool> ClientLeavesWithinAsync(NetworkStream from, TimeSpan stall, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(stall);
        var scratch = new byte[64 * 1024];
        try
        {
            while (await from.ReadAsync(scratch, timer.Token) > 0)
            {
            }
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (IOException)
        {
            return true; // reset by the client
        }
    }

    /// <summary>Counts request-line endings, also those split between two reads (the tail of the previous read is kept).</summary>
    private void CountRequestLines(ConnectionState state, ReadOnlySpan<byte> forwarded)
    {
        var keep = HttpRequestLineEnd.Length - 1;
        var joined = new byte[state.Tail.Length + forwarded.Length];
        state.Tail.CopyTo(joined, 0);
        forwarded.CopyTo(joined.AsSpan(state.Tail.Length));
        var span = joined.AsSpan();
        for (var at = span.IndexOf(HttpRequestLineEnd); at >= 0; at = span.IndexOf(HttpRequestLineEnd))
        {
            Interlocked.Increment(ref _httpRequests);
            span = span[(at + HttpRequestLineEnd.Length)..];
        }
        state.Tail = span.Length > keep ? span[^keep..].ToArray() : span.ToArray();
    }

    private static async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await from.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }

    /// <summary>Closes both sockets with RST, as a crashed peer or a broken network does.</summary>
    private static void Reset(TcpClient client, TcpClient server)
    {
        foreach (var socket in new[] { client.Client, server.Client })
        {
            if (socket is null) continue; // disposed already
            try
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }
    }

    /// <summary>A fault of connections; <see cref="Serial"/> tells one set from the next (bytes counted from it, when <see cref="CountingFromNow"/>).</summary>
    private sealed record ConnectionFault(long AfterBytes, int Remaining, TimeSpan? Stall, bool CountingFromNow = false, long Serial = 0);

    private sealed class ConnectionState
    {
        public long Sent;
        /// <summary>The fault counting from its setting that this connection's <see cref="SentBeforeFault"/> belongs to.</summary>
        public long FaultSerial;
        public long SentBeforeFault;
        public bool Reset;
        public byte[] Tail = [];
    }
}
