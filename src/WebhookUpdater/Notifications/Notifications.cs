namespace WebhookUpdater.Notifications;

/// <summary>
/// Something the operator must hear about. Each feature adds its own record; a sender that does
/// not know a kind still has a subject and a plain summary to send.
/// </summary>
public abstract record Notification(string Kind)
{
    /// <summary>A subject that makes sense in an inbox list.</summary>
    public abstract string Subject { get; }

    /// <summary>The plain-text body when no richer template exists for the kind.</summary>
    public abstract string Summary { get; }
}

/// <summary>What happened to a job.</summary>
public sealed record JobNotification(
    string Kind,
    string JobId,
    string Container,
    string Policy,
    string? CurrentImage,
    string NewImage,
    string Digest,
    string? HubLink,
    string Outcome,
    string Reason,
    string? LogTail) : Notification(Kind)
{
    /// <summary>After a tag move: what the compose project still names.</summary>
    public WebhookUpdater.Containers.ComposeDrift? ComposeDrift { get; init; }

    public override string Subject => Kind switch
    {
        NotificationKinds.UpdateSucceeded => $"Updated {Container} to {NewImage}",
        NotificationKinds.UpdateFailed => $"Update of {Container} failed: {Outcome}",
        NotificationKinds.UpdateRefused => $"Update of {Container} to {NewImage} refused: do it by hand",
        _ => $"{Container}: {Outcome}",
    };

    public override string Summary =>
        $"""
        Container: {Container} (policy {Policy})
        Current image: {CurrentImage}
        New image: {NewImage}
        Digest: {Digest}
        Outcome: {Outcome}
        Why: {Reason}
        Job: {JobId}
        {(string.IsNullOrEmpty(LogTail) ? "" : "Last log lines of the new container:\n" + LogTail)}
        """;
}

public static class NotificationKinds
{
    public const string UpdateSucceeded = "update-succeeded";
    public const string UpdateFailed = "update-failed";
    public const string UpdateAvailable = "update-available";
    public const string NotifyDigest = "notify-digest";
    public const string OutsideTrackDigest = "outside-track-digest";
    public const string UpdateRefused = "update-refused";
}

/// <summary>One small contract, like Diun's notifiers: each sender implements it.</summary>
public interface INotifier
{
    Task NotifyAsync(Notification notification, CancellationToken cancellationToken);
}
