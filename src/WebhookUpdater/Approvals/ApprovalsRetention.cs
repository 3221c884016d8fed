using WebhookUpdater.Persistence;

namespace WebhookUpdater.Approvals;

/// <summary>What journal retention removes of approval links: decided or expired ones, once old.</summary>
internal static class ApprovalsRetention
{
    public static readonly RetentionRule Approvals = new(
        "approvals",
        20,
        "SELECT nonce FROM approvals WHERE (decided_at IS NOT NULL AND decided_at < @cutoff) OR expires_at < @cutoff LIMIT @batch",
        "DELETE FROM approvals WHERE nonce IN (SELECT value FROM json_each(@ids)) AND ((decided_at IS NOT NULL AND decided_at < @cutoff) OR expires_at < @cutoff);");
}
