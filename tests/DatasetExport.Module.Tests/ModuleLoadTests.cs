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
}
