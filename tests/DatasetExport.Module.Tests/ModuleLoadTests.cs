namespace DatasetExport.Module.Tests;

/// <summary>The module's assembly-load hook (ModuleInitAndCleanup) with several runspaces of one process.</summary>
public sealed class ModuleLoadTests
{
    /// <summary>
    /// Runspace A removes the module while runspace B still has it imported, before anything in the process has used the
    /// engine (a new process: in this one the engine bound long ago). B's next command must still find the engine.
    /// </summary>
    [Fact]
    public void Remove_Module_in_one_runspace_leaves_the_engine_loadable_for_another()
    {
        using var home = new TempFolder("de-home");
        var (exitCode, output) = FreshProcess.Run(nameof(FreshProcess.RemoveModuleWhileAnotherRunspaceHasIt), ModuleSession.ManifestPath, home.Path);
        Assert.True(exitCode == 0, output);
        Assert.Equal("d", output.Trim());
    }

    /// <summary>The first use of a new process comes from four runspaces importing the module and using it at the same moment.</summary>
    [Fact]
    public void Four_runspaces_importing_and_using_the_module_at_once_in_a_new_process_all_work()
    {
        using var home = new TempFolder("de-home");
        var (exitCode, output) = FreshProcess.Run(nameof(FreshProcess.FirstUseFromParallelRunspaces), ModuleSession.ManifestPath, home.Path);
        Assert.True(exitCode == 0, output);
        Assert.Equal("d1,d2,d3,d4", output.Trim());
    }

    /// <summary>
    /// Import-Module -Force, and Remove-Module then Import-Module, in one runspace while another keeps the module and
    /// exports: afterwards every step of the quickstart pipeline works in both.
    /// </summary>
    [Fact]
    public void Import_Module_Force_and_Remove_then_Import_leave_every_cmdlet_working()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);
        session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            foreach ($name in 'force', 'remove', 'keep') {
                New-ExportDestination -Name $name -Type Local -Path "$Out/$name" -IncludeManifest | Out-Null
                Get-EligibleDataset | New-ExportFlow -Name $name -Destination $name | Out-Null
            }
            """, lake, output).AssertNoErrors();

        var results = session.Run("""
            param($Manifest)
            'force', 'remove', 'keep' | ForEach-Object -ThrottleLimit 3 -Parallel {
                Import-Module $using:Manifest -ErrorAction Stop
                if ($_ -eq 'force') { Import-Module $using:Manifest -Force -ErrorAction Stop }
                if ($_ -eq 'remove') { Remove-Module DatasetExport -ErrorAction Stop; Import-Module $using:Manifest -ErrorAction Stop }
                $valid = @(Get-ExportFlow $_ | Start-ExportRun | Test-ExportRun | Where-Object IsValid).Count
                $listed = @(Get-ExportDestination) + @(Get-ExportFlow) + @(Get-DatasetExportOption) + @(Get-EligibleDataset)
                "$_ valid $valid listed $($listed.Count)"
            }
            """, ModuleSession.ManifestPath).AssertNoErrors().Output;

        // Each flow's two datasets exported and verified; 3 destinations, 3 flows, the options and 2 datasets listed.
        Assert.Equal(["force valid 2 listed 9", "keep valid 2 listed 9", "remove valid 2 listed 9"], results.Select(o => (string)o.BaseObject).Order());
    }
}
