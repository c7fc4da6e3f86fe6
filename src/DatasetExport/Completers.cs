using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using DatasetExport.Engine;

namespace DatasetExport;

/// <summary>Shared by the name completers: opens the engine, lists names, and never lets a failure reach the console.</summary>
public abstract class StoredNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(
        string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        var pattern = WildcardPattern.Get(prefix + "*", WildcardOptions.IgnoreCase);
        IReadOnlyList<string> names;
        try
        {
            using var engine = ExportEngine.Open();
            names = ListNames(engine, fakeBoundParameters, pattern);
        }
        catch (Exception)
        {
            // Completion must never throw at the user; no state or no lake simply means nothing to offer.
            return [];
        }
        return names
            .Where(pattern.IsMatch)
            .OrderBy(name => name, StringComparer.OrdinalIgnoreCase)
            .Select(name => new CompletionResult(Quote(name), name, CompletionResultType.ParameterValue, name));
    }

    /// <summary>The names to offer; those <paramref name="pattern"/> (what was typed, then anything) rejects may be left out.</summary>
    internal abstract IReadOnlyList<string> ListNames(ExportEngine engine, IDictionary fakeBoundParameters, WildcardPattern pattern);

    internal static string Quote(string name) =>
        name.Any(c => char.IsWhiteSpace(c) || "'\"$`;(){}@,&|#".Contains(c)) ? "'" + name.Replace("'", "''") + "'" : name;
}

/// <summary>Completes stored destination names.</summary>
public sealed class DestinationNameCompleter : StoredNameCompleter
{
    internal override IReadOnlyList<string> ListNames(ExportEngine engine, IDictionary fakeBoundParameters, WildcardPattern pattern) =>
        engine.State.ListDestinationNames().Select(d => d.Name).ToList();
}

/// <summary>Completes stored flow names.</summary>
public sealed class FlowNameCompleter : StoredNameCompleter
{
    internal override IReadOnlyList<string> ListNames(ExportEngine engine, IDictionary fakeBoundParameters, WildcardPattern pattern) =>
        engine.State.ListFlows().Select(f => f.Name).ToList();
}

/// <summary>Completes dataset ids of the lake given by -LakePath on the same command line, else the configured lake.</summary>
public sealed class DatasetIdCompleter : StoredNameCompleter
{
    internal override IReadOnlyList<string> ListNames(ExportEngine engine, IDictionary fakeBoundParameters, WildcardPattern pattern)
    {
        var given = fakeBoundParameters["LakePath"] as string;
        var lakePath = engine.ResolveLakePath(string.IsNullOrEmpty(given) ? null : ProviderPath(given), ProviderPath);
        // Only the datasets whose id starts as typed are read (their eligibility needs their batches), not the whole lake.
        return engine.GetDatasets(lakePath, includeIneligible: false, CancellationToken.None, (id, _) => pattern.IsMatch(id)).Select(d => d.Id).ToList();
    }

    /// <summary>
    /// The path as the cmdlets resolve -LakePath: against PowerShell's current location (which is not the process's current
    /// folder), with ~ and drives. Completion runs on the pipeline thread of the session, so the script block runs there.
    /// </summary>
    private static string ProviderPath(string path) =>
        (string)ScriptBlock.Create("$ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($args[0])").Invoke(path).Single().BaseObject;
}

/// <summary>Completes time zone ids: UTC first, then the ids this system knows (IANA on Linux and macOS, Windows ids on Windows).</summary>
public sealed class TimeZoneCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(
        string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var pattern = WildcardPattern.Get(wordToComplete.Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
        var systemIds = TimeZoneInfo.GetSystemTimeZones().Select(zone => zone.Id).Where(id => id != "UTC").Order(StringComparer.OrdinalIgnoreCase);
        return new[] { "UTC" }.Concat(systemIds)
            .Where(pattern.IsMatch)
            .Select(id => new CompletionResult(StoredNameCompleter.Quote(id), id, CompletionResultType.ParameterValue, id));
    }
}
