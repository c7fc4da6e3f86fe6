using Azure;
using Azure.Identity;

namespace DatasetExport.Engine.Destinations.Azure;

/// <summary>What a request tried to do with a blob, to say which SAS permission was missing.</summary>
internal enum BlobAccess
{
    Read,
    Write,
    Delete,
}

/// <summary>
/// Turns Azure SDK failures into <see cref="DestinationException"/>s. Messages are built from the status, the
/// service's error code, the container URL without query and the SAS fields 'sp'/'st'/'se' only, never from
/// keys, signatures or connection strings.
/// </summary>
internal static class AzureErrors
{
    /// <summary>True for failures to translate; a cancellation the caller asked for passes through unchanged.</summary>
    public static bool ShouldTranslate(Exception error, CancellationToken cancellationToken) => Unwrap(error) switch
    {
        RequestFailedException or AuthenticationFailedException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    public static DestinationException Translate(Exception error, BlobAccess access, string blobName, AzureBlobConnection connection)
    {
        var cause = Unwrap(error);
        return cause switch
        {
            AuthenticationFailedException signIn => new DestinationException(DestinationFailure.Authentication,
                $"Could not sign in to Entra ID for {connection.Location}: {signIn.Message}", error),
            OperationCanceledException => new DestinationException(DestinationFailure.Unreachable,
                $"{connection.Location} did not answer in time.", error),
            RequestFailedException { Status: 0 } transport => new DestinationException(DestinationFailure.Unreachable,
                $"Cannot reach {connection.Location}: {Innermost(transport).Message}", error),
            RequestFailedException response => TranslateResponse(response, access, blobName, connection, error),
            _ => new DestinationException(DestinationFailure.Other, $"The request for blob '{blobName}' in {connection.Location} failed: {cause.GetType().Name}.", error),
        };
    }

    private static DestinationException TranslateResponse(RequestFailedException response, BlobAccess access, string blobName, AzureBlobConnection connection, Exception error)
    {
        var code = response.ErrorCode ?? "no error code";
        var now = DateTimeOffset.UtcNow;
        return (response.Status, response.ErrorCode) switch
        {
            (403, "AuthorizationPermissionMismatch" or "AuthorizationResourceTypeMismatch" or "AuthorizationServiceMismatch")
                => new DestinationException(DestinationFailure.PermissionDenied, PermissionMessage(access, blobName, connection, code), error),
            (401 or 403, _) when connection.Sas is { } sas && sas.HasExpired(now)
                => new DestinationException(DestinationFailure.Authentication,
                    $"The SAS for {connection.Location} expired at {sas.ExpiresOn.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC; ask for a new SAS URI ({code}).", error),
            (401 or 403, _) when connection.Sas is { } sas && sas.IsNotYetValid(now)
                => new DestinationException(DestinationFailure.Authentication,
                    $"The SAS for {connection.Location} is valid only from {sas.StartsOn.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC ({code}).", error),
            (401 or 403, _)
                => new DestinationException(DestinationFailure.Authentication,
                    $"{connection.Location} rejected the credentials ({response.Status} {code}): check the {(connection.Sas is null ? "account key, connection string or identity" : "SAS URI")}.", error),
            (404, "ContainerNotFound")
                => new DestinationException(DestinationFailure.NotFound, $"The container {connection.Location} does not exist.", error),
            (404, _)
                => new DestinationException(DestinationFailure.NotFound, $"Blob '{blobName}' does not exist in {connection.Location} ({code}).", error),
            (400, "InvalidResourceName" or "InvalidUri" or "OutOfRangeInput")
                => new DestinationException(DestinationFailure.InvalidConfiguration, $"{connection.Location} refused the container or blob name '{blobName}' ({code}).", error),
            // The service failed on its side, timed out waiting for the request, or throttles (ServerBusy): worth another try.
            _ => new DestinationException(DestinationFailure.Other, $"The request for blob '{blobName}' in {connection.Location} failed with {response.Status} ({code}).", error,
                transient: response.Status is 408 or 429 or >= 500),
        };
    }

    private static string PermissionMessage(BlobAccess access, string blobName, AzureBlobConnection connection, string code)
    {
        var (permission, letters, verb) = access switch
        {
            BlobAccess.Read => ("read", "'r'", "read"),
            BlobAccess.Write => ("write", "'w'/'c'", "written"),
            _ => ("delete", "'d'", "deleted"),
        };
        return connection.Sas is { } sas
            ? $"The SAS for {connection.Location} lacks {permission} ({letters}) permission (it grants '{sas.Permissions}'), so blob '{blobName}' cannot be {verb} ({code})."
            : $"The credentials for {connection.Location} lack {permission} permission, so blob '{blobName}' cannot be {verb} ({code}); an Entra ID identity needs a data role such as Storage Blob Data Contributor.";
    }

    /// <summary>The root cause of a transport failure ("Connection refused", not "An error occurred while sending the request").</summary>
    private static Exception Innermost(Exception error)
    {
        while (error.InnerException is { } inner) error = inner;
        return error;
    }

    /// <summary>The SDK reports exhausted retries as an AggregateException of the attempts; the last one tells.</summary>
    private static Exception Unwrap(Exception error)
    {
        while (error is AggregateException { InnerExceptions.Count: > 0 } aggregate)
        {
            error = aggregate.InnerExceptions[^1];
        }
        return error;
    }
}
