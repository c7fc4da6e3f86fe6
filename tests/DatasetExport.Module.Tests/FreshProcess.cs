using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace DatasetExport.Module.Tests;

/// <summary>
/// Runs a scenario in a new process of this test assembly (its own <c>Main</c>; the test host never calls it), for what
/// can only be seen once per process: the engine assembly binds on its first use, after which the module's
/// assembly-load hook is no longer asked. A test process has long bound it by the time most tests run.
/// </summary>
public static class FreshProcess
{
    /// <summary>Runs <paramref name="scenario"/> in a new process; returns its exit code and everything it printed.</summary>
    public static (int ExitCode, string Output) Run(string scenario, params string[] arguments)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
            : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "exec", typeof(FreshProcess).Assembly.Location, scenario }.Concat(arguments)) start.ArgumentList.Add(argument);
        start.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {dotnet}.");
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The fresh process for '{scenario}' did not finish within 2 minutes:\n{output}");
        }
        return (process.ExitCode, output + error.Result);
    }

    public static int Main(string[] args)
    {
        try
        {
            return args[0] switch
            {
                nameof(RemoveModuleWhileAnotherRunspaceHasIt) => RemoveModuleWhileAnotherRunspaceHasIt(args[1], args[2]),
                nameof(FirstUseFromParallelRunspaces) => FirstUseFromParallelRunspaces(args[1], args[2]),
                _ => throw new ArgumentException($"Unknown scenario '{args[0]}'."),
            };
        }
        catch (Exception error)
        {
            Console.WriteLine(error);
            return 2;
        }
    }

    /// <summary>
    /// Runspaces A and B import the module (B again with -Force); A removes it before anything in the process has used the engine; then B
    /// uses it (lists destinations). Exit code 0 when B's command worked.
    /// </summary>
    internal static int RemoveModuleWhileAnotherRunspaceHasIt(string manifest, string stateHome)
    {
        Environment.SetEnvironmentVariable("DATASETEXPORT_HOME", stateHome);
        using var a = Open();
        using var b = Open();
        var setup = Invoke(a, "Import-Module $args[0] -ErrorAction Stop", manifest)
            + Invoke(b, "Import-Module $args[0] -ErrorAction Stop", manifest)
            + Invoke(b, "Import-Module $args[0] -Force -ErrorAction Stop", manifest)
            + Invoke(a, "Remove-Module DatasetExport -ErrorAction Stop");
        if (setup != 0) return 3;
        return Invoke(b, "New-ExportDestination -Name d -Type Local -Path $args[0] | Out-Null; (Get-ExportDestination).Name", Path.Combine(stateHome, "out"));
    }

    /// <summary>
    /// The first use of the process comes from four runspaces at once (ForEach-Object -Parallel): each imports the module
    /// and creates a destination, so the engine and its dependencies (SQLite's native library among them) bind from
    /// several threads together. Prints the destinations' names; exit code 0 when no runspace wrote an error.
    /// </summary>
    internal static int FirstUseFromParallelRunspaces(string manifest, string stateHome)
    {
        Environment.SetEnvironmentVariable("DATASETEXPORT_HOME", stateHome);
        using var runspace = Open();
        return Invoke(runspace, """
            param($Manifest, $StateHome)
            1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                New-ExportDestination -Name "d$_" -Type Local -Path "$($using:StateHome)/out$_" | Out-Null
            }
            Import-Module $Manifest -ErrorAction Stop
            [string[]] $names = (Get-ExportDestination).Name
            [Array]::Sort($names)
            $names -join ','
            """, manifest, stateHome);
    }

    private static Runspace Open()
    {
        var runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        runspace.Open();
        return runspace;
    }

    /// <summary>Runs a script, prints its output and errors; 0 when it wrote no error.</summary>
    private static int Invoke(Runspace runspace, string script, params object[] arguments)
    {
        using var shell = PowerShell.Create();
        shell.Runspace = runspace;
        shell.AddScript(script);
        foreach (var argument in arguments) shell.AddArgument(argument);
        foreach (var item in shell.Invoke()) Console.WriteLine(item);
        foreach (var error in shell.Streams.Error) Console.WriteLine($"ERROR {error.FullyQualifiedErrorId}: {error.Exception.Message}");
        return shell.Streams.Error.Count == 0 ? 0 : 1;
    }
}
