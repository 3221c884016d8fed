namespace WebhookUpdater.Updates;

/// <summary>
/// At start-up, puts the journal's queued jobs back into the channel; then, while running,
/// decides the events that arrived while Docker was not answering.
/// </summary>
internal sealed partial class IntakeRecovery(
    JobStore store,
    UpdateQueue queue,
    IServiceProvider services,
    TimeProvider time,
    ILogger<IntakeRecovery> logger) : BackgroundService
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var queued = await store.QueuedJobIdsAsync(cancellationToken);
        foreach (var jobId in queued)
        {
            queue.Enqueue(jobId);
        }

        LogRecovered(logger, queued.Count);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // The intake (and with it the Docker client) is made only once an event waits for it.
                var resolved = (await store.DeferredEventsAsync(stoppingToken)).Count == 0
                    ? 0
                    : await services.GetRequiredService<EventIntake>().ResolveDeferredAsync(stoppingToken);
                if (resolved > 0)
                {
                    LogResolved(logger, resolved);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogStillDeferred(logger, e.GetType().Name);
            }

            try
            {
                await Task.Delay(RetryInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Start-up: {Count} queued job(s) read back from the journal")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Decided {Count} event(s) that arrived while Docker was not answering")]
    private static partial void LogResolved(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deferred events still wait: Docker does not answer ({Error})")]
    private static partial void LogStillDeferred(ILogger logger, string error);
}
