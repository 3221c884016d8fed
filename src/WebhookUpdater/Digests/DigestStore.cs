using Dapper;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Digests;

/// <summary>
/// The jobs a digest lists, and the journal of what it sent: a job goes into the journal in the
/// same transaction as the email that lists it, so a run cut off, repeated or caught up after
/// downtime never lists it twice.
/// </summary>
public sealed class DigestStore(Database database)
{
    /// <summary>Jobs with this decision (and policy, when given) created up to <paramref name="until"/> that no email of this digest listed yet.</summary>
    public Task<IReadOnlyList<DigestLine>> UnsentAsync(string digest, Decision decision, string? policy, DateTimeOffset until, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<DigestLine>>(async connection =>
            (await connection.QueryAsync<LineRow>(
                """
                SELECT j.id, j.container, j.current_image, j.image, j.digest, j.hub_link, j.created_at FROM jobs j
                WHERE j.decision = @decision AND (@policy IS NULL OR j.policy = @policy) AND j.created_at <= @until
                AND NOT EXISTS (SELECT 1 FROM digest_entries d WHERE d.digest = @digest AND d.job_id = j.id)
                ORDER BY j.created_at, j.rowid
                """,
                new { digest, decision = decision.Name(), policy, until = JournalTime.Format(until) })).Select(row => row.ToLine()).ToList(),
            cancellationToken);

    /// <summary>Writes the email and marks its jobs sent, in one transaction; false when another run listed them first.</summary>
    public Task<bool> RecordAsync(string digest, IReadOnlyList<DigestLine> lines, OutboxMessage message, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, transaction) =>
        {
            var listed = await connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM digest_entries WHERE digest = @digest AND job_id IN (SELECT value FROM json_each(@ids))",
                new { digest, ids = System.Text.Json.JsonSerializer.Serialize(lines.Select(line => line.JobId).ToArray(), DigestJson.Default.StringArray) }, transaction);
            if (listed > 0)
            {
                return false;
            }

            foreach (var line in lines)
            {
                await connection.ExecuteAsync(
                    "INSERT INTO digest_entries (digest, job_id, message_id, sent_at) VALUES (@digest, @JobId, @Id, @now)",
                    new { digest, line.JobId, message.Id, now = JournalTime.Format(now) }, transaction);
            }

            return await OutboxStore.InsertAsync(connection, transaction, message, now);
        }, cancellationToken);

#pragma warning disable IDE1006, CA1707 // column names as SQLite has them
    internal sealed record LineRow(string id, string container, string? current_image, string image, string digest, string? hub_link, string created_at)
    {
        public DigestLine ToLine() => new(id, container, current_image, image, digest, hub_link, JournalTime.Parse(created_at));
    }
#pragma warning restore IDE1006, CA1707
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class DigestJson : System.Text.Json.Serialization.JsonSerializerContext;
