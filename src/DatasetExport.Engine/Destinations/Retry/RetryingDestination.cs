using System.Diagnostics;

namespace DatasetExport.Engine.Destinations.Retry;

/// <summary>
/// Tries a destination's operations again when they fail transiently (<see cref="DestinationException.IsTransient"/>:
/// connection failures, drops, timeouts, throttling, server errors), following a <see cref="RetryPolicy"/>. Permanent
/// failures (credentials, permissions, missing targets, configuration, host key) and cancellations pass through at
/// once. Every operation is safe to repeat: uploads replace the whole object or rename a finished temporary file.
/// </summary>
/// <remarks>
/// The SDKs retry single requests first (a multipart part, a staged block, see the destinations' client setup); this
/// layer retries the whole operation once they gave up, so a retried upload starts that file over. One instance
/// counts the retries of one run; the inner destination belongs to the caller and is not disposed here.
/// </remarks>
internal sealed class RetryingDestination : IExportDestination
{
    private readonly IExportDestination _inner;
    private readonly RetryPolicy _policy;
    private readonly Action<string>? _log;
    private int _retries;

    /// <param name="log">Told about every retry, on the calling thread; the messages hold no secrets.</param>
    public RetryingDestination(IExportDestination inner, RetryPolicy policy, Action<string>? log)
    {
        _inner = inner;
        _policy = policy;
        _log = log;
    }

    /// <summary>Retries made so far through this instance.</summary>
    public int Retries => Volatile.Read(ref _retries);

    public Task UploadFileAsync(string localPath, string relativePath, CancellationToken cancellationToken) =>
        RunAsync("upload to " + _inner.GetSinkPath(relativePath), async token =>
        {
            await _inner.UploadFileAsync(localPath, relativePath, token).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<Stream> OpenReadAsync(string relativePath, CancellationToken cancellationToken) =>
        RunAsync("reading " + _inner.GetSinkPath(relativePath), token => _inner.OpenReadAsync(relativePath, token), cancellationToken);

    public Task<StoredFileInfo?> GetFileInfoAsync(string relativePath, CancellationToken cancellationToken) =>
        RunAsync("checking " + _inner.GetSinkPath(relativePath), token => _inner.GetFileInfoAsync(relativePath, token), cancellationToken);

    public Task DeleteAsync(string relativePath, CancellationToken cancellationToken) =>
        RunAsync("deleting " + _inner.GetSinkPath(relativePath), async token =>
        {
            await _inner.DeleteAsync(relativePath, token).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public string GetSinkPath(string relativePath) => _inner.GetSinkPath(relativePath);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<T> RunAsync<T>(string operation, Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        for (var retry = 1; ; retry++)
        {
            try
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }
            catch (DestinationException error) when (error.IsTransient && !cancellationToken.IsCancellationRequested)
            {
                if (_policy.RetryCount == 0) throw;
                var elapsed = Stopwatch.GetElapsedTime(started);
                var delay = RetryPolicy.DelayBefore(retry);
                if (retry > _policy.RetryCount || elapsed + delay > _policy.Timeout)
                {
                    throw new DestinationException(error.Failure,
                        $"{error.Message.TrimEnd('.')}. Gave up after {retry} attempts in {elapsed.TotalSeconds:0.#} s " +
                        $"(RetryCount {_policy.RetryCount}, RetryTimeoutSeconds {_policy.Timeout.TotalSeconds:0}).", error, error.IsTransient);
                }
                Interlocked.Increment(ref _retries);
                _log?.Invoke($"Retry {retry} of {_policy.RetryCount} for {operation} in {delay.TotalSeconds:0.0} s: {error.Message}");
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
