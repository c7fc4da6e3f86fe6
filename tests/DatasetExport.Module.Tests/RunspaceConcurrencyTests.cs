using System.IO.Compression;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Security.Cryptography;

namespace DatasetExport.Module.Tests;

/// <summary>
/// The module used from several runspaces and threads of ONE process, as PowerShell 7 admins do
/// (<c>ForEach-Object -Parallel</c>, runspace pools): each parallel block imports the module into its own runspace, and
/// they all share the process's statics (caches, pools, the assembly-load hook) and one state home.
/// </summary>
public sealed class RunspaceConcurrencyTests(AzuriteServer azurite) : IClassFixture<AzuriteServer>
{
    /// <summary>
    /// First-ever use from four threads at once (no state.db, no key ring yet): each creates an Azure destination whose
    /// connection string is a secret, while two more list destinations. Afterwards, in fresh runspaces, every secret
    /// decrypts: four flows export to Azurite in parallel (the Azure SDK's connections are pooled per process) and every
    /// file reads back with its size and sha256.
    /// </summary>
    [Fact]
    public void First_use_from_parallel_runspaces_creates_secrets_that_all_decrypt_later()
    {
        using var session = new ModuleSession();
        Assert.False(File.Exists(Path.Combine(session.Home.Path, "state.db")));
        Assert.False(Directory.Exists(Path.Combine(session.Home.Path, "keys")));
        var container = azurite.CreateContainer();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 3, recordsPerBatch: 800);

        var created = session.Run("""
            param($Manifest, $Connection, $Container)
            1..6 | ForEach-Object -ThrottleLimit 6 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                if ($_ -le 4) {
                    $secret = [System.Net.NetworkCredential]::new('', $using:Connection).SecurePassword
                    New-ExportDestination -Name "az$_" -Type AzureBlob -Container $using:Container -ConnectionString $secret -FolderPath "az$_" -FileType Parquet -Compression Snappy -IncludeManifest -SkipValidation | Out-Null
                } else {
                    foreach ($i in 1..5) { Get-ExportDestination | Out-Null }
                }
            }
            """, ModuleSession.ManifestPath, azurite.ConnectionString(AzuriteServer.AccountKey), container).AssertNoErrors();
        // The listings meanwhile read every destination they saw with its secret (no "cannot be decrypted" warning).
        Assert.Empty(created.OtherStreams);

        var listed = session.Run("Get-ExportDestination | ForEach-Object { New-ExportFlow -Name $_.Name -Destination $_.Name -Dataset orders | Out-Null; $_.Name }").AssertNoErrors();
        Assert.Empty(listed.OtherStreams); // no warning about secrets that cannot be read
        Assert.Equal(["az1", "az2", "az3", "az4"], listed.Output.Select(o => (string)o.BaseObject).Order());

