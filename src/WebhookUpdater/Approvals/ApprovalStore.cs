using Dapper;
using Microsoft.Data.Sqlite;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Approvals;

/// <summary>One emailed link: which job, container and digest it is for, until when, and what was decided with it.</summary>
public sealed record ApprovalRecord(
    string Nonce,
    string JobId,
    string Container,
    string Digest,
    DateTimeOffset IssuedAt,
    DateTimeOffset ExpiresAt,
    string? Decision,
    DateTimeOffset? DecidedAt,
    string? DecidedVia)
{
    /// <summary>What the link approves: the current and the new image, as the emailed page showed them.</summary>
    public ImageComparison? Images { get; init; }
}

/// <summary>A manual job that waits for the operator and has no link yet.</summary>
public sealed record PendingApproval(string JobId, string Container, string? CurrentImage, string Image, string Digest, string? HubLink)
{
    public string? CurrentImageId { get; init; }
}

public static class ApprovalDecisions
{
    public const string Approve = "approve";
    public const string Reject = "reject";
    public const string Approved = "approved";
    public const string Rejected = "rejected";
    public const string ViaLink = "link";
    public const string ViaApi = "api";
}

public enum DecisionResult
{
    /// <summary>The job moved (queued or rejected) and the link is used up, in one transaction.</summary>
    Done,

    /// <summary>The link was used before.</summary>
    LinkUsed,

    /// <summary>The job no longer waits for approval (superseded, decided through the API, …).</summary>
    JobNotWaiting,

    NotFound,
}

/// <summary>The approvals table, and the moves of a job that a decision makes, atomically.</summary>
public sealed class ApprovalStore(Database database, TimeProvider time)
{
    public Task<IReadOnlyList<PendingApproval>> JobsWithoutLinkAsync(CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<PendingApproval>>(async connection =>
            (await connection.QueryAsync<PendingRow>(
                """
                SELECT j.id, j.container, j.current_image, j.current_image_id, j.image, j.digest, j.hub_link FROM jobs j
                WHERE j.state = @AwaitingApproval AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.job_id = j.id)
                ORDER BY j.created_at, j.id
                """,
                new { AwaitingApproval = JobState.AwaitingApproval.Name() })).Select(row => row.ToPending()).ToList(),
            cancellationToken);

    /// <summary>
    /// Writes the link's row and its email in one transaction, if the job still waits and has no
    /// link: a crash leaves either both or neither, and a job never gets two links.
    /// </summary>
    public Task<bool> IssueAsync(ApprovalRecord approval, OutboxMessage message, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var waiting = await connection.ExecuteScalarAsync<long>(
                """
                SELECT COUNT(*) FROM jobs j WHERE j.id = @JobId AND j.state = @AwaitingApproval
                AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.job_id = j.id)
                """,
                new { approval.JobId, AwaitingApproval = JobState.AwaitingApproval.Name() }, transaction);
            if (waiting == 0)
            {
                return false;
            }

            await connection.ExecuteAsync(
                """
                INSERT INTO approvals (nonce, job_id, container, digest, issued_at, expires_at, images)
                VALUES (@Nonce, @JobId, @Container, @Digest, @issued, @expires, @images)
                """,
                new
                {
                    approval.Nonce,
                    approval.JobId,
                    approval.Container,
                    approval.Digest,
                    issued = JournalTime.Format(approval.IssuedAt),
                    expires = JournalTime.Format(approval.ExpiresAt),
                    images = approval.Images?.ToJson(),
                },
                transaction);
            await OutboxStore.InsertAsync(connection, transaction, message, approval.IssuedAt);
            return true;
        }, cancellationToken);

    public Task<ApprovalRecord?> FindAsync(string nonce, CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
            (await connection.QuerySingleOrDefaultAsync<ApprovalRow>(
                "SELECT nonce, job_id, container, digest, issued_at, expires_at, decision, decided_at, decided_via, images FROM approvals WHERE nonce = @nonce",
                new { nonce }))?.ToRecord(),
            cancellationToken);

