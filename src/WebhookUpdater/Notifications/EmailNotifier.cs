namespace WebhookUpdater.Notifications;

/// <summary>
/// The notifier the features call: renders the notification and writes it to the outbox; the
/// dispatcher sends it. Returns once the message is durable, never waits for the mail server.
/// </summary>
public sealed partial class EmailNotifier(
    EmailComposer composer,
    OutboxStore outbox,
    OutboxSignal signal,
    TimeProvider time,
    ILogger<EmailNotifier> logger) : INotifier
{
    public async Task NotifyAsync(Notification notification, CancellationToken cancellationToken)
    {
        var message = ToMessage(composer, notification, time.GetUtcNow());
        if (await outbox.AddAsync(message, cancellationToken))
        {
            LogQueued(logger, message.Id, notification.Kind, message.JobId, notification.Subject);
            signal.Wake();
        }
        else
        {
            LogDuplicate(logger, notification.Kind, message.DedupKey);
        }
    }

    public static OutboxMessage ToMessage(EmailComposer composer, Notification notification, DateTimeOffset now)
    {
        var jobId = notification switch
        {
            JobNotification job => job.JobId,
            UpdateAvailableNotification available => available.JobId,
            _ => null,
        };
        // One notice of a kind per job: a retried pipeline step does not email twice.
        var dedupKey = jobId is null ? null : $"{notification.Kind}:{jobId}";
        return new OutboxMessage(OutboxMessage.NewId(), dedupKey, notification.Kind, jobId, composer.Compose(notification), now);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Email {MessageId} queued: {Kind} for job {JobId}: {Subject}")]
    private static partial void LogQueued(ILogger logger, string messageId, string kind, string? jobId, string subject);

    [LoggerMessage(Level = LogLevel.Information, Message = "Notification {Kind} already in the outbox ({DedupKey}); not queued twice")]
    private static partial void LogDuplicate(ILogger logger, string kind, string? dedupKey);
}
