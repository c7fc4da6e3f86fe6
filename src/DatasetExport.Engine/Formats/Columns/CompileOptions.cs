using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>How the engine's per-line and per-value loops are compiled.</summary>
internal static class CompileOptions
{
    /// <summary>
    /// Optimized at once. With tiered compilation these loops would start unoptimized and wait for the runtime to find
    /// them hot (then be compiled twice more with profiling), which a process that exports once pays for during most of
    /// its first batches: <c>DOTNET_TieredCompilation=0</c>, which a module cannot set for its host, took a cold 1 M-line
    /// JSON Lines → Parquet export from about 7.5 to 5.7 s of CPU. Only for the loops themselves: an attributed method is
    /// never re-optimized with the profile the tiers gather, and is not inlined, so small per-value helpers are
    /// <see cref="MethodImplOptions.AggressiveInlining"/> instead and compiled with the loop that calls them.
    /// </summary>
    public const MethodImplOptions HotPath = MethodImplOptions.AggressiveOptimization;
}
