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
}
