namespace WebhookUpdater.Notifications;

/// <summary>What happened to a job, for the operator.</summary>
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
    string? LogTail);

public static class NotificationKinds
{
    public const string UpdateSucceeded = "update-succeeded";
    public const string UpdateFailed = "update-failed";
}

/// <summary>One small contract, like Diun's notifiers: email senders implement it.</summary>
public interface INotifier
{
    Task NotifyAsync(JobNotification notification, CancellationToken cancellationToken);
}

/// <summary>Until an email sender is configured, notifications are written to the log.</summary>
public sealed partial class LogNotifier(ILogger<LogNotifier> logger) : INotifier
{
    public Task NotifyAsync(JobNotification notification, CancellationToken cancellationToken)
    {
        LogNotification(logger, notification.Kind, notification.JobId, notification.Container, notification.NewImage, notification.Outcome, notification.Reason);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notification {Kind}: job {JobId}, container {Container}, image {Image}: {Outcome}, {Reason}")]
    private static partial void LogNotification(ILogger logger, string kind, string jobId, string container, string image, string outcome, string reason);
}

public static class NotificationsExtensions
{
    public static IServiceCollection AddNotifications(this IServiceCollection services)
    {
        services.AddSingleton<INotifier, LogNotifier>();
        return services;
    }
}
