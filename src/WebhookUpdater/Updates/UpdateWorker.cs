using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Updates;

/// <summary>
/// One job at a time for the whole host (gitea and postgres depend on each other). First finishes
/// or undoes what a crash left running, then takes queued jobs from the channel. The pipeline
/// (Docker client, backups, health gate) is made for the first job, not at start-up.
/// </summary>
internal sealed partial class UpdateWorker(
    UpdateQueue queue,
    JobStore store,
    Lazy<UpdatePipeline> pipeline,
    IOptions<UpdateOptions> options,
    ILogger<UpdateWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.RunWorker)
        {
            return;
        }

        foreach (var jobId in await store.JobIdsInStateAsync(JobStates.Running, stoppingToken))
        {
            await RunGuardedAsync(jobId, job => pipeline.Value.ResumeAsync(job, stoppingToken), stoppingToken);
            if ((await store.GetJobAsync(jobId, stoppingToken))?.State == JobStates.Queued)
            {
                queue.Enqueue(jobId);
            }
        }

        try
        {
            await foreach (var jobId in queue.Reader.ReadAllAsync(stoppingToken))
            {
                // The journal is the truth: the job may have been superseded or rejected meanwhile.
                if (!await store.TransitionAsync(jobId, [JobStates.Queued], JobStates.Running, null, stoppingToken))
                {
                    continue;
                }

                await RunGuardedAsync(jobId, job => pipeline.Value.RunAsync(job, stoppingToken), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A job cut short stays 'running' and is resumed at the next start.
        }
    }

    private async Task RunGuardedAsync(string jobId, Func<JobView, Task> run, CancellationToken stoppingToken)
    {
        var job = await store.GetJobAsync(jobId, stoppingToken);
        if (job is null)
        {
            return;
        }

        try
        {
            await run(job);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            LogUnexpected(logger, jobId, e);
            await store.FinishAsync(jobId, JobStates.Failed, JobOutcome.Error.ToText(), $"unexpected error: {e.Message}", null, CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} ended with an unexpected error")]
    private static partial void LogUnexpected(ILogger logger, string jobId, Exception error);
}
