using System.Diagnostics;
using DatasetExport.Engine.Destinations;

namespace DatasetExport.Bench;

/// <summary>Times of uploading one set of files to one server, by the engine's destination and by rclone.</summary>
public sealed record UploadResult(string Target, int Files, long Bytes, IReadOnlyList<double> EngineSeconds, IReadOnlyList<double> RcloneSeconds, string Check);

/// <summary>
/// Uploads the same exported files to each test server with the engine's destination (one file after the other,
/// as an export run stores its parts) and with <c>rclone copy</c> (its defaults: 4 parallel transfers), alternating
/// the two, then has rclone compare both uploads byte for byte with the local files.
/// </summary>
public static class UploadBenchmark
{
    public static async Task<IReadOnlyList<UploadResult>> RunAsync(BenchOptions options, string repository, string uploadSet)
    {
        var files = Directory.GetFiles(uploadSet).Order(StringComparer.Ordinal).ToList();
        var bytes = files.Sum(f => new FileInfo(f).Length);
        var results = new List<UploadResult>();
        var serversFolder = Directory.CreateDirectory(Path.Combine(options.WorkFolder, "servers")).FullName;
        foreach (var name in options.UploadTargets)
        {
            Console.WriteLine($"== upload to {name}: {files.Count} files, {bytes / 1e6:F1} MB");
            using var target = await UploadTarget.StartAsync(name, repository, serversFolder);
            var config = Path.Combine(serversFolder, "rclone.conf");
            File.WriteAllText(config, target.RcloneSection + "\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            try
            {
                Rclone(config, "mkdir", target.RcloneRoot);
                var engineSeconds = new List<double>();
                var rcloneSeconds = new List<double>();
                for (var rep = 0; rep < options.UploadReps; rep++)
                {
                    var order = rep % 2 == 0 ? new[] { true, false } : new[] { false, true };
                    foreach (var engineTurn in order)
                    {
                        var seconds = engineTurn
                            ? await UploadWithEngineAsync(target.Destination, files, $"engine-{rep}")
                            : Time(() => Rclone(config, "copy", uploadSet, $"{target.RcloneRoot}/rclone-{rep}"));
                        (engineTurn ? engineSeconds : rcloneSeconds).Add(seconds);
                        Console.WriteLine($"   {(engineTurn ? "engine" : "rclone"),-7} rep {rep + 1}: {seconds:F2} s ({bytes / 1e6 / seconds:F1} MB/s)");
                    }
                }
                var last = options.UploadReps - 1;
                var check = CheckUpload(config, uploadSet, $"{target.RcloneRoot}/engine-{last}", "engine")
                    + "; " + CheckUpload(config, uploadSet, $"{target.RcloneRoot}/rclone-{last}", "rclone");
                Console.WriteLine($"   check: {check}");
                results.Add(new UploadResult(name, files.Count, bytes, engineSeconds, rcloneSeconds, check));
            }
            finally
            {
                File.Delete(config);
            }
        }
        return results;
    }

    private static async Task<double> UploadWithEngineAsync(DestinationSettings settings, IReadOnlyList<string> files, string prefix)
    {
        var clock = Stopwatch.StartNew();
        await using (var destination = DestinationRegistry.Create(settings))
        {
            foreach (var file in files)
            {
                await destination.UploadFileAsync(file, $"{prefix}/{Path.GetFileName(file)}", CancellationToken.None);
            }
        }
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>rclone reads every uploaded file back and compares it with the local one.</summary>
    private static string CheckUpload(string config, string uploadSet, string remotePath, string tool)
    {
        try
        {
            Rclone(config, "check", uploadSet, remotePath, "--one-way", "--download");
            return $"{tool} upload identical";
        }
        catch (InvalidOperationException error)
        {
            return $"{tool} upload DIFFERS: {error.Message.Split('\n')[0]}";
        }
    }

    /// <summary>
    /// rclone's S3 backend fails on any AWS_CA_BUNDLE ("unable to load custom CA bundle"); the servers here speak
    /// plain HTTP on loopback, so it is removed from rclone's environment.
    /// </summary>
    private static string Rclone(string config, params string[] arguments) =>
        UploadTarget.RunScript("rclone", [.. arguments, "--config", config, "--quiet"], null, ("AWS_CA_BUNDLE", null));

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }
}
