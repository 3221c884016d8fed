namespace WebhookUpdater.Notifications;

/// <summary>A manual container has a new image; the operator decides with the approval link.</summary>
public sealed record UpdateAvailableNotification(
    string JobId,
    string Container,
    string? CurrentImage,
    string NewImage,
    string Digest,
    string? HubLink,
    string ApprovalUrl,
    DateTimeOffset ExpiresAt) : Notification(NotificationKinds.UpdateAvailable)
{
    /// <summary>The current and the new image as the engine describes them, once the new one was pulled (or why it could not be).</summary>
    public ImageComparison? Images { get; init; }

    public override string Subject => $"Approval needed: update {Container} to {NewImage}";

    public override string Summary =>
        $"""
        A new image is available for {Container} (policy manual).
        Current image: {CurrentImage}
        New image: {NewImage}
        Digest: {Digest}
        Approve or reject: {ApprovalUrl}
        The link works once, until {ExpiresAt:u}.
        Job: {JobId}
        """;

    // The approval URL is a capability: keep it out of anything that prints the record.
    public override string ToString() => $"UpdateAvailableNotification {{ JobId = {JobId}, Container = {Container}, NewImage = {NewImage} }}";
}

/// <summary>Public URLs the emails point at; the Approvals feature knows the base URL.</summary>
public interface IPublicLinks
{
    /// <summary>The job's record (the admin API), or null when no public base URL is set.</summary>
    string? JobPage(string jobId);
}

internal sealed class NoPublicLinks : IPublicLinks
{
    public string? JobPage(string jobId) => null;
}
