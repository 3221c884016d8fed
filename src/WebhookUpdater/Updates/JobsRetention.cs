using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Updates;

/// <summary>What journal retention removes of jobs and events.</summary>
internal static class JobsRetention
{
    // Failed and rolled-back jobs are kept longer; every other final state after KeepDays.
    private static readonly string FailedStates = JobStates.SqlList([JobState.Failed, JobState.RolledBack]);
    private static readonly string OtherFinalStates = JobStates.SqlList(JobStates.Final.Except([JobState.Failed, JobState.RolledBack]));

    /// <summary>
    /// A finished job goes with its steps, its approval links (they refer to it) and its sent
    /// email; jobs go before events, since an event is kept while a job refers to it.
    /// </summary>
    public static readonly RetentionRule Jobs = new(
        "jobs",
        10,
        $"""
        SELECT id FROM jobs WHERE created_at < @cutoff AND state IN ({OtherFinalStates}) AND COALESCE(finished_at, updated_at) < @cutoff
        UNION ALL
        SELECT id FROM jobs WHERE created_at < @failedCutoff AND state IN ({FailedStates}) AND COALESCE(finished_at, updated_at) < @failedCutoff
        LIMIT @batch
        """,
        $"""
        DELETE FROM job_steps WHERE job_id IN (SELECT value FROM json_each(@ids));
        DELETE FROM approvals WHERE job_id IN (SELECT value FROM json_each(@ids));
        DELETE FROM digest_entries WHERE job_id IN (SELECT value FROM json_each(@ids));
        DELETE FROM outbox WHERE job_id IN (SELECT value FROM json_each(@ids)) AND state = '{OutboxStates.Sent}';
        DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))
            AND state IN ({OtherFinalStates}, {FailedStates});
        """);

    /// <summary>Deferred events still wait for Docker; events of kept jobs stay with them.</summary>
    public static readonly RetentionRule Events = new(
        "events",
        50,
        $"""
        SELECT id FROM events e WHERE received_at < @cutoff AND resolution <> '{JobStore.Deferred}'
            AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
        ORDER BY id LIMIT @batch
        """,
        $"""
        DELETE FROM events WHERE id IN (SELECT value FROM json_each(@ids)) AND resolution <> '{JobStore.Deferred}'
            AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = events.id);
        """);
}
