using System.Runtime.Loader;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Module.Tests;

public sealed class IsolationAndQuickstartTests
{
    /// <summary>
    /// The host already uses Microsoft.Data.Sqlite 9 (and its e_sqlite3) and ZstdSharp 0.7 in the default context,
    /// as another module might. The engine needs Sqlite 10.x and ZstdSharp 0.8 (its zstd fallback): without its own
    /// load context the first state access would fail with a FileLoadException. The engine compresses its pages with
    /// the native libzstd (ZstdNet), which its load context must find under runtimes/.
    /// </summary>
    [Fact]
    public void Export_works_while_the_host_holds_older_versions_of_engine_dependencies()
    {
        using (var compressor = new ZstdSharp.Compressor())
        {
            Assert.NotEmpty(compressor.Wrap(new byte[1024]).ToArray());
        }
        var hostZstd = typeof(ZstdSharp.Compressor).Assembly;
        Assert.Equal(new Version(0, 7, 3, 0), hostZstd.GetName().Version);

        using (var connection = new SqliteConnection("Data Source=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "select sqlite_version()";
            Assert.NotNull(command.ExecuteScalar());
        }
        var hostSqlite = typeof(SqliteConnection).Assembly;
        Assert.Equal(9, hostSqlite.GetName().Version!.Major);

        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        var runs = session.Run("""
            param($Lake, $Out)
            New-ExportDestination -Name d -Type Local -Path $Out -FileType Parquet -Compression Zstd -IncludeManifest | Out-Null
            Get-EligibleDataset -LakePath $Lake | New-ExportFlow -Name f -Destination d | Out-Null
            Start-ExportRun -Flow f -LakePath $Lake
            """, lake, output).AssertNoErrors().Output;

        Assert.Equal(2, runs.Count);
        Assert.All(runs, run => Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString()));
        var engineContext = Assert.Single(AssemblyLoadContext.All, c => c.Name == "DatasetExport.Engine");
        var engineSqlite = Assert.Single(engineContext.Assemblies, a => a.GetName().Name == "Microsoft.Data.Sqlite");
        Assert.Equal(10, engineSqlite.GetName().Version!.Major);
        // The engine's zstd pages go through the native libzstd, resolved from the module's Dependencies/runtimes; its
        // managed fallback, where loaded, is the engine's own ZstdSharp, never the host's.
        Assert.All(engineContext.Assemblies.Where(a => a.GetName().Name == "ZstdSharp"), a => Assert.True(a.GetName().Version >= new Version(0, 8)));
        Assert.Contains(engineContext.Assemblies, a => a.GetName().Name == "ZstdNet");
        if (OperatingSystem.IsLinux())
        {
            Assert.Contains(File.ReadLines("/proc/self/maps"), line => line.Contains("/Dependencies/runtimes/", StringComparison.Ordinal) && line.EndsWith("/native/libzstd.so", StringComparison.Ordinal));
        }
        Assert.Same(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(hostZstd));
        Assert.Same(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(hostSqlite));
        Assert.DoesNotContain(AssemblyLoadContext.Default.Assemblies, a => a.GetName().Name is "DatasetExport.Engine" or "Parquet");
        Assert.Contains(engineContext.Assemblies, a => a.GetName().Name == "DatasetExport.Engine");
    }

    [Fact]
    public void Quickstart_builds_a_lake_exports_it_and_verifies_the_runs()
    {
        using var session = new ModuleSession();
        // A -WorkFolder relative to the PowerShell location (not the process's folder, which Set-Location never moves).
        var result = session.Run("$ExecutionContext.SessionState.Path.SetLocation($args[1]) | Out-Null; & $args[0] -WorkFolder $args[2] -Records 3000",
            ModuleSession.QuickstartPath, Path.GetDirectoryName(session.Work.Path), Path.GetFileName(session.Work.Path)).AssertNoErrors();

        var byType = result.Output.GroupBy(o => o.BaseObject.GetType().Name).ToDictionary(g => g.Key, g => g.ToList());
        var datasets = byType["EligibleDataset"];
        Assert.Equal(["customers", "orders", "orders-parquet", "web-events"], datasets.Select(d => (string)d.Properties["Id"].Value).Order());
        var parquet = datasets.Single(d => (string)d.Properties["Id"].Value == "orders-parquet");
        Assert.Equal("Parquet", parquet.Properties["Format"].Value);
        Assert.Equal(3000L, parquet.Properties["RecordCount"].Value);
        Assert.Equal("Web events", datasets.Single(d => (string)d.Properties["Id"].Value == "web-events").Properties["Name"].Value);

        var runs = byType["ExportRun"];
        Assert.Equal(4, runs.Count);
        Assert.All(runs, run => Assert.Equal("Succeeded", run.Properties["Status"].Value.ToString()));
        Assert.Equal(3000L + 3000L + 3000L + 500L, runs.Sum(run => (long)run.Properties["RecordsWritten"].Value));

        var verifications = byType["ExportRunVerification"];
        Assert.Equal(4, verifications.Count);
        Assert.All(verifications, v => Assert.True((bool)v.Properties["IsValid"].Value, (string?)v.Properties["Problem"].Value));
        Assert.NotEmpty(Directory.EnumerateFiles(session.Work.Combine("exports"), "*.json.gz", SearchOption.AllDirectories));
        Assert.NotEmpty(Directory.EnumerateFiles(session.Work.Combine("lake"), "*", SearchOption.AllDirectories));
    }
}
