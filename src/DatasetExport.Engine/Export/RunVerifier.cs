using System.Security.Cryptography;
using System.Text.Json;
using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Encryption;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Export;

/// <summary>Re-reads a run's manifest and files from its destination and checks them against the run record.</summary>
internal static class RunVerifier
{
    public static async Task<RunVerification> VerifyAsync(RunRecord run, IExportDestination target, CancellationToken cancellationToken)
    {
        if (run.Status != RunStatus.Succeeded)
        {
            return new RunVerification(run, false, [], $"The run is {run.Status}, so it has no committed files to verify.");
        }

        var manifestFound = false;
        string? problem = null;
        if (run.ManifestPath is not null)
        {
            (manifestFound, problem) = await CheckManifestAsync(run, target, cancellationToken).ConfigureAwait(false);
        }

        var files = new List<FileVerification>();
        foreach (var file in run.Files)
        {
            files.Add(await VerifyFileAsync(file, target, cancellationToken).ConfigureAwait(false));
        }
        var invalid = files.Count(f => !f.IsValid);
        problem ??= invalid > 0 ? $"{invalid} of {files.Count} files are missing or differ from what the run wrote." : null;
        return new RunVerification(run, manifestFound, files, problem);
    }

    private static async Task<(bool Found, string? Problem)> CheckManifestAsync(RunRecord run, IExportDestination target, CancellationToken cancellationToken)
    {
        if (await target.GetFileInfoAsync(run.ManifestPath!, cancellationToken).ConfigureAwait(false) is null)
        {
            return (false, $"The manifest '{run.ManifestPath}' is missing.");
        }
        byte[] stored;
        await using (var stream = await target.OpenReadAsync(run.ManifestPath!, cancellationToken).ConfigureAwait(false))
        using (var buffer = new MemoryStream())
        {
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            stored = buffer.ToArray();
        }
        // Runs recorded before manifest hashes were kept have none; their manifests are checked by content only.
        if (run.ManifestSha256 is not null && !string.Equals(Convert.ToHexString(SHA256.HashData(stored)), run.ManifestSha256, StringComparison.OrdinalIgnoreCase))
        {
            return (true, $"The manifest '{run.ManifestPath}' differs from the one the run wrote.");
        }
        // An encrypted manifest cannot be read without the recipient's private key: its hash above is the check.
        if (run.ManifestPath!.EndsWith(PgpFileEncryption.Suffix, StringComparison.Ordinal)) return (true, null);

        ExportManifest manifest;
        try
        {
            manifest = ExportManifest.Parse(stored);
        }
        catch (JsonException error)
        {
            return (true, $"The manifest '{run.ManifestPath}' cannot be read: {error.Message}");
        }

        if (manifest.FlowRunId != run.Id.ToString("D")) return (true, $"The manifest names run {manifest.FlowRunId}, not {run.Id:D}.");
        if (manifest.DatasetId != run.DatasetId) return (true, $"The manifest names dataset '{manifest.DatasetId}', not '{run.DatasetId}'.");
        if (manifest.RecordCount != run.RecordsWritten)
        {
            return (true, $"The manifest counts {manifest.RecordCount} records; the run wrote {run.RecordsWritten}.");
        }
        var expected = run.Files.Select(ManifestFile.From).ToHashSet();
        if (manifest.ExportResults.Count != expected.Count || !manifest.ExportResults.All(expected.Contains))
        {
            return (true, "The manifest's file list differs from the files the run recorded.");
        }
        return (true, null);
    }

    private static async Task<FileVerification> VerifyFileAsync(RunFileRecord file, IExportDestination target, CancellationToken cancellationToken)
    {
        var info = await target.GetFileInfoAsync(file.RelativePath, cancellationToken).ConfigureAwait(false);
        if (info is null) return new FileVerification(file.RelativePath, false, file.Size, null, file.Sha256, null);
        await using var stream = await target.OpenReadAsync(file.RelativePath, cancellationToken).ConfigureAwait(false);
        var hash = await ExportRunner.Sha256HexAsync(stream, cancellationToken).ConfigureAwait(false);
        return new FileVerification(file.RelativePath, true, file.Size, info.Size, file.Sha256, hash);
    }
}
