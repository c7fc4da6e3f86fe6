using System.Collections;
using System.Management.Automation;
using System.Security;
using System.Text;
using DatasetExport.Engine.Tests.Destinations.S3;

namespace DatasetExport.Module.Tests;

/// <summary>
/// Every secret each destination type takes, driven through the paths an admin hits against the real servers (fauxqs,
/// s3rver, Azurite, sshd): New-ExportDestination validated with good, wrong and unreachable credentials, with
/// -SkipValidation and -WhatIf, property dumps of Get-ExportDestination, Set-, Test-, Start-ExportRun and Get-ExportRun,
/// Rename-ExportDestination and Rename-ExportFlow, Remove-ExportRun, all with -Verbose and -Debug. No marker may appear in any output, stream, $Error record (message, inner chain,
/// ToString, TargetObject, ErrorDetails), host text, the state home's files or the files the servers stored, as it is,
/// URL-escaped or base64-encoded.
/// </summary>
public sealed class SecretSweepTests(S3ServersFixture s3, AzuriteServer azurite, SftpServer sftp)
    : IClassFixture<S3ServersFixture>, IClassFixture<AzuriteServer>, IClassFixture<SftpServer>
{
    /// <summary>
    /// The paths, with -RetryCount 0 so unreachable servers fail at once. $Offline (no server to reach, as for Entra ID
    /// here) keeps to what needs none: New- and Set- with -SkipValidation, the listings.
    /// </summary>
    private const string Sweep = """
        param($Good, $Wrong, $Down, $Lake, $Offline)
        Set-DatasetExportOption -LakePath $Lake
        if ($Good) { New-ExportDestination -Name good @Good -RetryCount 0 -IncludeManifest -Verbose -Debug }
        if (!$Offline) {
            New-ExportDestination -Name wrong @Wrong -RetryCount 0 -Verbose -Debug
            New-ExportDestination -Name down @Down -RetryCount 0 -Verbose -Debug
        }
        New-ExportDestination -Name wrong @Wrong -RetryCount 0 -SkipValidation -WhatIf -Verbose -Debug
        New-ExportDestination -Name wrong @Wrong -RetryCount 0 -SkipValidation -Verbose -Debug
        New-ExportDestination -Name down @Down -RetryCount 0 -SkipValidation -Verbose -Debug
        Get-ExportDestination | ForEach-Object {
            $_.PSObject.Properties | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value }
            $_.Settings.GetEnumerator() | ForEach-Object { '{0}={1}' -f $_.Key, $_.Value }
        }
        Get-ExportDestination | Set-ExportDestination -MaxFileSizeMB 64 -SkipValidation:$Offline -PassThru -Verbose -Debug
        if ($Offline) { return }
        Get-ExportDestination | Test-ExportDestination -Verbose -Debug
        Get-ExportDestination | ForEach-Object { New-ExportFlow -Name $_.Name -Destination $_.Name -Dataset orders -Verbose -Debug } | Out-Null
        Get-ExportFlow | ForEach-Object { Start-ExportRun -Flow $_.Name -Verbose -Debug }
        Get-ExportRun | ForEach-Object { $_.PSObject.Properties | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value } }
        Get-ExportDestination | ForEach-Object { Rename-ExportDestination $_.Name "$($_.Name)-renamed" -PassThru -Verbose -Debug } |
            ForEach-Object { $_.PSObject.Properties | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value } }
        Get-ExportFlow | Rename-ExportFlow -NewName { "$($_.Name)-renamed" } -PassThru -Verbose -Debug
        Get-ExportRun | Remove-ExportRun -WhatIf -Verbose -Debug
        Get-ExportRun | Remove-ExportRun -Confirm:$false -Verbose -Debug
        """;

    public static TheoryData<string> Secrets() =>
    [
        "AmazonS3 secret access key", "GoogleCloudStorage HMAC secret", "AzureBlob account key", "AzureBlob connection string",
        "AzureBlob SAS URI", "DataLandingZone SAS URI", "AzureDataLakeGen2 account key", "Azure service principal client secret",
        "Sftp password", "Sftp key passphrase",
    ];

    [Theory]
    [MemberData(nameof(Secrets))]
    public void A_secret_never_shows_on_any_path_an_admin_takes(string secret)
    {
        using var session = new ModuleSession();
        var (lake, _) = ExportPipelineTests.MakeLake(session);
        var (good, wrong, down, markers, stores) = Build(secret);

        var offline = secret.Contains("service principal", StringComparison.Ordinal);

        var result = session.Run(Sweep, good, wrong, down, lake, offline);

        AssertAbsent(session, result, markers, stores, mustSee: "Name=wrong");
        string[] left = offline ? ["down", "wrong"] : ["down-renamed", "wrong-renamed"];
        Assert.Equal(left, session.Run("Get-ExportDestination | ForEach-Object Name").Output.Select(o => (string)o.BaseObject).Where(n => !n.StartsWith("good", StringComparison.Ordinal)));
        if (offline) return;
        // The sweep did reach the servers: the good destination exports, the others fail, each for its own reason.
        var runs = result.Output.Where(o => o.BaseObject.GetType().Name == "ExportRun").ToList();
        if (good is not null)
        {
            Assert.Equal("Succeeded", runs.Single(r => (string)r.Properties["Destination"].Value == "good").Properties["Status"].Value.ToString());
        }
        Assert.All(runs.Where(r => (string)r.Properties["Destination"].Value != "good"), r => Assert.Equal("Failed", r.Properties["Status"].Value.ToString()));
        Assert.Equal(2, runs.Count(r => (string)r.Properties["Destination"].Value != "good"));
        Assert.Contains(result.Errors, e => e.TargetObject as string == "wrong" && e.FullyQualifiedErrorId.EndsWith("NewExportDestinationCommand", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.TargetObject as string == "down" && e.CategoryInfo.Category == ErrorCategory.ConnectionError);
    }

    /// <summary>
    /// A credential typed where a plain setting goes is refused; -Verbose, -WhatIf and the error must not quote it
    /// either, although the refusal comes before anything is stored.
    /// </summary>
    [Theory]
    [InlineData("sig in -ServiceUri", "-Type AzureBlob -Container c -AccountName acct -ServiceUri $args[0] -Credential $args[1]", "https://acct.blob.core.windows.net/?sv=2024-08-04&sig=SIGMARKER1")]
    [InlineData("SAS URI as -Container", "-Type AzureBlob -Container $args[0] -AccountName acct -Credential $args[1]", "https://acct.blob.core.windows.net/c?sv=2024-08-04&sig=SIGMARKER2")]
    [InlineData("password in -HostName", "-Type Sftp -HostName $args[0] -Credential $args[1] -HostKeyFingerprint SHA256:abc=", "exporter:PWMARKER3@sftp.example.net")]
    [InlineData("password in -Endpoint", "-Type AmazonS3 -Bucket b -Region eu-west-1 -Endpoint $args[0] -Credential $args[1]", "https://AKIA:PWMARKER4@s3.example.net/")]
    [InlineData("dfs SAS URL as -Url", "-Type AzureDataLakeGen2 -Url $args[0] -Credential $args[1]", "https://acct.dfs.core.windows.net/raw?sv=2024-08-04&sig=SIGMARKER5")]
    [InlineData("abfss URL with a SAS", "-Type AzureDataLakeGen2 -Url $args[0] -Credential $args[1]", "abfss://raw@acct.dfs.core.windows.net/exports?sv=2024-08-04&sig=SIGMARKER6")]
    [InlineData("SAS URL as -FolderPath", "-Type AmazonS3 -Bucket b -Region eu-west-1 -FolderPath $args[0] -Credential $args[1]", "https://acct.blob.core.windows.net/c/exports?sv=2024-08-04&sig=SIGMARKER7")]
    public void A_credential_given_as_a_plain_setting_is_refused_without_being_quoted(string label, string parameters, string value)
    {
        using var session = new ModuleSession();
        var marker = System.Text.RegularExpressions.Regex.Match(value, "(SIG|PW)MARKER[0-9]").Value;

        var result = session.Run($"""
            New-ExportDestination -Name a {parameters} -SkipValidation -Verbose -Debug
            New-ExportDestination -Name b {parameters} -SkipValidation -WhatIf
            New-ExportDestination -Name c {parameters} -Verbose
            Get-ExportDestination
            """, value, ModuleSurfaceTests.Credential("AKIAEXAMPLE", "QUJDRA=="));

        AssertAbsent(session, result, [marker], [], mustSee: "NewExportDestinationCommand");
        // Refused each time, -WhatIf too: what would be created is described from the values refused.
        Assert.Equal(["a", "b", "c"], result.Errors.Select(e => (string)e.TargetObject));
        Assert.All(result.Errors, e => Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category));
        Assert.Empty(result.Output);
    }

    /// <summary>Good, wrong and unreachable settings for one secret, the markers to search for and the folders where the servers keep what they stored.</summary>
    private (Hashtable? Good, Hashtable Wrong, Hashtable Down, string[] Markers, string[] Stores) Build(string secret)
    {
        var wrongMarker = "WRONGMARKER-" + Guid.NewGuid().ToString("N");
        var downMarker = "DOWNMARKER-" + Guid.NewGuid().ToString("N");
        var closed = S3ServersFixture.ClosedPortUrl();
        var closedBlob = $"http://127.0.0.1:{closed.Port}/{AzuriteServer.AccountName}";
        var wrongKey = Convert.ToBase64String(Encoding.UTF8.GetBytes(wrongMarker));
        var downKey = Convert.ToBase64String(Encoding.UTF8.GetBytes(downMarker));
        Hashtable With(Hashtable settings, params (string Key, object Value)[] changes)
        {
            var copy = (Hashtable)settings.Clone();
            foreach (var (key, value) in changes) copy[key] = value;
            return copy;
        }
        switch (secret)
        {
            case "AmazonS3 secret access key":
            case "GoogleCloudStorage HMAC secret":
            {
                var gcs = secret.StartsWith("Google", StringComparison.Ordinal);
                var (server, keyId) = gcs ? (s3.S3rverClient, S3ServersFixture.S3rverKeyId) : (s3.FauxqsClient, S3ServersFixture.FauxqsKeyId);
                // Neither server checks signatures; s3rver checks key ids, fauxqs not even those: there the bucket is missing.
                var goodSecret = "GOODMARKER-" + Guid.NewGuid().ToString("N");
                var good = new Hashtable { ["Type"] = gcs ? "GoogleCloudStorage" : "AmazonS3", ["Bucket"] = s3.NewBucketAsync(server).GetAwaiter().GetResult(),
                    ["Endpoint"] = gcs ? s3.S3rverUrl : s3.FauxqsUrl, ["Credential"] = Credential(keyId, goodSecret) };
                if (!gcs) good["Region"] = "us-east-1";
                var wrong = gcs ? With(good, ("Credential", Credential("GOOGWRONGHMACID", wrongMarker)))
                    : With(good, ("Bucket", "missing-" + Guid.NewGuid().ToString("N")), ("Credential", Credential(keyId, wrongMarker)));
                return (good, wrong,
                    With(good, ("Endpoint", closed), ("Credential", Credential(keyId, downMarker))), [goodSecret, wrongMarker, downMarker], [s3.FauxqsStorage]);
            }
            case "AzureBlob account key":
            case "AzureDataLakeGen2 account key":
            {
                var container = azurite.CreateContainer();
                var good = secret.StartsWith("AzureBlob", StringComparison.Ordinal)
                    ? new Hashtable { ["Type"] = "AzureBlob", ["Container"] = container }
                    : new Hashtable { ["Type"] = "AzureDataLakeGen2", ["FileSystem"] = container };
                good["AccountName"] = AzuriteServer.AccountName;
                good["ServiceUri"] = azurite.ServiceUri;
                good["Credential"] = Credential(AzuriteServer.AccountName, AzuriteServer.AccountKey);
                return (good, With(good, ("Credential", Credential(AzuriteServer.AccountName, wrongKey))),
                    With(good, ("ServiceUri", closedBlob), ("Credential", Credential(AzuriteServer.AccountName, downKey))),
                    [AzuriteServer.AccountKey, wrongKey, downKey, wrongMarker, downMarker], [azurite.Data.Path]);
            }
            case "AzureBlob connection string":
            {
                var good = new Hashtable { ["Type"] = "AzureBlob", ["Container"] = azurite.CreateContainer(), ["ConnectionString"] = Secure(azurite.ConnectionString(AzuriteServer.AccountKey)) };
                return (good, With(good, ("ConnectionString", Secure(azurite.ConnectionString(wrongKey)))),
                    With(good, ("ConnectionString", Secure(azurite.ConnectionString(downKey, closedBlob)))),
                    [AzuriteServer.AccountKey, wrongKey, downKey, wrongMarker, downMarker], [azurite.Data.Path]);
            }
            case "AzureBlob SAS URI":
            case "DataLandingZone SAS URI":
            {
                var container = azurite.CreateContainer();
                var sasUri = azurite.ContainerSas(container);
                var signature = Uri.UnescapeDataString(sasUri[(sasUri.IndexOf("&sig=", StringComparison.Ordinal) + 5)..]);
                string Resigned(string uri, string sig) => uri[..(uri.IndexOf("&sig=", StringComparison.Ordinal) + 5)] + Uri.EscapeDataString(sig);
                var good = secret.StartsWith("AzureBlob", StringComparison.Ordinal)
                    ? new Hashtable { ["Type"] = "AzureBlob", ["Container"] = container }
                    : new Hashtable { ["Type"] = "DataLandingZone" };
                good["SasUri"] = Secure(sasUri);
                return (good, With(good, ("SasUri", Secure(Resigned(sasUri, wrongKey)))),
                    With(good, ("SasUri", Secure(Resigned(sasUri.Replace(azurite.ServiceUri, closedBlob, StringComparison.Ordinal), downKey)))),
                    [signature, wrongKey, downKey, wrongMarker, downMarker], [azurite.Data.Path]);
            }
            case "Azure service principal client secret":
            {
                // No Entra ID here: every sign-in fails, on the token request to the closed port's https endpoint or to login.microsoftonline.com.
                var settings = new Hashtable { ["Type"] = "AzureBlob", ["Container"] = "c", ["AccountName"] = "acct", ["TenantId"] = "72f988bf-0000-0000-0000-2d7cd011db47",
                    ["ServiceUri"] = $"https://127.0.0.1:{closed.Port}/acct", ["Credential"] = Credential("11111111-2222-3333-4444-555555555555", wrongMarker) };
                return (null, settings, With(settings, ("Credential", Credential("11111111-2222-3333-4444-555555555555", downMarker))), [wrongMarker, downMarker], []);
            }
            case "Sftp password":
            case "Sftp key passphrase":
            {
                var port = sftp.Start();
                var good = new Hashtable { ["Type"] = "Sftp", ["HostName"] = "127.0.0.1", ["Port"] = port, ["HostKeyFingerprint"] = sftp.FingerprintOf(SftpServer.HostKey) };
                string[] markers = [wrongMarker, downMarker];
                if (secret == "Sftp password")
                {
                    good["Credential"] = Credential(sftp.UserName, sftp.Password);
                    markers = [.. markers, sftp.Password];
                }
                else
                {
                    var keyFile = sftp.KeyPath("id_ed25519_protected");
                    good["KeyFile"] = keyFile;
                    good["Credential"] = Credential(sftp.UserName, sftp.KeyPassphrase);
                    // The key file's body is as secret as its passphrase.
                    var keyLines = File.ReadAllLines(keyFile).Where(line => line.Length >= 16 && !line.StartsWith("-----", StringComparison.Ordinal));
                    markers = [.. markers, sftp.KeyPassphrase, .. keyLines];
                }
                // A wrong passphrase fails before connecting, so the unreachable server gets the right one.
                var down = secret == "Sftp password" ? With(good, ("Port", closed.Port), ("Credential", Credential(sftp.UserName, downMarker))) : With(good, ("Port", closed.Port));
                return (good, With(good, ("Credential", Credential(sftp.UserName, wrongMarker))), down, markers, [sftp.HomePath]);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(secret), secret, null);
        }
    }

    /// <summary>
    /// <paramref name="mustSee"/> is a text the search has to find, lest it look nowhere.
    /// No marker in the script's output, streams, errors, the session's whole $Error, the host's text, the state home's
    /// files or the servers' stored files: as it is, URL-escaped, base64-encoded (and decoded, for base64 markers).
    /// </summary>
    internal static void AssertAbsent(ModuleSession session, ScriptResult result, string[] markers, string[] stores, string mustSee)
    {
        var text = new StringBuilder();
        foreach (var item in result.Output) PropertyText.Flatten(item, text);
        foreach (var error in result.Errors) Describe(error, text);
        foreach (var line in result.OtherStreams) text.AppendLine(line);
        foreach (var progress in result.Progress) text.AppendLine(progress.ToString()).AppendLine(progress.Activity).AppendLine(progress.StatusDescription).AppendLine(progress.CurrentOperation);
        foreach (var recorded in session.Run("$global:Error").Output)
        {
            if (recorded.BaseObject is ErrorRecord error) Describe(error, text);
            else if (recorded.BaseObject is Exception exception) Describe(exception, text);
            else PropertyText.Flatten(recorded, text);
        }
        text.AppendLine(session.Host.Text);
        Assert.Contains(mustSee, text.ToString()); // the search does see what the cmdlets wrote

        var seen = Encoding.UTF8.GetBytes(text.ToString());
        var files = stores.Append(session.Home.Path).Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)).ToList();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var marker in markers)
        {
            foreach (var (form, bytes) in Forms(marker))
            {
                Assert.False(Contains(seen, bytes), $"The secret ({form}) shows in the session's output, streams or errors:\n{Around(text.ToString(), bytes)}");
                foreach (var file in files)
                {
                    Assert.False(Contains(File.ReadAllBytes(file), bytes), $"The secret ({form}) is in {file}.");
                }
            }
        }
    }

    private static IEnumerable<(string Form, byte[] Bytes)> Forms(string marker)
    {
        yield return ("as it is", Encoding.UTF8.GetBytes(marker));
        yield return ("UTF-16", Encoding.Unicode.GetBytes(marker));
        if (Uri.EscapeDataString(marker) != marker) yield return ("URL-escaped", Encoding.UTF8.GetBytes(Uri.EscapeDataString(marker)));
        yield return ("base64", Encoding.UTF8.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(marker))));
        var decoded = new byte[marker.Length];
        if (Convert.TryFromBase64String(marker, decoded, out var length) && length >= 16) yield return ("base64-decoded", decoded[..length]);
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private static string Around(string text, byte[] needle)
    {
        var at = text.IndexOf(Encoding.UTF8.GetString(needle), StringComparison.Ordinal);
        return at < 0 ? "(in an encoded form)" : text[Math.Max(0, at - 300)..Math.Min(text.Length, at + 100)];
    }

    /// <summary>Everything an error record shows or carries: its text, ids, target, details, position and the whole exception chain.</summary>
    private static void Describe(ErrorRecord error, StringBuilder into)
    {
        into.AppendLine(error.ToString()).AppendLine(error.FullyQualifiedErrorId).AppendLine(error.CategoryInfo.ToString())
            .AppendLine(error.ErrorDetails?.Message).AppendLine(error.ErrorDetails?.RecommendedAction)
            .AppendLine(error.InvocationInfo?.PositionMessage).AppendLine(error.ScriptStackTrace);
        PropertyText.Flatten(error.TargetObject, into);
        Describe(error.Exception, into);
    }

    private static void Describe(Exception error, StringBuilder into)
    {
        into.AppendLine(error.ToString());
        var pending = new Stack<Exception>([error]);
        while (pending.TryPop(out var current))
        {
            into.AppendLine(current.Message);
            foreach (DictionaryEntry entry in current.Data) into.AppendLine($"{entry.Key}={entry.Value}");
            if (current is IContainsErrorRecord { ErrorRecord: { } record } && !ReferenceEquals(record.Exception, current))
            {
                into.AppendLine(record.ToString()).AppendLine(record.ErrorDetails?.Message);
            }
            if (current is AggregateException aggregate) foreach (var inner in aggregate.InnerExceptions) pending.Push(inner);
            else if (current.InnerException is { } inner) pending.Push(inner);
        }
    }

    private static PSCredential Credential(string user, string password) => ModuleSurfaceTests.Credential(user, password);

    private static SecureString Secure(string text)
    {
        var secure = new SecureString();
        foreach (var c in text) secure.AppendChar(c);
        return secure;
    }
}
