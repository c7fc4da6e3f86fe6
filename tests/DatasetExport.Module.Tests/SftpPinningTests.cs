using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>SFTP host key pinning as users meet it, against a real sshd: recorded on first use, shown, enforced; then a scheduled export over it.</summary>
public sealed class SftpPinningTests(SftpServer server) : IClassFixture<SftpServer>
{
    [Fact]
    public void The_host_key_is_recorded_on_first_use_shown_and_used_by_scheduled_runs()
    {
        using var session = new ModuleSession();
        var (lake, _) = ExportPipelineTests.MakeLake(session);
        var port = server.Start();
        var credential = ModuleSurfaceTests.Credential(server.UserName, server.Password);

        var created = session.Run("New-ExportDestination -Name sftp -Type Sftp -HostName 127.0.0.1 -Port $args[0] -Credential $args[1] -FolderPath exports",
            port, credential).AssertNoErrors().Output.Single();

        var pin = server.FingerprintOf(SftpServer.HostKey);
        Assert.Equal(pin, created.Properties["HostKeyFingerprint"].Value);
        Assert.Equal(pin, session.Run("(Get-ExportDestination sftp).HostKeyFingerprint").AssertNoErrors().Output.Single().BaseObject);

        var runs = session.Run("""
            param($Lake)
            New-ExportFlow -Name f -Destination sftp -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null
            Invoke-ExportSchedule -LakePath $Lake -FailOnError
            """, lake).AssertNoErrors().Output;

        var run = Assert.Single(runs);
        Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString());
        Assert.Equal(120L, run.Properties["RecordsWritten"].Value);
        var uploaded = Path.Combine(server.HomePath, "exports", "orders", "exportTime=202601050930");
        Assert.NotEmpty(Directory.EnumerateFiles(uploaded, "part-*"));
    }

    [Fact]
    public void A_server_whose_key_differs_from_the_pin_is_refused()
    {
        using var session = new ModuleSession();
        var rekeyedPort = server.Start(SftpServer.RekeyedHostKey);

        var result = session.Run("New-ExportDestination -Name sftp -Type Sftp -HostName 127.0.0.1 -Port $args[0] -Credential $args[1] -HostKeyFingerprint $args[2]",
            rekeyedPort, ModuleSurfaceTests.Credential(server.UserName, server.Password), server.FingerprintOf(SftpServer.HostKey));

        ExportPipelineTests.AssertError(result, "DestinationHostKeyMismatch", "NewExportDestinationCommand", ErrorCategory.SecurityError, "sftp");
        Assert.Contains(server.FingerprintOf(SftpServer.RekeyedHostKey), result.Errors[0].Exception.Message);
        Assert.Empty(session.Run("Get-ExportDestination").AssertNoErrors().Output);
    }
    /// <summary>
    /// A server that signs the user in but offers no SFTP (no "Subsystem sftp" line) is the server's setup: the validation
    /// of New-ExportDestination fails at once as DestinationInvalidConfiguration (InvalidArgument) naming the likely cause,
    /// and nothing is stored. Before, it was DestinationFailed (WriteError): "SFTP operation on 127.0.0.1:P failed: Subsystem
    /// 'sftp' could not be executed."
    /// </summary>
    [Fact]
    public void A_server_without_sftp_is_refused_as_a_configuration_error_naming_the_cause()
    {
        using var session = new ModuleSession();
        var port = server.Start(sftpCommand: "");

        var result = session.Run("New-ExportDestination -Name sftp -Type Sftp -HostName 127.0.0.1 -Port $args[0] -Credential $args[1]",
            port, ModuleSurfaceTests.Credential(server.UserName, server.Password));

        ExportPipelineTests.AssertError(result, "DestinationInvalidConfiguration", "NewExportDestinationCommand", ErrorCategory.InvalidArgument, "sftp");
        var message = result.Errors[0].Exception.Message;
        Assert.Contains($"The SFTP server at 127.0.0.1:{port} signed in user '{server.UserName}' but refused to start SFTP", message);
        Assert.Contains("no 'Subsystem sftp' line", message);
        Assert.DoesNotContain(server.Password, result.Errors[0].ToString());
        Assert.Empty(session.Run("Get-ExportDestination").AssertNoErrors().Output);
    }

    /// <summary>
    /// docs/destinations-sftp.md: a key that changed on purpose is handled by setting the new pin on the destination, or by
    /// clearing it and validating to record the new one; the destination (its flows and what they exported there) stays.
    /// </summary>
    [Fact]
    public void A_host_key_changed_on_purpose_is_pinned_again_with_Set_ExportDestination()
    {
        using var session = new ModuleSession();
        var rekeyedPort = server.Start(SftpServer.RekeyedHostKey);
        var credential = ModuleSurfaceTests.Credential(server.UserName, server.Password);
        var oldPin = server.FingerprintOf(SftpServer.HostKey);
        var newPin = server.FingerprintOf(SftpServer.RekeyedHostKey);
        const string create = "New-ExportDestination -Name $args[0] -Type Sftp -HostName 127.0.0.1 -Port $args[1] -Credential $args[2] -HostKeyFingerprint $args[3] -SkipValidation | Out-Null";
        session.Run(create, "sftp", rekeyedPort, credential, oldPin).AssertNoErrors();
        session.Run(create, "sftp2", rekeyedPort, credential, oldPin).AssertNoErrors();
        ExportPipelineTests.AssertError(session.Run("Test-ExportDestination sftp | Out-Null"),
            "DestinationHostKeyMismatch", "TestExportDestinationCommand", ErrorCategory.SecurityError, "sftp");

        // A wrong pin fails validation and is not stored.
        var wrong = session.Run("Set-ExportDestination sftp -HostKeyFingerprint $args[0]", oldPin);
        ExportPipelineTests.AssertError(wrong, "DestinationHostKeyMismatch", "SetExportDestinationCommand", ErrorCategory.SecurityError, "sftp");

        // The new pin, given.
        var changed = session.Run("Set-ExportDestination sftp -HostKeyFingerprint $args[0] -PassThru", newPin).AssertNoErrors().Output.Single();
        Assert.Equal(newPin, changed.Properties["HostKeyFingerprint"].Value);
        Assert.Equal(true, session.Run("(Test-ExportDestination sftp).Succeeded").AssertNoErrors().Output.Single().BaseObject);

        // Cleared: needs validation, which records the key the server shows now.
        var unvalidated = session.Run("Set-ExportDestination sftp2 -HostKeyFingerprint '' -SkipValidation");
        ExportPipelineTests.AssertError(unvalidated, "InvalidDestinationParameter", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "sftp2");
        Assert.Equal(oldPin, session.Run("(Get-ExportDestination sftp2).HostKeyFingerprint").AssertNoErrors().Output.Single().BaseObject);
        session.Run("Set-ExportDestination sftp2 -HostKeyFingerprint ''").AssertNoErrors();
        Assert.Equal(newPin, session.Run("(Get-ExportDestination sftp2).HostKeyFingerprint").AssertNoErrors().Output.Single().BaseObject);

        // Only SFTP destinations have a pin.
        session.Run("New-ExportDestination -Name local -Type Local -Path $args[0] | Out-Null", session.Work.Combine("out")).AssertNoErrors();
        ExportPipelineTests.AssertError(session.Run("Set-ExportDestination local -HostKeyFingerprint $args[0]", newPin),
            "InvalidDestinationParameter", "SetExportDestinationCommand", ErrorCategory.InvalidArgument, "local");
    }
}
