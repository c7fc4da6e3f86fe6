using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace DatasetExport;

/// <summary>
/// Loads the engine and its dependencies from <c>Dependencies/</c> into their own <see cref="AssemblyLoadContext"/>,
/// so a different version of, say, Microsoft.Data.Sqlite loaded by the host or another module cannot break us,
/// and ours cannot break them. Only the engine assembly is routed through the default context's Resolving event;
/// everything the engine needs then resolves inside <see cref="EngineLoadContext"/>. This is the pattern from
/// Microsoft's "Resolving PowerShell module assembly dependency conflicts", and the only assembly-load wiring
/// in the module.
/// </summary>
public sealed class ModuleInitAndCleanup : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string EngineAssemblyName = "DatasetExport.Engine";

    private static readonly string DependencyFolder =
        Path.Combine(Path.GetDirectoryName(typeof(ModuleInitAndCleanup).Assembly.Location)!, "Dependencies");

    private static readonly EngineLoadContext EngineContext = new(Path.Combine(DependencyFolder, EngineAssemblyName + ".dll"));

    private static readonly object HookLock = new();

    /// <summary>Imports not yet removed, over all runspaces of the process: the hook stays while any runspace has the module.</summary>
    private static int _imports;

    /// <summary>
    /// Called by Import-Module, in each runspace that imports the module (ForEach-Object -Parallel, runspace pools,
    /// Import-Module -Force). The first import hooks (the first since the last removal); the others count. A runspace
    /// closed without Remove-Module stays counted: the hook then stays for the process, which only routes the engine.
    /// </summary>
    public void OnImport()
    {
        lock (HookLock)
        {
            if (_imports++ == 0) AssemblyLoadContext.Default.Resolving += ResolveEngine;
        }
    }

    /// <summary>
    /// Called by Remove-Module (and by Import-Module -Force before it imports again). Unhooks only when no runspace has
    /// the module any more: another runspace that imported it may not have used the engine yet, and the engine binds on
    /// first use. Assemblies already bound stay bound; a later import hooks again.
    /// </summary>
    public void OnRemove(PSModuleInfo module)
    {
        lock (HookLock)
        {
            if (_imports == 0 || --_imports > 0) return;
            AssemblyLoadContext.Default.Resolving -= ResolveEngine;
        }
    }

    private static Assembly? ResolveEngine(AssemblyLoadContext defaultContext, AssemblyName name) =>
        name.Name == EngineAssemblyName ? EngineContext.LoadFromAssemblyName(name) : null;

    /// <summary>Resolves the engine's managed and native dependencies from <c>Dependencies/</c> (its deps.json decides which files).</summary>
    private sealed class EngineLoadContext : AssemblyLoadContext
    {
        private readonly AssemblyDependencyResolver _resolver;
        private readonly string _folder;

        public EngineLoadContext(string engineAssemblyPath) : base("DatasetExport.Engine", isCollectible: false)
        {
            _resolver = new AssemblyDependencyResolver(engineAssemblyPath);
            _folder = Path.GetDirectoryName(engineAssemblyPath)!;
        }

        protected override Assembly? Load(AssemblyName name)
        {
            var path = _resolver.ResolveAssemblyToPath(name);
            if (path is null)
            {
                // Not listed in the engine's deps.json: take it from the folder if it is there, else let the
                // default context supply it (framework assemblies).
                var candidate = Path.Combine(_folder, name.Name + ".dll");
                if (!File.Exists(candidate)) return null;
                path = candidate;
            }
            return LoadFromAssemblyPath(path);
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            // A Load override alone fails for SQLite (e_sqlite3): natives sit under runtimes/<rid>/native.
            var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
            return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
        }
    }
}
