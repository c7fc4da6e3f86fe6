using System.Management.Automation;
using System.Management.Automation.Runspaces;

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

        var state = InitialSessionState.CreateDefault2();
        state.ImportPSModule(ModuleSession.ManifestPath);
        using var pool = RunspaceFactory.CreateRunspacePool(2, 2, state, session.Host);
        pool.Open();
        using var kept = PowerShell.Create();
        kept.RunspacePool = pool;
        kept.AddCommand("Start-ExportRun").AddParameter("Flow", "kept").AddParameter("LakePath", lake);
        using var stopped = PowerShell.Create();
        stopped.RunspacePool = pool;
        stopped.AddCommand("Start-ExportRun").AddParameter("Flow", "stopped").AddParameter("LakePath", lake);
        // Once a part is stored (the status counts files). BeginStop: the event is raised on the pipeline thread.
        var partStored = false;
        stopped.Streams.Progress.DataAdded += (_, e) =>
        {
            var record = stopped.Streams.Progress[e.Index];
            if (record.RecordType == ProgressRecordType.Completed || record.StatusDescription.Contains(": 0 files", StringComparison.Ordinal)) return;
            partStored = true;
            stopped.BeginStop(null, null);
        };

        var keptDone = kept.BeginInvoke();
        var stoppedDone = stopped.BeginInvoke();
        var keptRuns = kept.EndInvoke(keptDone);
        Assert.ThrowsAny<PipelineStoppedException>(() => stopped.EndInvoke(stoppedDone));
        Assert.True(partStored);

        Assert.Empty(kept.Streams.Error);
        var keptRun = Assert.Single(keptRuns);
        Assert.Equal("Succeeded", keptRun.Properties["Status"].Value.ToString());
        Assert.Equal(20_000L, (long)keptRun.Properties["RecordsWritten"].Value);
        var keptLines = Directory.EnumerateFiles(Path.Combine(server.HomePath, folder, "kept"), "part-*", SearchOption.AllDirectories).SelectMany(File.ReadLines).Count();
        Assert.Equal(20_000, keptLines);

        var stoppedRun = session.Run("Get-ExportRun -Flow stopped").AssertNoErrors().Output.Single();
        Assert.Equal("Failed", stoppedRun.Properties["Status"].Value.ToString());
        Assert.Equal("The export was cancelled.", stoppedRun.Properties["Error"].Value);
        var stoppedFolder = Path.Combine(server.HomePath, folder, "stopped");
        Assert.Empty(Directory.Exists(stoppedFolder) ? Directory.EnumerateFiles(stoppedFolder, "part-*", SearchOption.AllDirectories) : []);
        Assert.DoesNotContain(session.Run("Get-ExportRun").AssertNoErrors().Output, run => run.Properties["Status"].Value.ToString() == "Running");
    }
}
