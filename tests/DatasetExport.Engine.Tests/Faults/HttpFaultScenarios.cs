using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Faults;

/// <summary>Faults only HTTP services have: the server answers, but with "busy, try later".</summary>
public abstract class HttpFaultScenarios : FaultScenarios
{
    /// <summary>The service's own throttling answer.</summary>
    protected abstract (int Status, string Reason, string Code) Throttling { get; }

    /// <summary>
    /// Failed requests in a row after which the SDK has surely given up on one of them: one more than it tries a
    /// request, or, when several requests of one upload run in parallel (blocks), enough that one of them failed
    /// every attempt.
    /// </summary>
    protected abstract int FailuresToExhaustTheSdk { get; }

    [Fact]
    public async Task Throttling_answers_are_retried_by_the_sdk_then_by_the_engine()
    {
        var (target, proxy) = await TargetBehindProxyAsync();
        var (engine, flow) = await FlowAsync(target, target.Settings(proxy.Port));
        // The SDK gives up on one request: the engine must see the failure as transient.
        var answers = FailuresToExhaustTheSdk;
        var (status, reason, code) = Throttling;
        proxy.AnswerNewConnections(FaultProxy.HttpError(status, reason, code), answers);

        var run = await RunAsync(engine, flow, FirstSlot);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(answers, proxy.FaultsInjected);
        Assert.True(run.Retries >= 1);
        Assert.Contains($"{status}", RetryLog.First());
        await AssertExactlyTheLakeAsync(target, [run]);
    }
}
