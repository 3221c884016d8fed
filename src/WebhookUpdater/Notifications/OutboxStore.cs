using Dapper;
using Microsoft.Data.Sqlite;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Notifications;

/// <summary>A message as the outbox keeps it, before and while it is delivered.</summary>
public sealed record OutboxMessage(string Id, string? DedupKey, string Kind, string? JobId, EmailContent Content, DateTimeOffset CreatedAt)
{
    /// <summary>Time-ordered ids, so the .eml files and the table sort like the messages were written.</summary>
    public static string NewId() => Guid.CreateVersion7().ToString("N");
}

/// <summary>What the admin API shows of a message: its state, never its body (it may hold an approval link).</summary>
public sealed record OutboxEntry(
    string Id,
    string Kind,
    string? JobId,
    string Subject,
    string State,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    DateTimeOffset? SentAt,
    string? Sender,
    string? LastError);

public static class OutboxStates
{
    public const string Pending = "pending";
    public const string Sending = "sending";
    public const string Sent = "sent";
}

/// <summary>
/// The durable outbox. A message is written here before any send. Delivery claims it
/// (state sending, attempts + 1) and then marks it sent in the same row: the row is both the
/// attempt log and the "sent" mark, so a sent message is never picked again.
/// </summary>
public sealed class OutboxStore(Database database, TimeProvider time)
{
    /// <summary>Adds a message; false when one with the same dedup key exists (the same notice twice).</summary>
    public Task<bool> AddAsync(OutboxMessage message, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => InsertAsync(connection, transaction, message, time.GetUtcNow()), cancellationToken);

    /// <summary>Inside a caller's transaction, so the message commits together with what it announces.</summary>
    public static async Task<bool> InsertAsync(SqliteConnection connection, SqliteTransaction transaction, OutboxMessage message, DateTimeOffset now)
    {
        var changed = await connection.ExecuteAsync(
            """
            INSERT INTO outbox (id, dedup_key, kind, job_id, subject, text_body, html_body, state, created_at, next_attempt_at)
            VALUES (@Id, @DedupKey, @Kind, @JobId, @Subject, @Text, @Html, @Pending, @created, @created)
            ON CONFLICT (dedup_key) DO NOTHING
            """,
            new
            {
                message.Id,
                message.DedupKey,
                message.Kind,
                message.JobId,
                message.Content.Subject,
                message.Content.Text,
                message.Content.Html,
                OutboxStates.Pending,
                created = JournalTime.Format(message.CreatedAt == default ? now : message.CreatedAt),
            },
            transaction);
        return changed == 1;
    }

    /// <summary>
    /// Start-up: a message left in 'sending' was cut off by a crash between the send and its
    /// mark. It may have gone out; it is sent again (at least once: see docs/approvals.md).
    /// </summary>
    public Task<IReadOnlyList<string>> ReleaseInterruptedAsync(CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<string>>(async (connection, transaction) =>
        {
            var ids = (await connection.QueryAsync<string>(
                "SELECT id FROM outbox WHERE state = @Sending", new { OutboxStates.Sending }, transaction)).ToList();
            await connection.ExecuteAsync(
                """
                UPDATE outbox SET state = @Pending, next_attempt_at = @now,
                                  last_error = 'the service stopped during a send; sending again'
                WHERE state = @Sending
                """,
                new { OutboxStates.Pending, OutboxStates.Sending, now = Now() }, transaction);
            return ids;
        }, cancellationToken);

    public Task<IReadOnlyList<OutboxMessage>> DueAsync(int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<OutboxMessage>>(async connection =>
            (await connection.QueryAsync<MessageRow>(
                """
                SELECT id, dedup_key, kind, job_id, subject, text_body, html_body, created_at FROM outbox
                WHERE state = @Pending AND next_attempt_at <= @now ORDER BY next_attempt_at, id LIMIT @limit
                """,
                new { OutboxStates.Pending, now = Now(), limit })).Select(row => row.ToMessage()).ToList(),
            cancellationToken);

    public Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
        {
            var next = await connection.ExecuteScalarAsync<string?>(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE state = @Pending", new { OutboxStates.Pending });
            return next is null ? (DateTimeOffset?)null : JournalTime.Parse(next);
        }, cancellationToken);

    /// <summary>Takes a pending message for one delivery round; false when it is no longer pending.</summary>
    public Task<bool> ClaimAsync(string id, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) => await connection.ExecuteAsync(
            """
            UPDATE outbox SET state = @Sending, attempts = attempts + 1, last_attempt_at = @now
            WHERE id = @id AND state = @Pending
            """,
            new { id, OutboxStates.Sending, OutboxStates.Pending, now = Now() }, transaction) == 1, cancellationToken);

    /// <summary>Marks a message sent and drops its bodies: they may hold approval links, and the mail is delivered.</summary>
    public Task MarkSentAsync(string id, string sender, string? providerId, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            """
            UPDATE outbox SET state = @Sent, sent_at = @now, sender = @sender, provider_id = @providerId, last_error = NULL,
                text_body = '', html_body = ''
            WHERE id = @id
            """,
            new { id, OutboxStates.Sent, now = Now(), sender, providerId }, transaction), cancellationToken);

    public Task MarkFailedAsync(string id, string error, DateTimeOffset nextAttemptAt, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "UPDATE outbox SET state = @Pending, last_error = @error, next_attempt_at = @next WHERE id = @id",
            new { id, OutboxStates.Pending, error, next = JournalTime.Format(nextAttemptAt) }, transaction), cancellationToken);

    public Task<int> AttemptsAsync(string id, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => connection.ExecuteScalarAsync<int>("SELECT attempts FROM outbox WHERE id = @id", new { id }), cancellationToken);

    public Task<IReadOnlyList<OutboxEntry>> ListAsync(string? state, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<OutboxEntry>>(async connection =>
            (await connection.QueryAsync<EntryRow>(
                """
                SELECT id, kind, job_id, subject, state, attempts, created_at, next_attempt_at, last_attempt_at, sent_at, sender, last_error
                FROM outbox WHERE (@state IS NULL OR state = @state) ORDER BY created_at DESC, id DESC LIMIT @limit
                """,
                new { state, limit })).Select(row => row.ToEntry()).ToList(),
            cancellationToken);

    private string Now() => JournalTime.Format(time.GetUtcNow());

#pragma warning disable IDE1006, CA1707 // column names as SQLite has them
    internal sealed record MessageRow(string id, string? dedup_key, string kind, string? job_id, string subject, string text_body, string html_body, string created_at)
    {
        public OutboxMessage ToMessage() => new(id, dedup_key, kind, job_id, new EmailContent(subject, text_body, html_body), JournalTime.Parse(created_at));
    }

    internal sealed record EntryRow(
        string id, string kind, string? job_id, string subject, string state, long attempts, string created_at, string next_attempt_at,
        string? last_attempt_at, string? sent_at, string? sender, string? last_error)
    {
        public OutboxEntry ToEntry() => new(
            id, kind, job_id, subject, state, (int)attempts, JournalTime.Parse(created_at), JournalTime.Parse(next_attempt_at),
            last_attempt_at is null ? null : JournalTime.Parse(last_attempt_at), sent_at is null ? null : JournalTime.Parse(sent_at), sender, last_error);
    }
#pragma warning restore IDE1006, CA1707
}
