using System.Diagnostics;

namespace DatasetExport.Engine.Tests;

/// <summary>Runs the helper programs and scripts the server fixtures need; shared with the module tests (linked file).</summary>
internal static class TestProcess
{
    /// <summary>Runs a program to completion with optional standard input and environment; throws with its output on a non-zero exit.</summary>
    public static string Run(string fileName, string? input, Dictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? []) start.Environment[name] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input ?? "");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}: {error.Result}{output}");
        }
        return output;
    }

    /// <summary>tests/servers/sftp of the checkout the tests run from (found by walking up from the test binaries).</summary>
    public static string FindSftpScriptFolder()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "tests", "servers", "sftp");
            if (File.Exists(Path.Combine(candidate, "start.sh"))) return candidate;
        }
        throw new InvalidOperationException($"tests/servers/sftp/start.sh not found above {AppContext.BaseDirectory}.");
    }
}
