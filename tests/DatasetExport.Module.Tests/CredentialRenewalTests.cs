using System.Management.Automation;
using System.Text;

namespace DatasetExport.Module.Tests;

/// <summary>
/// Credentials changed on a stored destination, as an admin rotates them: against a real sshd, and after the state home
/// lost the keys that decrypt its secrets. Before, a destination's credentials could only change by removing it (refused
/// while a flow used it, and forgetting what its flows exported there), and with the keys lost it could not even be removed.
/// </summary>
public sealed class CredentialRenewalTests(SftpServer server) : IClassFixture<SftpServer>
{
    [Fact]
    public void A_rotated_password_replaces_the_stored_one_once_it_works_and_the_flow_keeps_what_it_exported()
    {
        using var session = new ModuleSession();
        var (lake, _) = ExportPipelineTests.MakeLake(session);
        var port = server.Start();
        var wrongPassword = "wrong-" + server.Password;
        session.Run("""
            param($Port, $Credential, $Lake)
            New-ExportDestination -Name sftp -Type Sftp -HostName 127.0.0.1 -Port $Port -Credential $Credential -FolderPath exports | Out-Null
            New-ExportFlow -Name f -Destination sftp -Dataset orders -Incremental | Out-Null
            Set-DatasetExportOption -LakePath $Lake
            """, port, Credential(server.Password), lake).AssertNoErrors();
        Assert.Equal(120L, RecordsWritten(session.Run("Start-ExportRun f").AssertNoErrors()));

        // A credential that does not work is not stored: the probe fails first.
        var refused = session.Run("Set-ExportDestination sftp -Credential $args[0]", Credential(wrongPassword));
        ExportPipelineTests.AssertError(refused, "DestinationAuthenticationFailed", "SetExportDestinationCommand", ErrorCategory.AuthenticationError, "sftp");
        Assert.True((bool)session.Run("(Test-ExportDestination sftp).Succeeded").AssertNoErrors().Output.Single().BaseObject);

        // Stored without validation, it is the one used.
        session.Run("Set-ExportDestination sftp -Credential $args[0] -SkipValidation", Credential(wrongPassword)).AssertNoErrors();
        File.WriteAllText(Path.Combine(lake, "orders", "batch-late.jsonl"), """
            {"id":1000,"customer":"c","amount":1.5,"paid":true,"createdAt":"2026-02-01T10:00:00Z"}
            {"id":1001,"customer":"c","amount":2.5,"paid":false,"createdAt":"2026-02-01T10:00:00Z"}

            """);
        var failed = session.Run("Start-ExportRun f").Output.Single();
        Assert.Equal("Failed", failed.Properties["Status"].Value.ToString());
        Assert.Contains($"rejected user '{server.UserName}'", (string)failed.Properties["Error"].Value);

        var renewed = session.Run("Set-ExportDestination sftp -Credential $args[0] -PassThru", Credential(server.Password)).AssertNoErrors().Output.Single();
        Assert.Equal(server.UserName, renewed.Properties["Credential"].Value);

        // The flow's record of what it exported there stayed: only the batch that arrived since goes.
        Assert.Equal(2L, RecordsWritten(session.Run("Start-ExportRun f").AssertNoErrors()));

        SecretAssert.NowhereIn(session, server.Password, wrongPassword);
    }