    /// <summary>A decision through the emailed link: uses up the link and moves the job, or neither.</summary>
    public Task<DecisionResult> DecideWithLinkAsync(string nonce, string jobId, string decision, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var open = await connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM approvals WHERE nonce = @nonce AND job_id = @jobId AND decision IS NULL", new { nonce, jobId }, transaction);
            if (open == 0)
            {
                return DecisionResult.LinkUsed;
            }

            var moved = await MoveJobAsync(connection, transaction, jobId, decision, ApprovalDecisions.ViaLink);
            if (moved != DecisionResult.Done)
            {
                return moved;
            }

            await connection.ExecuteAsync(
                "UPDATE approvals SET decision = @decided, decided_at = @now, decided_via = @via WHERE nonce = @nonce",
                new { nonce, decided = Decided(decision), now = Now(), via = ApprovalDecisions.ViaLink }, transaction);
            return DecisionResult.Done;
        }, cancellationToken);

    /// <summary>A decision through the admin API: moves the job and uses up any link it has.</summary>
    public Task<DecisionResult> DecideWithApiAsync(string jobId, string decision, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var moved = await MoveJobAsync(connection, transaction, jobId, decision, ApprovalDecisions.ViaApi);
            if (moved != DecisionResult.Done)
            {
                return moved;
            }

            await connection.ExecuteAsync(
                "UPDATE approvals SET decision = @decided, decided_at = @now, decided_via = @via WHERE job_id = @jobId AND decision IS NULL",
                new { jobId, decided = Decided(decision), now = Now(), via = ApprovalDecisions.ViaApi }, transaction);
            return DecisionResult.Done;
        }, cancellationToken);

    private async Task<DecisionResult> MoveJobAsync(SqliteConnection connection, SqliteTransaction transaction, string jobId, string decision, string via)
    {
        var state = await connection.ExecuteScalarAsync<string?>("SELECT state FROM jobs WHERE id = @jobId", new { jobId }, transaction);
        if (state is null)
        {
            return DecisionResult.NotFound;
        }

        if (state != JobState.AwaitingApproval.Name())
        {
            return DecisionResult.JobNotWaiting;
        }

        var now = Now();
        var who = via == ApprovalDecisions.ViaLink ? "with the emailed link" : "through the admin API";
        if (decision == ApprovalDecisions.Approve)
        {
            await connection.ExecuteAsync(
                "UPDATE jobs SET state = @Queued, reason = @reason, updated_at = @now WHERE id = @jobId",
                new { Queued = JobState.Queued.Name(), reason = $"approved by the operator {who}", now, jobId }, transaction);
        }
        else
        {
            await connection.ExecuteAsync(
                """
                UPDATE jobs SET state = @Rejected, outcome = @nothingChanged, reason = @reason, updated_at = @now, finished_at = @now
                WHERE id = @jobId
                """,
                new { Rejected = JobState.Rejected.Name(), nothingChanged = JobOutcome.NothingChanged.ToText(), reason = $"rejected by the operator {who}", now, jobId }, transaction);
        }

        return DecisionResult.Done;
    }

    private static string Decided(string decision) => decision == ApprovalDecisions.Approve ? ApprovalDecisions.Approved : ApprovalDecisions.Rejected;

    private string Now() => JournalTime.Format(time.GetUtcNow());

#pragma warning disable IDE1006, CA1707 // column names as SQLite has them
    internal sealed record PendingRow(string id, string container, string? current_image, string? current_image_id, string image, string digest, string? hub_link)
    {
        public PendingApproval ToPending() => new(id, container, current_image, image, digest, hub_link) { CurrentImageId = current_image_id };
    }

    internal sealed record ApprovalRow(
        string nonce, string job_id, string container, string digest, string issued_at, string expires_at, string? decision, string? decided_at, string? decided_via,
        string? images)
    {
        public ApprovalRecord ToRecord() => new(
            nonce, job_id, container, digest, JournalTime.Parse(issued_at), JournalTime.Parse(expires_at), decision,
            decided_at is null ? null : JournalTime.Parse(decided_at), decided_via)
        { Images = ImageComparison.FromJson(images) };
    }
#pragma warning restore IDE1006, CA1707
}
