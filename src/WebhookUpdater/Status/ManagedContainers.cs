using WebhookUpdater.Containers;
using WebhookUpdater.Swarm;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Status;

/// <summary>A container the service manages (it carries <c>update.policy</c>), as the status page shows it.</summary>
/// <param name="Track">The <c>update.track</c> label; null when the container keeps its tag (digest updates only).</param>
/// <param name="Version">The image's <c>org.opencontainers.image.version</c> label, when it has one.</param>
/// <param name="Digest">The digest the image was pulled as from its own repository.</param>
/// <param name="Requires">The containers named by <c>update.requires</c>.</param>
/// <param name="LastJob">The newest job that acted or waits (ignored events are left out).</param>
/// <param name="Service">A Swarm service rather than a container.</param>
public sealed record ManagedContainer(
    string Name,
    string Policy,
    string? Track,
    string Image,
    string? Version,
    string? Digest,
    string Health,
    string HealthTone,
    IReadOnlyList<string> Requires,
    JobView? LastJob,
    bool Service = false);

/// <summary>The stack as the engine has it now: every container with an update policy, and its last job.</summary>
public sealed class ManagedContainers(
    [FromKeyedServices(DockerResilience.Quick)] IContainerLookup containers,
    [FromKeyedServices(DockerResilience.Quick)] ISwarmServices swarm,
    JobStore jobs)
{
    public const string VersionLabel = "org.opencontainers.image.version";
    public const string TrackLabel = "update.track";
    public const string RequiresLabel = "update.requires";

    public async Task<IReadOnlyList<ManagedContainer>> ListAsync(CancellationToken cancellationToken)
    {
        var managed = new List<ManagedContainer>();
        foreach (var container in (await containers.ListByLabelAsync(Policies.Label, null, cancellationToken))
                     .OrderBy(container => container.Name, StringComparer.Ordinal))
        {
            // A service's task containers carry its labels: the service is listed, not each task.
            if (container.Label(SwarmLabels.TaskOfService) is not null)
            {
                continue;
            }

            var recent = await jobs.ListJobsAsync(null, container.Name, 10, cancellationToken);
            var (health, tone) = Health(container);
            managed.Add(new ManagedContainer(
                container.Name,
                UpdateDecider.NormalizePolicy(container.Label(Policies.Label)),
                container.Label(TrackLabel),
                container.ConfiguredImage,
                container.Label(VersionLabel),
                DigestOf(container),
                health,
                tone,
                SplitNames(container.Label(RequiresLabel)),
                recent.FirstOrDefault(job => job.State != JobState.Ignored)));
        }

        if (await swarm.IsManagerAsync(cancellationToken))
        {
            foreach (var service in (await swarm.ListAsync(cancellationToken))
                         .Where(service => service.Labels.ContainsKey(Policies.Label))
                         .OrderBy(service => service.Name, StringComparer.Ordinal))
            {
                var recent = await jobs.ListJobsAsync(null, service.Name, 10, cancellationToken);
                var target = service.AsTarget();
                var (health, tone) = service.Update switch
                {
                    { State: SwarmUpdateStates.Paused or SwarmUpdateStates.RollbackPaused } update => ($"Swarm update {update.State}", "bad"),
                    { State: SwarmUpdateStates.RollbackCompleted } => ("rolled back by Swarm", "warn"),
                    { State: SwarmUpdateStates.Updating or SwarmUpdateStates.RollbackStarted } update => ($"Swarm update {update.State}", "warn"),
                    _ => ("Swarm service", ""),
                };
                managed.Add(new ManagedContainer(
                    service.Name,
                    UpdateDecider.NormalizePolicy(target.Label(Policies.Label)),
                    target.Label(TrackLabel),
                    service.ConfiguredImage,
                    target.Label(VersionLabel),
                    service.Digest,
                    health,
                    tone,
                    SplitNames(target.Label(RequiresLabel)),
                    recent.FirstOrDefault(job => job.State != JobState.Ignored),
                    Service: true));
            }
        }

        return managed;
    }

    private static (string Text, string Tone) Health(ContainerInfo container) => container switch
    {
        { Restarting: true } => ("restarting", "bad"),
        { Running: false } => (container.Status.Length > 0 ? container.Status : "stopped", "bad"),
        { Health: "healthy" } => ("healthy", "ok"),
        { Health: "unhealthy" } => ("unhealthy", "bad"),
        { Health: "starting" } => ("starting", "warn"),
        _ => ("running (no HEALTHCHECK)", ""),
    };

    /// <summary>The digest of the image as pulled from the repository the container names.</summary>
    private static string? DigestOf(ContainerInfo container)
    {
        if (!ImageReference.TryParse(container.ConfiguredImage, out var image, out _))
        {
            return null;
        }

        foreach (var repoDigest in container.RepoDigests)
        {
            var at = repoDigest.IndexOf('@', StringComparison.Ordinal);
            if (at > 0 && ImageReference.TryParse(repoDigest[..at], out var repository, out _) && repository.SameRepository(image))
            {
                return repoDigest[(at + 1)..];
            }
        }

        return image.Digest;
    }

    private static string[] SplitNames(string? names) =>
        names?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
}
