using WebhookUpdater.Backups;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Updates;

/// <summary>Why the rollback of a finished update cannot be queued, as an HTTP status and its words.</summary>
public sealed record RollbackRefusal(int Status, string Title, string Detail);

/// <summary>What a rollback of a finished update would do: the job it undoes, and what it overwrites.</summary>
/// <param name="Overwrites">With the data: what the pre-update set puts back (database or path, and container).</param>
public sealed record RollbackPlan(JobView Undone, ContainerInfo Container, ContainerImage Previous, string PreviousDigest, IReadOnlyList<string> Overwrites);

/// <summary>
/// The rollback of a succeeded update: back to the image it replaced, through the same pipeline
/// (backup of now, recreate, gate, dependents) as a new job linked to the old one, and with the
/// data, the old job's pre-update set put back. Only the newest success of a container can be
/// undone, and only while its previous image is on this host.
/// </summary>
public sealed class FinishedRollbacks(JobStore store, IContainerLookup lookup, IBackupStore backups, UpdateQueue queue)
{
    public async Task<(RollbackPlan? Plan, RollbackRefusal? Refusal)> PlanAsync(string id, bool restoreData, CancellationToken cancellationToken)
    {
        if (await store.GetJobAsync(id, cancellationToken) is not { } job)
        {
            return Refused(StatusCodes.Status404NotFound, "No such job", $"There is no job with id '{id}'. GET /api/jobs lists them.");
        }

        if (job.State != JobState.Succeeded)
        {
            return Refused(StatusCodes.Status409Conflict, "Only a succeeded update can be rolled back", $"Job {id} is {job.State.Name()}: it changed nothing to undo.");
        }

        if (await store.NewerSuccessAsync(job, cancellationToken) is { } newer)
        {
            return Refused(StatusCodes.Status409Conflict, "A newer update succeeded since",
                $"Job {newer} updated {job.Container} after job {id}: roll that one back first (POST /api/jobs/{newer}/rollback).");
        }

        if (await store.BusyWithAsync(job.Container, cancellationToken) is { } busy)
        {
            return Refused(StatusCodes.Status409Conflict, "The container has a job in progress", $"Job {busy} for {job.Container} is queued or running; try again when it has ended.");
        }

        if (job.CurrentImageId is not { } previousId || await lookup.ImageAsync(previousId, cancellationToken) is not { } previous)
        {
            return Refused(StatusCodes.Status410Gone, "The previous image was pruned",
                $"The image {job.Container} ran before job {id} is no longer on this host (Updates:KeepImages); pull it and recreate the container by hand.");
        }

        if (await lookup.FindAsync(job.Container, cancellationToken) is not { } container)
        {
            return Refused(StatusCodes.Status409Conflict, "The container is gone", $"There is no container {job.Container} any more.");
        }

        if (restoreData && job.BackupId is null)
        {
            return Refused(StatusCodes.Status409Conflict, "No pre-update set", $"Job {id} has no pre-update backup set to put back; roll back without restoreData.");
        }

        IReadOnlyList<string> overwrites = [];
        if (restoreData)
        {
            var manifest = await backups.ManifestAsync(job.BackupId!, cancellationToken);
            overwrites = manifest?.Objects.Select(o => o.Type == BackupObjectTypes.PostgresDump
                    ? $"database {o.Target} in {o.Container ?? manifest.Container}"
                    : $"{o.Target ?? o.Source} in {o.Container ?? manifest.Container}").ToList()
                ?? [$"everything in set {job.BackupId}"];
        }

        var repository = ImageReference.TryParse(job.CurrentImage ?? job.Image, out var reference, out _) ? reference : null;
        var digest = previous.RepoDigests
            .Select(entry => entry.Split('@'))
            .FirstOrDefault(parts => parts.Length == 2 && repository is not null && ImageReference.TryParse(parts[0], out var of, out _) && of.SameRepository(repository))?[1]
            ?? previous.Id;
        return (new RollbackPlan(job, container, previous, digest, overwrites), null);
    }

    /// <summary>Queues the rollback job; returns it, or why not.</summary>
    public async Task<(JobRef? Job, RollbackRefusal? Refusal)> RequestAsync(string id, bool restoreData, CancellationToken cancellationToken)
    {
        var (plan, refusal) = await PlanAsync(id, restoreData, cancellationToken);
        if (plan is null)
        {
            return (null, refusal);
        }

        var container = plan.Container;
        var jobId = await store.InsertRollbackJobAsync(
            plan.Undone, new JobStore.ContainerRef(container.Id, container.ConfiguredImage, container.ImageId), plan.PreviousDigest, plan.Previous.Id,
            restoreData ? plan.Undone.BackupId : null, cancellationToken);
        queue.Enqueue(jobId);
        return (new JobRef(jobId, plan.Undone.Container, plan.Undone.Policy, Decision.Queued), null);
    }

    private static (RollbackPlan?, RollbackRefusal?) Refused(int status, string title, string detail) => (null, new RollbackRefusal(status, title, detail));
}
