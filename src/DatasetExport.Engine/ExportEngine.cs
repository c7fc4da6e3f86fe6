using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Lake;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine;

/// <summary>How to open the engine. Every member has a default suitable for production use.</summary>
public sealed class EngineOptions
{
    /// <summary>Folder for the state database and keys; default <see cref="ExportEngine.DefaultStateHome"/>.</summary>
    public string? StateHome { get; init; }
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Makes the object that talks to a stored destination; tests pass one with small upload thresholds.</summary>
    internal Func<DestinationSettings, IExportDestination> DestinationFactory { get; init; } = DestinationRegistry.Create;
}

/// <summary>
/// The engine's entry point: the one object the cmdlets talk to. Holds the state store and the clock;
/// everything it does is testable without PowerShell.
/// </summary>
public sealed partial class ExportEngine : IDisposable
{
    public const string StateHomeVariable = "DATASETEXPORT_HOME";
    public const string LakeVariable = "DATASETEXPORT_LAKE";
    public const string LakePathOption = "LakePath";

    private readonly Func<DestinationSettings, IExportDestination> _createDestination;

    private ExportEngine(string stateHome, IStateStore state, TimeProvider timeProvider, Func<DestinationSettings, IExportDestination> createDestination)
    {
        StateHome = stateHome;
        State = state;
        Time = timeProvider;
        _createDestination = settings =>
        {
            settings.ThrowIfSecretsUnreadable();
            return createDestination(settings);
        };
    }

    public string StateHome { get; }
    public IStateStore State { get; }
    public TimeProvider Time { get; }

    /// <summary>
    /// Told what the engine does beyond progress, e.g. each retry of a destination operation, for verbose output.
    /// Called on engine threads; the messages never contain secrets.
    /// </summary>
    public Action<string>? Log { get; set; }

    /// <summary>
    /// <c>$env:DATASETEXPORT_HOME</c>, else the per-user data folder (<c>~/.local/share/DatasetExport</c>,
    /// <c>%LOCALAPPDATA%\DatasetExport</c>). A relative one is refused (StateException Unusable): it would be taken from the
    /// folder the process started in, which PowerShell's Set-Location never moves, so state would land in a folder no one
    /// chose (and `~` is no home folder to .NET).
    /// </summary>
    public static string DefaultStateHome()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(StateHomeVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            if (!Path.IsPathFullyQualified(fromEnvironment))
            {
                throw new StateException(StateFailure.Unusable,
                    $"$env:{StateHomeVariable} is '{fromEnvironment}', which is not a full path: the state home would depend on the folder " +
                    $"the process started in. Set a full path, e.g. $env:{StateHomeVariable} = Join-Path $PWD '{fromEnvironment}'.");
            }
            return Path.GetFullPath(fromEnvironment);
        }
        var dataFolder = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create);
        return Path.Combine(dataFolder, "DatasetExport");
    }

    public static ExportEngine Open(EngineOptions? options = null)
    {
        options ??= new EngineOptions();
        var home = Path.GetFullPath(options.StateHome ?? DefaultStateHome());
        // Creates the folder when missing; one it cannot create is a StateException naming it.
        var state = SqliteStateStore.Open(home);
        return new ExportEngine(home, state, options.TimeProvider, options.DestinationFactory);
    }

    /// <summary>
    /// The lake to use: the explicit path, else the persisted option, else <c>$env:DATASETEXPORT_LAKE</c>. A relative path is
    /// made full by <paramref name="resolveRelative"/> when given (the module passes PowerShell's, which resolves against the
    /// runspace's location: PowerShell never moves the process's current directory), else against the current directory.
    /// </summary>
    public string ResolveLakePath(string? explicitPath, Func<string, string>? resolveRelative = null)
    {
        var path = explicitPath;
        if (string.IsNullOrWhiteSpace(path)) path = State.GetOption(LakePathOption);
        if (string.IsNullOrWhiteSpace(path)) path = Environment.GetEnvironmentVariable(LakeVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new LakeException(LakeFailure.NotConfigured,
                $"No lake path is set. Pass -LakePath, run Set-DatasetExportOption -LakePath <folder>, or set $env:{LakeVariable}.", "");
        }
        return Path.GetFullPath(resolveRelative is null || Path.IsPathRooted(path) ? path : resolveRelative(path));
    }

    public void Dispose() => State.Dispose();
}
