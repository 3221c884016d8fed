using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using WebhookUpdater.Notifications;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Persistence;

/// <summary>Settings of the "Journal" section (env: Journal__KeepDays, …).</summary>
public sealed class JournalOptions
{
    public const string Section = "Journal";

    /// <summary>Days kept of events, finished jobs and their steps, decided or expired approvals and sent email; 0 keeps everything.</summary>
    public int KeepDays { get; set; } = 90;

    /// <summary>Days kept of failed and rolled-back jobs (with their steps and events): the history an operator digs into.</summary>
    public int KeepFailedDays { get; set; } = 365;

    /// <summary>Rows deleted per write: small, so a webhook's write never waits behind a long delete.</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Time between pruning rounds; the first comes five minutes after start-up.</summary>
    public TimeSpan PruneEvery { get; set; } = TimeSpan.FromHours(1);
}

internal sealed class JournalOptionsValidator : IValidateOptions<JournalOptions>
{
    public ValidateOptionsResult Validate(string? name, JournalOptions options)
    {
        var failures = new List<string>();
        if (options.KeepDays < 0)
        {
            failures.Add($"Journal:KeepDays is {options.KeepDays}: use a number of days (default 90), or 0 to keep everything");
        }

        if (options.KeepDays > 0 && options.KeepFailedDays < options.KeepDays)
        {
            failures.Add($"Journal:KeepFailedDays is {options.KeepFailedDays}: use at least Journal:KeepDays ({options.KeepDays}); default 365");
        }

        if (options.BatchSize is < 1 or > 10_000)
        {
            failures.Add($"Journal:BatchSize is {options.BatchSize}: use 1 to 10000 (default 500)");
        }

        if (options.PruneEvery < TimeSpan.FromMinutes(1))
        {
            failures.Add($"Journal:PruneEvery is {options.PruneEvery}: use at least 00:01:00 (default 01:00:00)");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>How many rows one pruning round removed (or emptied, for sent email bodies).</summary>
public sealed record JournalPruneResult(int Jobs, int Events, int Approvals, int Emails, int EmailBodies)
{
    public int Total => Jobs + Events + Approvals + Emails + EmailBodies;
}

/// <summary>
/// Keeps the journal from growing forever. Old rows are found on a reading connection (WAL: it
/// never holds the writer) and deleted by key in small writes, each its own turn on the journal's one writer, each
/// re-checking its condition, so a webhook's write waits at most one small batch.
/// </summary>
public sealed partial class JournalRetention(Database database, IOptions<JournalOptions> options, TimeProvider time, ILogger<JournalRetention> logger)
{
    // Failed and rolled-back jobs are kept longer; every other final state after KeepDays.
    private static readonly string FailedStates = JobStates.SqlList([JobState.Failed, JobState.RolledBack]);
    private static readonly string OtherFinalStates = JobStates.SqlList(JobStates.Final.Except([JobState.Failed, JobState.RolledBack]));

    public async Task<JournalPruneResult> PruneAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (settings.KeepDays == 0)
        {
            return new JournalPruneResult(0, 0, 0, 0, 0);
        }

        var now = time.GetUtcNow();
        var cutoff = JobStore.Format(now.AddDays(-settings.KeepDays));
        var failedCutoff = JobStore.Format(now.AddDays(-settings.KeepFailedDays));
        var batch = settings.BatchSize;

        // Jobs first: an event is kept while a job refers to it.
        var jobs = await RepeatAsync(
            $"""
            SELECT id FROM jobs WHERE created_at < @cutoff AND state IN ({OtherFinalStates}) AND COALESCE(finished_at, updated_at) < @cutoff
            UNION ALL
            SELECT id FROM jobs WHERE created_at < @failedCutoff AND state IN ({FailedStates}) AND COALESCE(finished_at, updated_at) < @failedCutoff
            LIMIT @batch
            """,
            $"""
            DELETE FROM job_steps WHERE job_id IN (SELECT value FROM json_each(@ids));
            DELETE FROM approvals WHERE job_id IN (SELECT value FROM json_each(@ids));
            DELETE FROM outbox WHERE job_id IN (SELECT value FROM json_each(@ids)) AND state = '{OutboxStates.Sent}';
            DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))
                AND state IN ({OtherFinalStates}, {FailedStates});
            """,
            cutoff, failedCutoff, batch, cancellationToken);

        var approvals = await RepeatAsync(
            "SELECT nonce FROM approvals WHERE (decided_at IS NOT NULL AND decided_at < @cutoff) OR expires_at < @cutoff LIMIT @batch",
            "DELETE FROM approvals WHERE nonce IN (SELECT value FROM json_each(@ids)) AND ((decided_at IS NOT NULL AND decided_at < @cutoff) OR expires_at < @cutoff);",
            cutoff, failedCutoff, batch, cancellationToken);

        // Bodies of mail sent before bodies were dropped at sending (they hold approval links).
        var bodies = await RepeatAsync(
            $"SELECT id FROM outbox WHERE state = '{OutboxStates.Sent}' AND (text_body <> '' OR html_body <> '') LIMIT @batch",
            $"UPDATE outbox SET text_body = '', html_body = '' WHERE id IN (SELECT value FROM json_each(@ids)) AND state = '{OutboxStates.Sent}';",
            cutoff, failedCutoff, batch, cancellationToken);

        var emails = await RepeatAsync(
            $"SELECT id FROM outbox WHERE state = '{OutboxStates.Sent}' AND sent_at < @cutoff LIMIT @batch",
            $"DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(@ids)) AND state = '{OutboxStates.Sent}';",
            cutoff, failedCutoff, batch, cancellationToken);

        // Deferred events still wait for Docker; events of kept jobs stay with them.
        var events = await RepeatAsync(
            $"""
            SELECT id FROM events e WHERE received_at < @cutoff AND resolution <> '{JobStore.Deferred}'
                AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
            ORDER BY id LIMIT @batch
            """,
            $"""
            DELETE FROM events WHERE id IN (SELECT value FROM json_each(@ids)) AND resolution <> '{JobStore.Deferred}'
                AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = events.id);
            """,
            cutoff, failedCutoff, batch, cancellationToken);

        var result = new JournalPruneResult(jobs, events, approvals, emails, bodies);
        if (result.Total > 0)
        {
            LogPruned(logger, jobs, events, approvals, emails, bodies);
        }

        return result;
    }

    /// <summary>Finds a batch of keys, deletes (or updates) them in one small write, until a batch comes back short.</summary>
    private async Task<int> RepeatAsync(string find, string change, string cutoff, string failedCutoff, int batch, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var keys = await database.ReadAsync(
                async connection => (await connection.QueryAsync<string>(find, new { cutoff, failedCutoff, batch })).ToList(),
                cancellationToken);
            if (keys.Count == 0)
            {
                return total;
            }

            var ids = JsonSerializer.Serialize(keys, PersistenceJson.Default.ListString);
            await database.WriteAsync(
                (connection, transaction) => connection.ExecuteAsync(change, new { ids, cutoff, failedCutoff }, transaction),
                cancellationToken);
            total += keys.Count;
            if (keys.Count < batch)
            {
                return total;
            }

            // Lets the webhooks' writes that queued meanwhile go first.
            await Task.Yield();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Journal retention: removed {Jobs} job(s), {Events} event(s), {Approvals} approval(s), {Emails} sent email(s); emptied {Bodies} sent email bodies")]
    private static partial void LogPruned(ILogger logger, int jobs, int events, int approvals, int emails, int bodies);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(List<string>))]
internal sealed partial class PersistenceJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Runs <see cref="JournalRetention"/> five minutes after start-up, then every Journal:PruneEvery.</summary>
internal sealed partial class JournalRetentionService(JournalRetention retention, IOptions<JournalOptions> options, TimeProvider time, ILogger<JournalRetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.KeepDays == 0)
        {
            return;
        }

        try
        {
            await Task.Delay(TimeSpan.FromMinutes(5), time, stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await retention.PruneAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The journal keeps working with old rows in it; the next round tries again.
                    LogFailed(logger, e.Message);
                }

                await Task.Delay(options.Value.PruneEvery, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Journal retention: a round failed, the next one tries again: {Error}")]
    private static partial void LogFailed(ILogger logger, string error);
}
