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
}