    [Fact]
    public void A_destination_whose_secrets_the_keys_no_longer_decrypt_is_listed_removed_or_given_them_again()
    {
        using var session = new ModuleSession();
        var (_, output) = ExportPipelineTests.MakeLake(session);
        const string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        session.Run("""
            param($Credential, $Output)
            New-ExportDestination -Name s3 -Type AmazonS3 -Bucket exports -Region eu-west-1 -Credential $Credential -SkipValidation | Out-Null
            New-ExportDestination -Name s3-old -Type AmazonS3 -Bucket old -Region eu-west-1 -Credential $Credential -SkipValidation | Out-Null
            New-ExportDestination -Name local -Type Local -Path $Output | Out-Null
            """, ModuleSurfaceTests.Credential("AKIAOLD", secret), output).AssertNoErrors();
        Directory.Delete(Path.Combine(session.Home.Path, "keys"), recursive: true);

        // Was: StateUnusable for every listing, even of 'local', and for Remove-ExportDestination.
        var listed = session.Run("Get-ExportDestination").AssertNoErrors();
        Assert.Equal(["local", "s3", "s3-old"], listed.Output.Select(o => (string)o.Properties["Name"].Value));
        Assert.Equal(2, listed.OtherStreams.Count(line => line.Contains("cannot be read") && line.Contains("Set-ExportDestination -Credential")));
        Assert.Empty(session.Run("Get-ExportDestination local").AssertNoErrors().OtherStreams);

        ExportPipelineTests.AssertError(session.Run("Test-ExportDestination s3"), "StateUnusable", "TestExportDestinationCommand", ErrorCategory.InvalidData, "s3");
        // Any other change would write it back without its secrets.
        ExportPipelineTests.AssertError(session.Run("Set-ExportDestination s3 -MaxFileSizeMB 8 -SkipValidation"), "StateUnusable", "SetExportDestinationCommand", ErrorCategory.InvalidData, "s3");

        session.Run("Remove-ExportDestination s3-old -Confirm:$false").AssertNoErrors();
        var renewed = session.Run("Set-ExportDestination s3 -Credential $args[0] -MaxFileSizeMB 8 -SkipValidation -PassThru",
            ModuleSurfaceTests.Credential("AKIANEW", secret + "-new")).AssertNoErrors();
        Assert.Equal("AKIANEW", renewed.Output.Single().Properties["Credential"].Value);
        Assert.Empty(renewed.OtherStreams);
        Assert.Equal(["local", "s3"], session.Run("Get-ExportDestination").AssertNoErrors().Output.Select(o => (string)o.Properties["Name"].Value));
        SecretAssert.NowhereIn(session, secret);
    }

    [Theory]
    [InlineData("New-ExportDestination -Name d -Type Local -Path $args[1] | Out-Null; Set-ExportDestination d -Credential $args[0] -SkipValidation",
        "Credential", "Destination 'd' (Local) stores no credentials: it cannot be given a credential.")]
    [InlineData("New-ExportDestination -Name d -Type AmazonS3 -Bucket b -Region eu-west-1 -SkipValidation | Out-Null; Set-ExportDestination d -SasUri 'https://a.blob.core.windows.net/c?sv=1&sig=SIGNATURE' -SkipValidation",
        "SasUri", "Destination 'd' (AmazonS3) takes a credential: access key id and secret: it cannot be given a SAS URI.")]
    [InlineData("New-ExportDestination -Name d -Type AmazonS3 -Bucket b -Region eu-west-1 -SkipValidation | Out-Null; Set-ExportDestination d -Credential $args[0] -ConnectionString ([securestring]::new()) -SkipValidation",
        "ConnectionString", "Give one credential at a time, not -Credential and -ConnectionString.")]
    public void A_credential_of_a_kind_the_destination_does_not_take_is_refused_and_nothing_changes(string script, string parameter, string message)
    {
        using var session = new ModuleSession();
        var result = session.Run(script, ModuleSurfaceTests.Credential("user", "SIGNATURE-secret"), session.Work.Combine("out"));

        ExportPipelineTests.AssertError(result, "InvalidDestinationParameter", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "d");
        var error = (ArgumentException)result.Errors[0].Exception;
        Assert.Equal(parameter, error.ParamName);
        Assert.StartsWith(message, error.Message);
        Assert.DoesNotContain(session.Run("(Get-ExportDestination d).Credential").AssertNoErrors().Output, o => o is not null);
        SecretAssert.NowhereIn(session, "SIGNATURE");
    }

    private PSCredential Credential(string password) => ModuleSurfaceTests.Credential(server.UserName, password);

    private static long RecordsWritten(ScriptResult result) => (long)result.Output.Single().Properties["RecordsWritten"].Value;
}

/// <summary>Where a secret must never be: every stream of the session and every file of its state home (raw and UTF-16).</summary>
internal static class SecretAssert
{
    public static void NowhereIn(ModuleSession session, params string[] secrets)
    {
        var streams = string.Join("\n", session.Host.Text, session.Run("$Error | ForEach-Object { $_.ToString(); $_.Exception.ToString() }").Output.Select(o => o?.ToString()));
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, streams);
            foreach (var file in Directory.EnumerateFiles(session.Home.Path, "*", SearchOption.AllDirectories))
            {
                var bytes = File.ReadAllBytes(file);
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, $"{secret[..4]}... found in {file}");
                Assert.True(bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(secret)) < 0, $"{secret[..4]}... found in {file} (UTF-16)");
            }
        }
    }
}
