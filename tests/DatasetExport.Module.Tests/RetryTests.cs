using System.Collections;
using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>
/// -RetryCount and -RetryTimeoutSeconds on New-/Set-ExportDestination, the retries on ExportRun, and the engine's retry
/// log as verbose output of Start-ExportRun and Invoke-ExportSchedule.
/// </summary>
public sealed class RetryTests
{
    private const string SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYRETRYSECRET";

    /// <summary>An S3 destination at a closed port of 127.0.0.1: every upload fails to connect, which is transient, so it is retried once.</summary>
    private const string UnreachableS3 = """
        param($Lake, $Credential)
        Set-DatasetExportOption -LakePath $Lake
        New-ExportDestination -Name s3 -Type AmazonS3 -Bucket b -Region eu-west-1 -Endpoint http://127.0.0.1:1 -Credential $Credential -SkipValidation -RetryCount 1 -RetryTimeoutSeconds 60 | Out-Null
        """;

    [Fact]
    public void Retry_settings_round_trip_through_Get_ExportDestination_with_engine_defaults_when_unset()
    {
        using var session = new ModuleSession();
        session.Run("""
            param($Out)
            New-ExportDestination -Name plain -Type Local -Path $Out -SkipValidation | Out-Null
            New-ExportDestination -Name tuned -Type Local -Path $Out -SkipValidation -RetryCount 2 -RetryTimeout 30 | Out-Null
            """, session.Work.Combine("out")).AssertNoErrors();

        var plain = Destination(session, "plain");
        Assert.Equal((4, 300), Retry(plain));
        Assert.False(Settings(plain).ContainsKey("RetryCount"));

        // The alias -RetryTimeout sets RetryTimeoutSeconds; both are stored as the engine reads them.
        var tuned = Destination(session, "tuned");
        Assert.Equal((2, 30), Retry(tuned));
        Assert.Equal("2", Settings(tuned)["RetryCount"]);
        Assert.Equal("30", Settings(tuned)["RetryTimeoutSeconds"]);

        // Set-ExportDestination changes only what it is given; the range's ends are accepted.
        session.Run("Set-ExportDestination tuned -RetryCount 0 -SkipValidation").AssertNoErrors();
        Assert.Equal((0, 30), Retry(Destination(session, "tuned")));
        var changed = session.Run("Set-ExportDestination plain -RetryCount 20 -RetryTimeoutSeconds 86400 -SkipValidation -PassThru").AssertNoErrors().Output.Single();
        Assert.Equal((20, 86400), Retry(changed));
        Assert.Equal((20, 86400), Retry(Destination(session, "plain")));

        // $null puts a setting back to the engine's default: the stored value goes, the other one stays.
        session.Run("Set-ExportDestination plain -RetryCount $null -SkipValidation").AssertNoErrors();
        var reset = Destination(session, "plain");
        Assert.Equal((4, 86400), Retry(reset));
        Assert.False(Settings(reset).ContainsKey("RetryCount"));
        session.Run("Set-ExportDestination plain -RetryTimeoutSeconds $null -SkipValidation").AssertNoErrors();
        Assert.Equal((4, 300), Retry(Destination(session, "plain")));
        Assert.DoesNotContain(Settings(Destination(session, "plain")).Keys, key => key.StartsWith("Retry", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("New-ExportDestination", "RetryCount", -1)]
    [InlineData("New-ExportDestination", "RetryCount", 21)]
    [InlineData("New-ExportDestination", "RetryTimeoutSeconds", 0)]
    [InlineData("New-ExportDestination", "RetryTimeoutSeconds", 86401)]
    [InlineData("Set-ExportDestination", "RetryCount", 21)]
    [InlineData("Set-ExportDestination", "RetryTimeoutSeconds", 0)]
    public void Out_of_range_retry_settings_fail_binding_and_store_nothing(string command, string parameter, int value)
    {
        using var session = new ModuleSession();
        session.Run("New-ExportDestination -Name d -Type Local -Path $args[0] -SkipValidation -RetryCount 3 | Out-Null", session.Work.Combine("out")).AssertNoErrors();
        var parameters = new Hashtable { ["Name"] = command.StartsWith("New", StringComparison.Ordinal) ? "e" : "d", [parameter] = value, ["SkipValidation"] = true };
        if (command.StartsWith("New", StringComparison.Ordinal))
        {
            parameters["Type"] = "Local";
            parameters["Path"] = session.Work.Path;
        }

        var error = Assert.ThrowsAny<ParameterBindingException>(() => session.Invoke(command, parameters));

        var commandClass = command.Replace("-", "") + "Command";
        Assert.Equal($"ParameterArgumentValidationError,DatasetExport.Commands.{commandClass}", error.ErrorRecord.FullyQualifiedErrorId);
        Assert.Equal(parameter, error.ParameterName);
        var stored = Assert.Single(session.Run("Get-ExportDestination").AssertNoErrors().Output);
        Assert.Equal((3, 300), Retry(stored));
    }

    [Fact]
    public void Start_ExportRun_Verbose_shows_each_retry_and_the_run_counts_them()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 1, recordsPerBatch: 5);
        session.Run(UnreachableS3 + "\nNew-ExportFlow -Name f -Destination s3 -Dataset orders | Out-Null", lake, Credential()).AssertNoErrors();

        var result = session.Run("Start-ExportRun -Flow f -Verbose");

        var run = Assert.Single(result.Output);
        Assert.Equal("Failed", run.Properties["Status"].Value.ToString());
        Assert.Contains("Gave up after 2 attempts", (string)run.Properties["Error"].Value);
        Assert.Equal("ExportRunFailed,DatasetExport.Commands.StartExportRunCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
        // The upload is retried once, then whatever the run cleans up after it; each retry is one verbose line and one count.
        var retries = result.Verbose.Where(m => m.StartsWith("Retry ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(retries);
        Assert.StartsWith("Retry 1 of 1 for upload to s3://b/orders/exportTime=", retries[0]);
        Assert.Contains("Cannot connect to http://127.0.0.1:1/", retries[0]);
        Assert.Equal(retries.Count, Retries(run));
        AssertNoSecret(result);

        // The count is stored with the run.
        Assert.Equal(retries.Count, Retries(session.Run("Get-ExportRun -Flow f").AssertNoErrors().Output.Single()));

        // Without -Verbose nothing is written to the verbose stream, and the log is not left attached to a later command.
        var quiet = session.Run("Start-ExportRun -Flow f");
        Assert.Empty(quiet.Verbose);
        Assert.True(Retries(Assert.Single(quiet.Output)) >= 1);
    }

    [Fact]
    public void Invoke_ExportSchedule_Verbose_shows_each_retry()
    {
        using var session = new ModuleSession();
        var lake = session.Work.Combine("lake");
        TestLake.WriteJsonLinesDataset(lake, "orders", batches: 1, recordsPerBatch: 5);
        session.Run(UnreachableS3 + "\nNew-ExportFlow -Name due -Destination s3 -Dataset orders -Once -StartTime '2026-01-05T09:30Z' | Out-Null",
            lake, Credential()).AssertNoErrors();

        var result = session.Run("Invoke-ExportSchedule -Verbose");

        var run = Assert.Single(result.Output);
        Assert.Equal(("due", "Failed"), ((string)run.Properties["Flow"].Value, run.Properties["Status"].Value.ToString()));
        var retries = result.Verbose.Where(m => m.StartsWith("Retry ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(retries);
        Assert.StartsWith("Retry 1 of 1 for upload to s3://b/orders/exportTime=202601050930/", retries[0]);
        Assert.Equal(retries.Count, Retries(run));
        AssertNoSecret(result);
    }

    [Fact]
    public void A_successful_local_run_has_no_retries()
    {
        using var session = new ModuleSession();
        var (lake, output) = ExportPipelineTests.MakeLake(session);

        var runs = session.Run("""
            param($Lake, $Out)
            Set-DatasetExportOption -LakePath $Lake
            New-ExportDestination -Name d -Type Local -Path $Out -RetryCount 2 | Out-Null
            New-ExportFlow -Name f -Destination d -Dataset orders | Out-Null
            Start-ExportRun -Flow f -Verbose
            """, lake, output).AssertNoErrors();

        var run = Assert.Single(runs.Output);
        Assert.Equal(("Succeeded", 0), (run.Properties["Status"].Value.ToString(), Retries(run)));
        Assert.DoesNotContain(runs.Verbose, m => m.StartsWith("Retry ", StringComparison.Ordinal));
    }

    private static PSObject Destination(ModuleSession session, string name) =>
        session.Run("Get-ExportDestination $args[0]", name).AssertNoErrors().Output.Single();

    private static (int RetryCount, int RetryTimeoutSeconds) Retry(PSObject destination) =>
        ((int)destination.Properties["RetryCount"].Value, (int)destination.Properties["RetryTimeoutSeconds"].Value);

    private static IDictionary<string, string> Settings(PSObject destination) =>
        (IDictionary<string, string>)destination.Properties["Settings"].Value;

    private static int Retries(PSObject run) => (int)run.Properties["Retries"].Value;

    private static PSCredential Credential() => ModuleSurfaceTests.Credential("AKIAEXAMPLE", SecretAccessKey);

    private static void AssertNoSecret(ScriptResult result)
    {
        var text = string.Join("\n", result.Verbose.Concat(result.OtherStreams).Concat(result.Errors.Select(e => e.ToString()))
            .Concat(result.Output.Select(o => (string?)o.Properties["Error"].Value ?? "")));
        Assert.DoesNotContain(SecretAccessKey, text);
        Assert.DoesNotContain("RETRYSECRET", text);
    }
}
