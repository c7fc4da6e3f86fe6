using System.Collections;
using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;

[assembly: CollectionBehavior(DisableTestParallelization = true)] // DATASETEXPORT_HOME is process-wide.

namespace DatasetExport.Module.Tests;

/// <summary>
/// A runspace with the built module imported, a fresh state home ($env:DATASETEXPORT_HOME) and a work folder,
/// all thrown away at the end of the test.
/// </summary>
public sealed class ModuleSession : IDisposable
{
    public static readonly string ManifestPath = Metadata("ModuleManifest");
    public static readonly string QuickstartPath = Metadata("QuickstartScript");

    private readonly Runspace _runspace;

    /// <summary>Set when a script under <see cref="RunWithin"/> hung: the runspace is then left open, closing it could block too.</summary>
    private bool _hung;

    public ModuleSession(bool importModule = true)
    {
        Environment.SetEnvironmentVariable("POWERSHELL_TELEMETRY_OPTOUT", "1");
        Environment.SetEnvironmentVariable("DATASETEXPORT_HOME", Home.Path);
        Environment.SetEnvironmentVariable("DATASETEXPORT_LAKE", null);
        _runspace = RunspaceFactory.CreateRunspace(Host, InitialSessionState.CreateDefault2());
        _runspace.Open();
        if (importModule)
        {
            var import = Run("Import-Module $args[0] -ErrorAction Stop", ManifestPath);
            Assert.Empty(import.Errors);
        }
    }

    public TestHost Host { get; } = new();
    public TempFolder Home { get; } = new("de-home");
    public TempFolder Work { get; } = new("de-work");

