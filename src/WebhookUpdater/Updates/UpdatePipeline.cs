using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.Updates;

/// <summary>
/// One update, top to bottom: check → backup → pull → create the new container next to the
/// running one → rename both → stop the old, start the new → health gate → cleanup; or the rollback: remove the new
/// container → rename the old one back → restore its data → start it → health gate. Every phase
/// is journaled before it is acted on and every action can be repeated, so after a crash the job
/// goes on from its phase: a rollback is finished as a rollback, and the failed image is never
/// started a second time.
/// </summary>
public sealed partial class UpdatePipeline(
    IUpdateJournal journal,
    IContainerLookup lookup,
    IContainerActions containers,
    IUpdateBackups backups,
    HealthGate gate,
    DependentsCheck dependents,
    IImageActions images,
    ImagePruner pruner,
    INotifier notifier,
    ComposeEnv compose,
    IOptions<UpdateOptions> options,
    UpdateTelemetry telemetry,
    TimeProvider time,
    ILogger<UpdatePipeline> logger)
{
    /// <summary>The old container's name while the new one is tried.</summary>
    public static string OldName(string container) => container + ".old";

    /// <summary>The new container's name until the old one has stopped.</summary>
    public static string NewName(string container) => container + ".new";

    public async Task RunAsync(JobView job, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"update {job.Container}");
        using var scope = BeginScope(job);
        await UpdateAsync(new UpdateRun(job), UpdatePhase.BackingUp, fresh: true, cancellationToken);
    }

    /// <summary>Goes on with a job a crash left running, from the phase it had journaled.</summary>
    public async Task ResumeAsync(JobView job, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"resume {job.Container}");
        using var scope = BeginScope(job);
        await journal.CloseOpenStepsAsync(job.Id, "interrupted: the service stopped during this step", cancellationToken);
        var phaseText = job.Phase?.ToText() ?? "none";
        LogResume(logger, job.Id, phaseText);
        var run = new UpdateRun(job);

        switch (job.Phase)
        {
            case UpdatePhase.Finishing when run.Outcome is { } outcome:
                await FinishAsync(run, outcome, job.Reason ?? outcome.ToText(), cancellationToken);
                break;
            case { } phase when phase.IsRollback():
                await RollBackAsync(run, phase, run.RollbackReason ?? "the service restarted during the rollback", cancellationToken);
                break;
            case { } phase:
                await UpdateAsync(run, phase, fresh: false, cancellationToken);
                break;
            default:
                // Nothing journaled yet (or a phase this version does not know): start over, or
                // undo what an older version left renamed.
                if (await lookup.FindAsync(OldName(job.Container), cancellationToken) is { } old)
                {
                    run.ContainerId = old.Id;
                    await RollBackAsync(run, UpdatePhase.RollingBack, "the service restarted mid-update", cancellationToken);
                }
                else
                {
                    await UpdateAsync(run, UpdatePhase.BackingUp, fresh: true, cancellationToken);
                }

                break;
        }
    }

    /// <summary>
    /// Ends a job the service was cut short in <paramref name="times"/> times without acting on
    /// any container: whatever stopped the service may be in the step it would repeat. The job
    /// fails with what Docker shows, and the operator gets the failure email.
    /// </summary>
    public async Task GiveUpAsync(JobView job, int times, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.StartJob(job, $"give up {job.Container}");
        using var scope = BeginScope(job);
        await journal.CloseOpenStepsAsync(job.Id, "interrupted: the service stopped during this step", cancellationToken);
        var phase = job.Phase?.ToText() ?? "none";
        LogGiveUp(logger, job.Id, times, phase);
        var seen = new List<string>();
        foreach (var name in new[] { job.Container, OldName(job.Container), NewName(job.Container) })
        {
            try
            {
                seen.Add(await lookup.FindAsync(name, cancellationToken) is { } status ? $"{name} {status.Status}" : $"no {name}");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                seen.Add($"{name}: Docker did not answer ({e.GetType().Name})");
                break;
            }
        }

        await FinishAsync(new UpdateRun(job), JobOutcome.Error,
            $"the service stopped {times} times while this job was at phase {phase}, so it is not resumed again (the step it would repeat may be what stops it). Docker shows: {string.Join(", ", seen)}. Put {job.Container} right by hand (docs/architecture.md, \"A job given up after repeated crashes\")",
            cancellationToken);
    }

    /// <summary>The update from <paramref name="from"/> on; each block is one phase, in order.</summary>
    private async Task UpdateAsync(UpdateRun run, UpdatePhase from, bool fresh, CancellationToken cancellationToken)
    {
        if (from <= UpdatePhase.BackingUp)
        {
            var check = await StepAsync(run, "check", () => CheckTargetAsync(run, cancellationToken), cancellationToken);
            if (!check.Succeeded)
            {
                await CancelAsync(run, check.Detail, cancellationToken);
                return;
            }

            await EnterAsync(run, UpdatePhase.BackingUp,
                new PhaseFacts { ContainerId = run.ContainerId, CurrentImage = run.CurrentImage, CurrentImageId = run.CurrentImageId }, cancellationToken);
            var backup = await StepAsync(run, "backup", () => BackUpAsync(run, cancellationToken), cancellationToken);
            if (!backup.Succeeded)
            {
                await FinishAsync(run, JobOutcome.NothingChanged, $"backup failed, nothing was changed: {backup.Detail}", cancellationToken);
                return;
            }

            run.BackupId = backup.Value;
        }

        if (from <= UpdatePhase.Pulling)
        {
            await EnterAsync(run, UpdatePhase.Pulling, new PhaseFacts { BackupId = run.BackupId }, cancellationToken);
            var pulled = run.Job.RollbackOf is null
                ? await StepAsync(run, "pull", () => PullAsync(run, cancellationToken), cancellationToken)
                : await StepAsync(run, "retag", () => RetagPreviousAsync(run, cancellationToken), cancellationToken);
            if (!pulled.Succeeded)
            {
                await FinishAsync(run, JobOutcome.NothingChanged, $"{(run.Job.RollbackOf is null ? "pull" : "retag")} failed, the running container was not touched: {pulled.Detail}", cancellationToken);
                return;
            }

            run.NewImageId = pulled.Value!.Id;
        }

        if (from <= UpdatePhase.Creating)
        {
            await EnterAsync(run, UpdatePhase.Creating, new PhaseFacts { NewImageId = run.NewImageId }, cancellationToken);
            var created = await StepAsync(run, "create", () => CreateNewAsync(run, resumed: from == UpdatePhase.Creating, cancellationToken), cancellationToken);
            if (!created.Succeeded)
            {
                await containers.RemoveAsync(NewName(run.Container), cancellationToken);
                await FinishAsync(run, JobOutcome.NothingChanged, $"the new container could not be created, the running container was not touched: {created.Detail}", cancellationToken);
                return;
            }

            run.NewContainerId = created.Value;
        }

        if (from <= UpdatePhase.Starting)
        {
            // The downtime: only stop and start, each journaled before it is done.
            var swapped = await StepAsync(run, "recreate", () => SwapAsync(run, from, cancellationToken), cancellationToken);
            if (!swapped.Succeeded)
            {
                await RollBackAsync(run, UpdatePhase.RollingBack, $"recreate failed: {swapped.Detail}", cancellationToken);
                return;
            }
        }

        if (from <= UpdatePhase.Gating)
        {
            await EnterAsync(run, UpdatePhase.Gating, PhaseFacts.None, cancellationToken);
            run.Verdict = await GateAsync(run, "health-gate", cancellationToken);
            if (!run.Verdict.Passed)
            {
                await RollBackAsync(run, UpdatePhase.RollingBack, $"the new container failed its health gate: {run.Verdict.Detail}", cancellationToken);
                return;
            }
        }

        // Phases added after Done sort last in the enum: the blocks below name them.
        if (run.Job.RestoreSetId is { } setId && (from <= UpdatePhase.Gating || from == UpdatePhase.RestoringSet))
        {
            await EnterAsync(run, UpdatePhase.RestoringSet, PhaseFacts.None, cancellationToken);
            if (await RestoreSetAsync(run, setId, cancellationToken) is { } restoreError)
            {
                await FinishAsync(run, JobOutcome.DataNotRestored, restoreError, cancellationToken);
                return;
            }
        }

        if (from <= UpdatePhase.Gating || from is UpdatePhase.RestoringSet or UpdatePhase.CheckingDependents)
        {
            await EnterAsync(run, UpdatePhase.CheckingDependents, PhaseFacts.None, cancellationToken);
            if (await CheckDependentsAsync(run, cancellationToken) is { } failed)
            {
                await RollBackAsync(run, UpdatePhase.RollingBack, $"{failed.Container}, which requires {run.Container}, failed its health gate: {failed.Detail}", cancellationToken);
                return;
            }
        }

        await EnterAsync(run, UpdatePhase.GatePassed, PhaseFacts.None, cancellationToken);
        await StepAsync(run, "cleanup", async () =>
        {
            // The old container goes only now; its volumes stay (the new container uses them).
            await containers.RemoveAsync(run.ContainerId ?? OldName(run.Container), cancellationToken);
            return StepResult.Ok(true, $"removed {OldName(run.Container)}; the previous image is kept");
        }, cancellationToken);
        await ComposeStepAsync(run, cancellationToken);
        await StepAsync(run, "prune", () => pruner.PruneAsync(run.Job, cancellationToken), cancellationToken);
        var note = fresh ? "" : " (finished after the service restarted)";
        var what = run.Job.RollbackOf is { } undone ? $"rolled back job {undone}: " : "";
        await FinishAsync(run, JobOutcome.Updated, $"{what}{run.Container} runs {run.Job.Image} ({run.Job.Digest}){note}", cancellationToken);
    }

    /// <summary>
    /// After a tag move, the compose project still names the old tag: find the <c>.env</c> line that
    /// fixes it (and write it, when the operator allowed that). It never fails the update.
    /// </summary>
    private async Task ComposeStepAsync(UpdateRun run, CancellationToken cancellationToken)
    {
        var to = ConfiguredImage(run);
        if (run.CurrentImage is not { } from || string.Equals(from, to, StringComparison.Ordinal))
        {
            return;
        }

        await StepAsync(run, "compose", async () =>
        {
            if (await lookup.FindAsync(run.Container, cancellationToken) is not { } container)
            {
                return StepResult.Ok(false, $"{run.Container} was not found; the compose project was not looked at");
            }

            run.ComposeDrift = await compose.ReconcileAsync(run.Job.Id, container, from, to, cancellationToken);
            return StepResult.Ok(true, run.ComposeDrift?.Summary ?? $"{run.Container} is not part of a compose project");
        }, cancellationToken);
    }

    /// <summary>
    /// Give the old container's name to the new one while the old one still serves (Docker renames
    /// running containers), then stop the old one and start the new one: the downtime holds only
    /// the stop and the start.
    /// </summary>
    private async Task<StepResult<bool>> SwapAsync(UpdateRun run, UpdatePhase from, CancellationToken cancellationToken)
    {
        var oldId = run.ContainerId!;
        var newId = run.NewContainerId!;
        if (from < UpdatePhase.Renaming)
        {
            await EnterAsync(run, UpdatePhase.Renaming, new PhaseFacts { NewContainerId = newId }, cancellationToken);
            await containers.RenameAsync(oldId, OldName(run.Container), cancellationToken);
            await containers.RenameAsync(newId, run.Container, cancellationToken);
        }
        else
        {
            // Resumed: the renames may have happened (or, journaled by an older version that
            // stopped first, not yet); look before acting.
            await RenameIfNeededAsync(oldId, OldName(run.Container), cancellationToken);
            await RenameIfNeededAsync(newId, run.Container, cancellationToken);
        }

        if (from <= UpdatePhase.Stopping)
        {
            await EnterAsync(run, UpdatePhase.Stopping, PhaseFacts.None, cancellationToken);
            await containers.StopAsync(oldId, cancellationToken);
        }

        await EnterAsync(run, UpdatePhase.Starting, PhaseFacts.None, cancellationToken);
        if (from < UpdatePhase.Starting)
        {
            await containers.StartAsync(newId, cancellationToken);
        }
        else if (await lookup.FindAsync(newId, cancellationToken) is not { } status)
        {
            return StepResult.Fail<bool>("the new container disappeared");
        }
        else if (status.Status == "created")
        {
            // Only a container that never ran is started: one that ran is judged by the gate.
            await containers.StartAsync(newId, cancellationToken);
        }

        return StepResult.Ok(true, $"renamed the old container {OldName(run.Container)}, stopped it, started {run.Container} on {Short(run.NewImageId)}");
    }

    /// <summary>The rollback from <paramref name="from"/> on; each block is one phase, in order, each safe to repeat.</summary>
    private async Task RollBackAsync(UpdateRun run, UpdatePhase from, string why, CancellationToken cancellationToken)
    {
        run.RollbackReason = why;
        if (from <= UpdatePhase.StartingOld && !await UndoAsync(run, from, why, cancellationToken))
        {
            return;
        }

        await EnterAsync(run, UpdatePhase.RollbackGating, PhaseFacts.None, cancellationToken);
        var verdict = await RestartFailedDependentAsync(run, await GateAsync(run, "rollback-health-gate", cancellationToken), cancellationToken);

        var reason = run.RollbackReason ?? why;
        if (run.Outcome is { } decided)
        {
            await FinishAsync(run, decided, reason, cancellationToken);
        }
        else if (verdict.Passed)
        {
            await FinishAsync(run, JobOutcome.RolledBackHealthy, reason, cancellationToken);
        }
        else
        {
            await FinishAsync(run, JobOutcome.RolledBackFailing, $"{reason}; the rolled-back container is not healthy either: {verdict.Detail}", cancellationToken);
        }
    }

    /// <summary>The rollback's changes, up to starting the old container; false when it failed (and the job ended).</summary>
    private async Task<bool> UndoAsync(UpdateRun run, UpdatePhase from, string why, CancellationToken cancellationToken)
    {
        var rolledBack = await StepAsync(run, "rollback", async () =>
        {
            if (from <= UpdatePhase.RollingBack)
            {
                await EnterAsync(run, UpdatePhase.RollingBack, new PhaseFacts { Reason = why }, cancellationToken);
                if (run.NewContainerId is { } failed && run.LogTail is null)
                {
                    run.LogTail = await lookup.LogTailAsync(failed, options.Value.LogTailLines, cancellationToken);
                }
            }

            if (from <= UpdatePhase.RemovingNew)
            {
                await EnterAsync(run, UpdatePhase.RemovingNew, new PhaseFacts { LogTail = run.LogTail }, cancellationToken);
                if (run.NewContainerId is { } failed)
                {
                    await containers.RemoveAsync(failed, cancellationToken);
                }

                await containers.RemoveAsync(NewName(run.Container), cancellationToken);
            }

            var old = await lookup.FindAsync(run.ContainerId ?? OldName(run.Container), cancellationToken);
            if (old is null)
            {
                return StepResult.Fail<string>($"neither {run.Container} nor {OldName(run.Container)} is the original container any more");
            }

            if (from <= UpdatePhase.RenamingBack)
            {
                await EnterAsync(run, UpdatePhase.RenamingBack, PhaseFacts.None, cancellationToken);
                await RenameIfNeededAsync(old.Id, run.Container, cancellationToken);
            }

            var restored = "";
            if (from <= UpdatePhase.RestoringData)
            {
                await EnterAsync(run, UpdatePhase.RestoringData, PhaseFacts.None, cancellationToken);
                (restored, var restoreError) = await RestoreDataBeforeStartAsync(run, old, cancellationToken);
                if (restoreError is not null)
                {
                    run.Outcome = JobOutcome.RollbackFailed;
                    run.RollbackReason = $"{why}; {run.Container} was started again, but its pre-update data could not be restored: {restoreError}";
                }
            }

            await EnterAsync(run, UpdatePhase.StartingOld, new PhaseFacts { Outcome = run.Outcome, Reason = run.RollbackReason }, cancellationToken);
            if (!old.Running)
            {
                await containers.StartAsync(old.Id, cancellationToken);
            }

            return StepResult.Ok("", $"removed the new container, renamed {OldName(run.Container)} back to {run.Container}{restored} and started it");
        }, cancellationToken);

        if (!rolledBack.Succeeded)
        {
            await FinishAsync(run, JobOutcome.RollbackFailed, $"{why}; then the rollback failed: {rolledBack.Detail}", cancellationToken);
        }

        return rolledBack.Succeeded;
    }

    /// <summary>
    /// A container labelled backup.restore-on-rollback gets its pre-update set back before the old
    /// version starts: a new version may have migrated the data, and the old one may not start on it.
    /// Returns a note for the step's detail, or the error.
    /// </summary>
    private async Task<(string Note, string? Error)> RestoreDataBeforeStartAsync(UpdateRun run, ContainerInfo old, CancellationToken cancellationToken)
    {
        if (!BackupLabels.IsTrue(old.Labels, BackupLabels.RestoreOnRollback))
        {
            return ("", null);
        }

        if (run.BackupId is not { } backupId)
        {
            return ("", "the job has no pre-update set");
        }

        var error = await backups.RestoreAsync(backupId, cancellationToken);
        return error is null ? ($", restored pre-update set {backupId}", null) : ("", error);
    }

    /// <summary>Succeeds when the job should go on; else says why the container is no longer what the event was about.</summary>
    private async Task<StepResult<string>> CheckTargetAsync(UpdateRun run, CancellationToken cancellationToken)
    {
        var job = run.Job;
        var container = await lookup.FindAsync(job.Container, cancellationToken);
        if (container is null)
        {
            return StepResult.Fail<string>($"container {job.Container} was removed since the event");
        }

        if (ImageReference.TryParse(job.Image, out var image, out _) && container.RunsDigest(image, job.Digest))
        {
            return StepResult.Fail<string>($"container {job.Container} already runs {job.Digest}");
        }

        var moved = (job.CurrentImageId is not null && container.ImageId != job.CurrentImageId)
            || (job.CurrentImage is not null && container.ConfiguredImage != job.CurrentImage);
        if (moved && !StillATagMove(job, container))
        {
            return StepResult.Fail<string>($"container {job.Container} changed since the event (it now runs {container.ConfiguredImage}, {Short(container.ImageId)})");
        }

        foreach (var taken in new[] { OldName(job.Container), NewName(job.Container) })
        {
            if (await lookup.FindAsync(taken, cancellationToken) is not null)
            {
                return StepResult.Fail<string>($"a container named {taken} already exists; remove or rename it, then send the event again");
            }
        }

        run.ContainerId = container.Id;
        run.CurrentImage = container.ConfiguredImage;
        run.CurrentImageId = container.ImageId;
        return StepResult.Ok(container.Id, $"{job.Container} runs {container.ConfiguredImage}{(moved ? $" (since the event; {job.Image} is still within its track)" : "")}");
    }

    /// <summary>
    /// A tag move whose container moved since the decision (a job for 1.1 ran before this one for
    /// 2.0) goes on when the track still allows it from where the container is now.
    /// </summary>
    private static bool StillATagMove(JobView job, ContainerInfo container) =>
        ImageReference.TryParse(job.Image, out var image, out _)
        && ImageReference.TryParse(container.ConfiguredImage, out var now, out _)
        && now.EffectiveTag != image.EffectiveTag
        && UpdateDecider.Decide(image, job.Digest, container).Decision is Decision.Queued or Decision.AwaitingApproval;

    private async Task<StepResult<string>> BackUpAsync(UpdateRun run, CancellationToken cancellationToken)
    {
        var backup = await backups.SnapshotAsync(run.Container, run.Job.Id, run.CurrentImageId, cancellationToken);
        return backup.Succeeded ? StepResult.Ok(backup.BackupId!, backup.Detail) : StepResult.Fail<string>(backup.Detail);
    }

    private async Task<StepResult<ContainerImage>> PullAsync(UpdateRun run, CancellationToken cancellationToken)
    {
        var job = run.Job;
        var image = ImageReference.Parse(job.Image);
        var pulled = await containers.PullAsync(image, new Progress<string>(line => LogPullProgress(logger, job.Id, line)), cancellationToken);

        // Diun saw one digest; if the tag now points elsewhere, the operator approved something else.
        if (!pulled.RepoDigests.Any(repoDigest => repoDigest.EndsWith("@" + job.Digest, StringComparison.OrdinalIgnoreCase)))
        {
            return StepResult.Fail<ContainerImage>(
                $"the registry moved on: {image} now has {string.Join(", ", pulled.RepoDigests.Select(d => d[(d.IndexOf('@', StringComparison.Ordinal) + 1)..]))}, not {job.Digest}");
        }

        return StepResult.Ok(pulled, $"pulled {image} as {Short(pulled.Id)}");
    }

    /// <summary>The new container, created (not started) under its temporary name while the old one still runs.</summary>
    private async Task<StepResult<string>> CreateNewAsync(UpdateRun run, bool resumed, CancellationToken cancellationToken)
    {
        if (resumed)
        {
            // The create before the crash may have happened; its id was never journaled.
            await containers.RemoveAsync(NewName(run.Container), cancellationToken);
        }

        var configuredImage = ConfiguredImage(run);
        var newId = await containers.CreateLikeAsync(run.ContainerId!, NewName(run.Container), configuredImage, cancellationToken);
        return StepResult.Ok(newId, $"created {NewName(run.Container)} from {configuredImage} ({Short(run.NewImageId)}); {run.Container} still runs");
    }

    /// <summary>
    /// The image the new container is configured with: the old one as written for a new digest of
    /// its tag, the same repository with the event's tag for a tag move (rollback keeps the old container, so the old tag).
    /// </summary>
    /// <summary>
    /// What the new container names as its image: the update's reference in the operator's spelling,
    /// or for the rollback of a finished update, the reference the undone job replaced.
    /// </summary>
    private static string ConfiguredImage(UpdateRun run) => run.Job.RollbackOf is null ? NewConfiguredImage(run) : run.Job.Image;

    internal static string NewConfiguredImage(UpdateRun run)
    {
        if (run.CurrentImage is not { } current)
        {
            return run.Job.Image;
        }

        return ImageReference.TryParse(current, out var from, out _) && ImageReference.TryParse(run.Job.Image, out var to, out _)
            && to.Tag is { } tag && from.EffectiveTag != tag
            ? ImageReference.WithTag(current, tag)
            : current;
    }

    private async Task<GateResult> GateAsync(UpdateRun run, string step, CancellationToken cancellationToken)
    {
        GateResult verdict = new(false, "the gate did not run");
        await StepAsync(run, step, async () =>
        {
            verdict = await gate.WaitAsync(run.Container, cancellationToken);
            return verdict.Passed ? StepResult.Ok(true, verdict.Detail) : StepResult.Fail<bool>(verdict.Detail);
        }, cancellationToken);
        return verdict;
    }

    private async Task RenameIfNeededAsync(string id, string name, CancellationToken cancellationToken)
    {
        var status = await lookup.FindAsync(id, cancellationToken);
        if (status is not null && status.Name != name)
        {
            await containers.RenameAsync(id, name, cancellationToken);
        }
    }

    private Task EnterAsync(UpdateRun run, UpdatePhase phase, PhaseFacts facts, CancellationToken cancellationToken) =>
        journal.EnterPhaseAsync(run.Job.Id, phase, facts, cancellationToken);

    /// <summary>No change was made: the job ends without a notice.</summary>
    internal async Task CancelAsync(UpdateRun run, string reason, CancellationToken cancellationToken)
    {
        await journal.FinishAsync(run.Job.Id, JobState.Cancelled, JobOutcome.NothingChanged.ToText(), reason, null, cancellationToken);
        Ended(run.Job, JobState.Cancelled, JobOutcome.NothingChanged, reason);
    }

    /// <summary>
    /// The outcome is journaled first, then the notice is queued (once per kind and job, so a
    /// repeat after a crash sends nothing twice), then the job ends.
    /// </summary>
    internal async Task FinishAsync(UpdateRun run, JobOutcome outcome, string reason, CancellationToken cancellationToken)
    {
        var job = run.Job;
        var state = outcome.FinalState();
        await EnterAsync(run, UpdatePhase.Finishing, new PhaseFacts { Outcome = outcome, Reason = reason, LogTail = run.LogTail, ComposeDrift = run.ComposeDrift }, cancellationToken);

        var failed = state is JobState.Failed or JobState.RolledBack;
        // An automatic tag move the compose project does not know yet is news too: the next `up -d` would undo it.
        var drifted = run.ComposeDrift is { Rewritten: false };
        if (failed || job.Policy == Policies.Manual || drifted)
        {
            await StepAsync(run, "notify", async () =>
            {
                await notifier.NotifyAsync(new JobNotification(
                    failed ? NotificationKinds.UpdateFailed : NotificationKinds.UpdateSucceeded,
                    job.Id, job.Container, job.Policy, run.CurrentImage, job.Image, job.Digest, job.HubLink, outcome.ToText(), reason, run.LogTail)
                {
                    ComposeDrift = failed ? null : run.ComposeDrift,
                }, cancellationToken);
                return StepResult.Ok(true, failed ? "failure notice sent" : "success notice sent");
            }, cancellationToken);
        }

        await journal.FinishAsync(job.Id, state, outcome.ToText(), reason, run.LogTail, cancellationToken);
        Ended(job, state, outcome, reason);
    }

    private void Ended(JobView job, JobState ended, JobOutcome outcome, string reason)
    {
        var text = outcome.ToText();
        var state = ended.Name();
        LogOutcome(logger, job.Id, job.Container, state, text, reason);
        telemetry.JobEnded(job.Policy, state);
        System.Diagnostics.Activity.Current?.SetTag("job.state", state).SetTag("job.outcome", text);
    }

    /// <summary>Runs one journaled step. An exception from Docker or a store counts as the step's failure, with its message.</summary>
    internal async Task<StepResult<T>> StepAsync<T>(UpdateRun run, string name, Func<Task<StepResult<T>>> work, CancellationToken cancellationToken)
    {
        using var activity = UpdateTelemetry.Source.StartActivity($"step {name}");
        activity?.SetTag("job.id", run.Job.Id);
        var started = time.GetTimestamp();
        var seq = await journal.StartStepAsync(run.Job.Id, name, cancellationToken);
        StepResult<T> result;
        try
        {
            result = await work();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result = StepResult.Fail<T>(e.Message);
        }

        var outcome = result.Succeeded ? StepState.Succeeded : StepState.Failed;
        telemetry.StepEnded(name, outcome.Name(), time.GetElapsedTime(started));
        await journal.EndStepAsync(run.Job.Id, seq, outcome, result.Detail, result.Succeeded ? cancellationToken : CancellationToken.None);
        if (!result.Succeeded)
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, result.Detail);
            LogStepFailed(logger, run.Job.Id, name, result.Detail);
        }

        return result;
    }

    private IDisposable? BeginScope(JobView job) =>
        logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["Container"] = job.Container, ["Image"] = job.Image });

    private static string Short(string? id) => id is null ? "?" : id[..Math.Min(19, id.Length)];

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId}: pull: {Line}")]
    private static partial void LogPullProgress(ILogger logger, string jobId, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: step {Step} failed: {Error}")]
    private static partial void LogStepFailed(ILogger logger, string jobId, string step, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} for {Container}: {State}, {Outcome}: {Reason}")]
    private static partial void LogOutcome(ILogger logger, string jobId, string container, string state, string outcome, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId}: the service stopped {Times} times during it (phase {Phase}); it is not resumed again")]
    private static partial void LogGiveUp(ILogger logger, string jobId, int times, string phase);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: resuming after a restart from phase {Phase}")]
    private static partial void LogResume(ILogger logger, string jobId, string phase);
}
