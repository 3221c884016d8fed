using WebhookUpdater.Containers;
using WebhookUpdater.Observability;

namespace WebhookUpdater.Updates;

/// <summary>
/// The status page's "Compose project" section: for each container a tag move changed, whether its
/// compose project names the new tag yet. It stays until the <c>.env</c> names it or compose itself
/// recreated the container.
/// </summary>
internal sealed class ComposeDriftStatus(
    JobStore jobs,
    [FromKeyedServices(DockerResilience.Quick)] IContainerLookup containers,
    ComposeEnv compose) : IStatusSection
{
    public int Order => 5;

    public string Title => "Compose project";

    public async Task<IReadOnlyList<StatusRow>> RowsAsync(CancellationToken cancellationToken)
    {
        var rows = new List<StatusRow>();
        var succeeded = await jobs.ListJobsAsync(JobState.Succeeded, null, 500, cancellationToken);
        foreach (var history in succeeded.GroupBy(job => job.Container, StringComparer.Ordinal))
        {
            // Newest first: the last job that moved the tag says what compose should name now.
            if (history.FirstOrDefault(job => job.ComposeDrift is not null) is not { ComposeDrift: { } drift } moved)
            {
                continue;
            }

            if (drift.Rewritten)
            {
                rows.Add(new StatusRow(history.Key, $"the .env names {drift.To}", "ok"));
                continue;
            }

            if (await containers.FindAsync(history.Key, cancellationToken) is not { } container)
            {
                continue;
            }

            if (container.Id != history.First().NewContainerId)
            {
                // Recreated by someone else since the service's last update: compose, most likely.
                rows.Add(ImageReference.TryParse(container.ConfiguredImage, out var now, out _)
                    && ImageReference.TryParse(drift.From, out var from, out _)
                    && now.SameRepository(from) && now.EffectiveTag == from.EffectiveTag
                    ? new StatusRow(history.Key, $"recreated on {drift.From}, the tag before the move of job {moved.Id}: set {drift.Line} and run `docker compose up -d` again", "bad")
                    : new StatusRow(history.Key, $"recreated on {container.ConfiguredImage}", "ok"));
                continue;
            }

            rows.Add(compose.Names(drift)
                ? new StatusRow(history.Key, $"the .env names {drift.To}", "ok")
                : new StatusRow(history.Key, $"{drift.Summary} (job {moved.Id})", "warn"));
        }

        return rows;
    }
}
