using System.Globalization;

namespace DatasetExport.Engine.Destinations.Retry;

/// <summary>
/// How often and how long a destination operation that failed transiently is tried again: at most
/// <see cref="RetryCount"/> retries, none starting later than <see cref="Timeout"/> after the first attempt, with
/// exponentially growing, jittered delays between them. Read from the destination's RetryCount and
/// RetryTimeoutSeconds properties. Public for its limits and defaults, which the cmdlets validate against and show.
/// </summary>
public sealed record RetryPolicy(int RetryCount, TimeSpan Timeout)
{
    public const int DefaultRetryCount = 4;
    public const int DefaultTimeoutSeconds = 300;
    public const int MaxRetryCount = 20;
    public const int MaxTimeoutSeconds = 24 * 60 * 60;

    /// <summary>The delay before the first retry; each further retry waits twice as long, up to <see cref="MaxDelay"/>.</summary>
    public static readonly TimeSpan BaseDelay = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    /// <summary>The destination's policy; throws ArgumentException naming the destination and the property when a value is out of range.</summary>
    public static RetryPolicy From(DestinationSettings settings) => new(
        ReadInt(settings, DestinationKeys.RetryCount, DefaultRetryCount, 0, MaxRetryCount),
        TimeSpan.FromSeconds(ReadInt(settings, DestinationKeys.RetryTimeoutSeconds, DefaultTimeoutSeconds, 1, MaxTimeoutSeconds)));

    /// <summary>
    /// The wait before retry number <paramref name="retry"/> (1-based): half the exponential step plus a random part
    /// of the other half, so clients that failed together do not come back together.
    /// </summary>
    public static TimeSpan DelayBefore(int retry)
    {
        var step = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, retry - 1));
        return TimeSpan.FromMilliseconds(step / 2 + Random.Shared.NextDouble() * step / 2);
    }

    private static int ReadInt(DestinationSettings settings, string key, int defaultValue, int min, int max)
    {
        var text = settings.GetProperty(key);
        if (string.IsNullOrWhiteSpace(text)) return defaultValue;
        if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new ArgumentException($"The {key} of destination '{settings.Name}' is '{text}'; it must be a whole number from {min} to {max}.", key);
        }
        return value;
    }
}
