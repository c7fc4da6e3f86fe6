namespace DatasetExport.Engine.Destinations.Local;

/// <summary>
/// A local or network folder (property "Path"). Files are copied under a temporary name in the target folder
/// and renamed into place, so no reader ever sees a half-written file under its final name. Uploading to an existing
/// name replaces the file (in one rename), as on every other destination.
/// </summary>
public sealed class LocalFolderDestination : IExportDestination
{
    public const string PathProperty = "Path";
    private const string TemporarySuffix = ".tmp";

    private readonly string _root;

    public LocalFolderDestination(DestinationSettings settings)
    {
        var basePath = settings.GetProperty(PathProperty);
        if (string.IsNullOrWhiteSpace(basePath))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, "A Local destination needs a Path.");
        }
        _root = Path.GetFullPath(Path.Combine(basePath, settings.FolderPath));
    }

    public async Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken)
    {
        var target = Resolve(relativePath);
        var temporary = Path.Combine(Path.GetDirectoryName(target)!, "." + Path.GetFileName(target) + "." + Guid.NewGuid().ToString("N") + TemporarySuffix);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await using (var source = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true))
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await source.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            TryDelete(temporary);
            if (error is OperationCanceledException) throw;
            throw Translate(error, target);
        }
    }

    public Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken)
    {
        var path = Resolve(relativePath);
        try
        {
            return Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true));
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw Translate(error, path);
        }
    }

    public Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken)
    {
        var file = new FileInfo(Resolve(relativePath));
        return Task.FromResult(file.Exists ? new StoredFileInfo(relativePath, file.Length) : null);
    }

    public Task DeleteAsync(string relativePath, CancellationToken cancellationToken)
    {
        var path = Resolve(relativePath);
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Its folder is gone too: deleting is idempotent, as for the other destinations.
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw Translate(error, path);
        }
        return Task.CompletedTask;
    }

    public string GetSinkPath(string relativePath) => Resolve(relativePath);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string Resolve(string relativePath)
    {
        var full = Path.GetFullPath(Path.Combine(_root, relativePath.Replace('/', Path.DirectorySeparatorChar)));
        var rootWithSeparator = _root.EndsWith(Path.DirectorySeparatorChar) ? _root : _root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            throw new DestinationException(DestinationFailure.InvalidConfiguration, $"The path '{relativePath}' leaves the destination folder.");
        }
        return full;
    }

    private static DestinationException Translate(Exception error, string path) => error switch
    {
        UnauthorizedAccessException => new DestinationException(DestinationFailure.PermissionDenied, $"Access to '{path}' was denied: {error.Message}", error),
        DirectoryNotFoundException => new DestinationException(DestinationFailure.NotFound, $"The folder for '{path}' does not exist: {error.Message}", error),
        FileNotFoundException => new DestinationException(DestinationFailure.NotFound, $"'{path}' does not exist.", error),
        _ => new DestinationException(DestinationFailure.Other, $"Could not write '{path}': {error.Message}", error),
    };

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
