using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace DatasetExport.Engine.Tests.Net8;

/// <summary>
/// tests/DatasetExport.Net8Host published once per test run (self-contained net8.0 linux-x64: it runs on the .NET 8
/// runtime pack restored from NuGet, not on the .NET 10 that runs these tests), and a way to run it with a job.
/// Every Net8*HostTests class shares the one publish, whichever collection (server) runs first.
/// </summary>
internal static class Net8Host
{
    private static readonly Lazy<Published> Once = new(Publish, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The published program, publishing it on first use; how long the publish took.</summary>
    public static Published Get() => Once.Value;

    public sealed record Published(string Executable, TimeSpan PublishTime);

    /// <summary>What one run of the host did: its exit code, output, and the JSON of its last "result " line (null when none).</summary>
    public sealed record Outcome(int ExitCode, string Output, string Error, JsonElement? Result)
    {
        public override string ToString() => $"exit {ExitCode}\n{Output}\n{Error}";
    }

    /// <summary>Runs the host with <paramref name="job"/> as JSON on its stdin (secrets never on its command line).</summary>
    public static async Task<Outcome> RunAsync(object job)
    {
        var start = new ProcessStartInfo(Get().Executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The host must not find a .NET 10 to roll forward to: it is self-contained, these only keep it honest.
        start.Environment.Remove("DOTNET_ROOT");
        start.Environment.Remove("DOTNET_ROLL_FORWARD");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the .NET 8 host.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(JsonSerializer.Serialize(job, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The .NET 8 host did not finish within 5 minutes:\n{await output}\n{await error}");
        }
        var text = await output;
        var resultLine = text.Split('\n').LastOrDefault(line => line.StartsWith("result ", StringComparison.Ordinal));
        JsonElement? result = resultLine is null ? null : JsonDocument.Parse(resultLine["result ".Length..]).RootElement.Clone();
        return new Outcome(process.ExitCode, text, await error, result);
    }

    private static Published Publish()
    {
        var project = Metadata("Net8HostProject");
        var configuration = Metadata("Configuration");
        // Into the host's own (ignored) bin, replaced by each run's publish: a temporary folder of ~80 MB per run would be
        // left behind, since the test host process may end without running exit handlers.
        var folder = Path.Combine(Path.GetDirectoryName(project)!, "bin", configuration, "net8.0", "linux-x64", "publish");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var watch = Stopwatch.StartNew();
        // --no-dependencies: the engine is already built (this test project references it) and must not be rebuilt
        // while other test projects load it. The host itself is restored (the net8.0 runtime pack) and built if needed; no
        // MSBuild node is left behind.
        TestProcess.Run(dotnet, null, new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" },
            "publish", project, "-c", configuration, "--no-dependencies", "-o", folder, "-nologo", "-v", "quiet", "-nodeReuse:false");
        watch.Stop();
        var executable = Path.Combine(folder, "DatasetExport.Net8Host");
        if (!File.Exists(executable)) throw new InvalidOperationException($"dotnet publish left no {executable}.");
        return new Published(executable, watch.Elapsed);
    }

    private static string Metadata(string key) =>
        typeof(Net8Host).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(attribute => attribute.Key == key).Value
        ?? throw new InvalidOperationException($"No {key} assembly metadata.");
}
