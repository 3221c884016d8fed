using WebhookUpdater.Notifications;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Digests;

/// <summary>A digest email: which decisions it lists, and what it says.</summary>
public sealed record DigestDefinition(string Name, string Kind, Decision Decision, string? Policy, string Title, string Intro)
{
    /// <summary>Notify-only containers: every new image since the last email, one email a day.</summary>
    public static readonly DigestDefinition Notify = new(
        "notify", NotificationKinds.NotifyDigest, Decision.Notified, Policies.Notify,
        "Updates available",
        $"New images were published for these containers ({Policies.Label}={Policies.Notify}). Nothing was changed: update them yourself when it suits you.");

    /// <summary>Manual containers: newer versions outside the track they chose, one email a week.</summary>
    public static readonly DigestDefinition OutsideTrack = new(
        "outside-track", NotificationKinds.OutsideTrackDigest, Decision.IgnoredOutsideTrack, Policies.Manual,
        "Newer versions outside the track you chose",
        "These containers have newer versions outside the update.track you chose for them. They are never applied; change the container's tag or its track to move to them.");
}

/// <summary>Lists every job of a digest that no email listed yet, in one email, and journals them with it.</summary>
public sealed partial class DigestSender(
    DigestStore store,
    EmailComposer composer,
    OutboxSignal outbox,
    TimeProvider time,
    ILogger<DigestSender> logger)
{
    /// <summary>Sends the digest if it has anything to say; returns how many jobs it listed.</summary>
    public async Task<int> SendAsync(DigestDefinition digest, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var lines = await store.UnsentAsync(digest.Name, digest.Decision, digest.Policy, now, cancellationToken);
        if (lines.Count == 0)
        {
            LogNothing(logger, digest.Name);
            return 0;
        }

        var message = EmailNotifier.ToMessage(composer, new DigestNotification(digest.Kind, digest.Title, digest.Intro, lines), now);
        // The first job names the email: the same list can never be queued twice.
        message = message with { DedupKey = $"{digest.Kind}:{lines[0].JobId}" };
        if (!await store.RecordAsync(digest.Name, lines, message, now, cancellationToken))
        {
            return 0;
        }

        LogSent(logger, digest.Name, lines.Count, message.Id);
        outbox.Wake();
        return lines.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Digest {Digest}: email {MessageId} lists {Count} new image(s)")]
    private static partial void LogSent(ILogger logger, string digest, int count, string messageId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Digest {Digest}: nothing new since the last email")]
    private static partial void LogNothing(ILogger logger, string digest);
}