        var verified = session.Run("""
            param($Manifest, $Lake)
            'az1', 'az2', 'az3', 'az4' | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                Start-ExportRun -Flow $_ -LakePath $using:Lake | Test-ExportRun
            }
            """, ModuleSession.ManifestPath, lake).AssertNoErrors().Output;
        Assert.Equal(4, verified.Count);
        Assert.All(verified, v => Assert.True((bool)v.Properties["IsValid"].Value, (string?)v.Properties["Problem"].Value));
        var runs = session.Run("Get-ExportRun").AssertNoErrors().Output;
        Assert.Equal(["az1", "az2", "az3", "az4"], runs.Select(run => (string)run.Properties["Flow"].Value).Order());
        Assert.All(runs, run => Assert.Equal(2400L, (long)run.Properties["RecordsWritten"].Value));
    }

    /// <summary>
    /// Two runspaces start the SAME flow at once: the flow's datasets are exported once. Either one start is refused as
    /// FlowInUse while the other exports, or (when the first finished before the second began) the incremental flow finds
    /// nothing new; never is a record exported twice, and no run stays Running.
    /// </summary>
    [Fact]
    public void Parallel_starts_of_the_same_flow_export_each_record_once()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        var output = session.Work.Combine("out");
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 6, recordsPerBatch: 2000);
        session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders -Incremental | Out-Null
            """, lake, output).AssertNoErrors();

        var result = session.Run("""
            param($Manifest, $Lake)
            1..2 | ForEach-Object -ThrottleLimit 2 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                Start-ExportRun -Flow f -LakePath $using:Lake
            }
            """, ModuleSession.ManifestPath, lake);

        Assert.All(result.Errors, e => Assert.Equal("FlowInUse,DatasetExport.Commands.StartExportRunCommand", e.FullyQualifiedErrorId));
        var runs = session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output;
        Assert.All(runs, run => Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString()));
        Assert.Equal(12_000L, runs.Sum(run => (long)run.Properties["RecordsWritten"].Value));
        var ids = Directory.EnumerateFiles(output, "*.json.gz", SearchOption.AllDirectories).SelectMany(ReadGzipLines).Select(IdOf).ToList();
        Assert.Equal(12_000, ids.Count);
        Assert.Equal(Enumerable.Range(0, 12_000), ids.Order());
    }

    /// <summary>
    /// Six flows export the same two datasets at once (to Parquet snappy, Parquet zstd and JSON Lines gzip, two each)
    /// through the process-wide schema cache, column layouts, empty-file templates, zstd context pool and, from a Parquet
    /// lake, the row group copier: every output holds exactly what a serial export of the same datasets wrote, file for file.
    /// </summary>
    [Theory]
    [InlineData("jsonl")]
    [InlineData("parquet")]
    public void Parallel_exports_of_the_same_datasets_match_a_serial_export(string lakeFormat)
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        if (lakeFormat == "jsonl")
        {
            TestLake.WriteJsonLinesDataset(lake, "orders", batches: 4, recordsPerBatch: 1500);
            TestLake.WriteJsonLinesDataset(lake, "customers", batches: 3, recordsPerBatch: 700);
        }
        else
        {
            WriteParquetLake(session, lake);
        }
        // Settled files (written more than BatchSchemaCache.SettleTime before a read): their schemas are kept in the
        // process-wide cache, which the parallel exports fill at once.
        foreach (var file in Directory.EnumerateFiles(lake, "*", SearchOption.AllDirectories)) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddHours(-1));
        session.Run("""
            param($Work)
            foreach ($kind in 'serial', 'p1', 'p2') {
                New-ExportDestination -Name "$kind-parquet" -Type Local -Path "$Work/$kind-parquet" -FileType Parquet -Compression Snappy | Out-Null
                New-ExportDestination -Name "$kind-json" -Type Local -Path "$Work/$kind-json" -FileType Json -Compression Gzip | Out-Null
                New-ExportDestination -Name "$kind-zstd" -Type Local -Path "$Work/$kind-zstd" -FileType Parquet -Compression Zstd | Out-Null
                New-ExportFlow -Name "$kind-parquet" -Destination "$kind-parquet" -Dataset orders, customers | Out-Null
                New-ExportFlow -Name "$kind-zstd" -Destination "$kind-zstd" -Dataset orders, customers | Out-Null
                New-ExportFlow -Name "$kind-json" -Destination "$kind-json" -Dataset orders, customers | Out-Null
            }
            """, session.Work.Path).AssertNoErrors();

        session.Run("""
            param($Manifest, $Lake)
            Get-ExportFlow p1-*, p2-* | ForEach-Object -ThrottleLimit 6 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                $_ | Start-ExportRun -LakePath $using:Lake | Out-Null
            }
            """, ModuleSession.ManifestPath, lake).AssertNoErrors();

        // The serial export after: the parallel ones raced to fill the schema cache it then reads.
        session.Run("param($Lake) Start-ExportRun -Flow serial-parquet, serial-zstd, serial-json -LakePath $Lake | Out-Null", lake).AssertNoErrors();
        Assert.All(session.Run("Get-ExportRun").AssertNoErrors().Output, run => Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString()));
        // Against the lake itself too: the JSON outputs hold each record of the lake once.
        foreach (var (dataset, batches, records) in new[] { ("orders", 4, 1500), ("customers", 3, 700) })
        {
            // The JSON Lines lake numbers a dataset's records through its batches; each Parquet batch (its own seed) from 0.
            var expected = lakeFormat == "jsonl"
                ? Enumerable.Range(0, batches * records)
                : Enumerable.Range(0, batches).SelectMany(batch => Enumerable.Range(0, records + batch));
            var exported = Directory.EnumerateFiles(session.Work.Combine("serial-json", dataset), "*.json.gz", SearchOption.AllDirectories).SelectMany(ReadGzipLines).Select(IdOf);
            Assert.Equal(expected.Order(), exported.Order());
        }
        foreach (var format in new[] { "parquet", "zstd", "json" })
        {
            var serial = Contents(session.Work.Combine("serial-" + format));
            Assert.Equal(2, serial.Count); // one file per dataset
            foreach (var parallel in new[] { "p1", "p2" })
            {
                Assert.Equal(serial, Contents(session.Work.Combine($"{parallel}-{format}")));
            }
        }
    }

    /// <summary>
    /// Three runspaces run Invoke-ExportSchedule at the same moment over three due flows: the slot claims hold between
    /// threads as between processes, so each flow, dataset and slot runs exactly once and each record is exported once.
    /// </summary>
    [Fact]
    public void Parallel_Invoke_ExportSchedule_runs_each_due_slot_once()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        var output = session.Work.Combine("out");
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 3, recordsPerBatch: 1000);
        TestLake.WriteJsonLinesDataset(lake, "customers", batches: 2, recordsPerBatch: 500);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Json -Compression Gzip -FolderTemplate '%FLOW_NAME%/%DATASET_ID%/exportTime=%EXPORT_TIME%' | Out-Null
            foreach ($name in 'a', 'b', 'c') { New-ExportFlow -Name $name -Destination d -Dataset orders, customers -Once -StartTime '2020-01-01T00:00Z' | Out-Null }
            """, lake, output).AssertNoErrors();

        var result = session.Run("""
            param($Manifest)
            1..3 | ForEach-Object -ThrottleLimit 3 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                Invoke-ExportSchedule
            }
            """, ModuleSession.ManifestPath);

        Assert.Empty(result.Errors);
        Assert.Equal(6, result.Output.Count); // one run per flow and dataset, over all three invocations
        var runs = session.Run("Get-ExportRun").AssertNoErrors().Output;
        Assert.Equal(6, runs.Count);
        Assert.All(runs, run => Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString()));
        foreach (var flow in new[] { "a", "b", "c" })
        {
            var orders = Directory.EnumerateFiles(Path.Combine(output, flow, "orders"), "*.json.gz", SearchOption.AllDirectories).SelectMany(ReadGzipLines).Select(IdOf);
            Assert.Equal(Enumerable.Range(0, 3000), orders.Order());
            var customers = Directory.EnumerateFiles(Path.Combine(output, flow, "customers"), "*.json.gz", SearchOption.AllDirectories).SelectMany(ReadGzipLines).Select(IdOf);
            Assert.Equal(Enumerable.Range(0, 1000), customers.Order());
        }
        Assert.All(session.Run("Get-ExportFlow").AssertNoErrors().Output, flow => Assert.True((bool)flow.Properties["Completed"].Value));
    }

    /// <summary>
    /// Two runspaces of one pool export at once; one is stopped (PowerShell.Stop, as Ctrl+C or a timeout does) at its first
    /// progress. The other finishes with every record; the stopped run ends Failed (cancelled) with none of its part files
    /// left, and no run stays Running.
    /// </summary>
    [Fact]
    public void Stopping_one_of_two_parallel_exports_cancels_only_that_one()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 8, recordsPerBatch: 2500);
        var stoppedOut = session.Work.Combine("stopped");
        var keptOut = session.Work.Combine("kept");
        session.Run("""
            param($Stopped, $Kept)
            New-ExportDestination -Name stopped -Type Local -Path $Stopped -FileType Json -Compression Gzip | Out-Null
            New-ExportDestination -Name kept -Type Local -Path $Kept -FileType Json -Compression Gzip | Out-Null
            New-ExportFlow -Name stopped -Destination stopped -Dataset events | Out-Null
            New-ExportFlow -Name kept -Destination kept -Dataset orders, events | Out-Null
            """, stoppedOut, keptOut).AssertNoErrors();

        var keptRuns = RunKeptWhileStopping(session, lake, _ => true);

        Assert.Equal(2, keptRuns.Count);
        Assert.All(keptRuns, run => Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString()));
        var keptIds = Directory.EnumerateFiles(Path.Combine(keptOut, "events"), "*.json.gz", SearchOption.AllDirectories).SelectMany(ReadGzipLines).Select(IdOf);
        Assert.Equal(Enumerable.Range(0, 100_000), keptIds.Order());
        AssertStoppedRunCancelled(session, stoppedOut);
    }

    /// <summary>
    /// Runs flows 'kept' and 'stopped' at once, each with Start-ExportRun in its own runspace of a pool of two; 'stopped' is
    /// stopped (PowerShell.Stop, as Ctrl+C or a timeout does) at the first of its progress records <paramref name="stopAt"/>
    /// accepts. Asserts that it ended by that stop and that 'kept' wrote no error; returns the runs 'kept' output.
    /// </summary>
    internal static PSDataCollection<PSObject> RunKeptWhileStopping(ModuleSession session, string lake, Func<ProgressRecord, bool> stopAt)
    {
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
        var stopAsked = false;
        stopped.Streams.Progress.DataAdded += (_, e) =>
        {
            if (stopAsked || !stopAt(stopped.Streams.Progress[e.Index])) return;
            stopAsked = true;
            // BeginStop: the event is raised on the pipeline thread, which a synchronous Stop would wait for forever.
            stopped.BeginStop(null, null);
        };

        var keptDone = kept.BeginInvoke();
        var stoppedDone = stopped.BeginInvoke();
        var keptRuns = kept.EndInvoke(keptDone);
        Assert.ThrowsAny<PipelineStoppedException>(() => stopped.EndInvoke(stoppedDone));
        Assert.True(stopAsked);
        Assert.Equal(PSInvocationState.Stopped, stopped.InvocationStateInfo.State);
        Assert.Empty(kept.Streams.Error);
        return keptRuns;
    }

    /// <summary>The stopped flow's run ended Failed as cancelled, none of its part files is left in <paramref name="folder"/>, and no run stays Running.</summary>
    internal static void AssertStoppedRunCancelled(ModuleSession session, string folder)
    {
        var stoppedRun = session.Run("Get-ExportRun -Flow stopped").AssertNoErrors().Output.Single();
        Assert.Equal("Failed", stoppedRun.Properties["Status"].Value.ToString());
        Assert.Equal("The export was cancelled.", stoppedRun.Properties["Error"].Value);
        Assert.Empty(Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "part-*", SearchOption.AllDirectories) : []);
        Assert.DoesNotContain(session.Run("Get-ExportRun").AssertNoErrors().Output, run => run.Properties["Status"].Value.ToString() == "Running");
    }

    /// <summary>
    /// ForEach-Object -Parallel -TimeoutSeconds stops the blocks still exporting when the time is up. Each stopped export
    /// is cancelled and recorded before its command ends: no run stays Running (which would refuse its flow as FlowInUse
    /// until the lease ran out), a cancelled run leaves no part files, and both flows run again at once.
    /// </summary>
    [Fact]
    public void ForEach_Object_Parallel_TimeoutSeconds_leaves_no_run_Running()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 120, recordsPerBatch: 2500);
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 40, recordsPerBatch: 2500);
        var output = session.Work.Combine("out");
        session.Run("""
            param($Out)
            foreach ($name in 'events', 'orders') {
                New-ExportDestination -Name $name -Type Local -Path "$Out/$name" -Compression Gzip | Out-Null
                New-ExportFlow -Name $name -Destination $name -Dataset $name | Out-Null
            }
            """, output).AssertNoErrors();

        session.Run("""
            param($Manifest, $Lake)
            'events', 'orders' | ForEach-Object -ThrottleLimit 2 -TimeoutSeconds 1 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                Start-ExportRun -Flow $_ -LakePath $using:Lake
            }
            """, ModuleSession.ManifestPath, lake);

        foreach (var run in session.Run("Get-ExportRun").AssertNoErrors().Output)
        {
            var flow = (string)run.Properties["Flow"].Value;
            var status = run.Properties["Status"].Value.ToString();
            Assert.True(status is "Succeeded" or "Failed", $"The run of flow '{flow}' is {status}.");
            if (status == "Failed")
            {
                Assert.Equal("The export was cancelled.", run.Properties["Error"].Value);
                Assert.Empty(Directory.Exists(Path.Combine(output, flow)) ? Directory.EnumerateFiles(Path.Combine(output, flow), "part-*", SearchOption.AllDirectories) : []);
            }
        }
        session.Run("param($Lake) Start-ExportRun -Flow events, orders -LakePath $Lake | Out-Null", lake).AssertNoErrors();
    }

    /// <summary>
    /// A Start-ExportRun that ends with an error while its export goes on ($ProgressPreference = 'Stop' refuses its first
    /// progress record) cancels that export and waits for it: the run is recorded Failed with no files left, and the flow
    /// runs again at once. Before, the export lost its state store with the command and its run stayed Running, the flow
    /// refused as FlowInUse, until the 5-minute lease ran out.
    /// </summary>
    [Fact]
    public void An_export_whose_command_fails_while_drawing_progress_is_cancelled_and_recorded()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "events", batches: 40, recordsPerBatch: 2500);
        var output = session.Work.Combine("out");
        session.Run("""
            param($Out)
            New-ExportDestination -Name d -Type Local -Path $Out -Compression Gzip | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset events | Out-Null
            """, output).AssertNoErrors();

        var failed = session.Run("""
            param($Lake)
            $ProgressPreference = 'Stop'
            try { Start-ExportRun -Flow f -LakePath $Lake } catch { $_.FullyQualifiedErrorId }
            """, lake).AssertNoErrors();

        Assert.StartsWith("ActionPreferenceStop", (string)failed.Output.Single().BaseObject);
        var run = session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output.Single();
        Assert.Equal("Failed", run.Properties["Status"].Value.ToString());
        Assert.Equal("The export was cancelled.", run.Properties["Error"].Value);
        Assert.Empty(Directory.Exists(output) ? Directory.EnumerateFiles(output, "part-*", SearchOption.AllDirectories) : []);
        var again = session.Run("param($Lake) Start-ExportRun -Flow f -LakePath $Lake", lake).AssertNoErrors().Output.Single();
        Assert.Equal("Succeeded", again.Properties["Status"].Value.ToString());
        Assert.Equal(100_000L, (long)again.Properties["RecordsWritten"].Value);
    }

    /// <summary>
    /// Four runspaces create a destination and a flow of the SAME names at once: one of each is stored, every other
    /// attempt is refused as DestinationAlreadyExists / FlowAlreadyExists (ResourceExists), never a raw SQLite error.
    /// </summary>
    [Fact]
    public void Parallel_creations_of_the_same_name_store_one_and_refuse_the_others_as_already_existing()
    {
        using var session = new ModuleSession();
        TestLake.WriteJsonLinesDataset(session.Work.Combine("lake"), "orders", batches: 1, recordsPerBatch: 5);

        var result = session.Run("""
            param($Manifest, $Work)
            1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                New-ExportDestination -Name d -Type Local -Path "$($using:Work)/out$_" | Out-Null
                New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            }
            """, ModuleSession.ManifestPath, session.Work.Path);

        var ids = result.Errors.Select(e => e.FullyQualifiedErrorId.Split(',')[0]).ToList();
        Assert.Equal(3, ids.Count(id => id == "DestinationAlreadyExists"));
        Assert.Equal(3, ids.Count(id => id == "FlowAlreadyExists"));
        Assert.Equal(6, ids.Count);
        Assert.All(result.Errors, e => Assert.Equal(ErrorCategory.ResourceExists, e.CategoryInfo.Category));
        Assert.Single(session.Run("Get-ExportDestination").AssertNoErrors().Output);
        Assert.Single(session.Run("Get-ExportFlow").AssertNoErrors().Output);
    }

    /// <summary>
    /// A relative -LakePath is resolved against the location of the runspace that runs the command, not the process's
    /// current directory: two runspaces in different folders, each with its own lake/, export their own records.
    /// </summary>
    [Fact]
    public void A_relative_LakePath_is_resolved_against_each_runspaces_location()
    {
        using var session = new ModuleSession();
        TestLake.WriteJsonLinesDataset(session.Work.Combine("one", "lake"), "orders", batches: 1, recordsPerBatch: 11);
        TestLake.WriteJsonLinesDataset(session.Work.Combine("two", "lake"), "orders", batches: 1, recordsPerBatch: 22);
        session.Run("""
            param($Work)
            foreach ($name in 'one', 'two') {
                New-ExportDestination -Name $name -Type Local -Path "$Work/out-$name" | Out-Null
                New-ExportFlow -Name $name -Destination $name -Dataset orders | Out-Null
            }
            """, session.Work.Path).AssertNoErrors();

        var runs = session.Run("""
            param($Manifest, $Work)
            'one', 'two' | ForEach-Object -ThrottleLimit 2 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                $ExecutionContext.SessionState.Path.SetLocation("$using:Work/$_") | Out-Null
                Start-ExportRun -Flow $_ -LakePath lake
            }
            """, ModuleSession.ManifestPath, session.Work.Path).AssertNoErrors().Output;

        var written = runs.ToDictionary(run => (string)run.Properties["Flow"].Value, run => (long)run.Properties["RecordsWritten"].Value);
        Assert.Equal(11L, written["one"]);
        Assert.Equal(22L, written["two"]);
    }

    /// <summary>
    /// A relative $env:DATASETEXPORT_LAKE is resolved like a relative -LakePath, against the location of the runspace that
    /// runs the command: PowerShell's Set-Location never moves the process's current directory, which no runspace sees.
    /// </summary>
    [Fact]
    public void A_relative_DATASETEXPORT_LAKE_is_resolved_against_each_runspaces_location()
    {
        using var session = new ModuleSession();
        TestLake.WriteJsonLinesDataset(session.Work.Combine("one", "lake"), "orders", batches: 1, recordsPerBatch: 11);
        TestLake.WriteJsonLinesDataset(session.Work.Combine("two", "lake"), "customers", batches: 1, recordsPerBatch: 22);
        try
        {
            Environment.SetEnvironmentVariable("DATASETEXPORT_LAKE", "lake");
            var found = session.Run("""
                param($Manifest, $Work)
                'one', 'two' | ForEach-Object -ThrottleLimit 2 -Parallel {
                    Import-Module $using:Manifest -ErrorAction Stop
                    $ExecutionContext.SessionState.Path.SetLocation("$using:Work/$_") | Out-Null
                    Get-EligibleDataset | ForEach-Object Id
                }
                """, ModuleSession.ManifestPath, session.Work.Path).AssertNoErrors().Output;

            Assert.Equal(["customers", "orders"], found.Select(o => (string)o.BaseObject).Order());
        }
        finally
        {
            Environment.SetEnvironmentVariable("DATASETEXPORT_LAKE", null);
        }
    }

    /// <summary>
    /// A lake of Parquet batches (orders: four, customers: three), written by the module itself: each batch is the export
    /// of a one-batch JSON Lines dataset, in a state home of its own.
    /// </summary>
    private static void WriteParquetLake(ModuleSession session, string lake)
    {
        var seed = session.Work.Combine("seed");
        foreach (var (dataset, batches, records) in new[] { ("orders", 4, 1500), ("customers", 3, 700) })
        {
            for (var batch = 0; batch < batches; batch++) TestLake.WriteJsonLinesDataset(seed, $"{dataset}{batch}", batches: 1, recordsPerBatch: records + batch);
        }
        var seedOut = session.Work.Combine("seed-out");
        session.Run("""
            param($Seed, $Out)
            New-ExportDestination -Name seed -Type Local -Path $Out -FileType Parquet -Compression Snappy | Out-Null
            Get-EligibleDataset -LakePath $Seed | New-ExportFlow -Name seed -Destination seed | Out-Null
            Start-ExportRun -Flow seed -LakePath $Seed | Out-Null
            Remove-ExportFlow seed -Confirm:$false
            Remove-ExportDestination seed -Confirm:$false
            """, seed, seedOut).AssertNoErrors();
        foreach (var (dataset, batches) in new[] { ("orders", 4), ("customers", 3) })
        {
            Directory.CreateDirectory(Path.Combine(lake, dataset));
            for (var batch = 0; batch < batches; batch++)
            {
                var file = Assert.Single(Directory.EnumerateFiles(Path.Combine(seedOut, $"{dataset}{batch}"), "*.parquet", SearchOption.AllDirectories));
                File.Copy(file, Path.Combine(lake, dataset, $"batch-{batch:0000}.parquet"));
            }
        }
    }

    /// <summary>Each data file under <paramref name="root"/> (manifests aside), by dataset and part number: a hash of its bytes (Parquet) or of its records (gzip JSON Lines).</summary>
    private static SortedDictionary<string, string> Contents(string root)
    {
        var contents = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.Contains("manifest", StringComparison.OrdinalIgnoreCase)) continue;
            // Without the exportTime= folder and the file's unique id (part-00000-<guid>.parquet).
            var key = System.Text.RegularExpressions.Regex.Replace(
                string.Join('/', relative.Split('/').Where(segment => !segment.StartsWith("exportTime=", StringComparison.Ordinal))),
                "-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "");
            var bytes = file.EndsWith(".gz", StringComparison.Ordinal)
                ? System.Text.Encoding.UTF8.GetBytes(string.Join('\n', ReadGzipLines(file)))
                : File.ReadAllBytes(file);
            contents.Add(key, Convert.ToHexString(SHA256.HashData(bytes)));
        }
        return contents;
    }

    private static IEnumerable<string> ReadGzipLines(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }

    private static int IdOf(string line) => System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("id").GetInt32();
}
