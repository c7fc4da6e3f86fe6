using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace DatasetExport.Engine.Tests.Scheduling;

/// <summary>
/// One DatasetExport.ScheduleHost process: RunDueFlowsAsync in a process of its own, on a state home, at a fixed "now".
/// Its output lines are collected as they come.
/// </summary>
internal sealed class ScheduleHostProcess : IDisposable
{
    private static readonly string HostPath = typeof(ScheduleHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "ScheduleHostPath").Value!;

    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _errors = new();

    public ScheduleHostProcess(string stateHome, string lake, DateTimeOffset now, params string[] extraArguments)
    {
        Assert.True(File.Exists(HostPath), $"The schedule host was not built: {HostPath}");
        var start = new ProcessStartInfo(DotnetPath())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[HostPath, "--lake", lake, "--now", now.UtcDateTime.ToString("O"), .. extraArguments])
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment[ExportEngine.StateHomeVariable] = stateHome;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null) _lines.CompleteAdding();
            else
            {
                _output.Enqueue(line.Data);
                _lines.Add(line.Data);
            }
        };
        _process.ErrorDataReceived += (_, line) => { if (line.Data is not null) _errors.Enqueue(line.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    /// <summary>Every line printed so far.</summary>
    public IReadOnlyList<string> Output => _output.ToList();

    public string Errors => string.Join('\n', _errors);

    /// <summary>Waits for the first output line (from now on) that matches; fails the test if the process ends first.</summary>
    public string WaitForLine(Func<string, bool> match, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            foreach (var line in _lines.GetConsumingEnumerable(cancel.Token))
            {
                if (match(line)) return line;
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"Schedule host {Id} printed no expected line within {timeout.TotalSeconds} s. Output:\n{string.Join('\n', Output)}\n{Errors}");
        }
        Assert.Fail($"Schedule host {Id} ended (exit code {ExitCodeOrNone()}) before printing the expected line. Output:\n{string.Join('\n', Output)}\n{Errors}");
        return "";
    }

    /// <summary>Waits for the process to end by itself and checks it succeeded.</summary>
    public void WaitForSuccess(TimeSpan timeout)
    {
        Assert.True(_process.WaitForExit(timeout), $"Schedule host {Id} did not finish within {timeout.TotalSeconds} s.");
        _process.WaitForExit();
        Assert.True(_process.ExitCode == 0, $"Schedule host {Id} failed with exit code {_process.ExitCode}:\n{Errors}");
    }

    /// <summary>SIGKILL: the process gets no chance to clean up, as when a machine loses power.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>The "run &lt;id&gt; &lt;flow&gt; &lt;dataset&gt; &lt;slot&gt; &lt;status&gt;" lines it printed.</summary>
    public IReadOnlyList<string[]> Runs => Output.Where(line => line.StartsWith("run ", StringComparison.Ordinal)).Select(line => line.Split(' ')).ToList();

    private string ExitCodeOrNone() => _process.HasExited ? _process.ExitCode.ToString() : "none";

    /// <summary>The dotnet muxer that runs this test host, else the one on PATH.</summary>
    private static string DotnetPath()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet") return current;
        return "dotnet";
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        // Without a timeout it also waits until the output handlers have seen the end of both streams.
        _process.WaitForExit();
        _process.Dispose();
        _lines.Dispose();
    }
}
