using System.Net.Sockets;
using Docker.DotNet;
using WebhookUpdater.Containers;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Updates;

public sealed record IntakeResult(long EventId, IReadOnlyList<JobRef> Jobs, bool Deferred);

/// <summary>
/// Turns an update event into recorded decisions: finds the target containers, reads their
/// policy from Docker, writes everything to the journal, then hands queued jobs to the worker.
/// </summary>
public sealed partial class EventIntake(
    [FromKeyedServices(DockerResilience.Quick)] IContainerLookup containers,
    [FromKeyedServices(DockerResilience.Quick)] ISwarmServices swarm,
    JobStore store,
    UpdateQueue queue,
    AwaitingApprovalSignal awaitingApproval,
    INotifier notifier,
    TimeProvider time,
    ILogger<EventIntake> logger)
{
    public async Task<IntakeResult> AcceptAsync(UpdateEvent update, CancellationToken cancellationToken)
    {
        var record = new EventRecord(time.GetUtcNow(), update)
        {
            TraceParent = System.Diagnostics.Activity.Current?.Id,
        };

        IReadOnlyList<UpdateDecision> decisions;
        try
        {
            // Not the request's token: a client that gives up must not turn into a deferred
            // "Docker did not answer" event; Docker calls have their own timeout.
            decisions = await DecideAsync(update, CancellationToken.None);
        }
        catch (Exception e) when (IsEngineUnavailable(e))
        {
            // Diun never sends an event twice: keep it and decide once Docker answers again.
            var deferredId = await store.RecordDeferredEventAsync(record, $"Docker did not answer: {e.GetType().Name}", CancellationToken.None);
            LogDeferred(logger, deferredId, update.Image, e.GetType().Name);
            return new IntakeResult(deferredId, [], Deferred: true);
        }

        // The client may go away; the journal write must not be half-done because of it.
        var (eventId, jobs, queued) = await store.RecordEventAsync(record, decisions, CancellationToken.None);
        HandOn(queued, jobs);
        await NotifyRefusedAsync(update, decisions, jobs);

        foreach (var job in jobs)
        {
            var decision = job.Decision.Name();
            LogDecision(logger, eventId, job.Id, job.Container, update.Image, update.Digest, job.Policy, decision);
        }

        return new IntakeResult(eventId, jobs, Deferred: false);
    }

    /// <summary>Decides the events that came while Docker was away. Returns how many were resolved.</summary>
    public async Task<int> ResolveDeferredAsync(CancellationToken cancellationToken)
    {
        var resolved = 0;
        foreach (var (eventId, record) in await store.DeferredEventsAsync(cancellationToken))
        {
            var decisions = await DecideAsync(record.Event, cancellationToken);
            var (jobs, queued) = await store.ResolveDeferredEventAsync(eventId, record, decisions, cancellationToken);
            HandOn(queued, jobs);
            await NotifyRefusedAsync(record.Event, decisions, jobs);

            resolved++;
        }

        return resolved;
    }

    /// <summary>After the commit: queued jobs to the worker, and a ring for the approval links of new waiting jobs.</summary>
    private void HandOn(IReadOnlyList<string> queued, IReadOnlyList<JobRef> jobs)
    {
        foreach (var jobId in queued)
        {
            queue.Enqueue(jobId);
        }

        if (jobs.Any(job => job.Decision == Decision.AwaitingApproval))
        {
            awaitingApproval.Ring();
        }
    }

    /// <summary>
    /// A refused database major is the one ignored decision the operator must hear of at once: the
    /// upgrade is theirs to do. The job is in the journal already; a failed notice does not undo it.
    /// </summary>
    private async Task NotifyRefusedAsync(UpdateEvent update, IReadOnlyList<UpdateDecision> decisions, IReadOnlyList<JobRef> jobs)
    {
        // One job per decision, in order (RecordEventAsync).
        foreach (var (decision, job) in decisions.Zip(jobs).Where(pair => pair.Second.Decision == Decision.RefusedDatabaseMajor))
        {
            try
            {
                await notifier.NotifyAsync(new JobNotification(
                    NotificationKinds.UpdateRefused, job.Id, job.Container, job.Policy, decision.CurrentImage, update.Image, update.Digest,
                    update.HubLink, decision.Decision.Name(), decision.Reason, null), CancellationToken.None);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogNotifyFailed(logger, job.Id, e.GetType().Name);
            }
        }
    }

    private async Task<IReadOnlyList<UpdateDecision>> DecideAsync(UpdateEvent update, CancellationToken cancellationToken)
    {
        var image = ImageReference.Parse(update.Image);
        var targets = await FindTargetsAsync(update, image, cancellationToken);

        // A service's task container is Swarm's to replace, never the pipeline's.
        var decisions = targets
            .Where(container => !container.Labels.ContainsKey(SwarmLabels.TaskOfService))
            .Select(container => UpdateDecider.Decide(image, update.Digest, container))
            .ToList();
        if (await swarm.IsManagerAsync(cancellationToken))
        {
            decisions.AddRange((await swarm.ListAsync(cancellationToken))
                .Where(service => ImageReference.TryParse(service.ConfiguredImage, out var runs, out _) && runs.SameRepository(image))
                .Select(service => UpdateDecider.Decide(image, update.Digest, service.AsTarget()) with { Target = UpdateTarget.Service }));
        }

        return decisions;
    }

    /// <summary>
    /// The containers the event named (by id, then by any name the id did not already give), asked of
    /// the engine now; without them, every container of the image's repository.
    /// </summary>
    private async Task<IReadOnlyList<ContainerInfo>> FindTargetsAsync(UpdateEvent update, ImageReference image, CancellationToken cancellationToken)
    {
        var named = new Dictionary<string, ContainerInfo>(StringComparer.Ordinal);
        if (update.ContainerId is { } id && await containers.FindAsync(id, cancellationToken) is { } byId)
        {
            named[byId.Id] = byId;
        }

        foreach (var name in update.ContainerNames)
        {
            if (named.Values.Any(found => found.Name == name.TrimStart('/')))
            {
                continue;
            }

            if (await containers.FindAsync(name, cancellationToken) is { } byName)
            {
                named.TryAdd(byName.Id, byName);
            }
        }

        return named.Count > 0
            ? named.Values.ToList()
            : await containers.FindByRepositoryAsync(image, cancellationToken);
    }

    private static bool IsEngineUnavailable(Exception e) =>
        DockerResilience.IsOutage(e) || e is TaskCanceledException
        || (e is DockerApiException api && (int)api.StatusCode >= 500);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Event {EventId}: job {JobId} for container {Container}, image {Image} {Digest}, policy {Policy}: {Decision}")]
    private static partial void LogDecision(ILogger logger, long eventId, string jobId, string container, string image, string digest, string policy, string decision);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: the refusal notice could not be queued ({Error})")]
    private static partial void LogNotifyFailed(ILogger logger, string jobId, string error);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Event {EventId} for {Image} kept for later: Docker did not answer ({Error})")]
    private static partial void LogDeferred(ILogger logger, long eventId, string image, string error);
}
