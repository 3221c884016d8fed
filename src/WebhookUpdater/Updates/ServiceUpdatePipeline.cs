using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Updates;

/// <summary>
/// One update of a Swarm service: check → journal the service's version → send the new image
/// (<c>repo:tag@digest</c>) with the service's own update and rollback settings → follow its
/// UpdateStatus to completed, rollback_completed or paused. Swarm replaces the tasks, watches
/// them and rolls back by itself; the job records what Swarm did. After a restart the version
/// says whether the update was sent: it is sent at most once, and then only followed.
/// </summary>
public sealed partial class ServiceUpdatePipeline(
    ISwarmServices swarm,
    IUpdateJournal journal,
    UpdatePipeline jobs,
    IOptions<HealthGateOptions> gate,
    IOptions<SwarmOptions> options,
    TimeProvider time,
    ILogger<ServiceUpdatePipeline> logger,
    ISwarmBackups? backups = null)
{
    public async Task RunAsync(JobView job, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"update service {job.Container}");
        var run = new UpdateRun(job);
        var check = await jobs.StepAsync(run, "check", () => CheckAsync(job, cancellationToken), cancellationToken);
        if (!check.Succeeded)
        {
            await jobs.CancelAsync(run, check.Detail, cancellationToken);
            return;
        }

        if (BackupLabels.AsksForBackup(check.Value!.Labels))
        {
            // Never change a service whose data the operator asked to keep without that copy.
            var backup = await jobs.StepAsync(run, "backup", () => BackUpAsync(check.Value!, job, cancellationToken), cancellationToken);
            if (!backup.Succeeded)
            {
                await jobs.FinishAsync(run, JobOutcome.NothingChanged, $"backup failed, nothing was changed: {backup.Detail}", cancellationToken);
                return;
            }

            run.BackupId = backup.Value;
        }

        await SendAsync(run, check.Value!, cancellationToken);
    }

    /// <summary>Goes on from the journaled phase: an update that was sent is followed, never sent again.</summary>
    public async Task ResumeAsync(JobView job, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"resume service {job.Container}");
        await journal.CloseOpenStepsAsync(job.Id, "interrupted: the service stopped during this step", cancellationToken);
        LogResume(logger, job.Id, job.Phase?.ToText() ?? "none");
        var run = new UpdateRun(job);
        switch (job.Phase)
        {
            case UpdatePhase.Finishing when run.Outcome is { } outcome:
                await jobs.FinishAsync(run, outcome, job.Reason ?? outcome.ToText(), cancellationToken);
                break;
            case UpdatePhase.ServiceUpdating when job.ServiceVersion is { } journaled:
                if (await swarm.FindAsync(job.ContainerId ?? job.Container, cancellationToken) is not { } service)
                {
                    await jobs.FinishAsync(run, JobOutcome.ContainerMissing, $"service {job.Container} was removed during its update", cancellationToken);
                }
                else if (service.Version == (ulong)journaled)
                {
                    // The crash came before Swarm took the spec: it is sent now, once.
                    await SendAsync(run, service, cancellationToken);
                }
                else
                {
                    await FollowAsync(run, resumed: true, cancellationToken);
                }

                break;
            case UpdatePhase.ServiceFollowing:
                await FollowAsync(run, resumed: true, cancellationToken);
                break;
            default:
                await RunAsync(job, cancellationToken);
                break;
        }
    }

    /// <summary>Ends a job the service was cut short in too often, with what Swarm shows of the service.</summary>
    public async Task GiveUpAsync(JobView job, int times, CancellationToken cancellationToken)
    {
        await journal.CloseOpenStepsAsync(job.Id, "interrupted: the service stopped during this step", cancellationToken);
        string shows;
        try
        {
            shows = await swarm.FindAsync(job.ContainerId ?? job.Container, cancellationToken) is { } service
                ? $"{service.Name} runs {service.Image}, its update is {service.Update?.State ?? "not started"}"
                : $"no service {job.Container}";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            shows = $"Docker did not answer ({e.GetType().Name})";
        }

        await jobs.FinishAsync(new UpdateRun(job), JobOutcome.Error,
            $"the service stopped {times} times while this job was at phase {job.Phase?.ToText() ?? "none"}, so it is not resumed again. Swarm shows: {shows}",
            cancellationToken);
    }

    private async Task<StepResult<ServiceInfo>> CheckAsync(JobView job, CancellationToken cancellationToken)
    {
        var service = await swarm.FindAsync(job.ContainerId ?? job.Container, cancellationToken);
        if (service is null)
        {
            return StepResult.Fail<ServiceInfo>($"service {job.Container} was removed since the event");
        }

        if (string.Equals(service.Digest, job.Digest, StringComparison.OrdinalIgnoreCase))
        {
            return StepResult.Fail<ServiceInfo>($"service {job.Container} already runs {job.Digest}");
        }

        if (job.CurrentImageId is { Length: > 0 } was && !string.Equals(service.Digest, was, StringComparison.OrdinalIgnoreCase))
        {
            return StepResult.Fail<ServiceInfo>($"service {job.Container} changed since the event (it now runs {service.Image})");
        }

        if (service.Update is { Ended: false } busy)
        {
            return StepResult.Fail<ServiceInfo>($"service {job.Container} is in the middle of another update ({busy.State}); send the event again once it ends");
        }

        return StepResult.Ok(service, $"{service.Name} runs {service.Image} (version {service.Version})");
    }

    private async Task SendAsync(UpdateRun run, ServiceInfo service, CancellationToken cancellationToken)
    {
        var job = run.Job;
        var image = $"{job.Image}@{job.Digest}";
        await journal.EnterPhaseAsync(job.Id, UpdatePhase.ServiceUpdating,
            new PhaseFacts { ContainerId = service.Id, ServiceVersion = (long)service.Version, BackupId = run.BackupId }, cancellationToken);
        var sent = await jobs.StepAsync(run, "service-update", async () =>
        {
            var monitor = HealthGate.StableFor(service.Labels, gate.Value.StableFor);
            await swarm.UpdateImageAsync(new ServiceImageUpdate(service.Id, service.Version, image, monitor), cancellationToken);
            return StepResult.Ok(true, $"sent {image} to Swarm (failure_action rollback, monitor at least {monitor.TotalSeconds:0.#}s when none was set)");
        }, cancellationToken);
        if (!sent.Succeeded)
        {
            await jobs.FinishAsync(run, JobOutcome.NothingChanged, $"Swarm did not take the new image, the service was not touched: {sent.Detail}", cancellationToken);
            return;
        }

        await FollowAsync(run, resumed: false, cancellationToken);
    }

    /// <summary>The pre-update set, made by an agent on the node of the service's task before Swarm is sent anything.</summary>
    private async Task<StepResult<string>> BackUpAsync(ServiceInfo service, JobView job, CancellationToken cancellationToken)
    {
        if (backups is null)
        {
            return StepResult.Fail<string>($"service {service.Name} has backup labels, and no Swarm backup is configured");
        }

        try
        {
            var manifest = await backups.BackupAsync(service, BackupKinds.PreUpdate, job.Id, service.Digest, cancellationToken);
            return StepResult.Ok(manifest.Id, $"backup set {manifest.Id} made on the node of {service.Name}: {manifest.Objects.Count} object(s), {manifest.Objects.Sum(o => o.Size)} bytes");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return StepResult.Fail<string>(e.Message);
        }
    }

    /// <summary>Records each UpdateStatus Swarm shows until the update ends, then ends the job the way Swarm ended.</summary>
    private async Task FollowAsync(UpdateRun run, bool resumed, CancellationToken cancellationToken)
    {
        var job = run.Job;
        await journal.EnterPhaseAsync(job.Id, UpdatePhase.ServiceFollowing, PhaseFacts.None, cancellationToken);
        var deadline = time.GetUtcNow() + options.Value.UpdateTimeout;
        string? seen = null;
        ServiceUpdateStatus? status = null;
        while (time.GetUtcNow() < deadline)
        {
            var service = await swarm.FindAsync(job.ContainerId ?? job.Container, cancellationToken);
            if (service is null)
            {
                await jobs.FinishAsync(run, JobOutcome.ContainerMissing, $"service {job.Container} was removed during its update", cancellationToken);
                return;
            }

            status = service.Update;
            if (status is not null && status.State != seen)
            {
                seen = status.State;
                var detail = string.IsNullOrEmpty(status.Message) ? status.State : $"{status.State}: {status.Message}";
                await jobs.StepAsync(run, $"swarm-{status.State.Replace('_', '-')}", () => Task.FromResult(StepResult.Ok(true, detail)), cancellationToken);
            }

            if (status is { Ended: true })
            {
                break;
            }

            await Task.Delay(options.Value.PollInterval, time, cancellationToken);
        }

        var note = resumed ? " (followed to its end after the service restarted)" : "";
        if (status is not { Ended: true })
        {
            await jobs.FinishAsync(run, JobOutcome.Error,
                $"Swarm's update of {job.Container} did not end within Swarm:UpdateTimeout ({options.Value.UpdateTimeout}); it is {status?.State ?? "not started"}: look at `docker service ps {job.Container}`", cancellationToken);
            return;
        }

        if (status.State == SwarmUpdateStates.Completed)
        {
            await jobs.FinishAsync(run, JobOutcome.Updated, $"service {job.Container} runs {job.Image} ({job.Digest}){note}", cancellationToken);
            return;
        }

        run.LogTail ??= await TaskErrorsAsync(job, cancellationToken);
        var (outcome, reason) = status.State switch
        {
            SwarmUpdateStates.RollbackCompleted => (JobOutcome.RolledBackHealthy, $"Swarm rolled {job.Container} back to its previous image: {status.Message}{note}"),
            SwarmUpdateStates.Paused => (JobOutcome.ServicePaused, $"Swarm paused the update of {job.Container}: {status.Message}{note}; resume it with `docker service update {job.Container}` or roll it back with `docker service rollback {job.Container}`"),
            _ => (JobOutcome.RollbackFailed, $"Swarm's rollback of {job.Container} paused: {status.Message}{note}; look at `docker service ps {job.Container}`"),
        };
        await jobs.FinishAsync(run, outcome, reason, cancellationToken);
    }

    private async Task<string?> TaskErrorsAsync(JobView job, CancellationToken cancellationToken)
    {
        try
        {
            var errors = await swarm.TaskErrorsAsync(job.ContainerId ?? job.Container, cancellationToken);
            return errors.Length == 0 ? null : errors;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return $"the task errors could not be read: {e.Message}";
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: resuming a service update after a restart from phase {Phase}")]
    private static partial void LogResume(ILogger logger, string jobId, string phase);
}
