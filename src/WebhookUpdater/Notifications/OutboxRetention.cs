using WebhookUpdater.Persistence;

namespace WebhookUpdater.Notifications;

/// <summary>What journal retention removes of sent email.</summary>
internal static class OutboxRetention
{
    /// <summary>Bodies of mail sent before bodies were dropped at sending (they hold approval links).</summary>
    public static readonly RetentionRule Bodies = new(
        "email bodies",
        30,
        $"SELECT id FROM outbox WHERE state = '{OutboxStates.Sent}' AND (text_body <> '' OR html_body <> '') LIMIT @batch",
        $"UPDATE outbox SET text_body = '', html_body = '' WHERE id IN (SELECT value FROM json_each(@ids)) AND state = '{OutboxStates.Sent}';");

    public static readonly RetentionRule Sent = new(
        "emails",
        40,
        $"SELECT id FROM outbox WHERE state = '{OutboxStates.Sent}' AND sent_at < @cutoff LIMIT @batch",
        $"DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(@ids)) AND state = '{OutboxStates.Sent}';");
}
