using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Amazon.Runtime;

namespace DatasetExport.Engine.Destinations.S3;

/// <summary>
/// Turns AWS SDK and network failures into <see cref="DestinationException"/>s the user can act on. Messages name
/// the service, bucket or object and the server's own words; they never contain credentials.
/// </summary>
internal static class S3Errors
{
    private static readonly HashSet<string> AuthenticationCodes = new(StringComparer.Ordinal)
    {
        "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
        "InvalidClientTokenId", "UnrecognizedClientException", "MissingSecurityHeader", "InvalidSecurity",
    };

    private static readonly HashSet<string> PermissionCodes = new(StringComparer.Ordinal)
    {
        "AccessDenied", "AllAccessDisabled", "AccountProblem",
    };

    private static readonly HashSet<string> ConfigurationCodes = new(StringComparer.Ordinal)
    {
        "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "InvalidBucketName",
    };

    /// <summary>True for failures to translate; a cancellation the caller asked for passes through unchanged.</summary>
    public static bool IsTranslatable(Exception error, CancellationToken cancellationToken) =>
        !(error is OperationCanceledException && cancellationToken.IsCancellationRequested)
        && error is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or SocketException or AuthenticationException
            or OperationCanceledException or TimeoutException;

    /// <param name="bucketLevel">The request was about the bucket itself, so a bare 404 means the bucket is missing.</param>
    public static DestinationException Translate(Exception error, S3Connection connection, string target, bool bucketLevel = false)
    {
        // Failures the destination's own parts already explained (assuming a role) come through the SDK as they are.
        if (FindInChain<DestinationException>(error) is { } explained) return explained;
        var service = connection.ServiceName;
        var bucket = connection.Bucket;

        if (FindInChain<AmazonServiceException>(error) is { } serviceError && serviceError.StatusCode != 0)
        {
            var code = serviceError.ErrorCode ?? "";
            var status = $"{(int)serviceError.StatusCode} {code}".Trim();
            var detail = string.IsNullOrWhiteSpace(serviceError.Message) ? status : $"{status}: {serviceError.Message}";
            if (code == "NoSuchBucket" || (bucketLevel && serviceError.StatusCode == HttpStatusCode.NotFound))
            {
                return new(DestinationFailure.NotFound, $"The {service} bucket '{bucket}' does not exist ({status}).", error);
            }
            if (code == "NoSuchKey" || serviceError.StatusCode == HttpStatusCode.NotFound)
            {
                return new(DestinationFailure.NotFound, $"'{target}' does not exist ({status}).", error);
            }
            if (AuthenticationCodes.Contains(code))
            {
                return new(DestinationFailure.Authentication, $"{service} rejected the credentials for bucket '{bucket}' ({detail}).", error);
            }
            if (PermissionCodes.Contains(code))
            {
                return new(DestinationFailure.PermissionDenied, $"{service} denied access to '{target}' ({detail}).", error);
            }
            if (ConfigurationCodes.Contains(code))
            {
                return new(DestinationFailure.InvalidConfiguration, $"{service} bucket '{bucket}' is not reachable as configured ({detail}). Check the region and endpoint.", error);
            }
            if (serviceError.StatusCode == HttpStatusCode.Forbidden)
            {
                // HEAD responses carry no error body, so a refused key and a missing permission look the same.
                return new(DestinationFailure.Authentication,
                    $"{service} refused the request for '{target}' ({status}): the access key or secret is wrong, or lacks permission on bucket '{bucket}'.", error);
            }
            return new(DestinationFailure.Other, $"{service} request for '{target}' failed ({detail}).", error, transient: IsServerSideOrThrottling(serviceError));
        }

        var endpoint = connection.Config.ServiceURL ?? $"{service} ({connection.Config.RegionEndpoint?.SystemName ?? "default region"})";
        if (FindInChain<AuthenticationException>(error) is { } tls)
        {
            // A certificate the client refuses stays refused: not worth retrying.
            return new(DestinationFailure.Unreachable, $"The TLS handshake with {endpoint} failed for bucket '{bucket}': {tls.Message}", error, transient: false);
        }
        if (FindInChain<SocketException>(error) is { } socket)
        {
            return new(DestinationFailure.Unreachable, $"Cannot connect to {endpoint} for bucket '{bucket}': {socket.Message}", error);
        }
        if (FindInChain<HttpRequestException>(error) is { } http)
        {
            return new(DestinationFailure.Unreachable, $"Cannot reach {endpoint} for bucket '{bucket}': {http.Message}", error);
        }
        if (FindInChain<HttpIOException>(error) is { } broken)
        {
            // E.g. "The response ended prematurely": the server or the network closed the connection mid-request.
            return new(DestinationFailure.Unreachable, $"The connection to {endpoint} broke during the request for '{target}': {broken.Message}", error);
        }
        if (error is OperationCanceledException or TimeoutException)
        {
            return new(DestinationFailure.Unreachable, $"{endpoint} did not answer in time for '{target}'.", error);
        }
        return new(DestinationFailure.Other, $"{service} request for '{target}' failed: {error.Message}", error);
    }

    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable",
    };

    /// <summary>The server failed on its side (5xx), timed out waiting for the request (408) or throttles (429, SlowDown).</summary>
    private static bool IsServerSideOrThrottling(AmazonServiceException error) =>
        (int)error.StatusCode is 408 or 429 or >= 500 || TransientCodes.Contains(error.ErrorCode ?? "");

    private static T? FindInChain<T>(Exception error) where T : Exception
    {
        for (Exception? current = error; current is not null; current = current.InnerException)
        {
            if (current is T match) return match;
        }
        return null;
    }
}