    /// <summary>
    /// Runs one SQL statement on the session's state database, behind the module's back (a state another process left, a
    /// value a user edited); returns the rows it changed. The connection is closed for good before it returns.
    /// </summary>
    public int ExecuteOnState(string sql, params (string Name, object Value)[] parameters)
    {
        int changed;
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(Home.Path, "state.db")}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
            changed = command.ExecuteNonQuery();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        return changed;
    }

    /// <summary>
    /// A file in the work folder where a Local destination's folder should be: a destination made on it with
    /// -SkipValidation fails every run. Returns its path.
    /// </summary>
    public string FileWhereAFolderShouldBe()
    {
        var path = Work.Combine("occupied");
        File.WriteAllText(path, "a file where the destination folder should be");
        return path;
    }

    /// <summary>
    /// Another process is exporting dataset "orders" for the flow <paramref name="flowName"/> (of destination d): a Running
    /// run with a fresh heartbeat is put in the state behind the module's back. Returns that run's id.
    /// </summary>
    public Guid HoldDataset(string flowName)
    {
        var holder = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(1, ExecuteOnState("""
            INSERT INTO runs (id, flow_id, flow_name, dataset_id, destination_id, destination_name, status, mode, scheduled_time,
                started_at, heartbeat_at, records_read, records_written, records_skipped, input_bytes, output_bytes, batch_count,
                export_path)
            SELECT $id, id, name, 'orders', destination_id, 'd', 'Running', 'Full', $now, $now, $now, 0, 0, 0, 0, 0, 0, 'orders'
            FROM flows WHERE name = $flow
            """, ("$id", holder.ToString("D")), ("$now", now), ("$flow", flowName)));
        return holder;
    }

    /// <summary>Runs a script (in its own scope) with positional <c>$args</c>. OtherStreams holds warning, verbose, information and debug messages.</summary>
    public ScriptResult Run(string script, params object?[] args)
    {
        using var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script, useLocalScope: true);
        foreach (var arg in args) shell.AddArgument(arg);
        var output = shell.Invoke();
        return new ScriptResult(output, shell.Streams.Error.ToList(), shell.Streams.Progress.ToList(),
            shell.Streams.Warning.Select(w => w.Message).Concat(shell.Streams.Verbose.Select(v => v.Message))
                .Concat(shell.Streams.Information.Select(i => i.ToString())).Concat(shell.Streams.Debug.Select(d => d.Message)).ToList(),
            shell.Streams.Verbose.Select(v => v.Message).ToList());
    }

    /// <summary>
    /// Runs a script as <see cref="Run"/> does, calling <paramref name="onOutput"/> with each object as the script writes it
    /// (on the pipeline thread, while the script goes on).
    /// </summary>
    public ScriptResult RunObservingOutput(string script, Action<PSObject> onOutput, params object?[] args)
    {
        using var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script, useLocalScope: true);
        foreach (var arg in args) shell.AddArgument(arg);
        using var output = new PSDataCollection<PSObject>();
        output.DataAdded += (_, added) => onOutput(output[added.Index]);
        shell.Invoke(null, output);
        return new ScriptResult(new Collection<PSObject>(output.ToList()), shell.Streams.Error.ToList(), shell.Streams.Progress.ToList(),
            shell.Streams.Warning.Select(w => w.Message).Concat(shell.Streams.Verbose.Select(v => v.Message))
                .Concat(shell.Streams.Information.Select(i => i.ToString())).Concat(shell.Streams.Debug.Select(d => d.Message)).ToList(),
            shell.Streams.Verbose.Select(v => v.Message).ToList());
    }

    /// <summary>
    /// Runs a script and stops it (as Ctrl+C does) as soon as it writes its first progress record; returns what
    /// the final state of the invocation.
    /// </summary>
    public PSInvocationState RunAndStopOnFirstProgress(string script, params object?[] args)
    {
        using var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script, useLocalScope: true);
        foreach (var arg in args) shell.AddArgument(arg);
        // BeginStop: the event is raised on the pipeline thread, which a synchronous Stop would wait for forever.
        shell.Streams.Progress.DataAdded += (_, _) => shell.BeginStop(null, null);
        shell.Invoke();
        return shell.InvocationStateInfo.State;
    }

    /// <summary>
    /// Runs a script as <see cref="RunObservingOutput"/> does (<paramref name="onOutput"/> may be null, and is given the
    /// running shell, e.g. to stop it), but fails the test instead of blocking it when the script has not ended within
    /// <paramref name="patience"/> (a hang): the script is then stopped. Returns the final state of the invocation with the
    /// streams; a stopped script's PipelineStoppedException is not thrown.
    /// </summary>
    public (PSInvocationState State, ScriptResult Result) RunWithin(TimeSpan patience, string script, Action<PowerShell, PSObject>? onOutput, params object?[] args)
    {
        // Not disposed when it hangs: disposing a pipeline that does not stop would block the suite after all.
        var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script, useLocalScope: true);
        foreach (var arg in args) shell.AddArgument(arg);
        var output = new PSDataCollection<PSObject>();
        if (onOutput is not null) output.DataAdded += (_, added) => onOutput(shell, output[added.Index]);
        var running = shell.BeginInvoke<PSObject, PSObject>(null, output);
        if (!running.AsyncWaitHandle.WaitOne(patience))
        {
            shell.BeginStop(null, null);
            _hung = true;
            Assert.Fail($"The script did not end within {patience.TotalSeconds:0} s (a hang){(running.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)) ? "" : ", nor once stopped")}: {script}");
        }
        using var disposeShell = shell;
        using var disposeOutput = output;
        try
        {
            shell.EndInvoke(running);
        }
        catch (PipelineStoppedException)
        {
            // Stopped by onOutput, as Ctrl+C: the state says so.
        }
        return (shell.InvocationStateInfo.State, new ScriptResult(new Collection<PSObject>(output.ToList()), shell.Streams.Error.ToList(), shell.Streams.Progress.ToList(),
            shell.Streams.Warning.Select(w => w.Message).Concat(shell.Streams.Verbose.Select(v => v.Message))
                .Concat(shell.Streams.Information.Select(i => i.ToString())).Concat(shell.Streams.Debug.Select(d => d.Message)).ToList(),
            shell.Streams.Verbose.Select(v => v.Message).ToList()));
    }

    /// <summary>Runs one command with named parameters, so terminating errors and binding errors throw.</summary>
    public Collection<PSObject> Invoke(string command, IDictionary parameters)
    {
        using var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddCommand(command).AddParameters(parameters);
        return shell.Invoke();
    }

    public void Dispose()
    {
        if (!_hung) _runspace.Dispose();
        Home.Dispose();
        Work.Dispose();
    }

    private static string Metadata(string key) =>
        typeof(ModuleSession).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}

/// <summary>What a script produced, stream by stream.</summary>
public sealed record ScriptResult(
    Collection<PSObject> Output,
    IReadOnlyList<ErrorRecord> Errors,
    IReadOnlyList<ProgressRecord> Progress,
    IReadOnlyList<string> OtherStreams,
    IReadOnlyList<string> Verbose)
{
    /// <summary>Fails with the errors' text when the script wrote any.</summary>
    public ScriptResult AssertNoErrors()
    {
        Assert.True(Errors.Count == 0, string.Join(Environment.NewLine, Errors.Select(e => $"{e.FullyQualifiedErrorId}: {e.Exception}")));
        return this;
    }

    public T Single<T>() => Assert.IsType<T>(Assert.Single(Output).BaseObject);

    public IReadOnlyList<T> All<T>() => Output.Select(o => Assert.IsType<T>(o.BaseObject)).ToList();
}
