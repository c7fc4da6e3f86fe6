using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DatasetExport.Bench;

/// <summary>
/// A server the upload comparison runs against, started from the repository's tests/servers recipes on a free
/// 127.0.0.1 port and stopped (SIGTERM to its own PID) on dispose.
/// </summary>
public sealed class TestServer : IDisposable
{
    private readonly Process _process;

    private TestServer(string name, Process process, int port)
    {
        Name = name;
        _process = process;
        Port = port;
    }

    public string Name { get; }
    public int Port { get; }

    /// <summary>Runs <paramref name="command"/> (its output to <paramref name="logPath"/>) and waits until <paramref name="isReady"/> answers.</summary>
    public static async Task<TestServer> StartAsync(string name, int port, string command, IReadOnlyList<string> arguments, string logPath, Func<int, Task<bool>> isReady)
    {
        var start = new ProcessStartInfo(command) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{name} did not start.");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new TestServer(name, process, port);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"{name} exited with code {process.ExitCode} before it was ready; see {logPath}.");
            if (await isReady(port)) return server;
            await Task.Delay(200);
        }
        server.Dispose();
        throw new TimeoutException($"{name} was not ready on 127.0.0.1:{port} within 60 s; see {logPath}.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>True once an HTTP server answers on the port, whatever the status code.</summary>
    public static async Task<bool> AnswersHttpAsync(int port, string pathAndQuery)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await client.GetAsync($"http://127.0.0.1:{port}{pathAndQuery}");
            return true;
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>True once an SSH server on the port sends its banner.</summary>
    public static async Task<bool> AnswersSshAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            var buffer = new byte[4];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var read = await client.GetStream().ReadAtLeastAsync(buffer, 4, throwOnEndOfStream: false, timeout.Token);
            return read == 4 && buffer.AsSpan().SequenceEqual("SSH-"u8);
        }
        catch (Exception error) when (error is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            // SIGTERM (not Kill's SIGKILL): every server here shuts down cleanly on it.
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit();
            if (!_process.WaitForExit(10_000)) _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
