using Microsoft.Extensions.Options;
using WebhookUpdater.Leases;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Updates;

/// <summary>
/// One job at a time for the whole host (gitea and postgres depend on each other). First finishes
/// or undoes what a crash left running, then takes queued jobs from the channel. The pipeline
/// (Docker client, backups, health gate) is made for the first job, not at start-up. A job runs
/// under the lease of its container and its backup.with partners (its pre-update backup and
/// restore-on-rollback inside it); when a restore, backup or renewal holds one of them, the job
/// waits for it, at most Leases:WaitTimeout.
/// </summary>
internal sealed partial class UpdateWorker(
    UpdateQueue queue,
    JobStore store,
    Lazy<UpdatePipeline> pipeline,
    Lazy<ServiceUpdatePipeline> services,
    Lazy<IUpdateBackups> backups,
    Lazy<DependentsCheck> dependents,
    ContainerLeases leases,
    IOptions<UpdateOptions> options,
    IOptions<LeaseOptions> leaseOptions,
    ILogger<UpdateWorker> logger) : BackgroundService
{
    /// <summary>A job cut short this many times is not resumed again: it ends for the operator to look at (same rule as restores).</summary>
    public const int MaxAttempts = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.RunWorker)
        {
            return;
        }

        foreach (var jobId in await store.JobIdsInStateAsync(JobState.Running, stoppingToken))
        {
            await RunGuardedAsync(jobId, resuming: true, async job =>
            {
                // A step that stops the service (a crash, an OOM kill) must not repeat for ever.
                var attempts = await store.CountAttemptAsync(job.Id, stoppingToken);
                var giveUp = attempts > MaxAttempts;
                await ((job.Target, giveUp) switch
                {
                    (UpdateTarget.Service, true) => services.Value.GiveUpAsync(job, attempts - 1, stoppingToken),
                    (UpdateTarget.Service, false) => services.Value.ResumeAsync(job, stoppingToken),
                    (_, true) => pipeline.Value.GiveUpAsync(job, attempts - 1, stoppingToken),
                    _ => pipeline.Value.ResumeAsync(job, stoppingToken),
                });
            }, stoppingToken);
            if ((await store.GetJobAsync(jobId, stoppingToken))?.State == JobState.Queued)
            {
                queue.Enqueue(jobId);
            }
        }

        try
        {
            await foreach (var jobId in queue.Reader.ReadAllAsync(stoppingToken))
            {
                // The journal is the truth: the job may have been superseded or rejected meanwhile.
                if (!await store.TransitionAsync(jobId, JobState.Queued, JobState.Running, null, stoppingToken))
                {
                    continue;
                }

                await RunGuardedAsync(jobId, resuming: false, job => job.Target == UpdateTarget.Service
                    ? services.Value.RunAsync(job, stoppingToken)
                    : pipeline.Value.RunAsync(job, stoppingToken), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A job cut short stays running and is resumed at the next start.
        }
    }

    private async Task RunGuardedAsync(string jobId, bool resuming, Func<JobView, Task> run, CancellationToken stoppingToken)
    {
        var job = await store.GetJobAsync(jobId, stoppingToken);
        if (job is null)
        {
            return;
        }

        try
        {
            var attempt = await leases.AcquireAsync(await LeasedAsync(job, stoppingToken), OperationKind.Update, job.Id, leaseOptions.Value.WaitTimeout, stoppingToken);
            if (attempt.Lease is not { } lease)
            {
                var holder = attempt.HeldBy!;
                if (resuming)
                {
                    // Half done: it must be finished, not failed; the next start tries again.
                    LogResumeBusy(logger, jobId, holder.Kind, holder.OperationId);
                    return;
                }

                await store.FinishAsync(jobId, JobState.Failed, JobOutcome.NothingChanged.ToText(),
                    $"{holder.Container} was busy with {holder.Describe()} for longer than Leases:WaitTimeout ({leaseOptions.Value.WaitTimeout}); nothing was changed: Diun's next notice (or a new approval) queues the update again",
                    null, stoppingToken);
                return;
            }

            await using (lease)
            {
                // A job refreshed after the wait: the journal may have moved on meanwhile.
                job = await store.GetJobAsync(jobId, stoppingToken) ?? job;
                await run(job);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            LogUnexpected(logger, jobId, e);
            await store.FinishAsync(jobId, JobState.Failed, JobOutcome.Error.ToText(), $"unexpected error: {e.Message}", null, CancellationToken.None);
        }
    }

    /// <summary>
    /// The container, its backup.with partners (the pre-update set dumps the partner, a rollback
    /// may restore it) and its dependents. When Docker does not answer, the container alone (the job's check fails anyway).
    /// </summary>
    private async Task<IReadOnlyList<string>> LeasedAsync(JobView job, CancellationToken cancellationToken)
    {
        try
        {
            // The dependents too: the job may restart them.
            var members = await backups.Value.MembersAsync(job.Container, cancellationToken);
            return [.. members.Union(await dependents.Value.FindAsync(job.Container, cancellationToken), StringComparer.Ordinal)];
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPartnersUnknown(logger, job.Id, e.Message);
            return [job.Container];
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: its backup.with partners could not be looked up ({Error}); only its own container is leased")]
    private static partial void LogPartnersUnknown(ILogger logger, string jobId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} was cut short, but its container is held by {HolderKind} {HolderId}: left for the next start")]
    private static partial void LogResumeBusy(ILogger logger, string jobId, OperationKind holderKind, string holderId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} ended with an unexpected error")]
    private static partial void LogUnexpected(ILogger logger, string jobId, Exception error);
}
