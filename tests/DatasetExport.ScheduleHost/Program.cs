using System.Globalization;
using DatasetExport.Engine;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.State;

// Runs ExportEngine.RunDueFlowsAsync once, as Invoke-ExportSchedule does (or, with --start-flow, RunFlowAsync of that flow,
// as Start-ExportRun does), on the state home in $DATASETEXPORT_HOME at a fixed "now", and prints what happened, one line
// each, for the test that started it:
//   ready                                          the engine is open (then it waits for --start-when, if given)
//   progress <flow> <dataset> files=<n>            after each chunk written (then it sleeps --pause-ms, if given)
//   run <id> <flow> <dataset> <slot> <status>      each run, when all are done
//   refused <failure> <message>                    the state store refused the start (StateException)
// Usage: DatasetExport.ScheduleHost --lake <folder> --now <ISO 8601> [--flow <name>]... [--start-flow <name>] [--pause-ms <n>]
//        [--start-when <file>]
// The pause is this test host's own way to make an export slow enough to kill mid-run; the engine has no such hook.

var options = ParseArguments(args);
var now = DateTimeOffset.Parse(options.Now, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
using var engine = ExportEngine.Open(new EngineOptions { TimeProvider = new FixedTimeProvider(now) });
Console.WriteLine("ready");
if (options.StartWhen is { } startFile)
{
    while (!File.Exists(startFile)) Thread.Sleep(5);
}

var progress = new InlineProgress(report =>
{
    Console.WriteLine($"progress {report.FlowName} {report.DatasetId} files={report.FilesWritten}");
    if (options.PauseMilliseconds > 0) Thread.Sleep(options.PauseMilliseconds);
});
IReadOnlyList<RunRecord> runs;
try
{
    runs = options.StartFlow is { } flowName
        ? await engine.RunFlowAsync(engine.State.FindFlow(flowName)!, options.Lake, progress, CancellationToken.None)
        : await engine.RunDueFlowsAsync(options.Lake, options.Flows.Count == 0 ? null : options.Flows, progress, CancellationToken.None);
}
catch (StateException refused)
{
    Console.WriteLine($"refused {refused.Failure} {refused.Message}");
    return 0;
}
foreach (var run in runs)
{
    Console.WriteLine($"run {run.Id:D} {run.FlowName} {run.DatasetId} {run.ScheduledTime.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ} {run.Status}");
}
return 0;

static Options ParseArguments(string[] args)
{
    var options = new Options();
    for (var i = 0; i < args.Length; i += 2)
    {
        if (i + 1 >= args.Length) throw new ArgumentException($"'{args[i]}' needs a value.");
        var value = args[i + 1];
        switch (args[i])
        {
            case "--lake": options.Lake = value; break;
            case "--now": options.Now = value; break;
            case "--flow": options.Flows.Add(value); break;
            case "--start-flow": options.StartFlow = value; break;
            case "--pause-ms": options.PauseMilliseconds = int.Parse(value, CultureInfo.InvariantCulture); break;
            case "--start-when": options.StartWhen = value; break;
            default: throw new ArgumentException($"Unknown argument '{args[i]}'.");
        }
    }
    if (options.Lake.Length == 0 || options.Now.Length == 0) throw new ArgumentException("--lake and --now are required.");
    return options;
}

internal sealed class Options
{
    public string Lake { get; set; } = "";
    public string Now { get; set; } = "";
    public List<string> Flows { get; } = new();
    public string? StartFlow { get; set; }
    public int PauseMilliseconds { get; set; }
    public string? StartWhen { get; set; }
}

/// <summary>A clock stopped at one instant: every process of a test agrees on "now". Timers still run in real time.</summary>
internal sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

/// <summary>Reports on the engine's thread as it happens.</summary>
internal sealed class InlineProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
{
    public void Report(ExportProgress value) => report(value);
}
