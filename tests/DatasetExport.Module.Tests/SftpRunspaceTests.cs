using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>Two runspaces of one pool exporting to a real sshd (internal-sftp) at once, one of them stopped mid-export.</summary>
public sealed class SftpRunspaceTests(SftpServer server) : IClassFixture<SftpServer>
{
    /// <summary>
    /// Both flows export to the same SFTP server, each from its own runspace; one is stopped (PowerShell.Stop, as Ctrl+C or
    /// a timeout does) once it has stored a part. The stopped run ends Failed (cancelled) and its parts are deleted from
    /// the server; the other stores every record; no run stays Running.
    /// </summary>
    [Fact]
    public void Stopping_one_of_two_parallel_SFTP_exports_deletes_its_parts_and_keeps_the_other()
    {
        using var session = new ModuleSession();
        var port = server.Start();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 8, recordsPerBatch: 2500);
        var folder = "rs-" + Guid.NewGuid().ToString("N")[..8];
        session.Run("""
            param($Port, $Credential, $Pin, $Folder)
            foreach ($name in 'stopped', 'kept') {
                New-ExportDestination -Name $name -Type Sftp -HostName 127.0.0.1 -Port $Port -Credential $Credential -HostKeyFingerprint $Pin -FolderPath "$Folder/$name" -MaxFileSizeMB 1 | Out-Null
            }
            New-ExportFlow -Name stopped -Destination stopped -Dataset events | Out-Null
            New-ExportFlow -Name kept -Destination kept -Dataset orders | Out-Null
            """, port, ModuleSurfaceTests.Credential(server.UserName, server.Password), server.FingerprintOf(SftpServer.HostKey), folder).AssertNoErrors();

        // Once a part is stored (the status counts files).
        var keptRuns = RunspaceConcurrencyTests.RunKeptWhileStopping(session, lake,
            record => record.RecordType != ProgressRecordType.Completed && !record.StatusDescription.Contains(": 0 files", StringComparison.Ordinal));

        var keptRun = Assert.Single(keptRuns);
        Assert.Equal("Succeeded", keptRun.Properties["Status"].Value.ToString());
        Assert.Equal(20_000L, (long)keptRun.Properties["RecordsWritten"].Value);
        var keptLines = Directory.EnumerateFiles(Path.Combine(server.HomePath, folder, "kept"), "part-*", SearchOption.AllDirectories).SelectMany(File.ReadLines).Count();
        Assert.Equal(20_000, keptLines);

        RunspaceConcurrencyTests.AssertStoppedRunCancelled(session, Path.Combine(server.HomePath, folder, "stopped"));
    }
}
