using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Updates;

/// <summary>
/// One update, top to bottom: check → backup → pull → recreate → health gate → cleanup, or
/// rollback → health gate. Each step is journaled as it starts and ends; each Docker call that
/// changes something is bracketed by a phase, so a crash can be finished or undone at start-up.
/// </summary>
public sealed partial class UpdatePipeline(
    JobStore store,
    IContainerRuntime runtime,
    IContainerLifecycle containers,
    ContainerSnapshotter snapshotter,
    BackupRestorer restorer,
    HealthGate gate,
    INotifier notifier,
    IOptions<UpdateOptions> options,
    UpdateTelemetry telemetry,
    TimeProvider time,
    ILogger<UpdatePipeline> logger)
{
    public static string OldName(string container) => container + ".old";

    public async Task RunAsync(JobView job, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"update {job.Container}");
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["Container"] = job.Container, ["Image"] = job.Image });

        var stillTarget = await StepAsync(job, "check", () => CheckTargetAsync(job, cancellationToken), cancellationToken);
        if (stillTarget is not null)
        {
            await EndAsync(job, JobStates.Cancelled, Outcomes.NothingChanged, stillTarget, null, cancellationToken);
            return;
        }

        try
        {
            var backup = await StepAsync(job, "backup", async () =>
            {
                var manifest = await snapshotter.SnapshotAsync(job.Container, BackupKinds.PreUpdate, job.Id, job.CurrentImageId, cancellationToken);
                return (manifest, $"backup set {manifest.Id}: {manifest.Objects.Count} object(s), {manifest.Objects.Sum(o => o.Size)} bytes");
            }, cancellationToken);
            await store.SetPhaseAsync(job.Id, Phases.BackedUp, cancellationToken, backupId: backup.Id);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await EndAsync(job, JobStates.Failed, Outcomes.NothingChanged, $"backup failed, nothing was changed: {e.Message}", null, cancellationToken);
            return;
        }

        PulledImage pulled;
        try
        {
            pulled = await StepAsync(job, "pull", () => PullAsync(job, cancellationToken), cancellationToken);
            await store.SetPhaseAsync(job.Id, Phases.Pulled, cancellationToken, newImageId: pulled.Id);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await EndAsync(job, JobStates.Failed, Outcomes.NothingChanged, $"pull failed, the running container was not touched: {e.Message}", null, cancellationToken);
            return;
        }

        try
        {
            await StepAsync(job, "recreate", async () => (await RecreateAsync(job, cancellationToken), $"{job.Container} recreated on {pulled.Id[..Math.Min(19, pulled.Id.Length)]}"), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await RollbackAsync(job, $"recreate failed: {e.Message}", cancellationToken);
            return;
        }

        await FinishThroughGateAsync(job, cancellationToken);
    }

    /// <summary>
    /// Finishes or undoes a job a crash left running, from what Docker shows (the journal can be
    /// one call behind): a renamed old container is never left behind, and no container stays stopped.
    /// </summary>
    public async Task ResumeAsync(JobView job, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"resume {job.Container}");
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["Container"] = job.Container });
        await store.CloseOpenStepsAsync(job.Id, "interrupted: the service stopped during this step", cancellationToken);
        var old = await containers.StatusAsync(OldName(job.Container), cancellationToken);
        var current = await containers.StatusAsync(job.Container, cancellationToken);
        LogResume(logger, job.Id, job.Phase ?? "none", old is not null, current is not null);

        if (old is not null)
        {
            if (current is not null && current.Id != old.Id && job.NewImageId is not null && current.ImageId == job.NewImageId)
            {
                // The new container exists: give it its chance at the gate, as the run would have.
                await StepAsync(job, "resume", async () =>
                {
                    if (!current.Running)
                    {
                        await containers.StartAsync(current.Id, cancellationToken);
                    }

                    return (true, "the service restarted after the new container was created: starting it and running the health gate");
                }, cancellationToken);
                await store.SetPhaseAsync(job.Id, Phases.Started, cancellationToken, newContainerId: current.Id);
                await FinishThroughGateAsync(job, cancellationToken);
                return;
            }

            await RollbackAsync(job, "the service restarted during the recreate, before the new container existed", cancellationToken);
            return;
        }

        if (current is null)
        {
            await EndAsync(job, JobStates.Failed, "container missing: action required",
                $"the service restarted mid-update and no container named {job.Container} or {OldName(job.Container)} exists", null, cancellationToken);
            return;
        }

        if (job.NewImageId is not null && current.ImageId == job.NewImageId)
        {
            // Only the success cleanup was left to do.
            if (!current.Running)
            {
                await containers.StartAsync(current.Id, cancellationToken);
            }

            await EndAsync(job, JobStates.Succeeded, Outcomes.Updated, "the service restarted after the update; the new container runs", null, cancellationToken);
            return;
        }

        // Nothing was changed yet: run the job again from the start, once.
        if (job.Attempts < 2 && await store.TransitionAsync(job.Id, [JobStates.Running], JobStates.Queued, "interrupted before any change: queued again", cancellationToken))
        {
            return;
        }

        await EndAsync(job, JobStates.Failed, Outcomes.NothingChanged, "interrupted twice before any change; send the event again to retry", null, cancellationToken);
    }

    private async Task FinishThroughGateAsync(JobView job, CancellationToken cancellationToken)
    {
        var result = await StepAsync(job, "health-gate", async () =>
        {
            var gateResult = await gate.WaitAsync(job.Container, cancellationToken);
            return gateResult.Passed ? (gateResult, gateResult.Detail) : throw new GateFailedException(gateResult.Detail);
        }, cancellationToken, rethrow: false);

        if (result is null)
        {
            var detail = (await store.GetJobAsync(job.Id, cancellationToken))?.Steps is { Count: > 0 } steps ? steps[^1].Detail ?? "health gate failed" : "health gate failed";
            await RollbackAsync(job, $"the new container failed its health gate: {detail}", cancellationToken);
            return;
        }

        await store.SetPhaseAsync(job.Id, Phases.GatePassed, cancellationToken);
        await StepAsync(job, "cleanup", async () =>
        {
            // The old container goes only now; its volumes stay (the new container uses them).
            await containers.RemoveAsync(OldName(job.Container), cancellationToken);
            return (true, $"removed {OldName(job.Container)}; the previous image is kept");
        }, cancellationToken);
        await store.SetPhaseAsync(job.Id, Phases.Done, cancellationToken);
        await EndAsync(job, JobStates.Succeeded, Outcomes.Updated, $"{job.Container} runs {job.Image} ({job.Digest})", null, cancellationToken);
    }

    private async Task RollbackAsync(JobView job, string why, CancellationToken cancellationToken)
    {
        await store.SetPhaseAsync(job.Id, Phases.RollingBack, cancellationToken);
        string? logTail = null;
        try
        {
            await StepAsync(job, "rollback", async () =>
            {
                var old = await containers.StatusAsync(OldName(job.Container), cancellationToken);
                var current = await containers.StatusAsync(job.Container, cancellationToken);
                if (old is null)
                {
                    if (current is { Running: false })
                    {
                        await containers.StartAsync(current.Id, cancellationToken);
                    }

                    return (true, "nothing to roll back: the original container was never renamed");
                }

                if (current is not null && current.Id != old.Id)
                {
                    logTail = await containers.LogTailAsync(current.Id, options.Value.LogTailLines, cancellationToken);
                    await containers.RemoveAsync(current.Id, cancellationToken);
                }

                await containers.RenameAsync(old.Id, job.Container, cancellationToken);
                var (restored, restoreError) = await RestoreDataBeforeStartAsync(job, old, cancellationToken);
                await containers.StartAsync(old.Id, cancellationToken);
                if (restoreError is not null)
                {
                    throw new InvalidOperationException($"{job.Container} was started again, but its pre-update data could not be restored: {restoreError}");
                }

                return (true, $"removed the new container, renamed {OldName(job.Container)} back to {job.Container}{restored} and started it");
            }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await EndAsync(job, JobStates.Failed, "rollback failed: action required", $"{why}; then the rollback failed: {e.Message}", logTail, cancellationToken);
            return;
        }

        // The step is recorded as failed when the old container is not healthy either (the
        // timeline must not show a green step for it); the job's end says what that means.
        GateResult? rolledBack = null;
        try
        {
            await StepAsync(job, "rollback-health-gate", async () =>
            {
                rolledBack = await gate.WaitAsync(job.Container, cancellationToken);
                return rolledBack.Passed ? (rolledBack, rolledBack.Detail) : throw new GateFailedException(rolledBack.Detail);
            }, cancellationToken);
        }
        catch (GateFailedException)
        {
        }

        var result = rolledBack!;

        await store.SetPhaseAsync(job.Id, Phases.Done, cancellationToken);
        await EndAsync(
            job,
            result.Passed ? JobStates.RolledBack : JobStates.Failed,
            result.Passed ? Outcomes.RolledBackHealthy : Outcomes.RolledBackFailing,
            result.Passed ? why : $"{why}; the rolled-back container is not healthy either: {result.Detail}",
            logTail,
            cancellationToken);
    }

    /// <summary>
    /// A container labelled backup.restore-on-rollback gets its pre-update set back before the old
    /// version starts: a new version may have migrated the data, and the old one may not start on it.
    /// Returns a note for the step's detail, or the error.
    /// </summary>
    private async Task<(string Note, string? Error)> RestoreDataBeforeStartAsync(JobView job, ContainerStatus old, CancellationToken cancellationToken)
    {
        if (!BackupLabels.IsTrue(old.Labels, BackupLabels.RestoreOnRollback))
        {
            return ("", null);
        }

        var backupId = (await store.GetJobAsync(job.Id, cancellationToken))?.BackupId;
        if (backupId is null)
        {
            return ("", "the job has no pre-update set");
        }

        try
        {
            var report = await restorer.RestoreAsync(new RestoreRequest(backupId, RunHealthGate: false, StartAll: false), cancellationToken);
            return report.Succeeded ? ($", restored pre-update set {backupId}", null) : ("", report.Error);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ("", e.Message);
        }
    }

    /// <summary>Null when the job should go on; else why the container is no longer what the event was about.</summary>
    private async Task<(string?, string)> CheckTargetAsync(JobView job, CancellationToken cancellationToken)
    {
        var container = await runtime.FindAsync(job.Container, cancellationToken);
        if (container is null)
        {
            return ($"container {job.Container} was removed since the event", "container gone");
        }

        if (ImageReference.TryParse(job.Image, out var image, out _) && container.RunsDigest(image, job.Digest))
        {
            return ($"container {job.Container} already runs {job.Digest}", "already current");
        }

        if (job.CurrentImageId is not null && container.ImageId != job.CurrentImageId)
        {
            return ($"container {job.Container} changed since the event (it now runs {container.ImageId[..Math.Min(19, container.ImageId.Length)]})", "changed");
        }

        if (await containers.StatusAsync(OldName(job.Container), cancellationToken) is not null)
        {
            return ($"a container named {OldName(job.Container)} already exists; remove or rename it, then send the event again", "name taken");
        }

        return (null, $"{job.Container} runs {container.ConfiguredImage}");
    }

    private async Task<(PulledImage, string)> PullAsync(JobView job, CancellationToken cancellationToken)
    {
        var image = ImageReference.Parse(job.Image);
        var lines = new List<string>();
        var pulled = await containers.PullAsync(image, new Progress<string>(line =>
        {
            lock (lines)
            {
                lines.Add(line);
            }

            LogPullProgress(logger, job.Id, line);
        }), cancellationToken);

        // Diun saw one digest; if the tag now points elsewhere, the operator approved something else.
        if (!pulled.RepoDigests.Any(repoDigest => repoDigest.EndsWith("@" + job.Digest, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ImagePullException(
                $"the registry moved on: {image} now has {string.Join(", ", pulled.RepoDigests.Select(d => d[(d.IndexOf('@', StringComparison.Ordinal) + 1)..]))}, not {job.Digest}");
        }

        return (pulled, $"pulled {image} as {pulled.Id[..Math.Min(19, pulled.Id.Length)]}");
    }

    private async Task<bool> RecreateAsync(JobView job, CancellationToken cancellationToken)
    {
        var oldName = OldName(job.Container);
        var configuredImage = job.CurrentImage ?? job.Image;

        await store.SetPhaseAsync(job.Id, Phases.Renaming, cancellationToken);
        await containers.RenameAsync(job.Container, oldName, cancellationToken);
        await store.SetPhaseAsync(job.Id, Phases.Renamed, cancellationToken);

        await containers.StopAsync(oldName, cancellationToken);
        await store.SetPhaseAsync(job.Id, Phases.Stopped, cancellationToken);
        await HangIfAskedAsync(Phases.Stopped, cancellationToken);

        var newId = await containers.CreateLikeAsync(oldName, job.Container, configuredImage, cancellationToken);
        await store.SetPhaseAsync(job.Id, Phases.Created, cancellationToken, newContainerId: newId);
        await HangIfAskedAsync(Phases.Created, cancellationToken);

        await containers.StartAsync(newId, cancellationToken);
        await store.SetPhaseAsync(job.Id, Phases.Started, cancellationToken);
        return true;
    }

    private async Task HangIfAskedAsync(string phase, CancellationToken cancellationToken)
    {
        if (string.Equals(options.Value.HangAfterPhase, phase, StringComparison.Ordinal))
        {
            LogHanging(logger, phase);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }

    private async Task EndAsync(JobView job, string state, string outcome, string reason, string? logTail, CancellationToken cancellationToken)
    {
        await store.FinishAsync(job.Id, state, outcome, reason, logTail, cancellationToken);
        LogOutcome(logger, job.Id, job.Container, state, outcome, reason);
        telemetry.JobEnded(job.Policy, state);
        System.Diagnostics.Activity.Current?.SetTag("job.state", state).SetTag("job.outcome", outcome);

        var failed = state is JobStates.Failed or JobStates.RolledBack;
        var manualSuccess = state == JobStates.Succeeded && job.Policy == Policies.Manual;
        if (!failed && !manualSuccess)
        {
            return;
        }

        await StepAsync(job, "notify", async () =>
        {
            await notifier.NotifyAsync(new JobNotification(
                failed ? NotificationKinds.UpdateFailed : NotificationKinds.UpdateSucceeded,
                job.Id, job.Container, job.Policy, job.CurrentImage, job.Image, job.Digest, job.HubLink, outcome, reason, logTail), cancellationToken);
            return (true, failed ? "failure notice sent" : "success notice sent");
        }, cancellationToken, rethrow: false);
    }

    /// <summary>Runs one journaled step. A failed step is recorded with its reason, then rethrown (or null with rethrow: false).</summary>
    private async Task<T> StepAsync<T>(JobView job, string name, Func<Task<(T Result, string Detail)>> work, CancellationToken cancellationToken, bool rethrow = true)
    {
        using var activity = UpdateTelemetry.Source.StartActivity($"step {name}");
        activity?.SetTag("job.id", job.Id);
        var started = time.GetTimestamp();
        var seq = await store.StartStepAsync(job.Id, name, cancellationToken);
        try
        {
            var (result, detail) = await work();
            await store.EndStepAsync(job.Id, seq, "succeeded", detail, cancellationToken);
            telemetry.StepEnded(name, "succeeded", time.GetElapsedTime(started));
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            telemetry.StepEnded(name, "failed", time.GetElapsedTime(started));
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            await store.EndStepAsync(job.Id, seq, "failed", e.Message, CancellationToken.None);
            LogStepFailed(logger, job.Id, name, e.Message);
            if (rethrow)
            {
                throw;
            }

            return default!;
        }
    }

    private sealed class GateFailedException(string message) : Exception(message);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId}: pull: {Line}")]
    private static partial void LogPullProgress(ILogger logger, string jobId, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: step {Step} failed: {Error}")]
    private static partial void LogStepFailed(ILogger logger, string jobId, string step, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} for {Container}: {State}, {Outcome}: {Reason}")]
    private static partial void LogOutcome(ILogger logger, string jobId, string container, string state, string outcome, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: resuming after a restart (phase {Phase}, old container present: {OldPresent}, container present: {Present})")]
    private static partial void LogResume(ILogger logger, string jobId, string phase, bool oldPresent, bool present);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Fault injection: hanging after phase {Phase} (Updates:HangAfterPhase)")]
    private static partial void LogHanging(ILogger logger, string phase);
}
