using Microsoft.Extensions.Options;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Approvals;

public enum LinkStatus
{
    /// <summary>Tampered, unknown, or not a token of this service.</summary>
    Invalid,

    /// <summary>The job waits, and this link may decide it.</summary>
    Open,

    /// <summary>The link was used (or the job decided through the API).</summary>
    Used,

    /// <summary>A newer digest arrived for the container: its own job and link replace this one.</summary>
    Superseded,

    Expired,

    /// <summary>The job left awaiting_approval some other way (cancelled, …).</summary>
    NotWaiting,
}

/// <summary>What a link stands for right now.</summary>
public sealed record LinkState(LinkStatus Status, ApprovalRecord? Approval = null, JobView? Job = null, JobView? NewerJob = null)
{
    public static readonly LinkState Invalid = new(LinkStatus.Invalid);
}

/// <summary>
/// The approval rules in one place: issue a link for each manual job that waits, read what a link
/// stands for (reading never changes anything), and decide with it once.
/// </summary>
public sealed partial class ApprovalService(
    ApprovalTokens tokens,
    ApprovalStore approvals,
    ApprovalImages images,
    JobStore jobs,
    UpdateQueue queue,
    EmailComposer composer,
    OutboxSignal outbox,
    ApprovalLinks links,
    IOptionsMonitor<ApprovalOptions> options,
    TimeProvider time,
    ILogger<ApprovalService> logger)
{
    /// <summary>Issues a link, and writes its email, for every waiting manual job that has none. Returns how many.</summary>
    public async Task<int> IssuePendingAsync(CancellationToken cancellationToken)
    {
        var issued = 0;
        foreach (var job in await approvals.JobsWithoutLinkAsync(cancellationToken))
        {
            var compared = await images.CompareAsync(job, cancellationToken);
            var now = time.GetUtcNow();
            // Whole seconds: the token carries the expiry in seconds, and both must agree.
            var expiresAt = DateTimeOffset.FromUnixTimeSeconds((now + options.CurrentValue.TokenLifetime).ToUnixTimeSeconds());
            var nonce = ApprovalTokens.NewNonce();
            var token = tokens.Create(job.JobId, job.Container, job.Digest, nonce, expiresAt);
            var notification = new UpdateAvailableNotification(
                job.JobId, job.Container, job.CurrentImage, job.Image, job.Digest, job.HubLink, links.Approval(token), expiresAt)
            {
                Images = compared,
            };
            var message = EmailNotifier.ToMessage(composer, notification, now);
            var record = new ApprovalRecord(nonce, job.JobId, job.Container, job.Digest, now, expiresAt, null, null, null) { Images = compared };
            if (await approvals.IssueAsync(record, message, cancellationToken))
            {
                LogIssued(logger, job.JobId, job.Container, job.Digest, expiresAt, message.Id);
                issued++;
            }
        }

        if (issued > 0)
        {
            outbox.Wake();
        }

        return issued;
    }

    public async Task<LinkState> InspectAsync(string token, CancellationToken cancellationToken)
    {
        if (ApprovalTokens.Read(token) is not { } claims
            || await approvals.FindAsync(claims.Nonce, cancellationToken) is not { } approval
            || approval.JobId != claims.JobId
            || approval.ExpiresAt.ToUnixTimeSeconds() != claims.ExpiresAt.ToUnixTimeSeconds()
            || await jobs.GetJobAsync(claims.JobId, cancellationToken) is not { } job
            || !tokens.Verify(claims, job.Container, job.Digest))
        {
            return LinkState.Invalid;
        }

        if (approval.Decision is not null)
        {
            return new LinkState(LinkStatus.Used, approval, job);
        }

        if (job.State == JobState.Superseded)
        {
            var newer = job.SupersededBy is null ? null : await jobs.GetJobAsync(job.SupersededBy, cancellationToken);
            return new LinkState(LinkStatus.Superseded, approval, job, newer);
        }

        if (time.GetUtcNow() >= approval.ExpiresAt)
        {
            return new LinkState(LinkStatus.Expired, approval, job);
        }

        return job.State == JobState.AwaitingApproval
            ? new LinkState(LinkStatus.Open, approval, job)
            : new LinkState(LinkStatus.NotWaiting, approval, job);
    }

    /// <summary>Decides with a link. Anything but an open link changes nothing and says why.</summary>
    public async Task<(LinkState State, bool Decided)> DecideAsync(string token, string decision, CancellationToken cancellationToken)
    {
        var state = await InspectAsync(token, cancellationToken);
        if (state.Status != LinkStatus.Open)
        {
            LogRefused(logger, state.Job?.Id, state.Status.ToString());
            return (state, false);
        }

        var result = await approvals.DecideWithLinkAsync(state.Approval!.Nonce, state.Job!.Id, decision, CancellationToken.None);
        if (result == DecisionResult.Done)
        {
            Decided(state.Job, decision, ApprovalDecisions.ViaLink);
        }

        // Re-read: on a race (two clicks at once) the loser sees what the winner did.
        return (await InspectAsync(token, cancellationToken), result == DecisionResult.Done);
    }

    /// <summary>Decides through the admin API, with or without a link.</summary>
    public async Task<(DecisionResult Result, JobView? Job)> DecideJobAsync(string jobId, string decision, CancellationToken cancellationToken)
    {
        var result = await approvals.DecideWithApiAsync(jobId, decision, CancellationToken.None);
        var job = await jobs.GetJobAsync(jobId, cancellationToken);
        if (result == DecisionResult.Done && job is not null)
        {
            Decided(job, decision, ApprovalDecisions.ViaApi);
        }

        return (result, job);
    }

    private void Decided(JobView job, string decision, string via)
    {
        if (decision == ApprovalDecisions.Approve)
        {
            // After the commit: a crash before this line leaves the job queued in the journal,
            // and the start-up recovery puts it back into the channel.
            queue.Enqueue(job.Id);
        }

        LogDecided(logger, job.Id, job.Container, job.Digest, decision, via);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Approval link issued for job {JobId} ({Container}, {Digest}), expires {ExpiresAt:u}; email {MessageId}")]
    private static partial void LogIssued(ILogger logger, string jobId, string container, string digest, DateTimeOffset expiresAt, string messageId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} ({Container}, {Digest}): operator's decision {Decision} via {Via}")]
    private static partial void LogDecided(ILogger logger, string jobId, string container, string digest, string decision, string via);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Approval link for job {JobId} refused: {Status}")]
    private static partial void LogRefused(ILogger logger, string? jobId, string status);
}

/// <summary>Issues the links of manual jobs that wait without one: at start-up, and whenever the intake rings.</summary>
internal sealed partial class ApprovalIssuer(
    ApprovalService approvals,
    AwaitingApprovalSignal awaitingApproval,
    TimeProvider time,
    ILogger<ApprovalIssuer> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await approvals.IssuePendingAsync(stoppingToken);
                await awaitingApproval.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFailed(logger, e);
                await Task.Delay(RetryDelay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Issuing approval links failed; trying again in 5 s")]
    private static partial void LogFailed(ILogger logger, Exception error);
}
