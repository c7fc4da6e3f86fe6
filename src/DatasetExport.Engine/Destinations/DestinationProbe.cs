using System.Text;

namespace DatasetExport.Engine.Destinations;

/// <summary>Proves a destination can be written: stores a small probe file, reads it back, deletes it (also when a step fails).</summary>
internal static class DestinationProbe
{
    public static async Task RunAsync(IExportDestination target, CancellationToken cancellationToken)
    {
        var relativePath = $".datasetexport-probe-{Guid.NewGuid():N}";
        var content = Encoding.UTF8.GetBytes($"DatasetExport write probe {DateTimeOffset.UtcNow:O}\n");
        var localPath = Path.Combine(Path.GetTempPath(), $"datasetexport-probe-{Guid.NewGuid():N}");
        await File.WriteAllBytesAsync(localPath, content, cancellationToken).ConfigureAwait(false);
        try
        {
            await target.UploadFileAsync(localPath, relativePath, cancellationToken).ConfigureAwait(false);
            await using (var stream = await target.OpenReadAsync(relativePath, cancellationToken).ConfigureAwait(false))
            using (var readBack = new MemoryStream())
            {
                await stream.CopyToAsync(readBack, cancellationToken).ConfigureAwait(false);
                if (!readBack.ToArray().AsSpan().SequenceEqual(content))
                {
                    throw new DestinationException(DestinationFailure.Other, $"The probe file read back from '{target.GetSinkPath(relativePath)}' differs from what was written.");
                }
            }
            await target.DeleteAsync(relativePath, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // A destination that takes the probe but fails later (no read permission, a read-back that differs) must not
            // keep it; the first failure is the one to report.
            await TryDeleteAsync(target, relativePath).ConfigureAwait(false);
            throw;
        }
        finally
        {
            File.Delete(localPath);
        }
    }

    private static async Task TryDeleteAsync(IExportDestination target, string relativePath)
    {
        try
        {
            await target.DeleteAsync(relativePath, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Best effort: the destination may be the very thing that failed.
        }
    }
}
