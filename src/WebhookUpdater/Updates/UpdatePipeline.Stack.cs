using WebhookUpdater.Containers;
using WebhookUpdater.Health;

namespace WebhookUpdater.Updates;

/// <summary>The steps that look beyond the updated container: its dependents, and the rollback of a finished update.</summary>
public sealed partial class UpdatePipeline
{
    /// <summary>
    /// Each container that requires the updated one runs its own gate; one that fails is restarted
    /// once and gated again. Returns the first that still fails (journaled, with its log tail), or null.
    /// </summary>
    private async Task<DependentVerdict?> CheckDependentsAsync(UpdateRun run, CancellationToken cancellationToken)
    {
        foreach (var dependent in await dependents.FindAsync(run.Container, cancellationToken))
        {
            DependentVerdict? verdict = null;
            await StepAsync(run, $"dependent {dependent}", async () =>
            {
                verdict = await dependents.CheckAsync(dependent, restartFirst: false, cancellationToken);
                return verdict.Passed ? StepResult.Ok(true, verdict.Detail) : StepResult.Fail<bool>(verdict.Detail);
            }, cancellationToken);
            if (verdict is { Passed: false } failed)
            {
                run.FailedDependent = failed.Container;
                run.LogTail = failed.LogTail;
                await EnterAsync(run, UpdatePhase.CheckingDependents, new PhaseFacts { FailedDependent = failed.Container, LogTail = failed.LogTail }, cancellationToken);
                return failed;
            }

            if (verdict is null)
            {
                // Docker failed under the check (the step says why): the dependent cannot be shown healthy, so the update is not kept.
                return new DependentVerdict(dependent, false, false, "its check could not run", null);
            }
        }

        return null;
    }

    /// <summary>The rollback of a finished update: the job's previous image gets its tag back, so the container is created on it as it was.</summary>
    private async Task<StepResult<ContainerImage>> RetagPreviousAsync(UpdateRun run, CancellationToken cancellationToken)
    {
        var previous = run.NewImageId is { } id ? await lookup.ImageAsync(id, cancellationToken) : null;
        if (previous is null)
        {
            return StepResult.Fail<ContainerImage>($"the previous image {Short(run.NewImageId)} is no longer on this host");
        }

        await images.TagAsync(previous.Id, ImageReference.Parse(run.Job.Image), cancellationToken);
        return StepResult.Ok(previous, $"tagged {Short(previous.Id)} as {run.Job.Image} again");
    }

    /// <summary>Puts the undone job's pre-update set back once the previous version runs; null when done, else why not.</summary>
    private async Task<string?> RestoreSetAsync(UpdateRun run, string setId, CancellationToken cancellationToken)
    {
        var restored = await StepAsync(run, "restore-data", async () =>
            await backups.RestoreAsync(setId, cancellationToken) is { } error
                ? StepResult.Fail<bool>(error)
                : StepResult.Ok(true, $"restored pre-update set {setId} of job {run.Job.RollbackOf}"), cancellationToken);
        if (!restored.Succeeded)
        {
            return $"{run.Container} runs its previous image again, but set {setId} could not be put back: {restored.Detail}";
        }

        var verdict = await GateAsync(run, "restore-health-gate", cancellationToken);
        return verdict.Passed ? null : $"{run.Container} runs its previous image with set {setId} put back, but is not healthy: {verdict.Detail}";
    }

    /// <summary>
    /// After a rollback a dependent's failure caused, that dependent is restarted (it failed against
    /// the new version; against the old one it starts afresh) and gated; the rollback's verdict says so.
    /// </summary>
    private async Task<GateResult> RestartFailedDependentAsync(UpdateRun run, GateResult verdict, CancellationToken cancellationToken)
    {
        if (run.FailedDependent is not { } dependent)
        {
            return verdict;
        }

        DependentVerdict? after = null;
        await StepAsync(run, $"dependent {dependent} after rollback", async () =>
        {
            after = await dependents.CheckAsync(dependent, restartFirst: true, cancellationToken);
            return after.Passed ? StepResult.Ok(true, after.Detail) : StepResult.Fail<bool>(after.Detail);
        }, cancellationToken);
        return verdict.Passed && after is not { Passed: true }
            ? new GateResult(false, $"{dependent} is not healthy after the rollback: {after?.Detail ?? "its check could not run"}")
            : verdict;
    }
}
