using WebhookUpdater.Observability;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Status;

public sealed record StatusModel(
    DateTimeOffset Now,
    IReadOnlyList<JobView> Attention,
    IReadOnlyList<JobView> Pending,
    IReadOnlyList<JobView> Active,
    IReadOnlyList<JobView> Recent,
    IReadOnlyList<(string Title, IReadOnlyList<StatusRow> Rows)> Sections)
{
    /// <summary>The containers the service manages; empty when Docker did not answer (see <see cref="ContainersError"/>).</summary>
    public IReadOnlyList<ManagedContainer> Containers { get; init; } = [];

    public string? ContainersError { get; init; }
}

public sealed class StatusReport(JobStore jobs, ManagedContainers managed, IEnumerable<IStatusSection> sections, TimeProvider time)
{
    public async Task<StatusModel> BuildAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var recent = await WithStepsAsync(await jobs.ListJobsAsync(null, null, 30, cancellationToken), cancellationToken);
        var pending = await jobs.ListJobsAsync(JobState.AwaitingApproval, null, 50, cancellationToken);
        var active = (await jobs.ListJobsAsync(JobState.Running, null, 10, cancellationToken))
            .Concat(await jobs.ListJobsAsync(JobState.Queued, null, 50, cancellationToken)).ToList();
        // A failed job, or a refused database major, needs the operator until a later job for the same container succeeded.
        var refused = (await jobs.ListJobsAsync(JobState.Ignored, null, 50, cancellationToken))
            .Where(job => job.Decision == Decision.RefusedDatabaseMajor && now - job.CreatedAt < TimeSpan.FromDays(30));
        var attention = (await jobs.ListJobsAsync(JobState.Failed, null, 50, cancellationToken))
            .Where(failed => failed.FinishedAt is null || now - failed.FinishedAt < TimeSpan.FromDays(30))
            .Concat(refused)
            .Where(failed => !recent.Any(later => later.Container == failed.Container && later.State == JobState.Succeeded && later.CreatedAt > failed.CreatedAt))
            .OrderByDescending(job => job.CreatedAt)
            .ToList();

        var rendered = new List<(string, IReadOnlyList<StatusRow>)>();
        foreach (var section in sections.OrderBy(s => s.Order))
        {
            try
            {
                rendered.Add((section.Title, await section.RowsAsync(cancellationToken)));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                rendered.Add((section.Title, [new StatusRow("unavailable", e.GetType().Name, "bad")]));
            }
        }

        IReadOnlyList<ManagedContainer> containers = [];
        string? containersError = null;
        try
        {
            containers = await managed.ListAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            containersError = $"Docker did not answer ({e.GetType().Name}): check `docker info` on the host.";
        }

        return new StatusModel(now, attention, pending, active, recent.Where(j => j.State != JobState.Ignored).Take(20).ToList(), rendered)
        {
            Containers = containers,
            ContainersError = containersError,
        };
    }

    /// <summary>One job with its steps, for its own page.</summary>
    public Task<JobView?> JobAsync(string id, CancellationToken cancellationToken) => jobs.GetJobAsync(id, cancellationToken);

    private async Task<IReadOnlyList<JobView>> WithStepsAsync(IReadOnlyList<JobView> list, CancellationToken cancellationToken)
    {
        var full = new List<JobView>(list.Count);
        foreach (var job in list)
        {
            full.Add(job.State == JobState.Ignored ? job : await jobs.GetJobAsync(job.Id, cancellationToken) ?? job);
        }

        return full;
    }
}
