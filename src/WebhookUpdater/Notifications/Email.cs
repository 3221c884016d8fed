using MimeKit;

namespace WebhookUpdater.Notifications;

/// <summary>What an email says, rendered from a notification; addresses are added when it is sent.</summary>
public sealed record EmailContent(string Subject, string Text, string Html);

/// <summary>One message of the outbox, as a sender gets it.</summary>
public sealed record OutgoingEmail(
    string Id,
    string Kind,
    string? JobId,
    string From,
    IReadOnlyList<string> To,
    EmailContent Content,
    DateTimeOffset CreatedAt);

/// <summary>
/// One small contract for every way of delivering mail, like Diun's notifiers. A sender either
/// returns (the message was handed over; the answer is the provider's message id, if any) or
/// throws <see cref="EmailSendException"/> saying whether a retry can help.
/// </summary>
public interface IEmailSender
{
    string Name { get; }

    Task<string?> SendAsync(OutgoingEmail email, CancellationToken cancellationToken);
}

/// <summary>A send that did not go through. Its message never holds credentials or the body.</summary>
public sealed class EmailSendException(string message, bool transient, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Throttling, 5xx, network: trying again soon may work.</summary>
    public bool Transient { get; } = transient;

    /// <summary>What the server asked for (Retry-After), if anything.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>The MIME form shared by the SMTP and .eml senders: text and HTML as alternatives.</summary>
internal static class MimeMessages
{
    public const string MessageIdDomain = "webhook-updater";

    public static MimeMessage Build(OutgoingEmail email)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(email.From));
        foreach (var to in email.To)
        {
            message.To.Add(MailboxAddress.Parse(to));
        }

        message.Subject = email.Content.Subject;
        message.Date = email.CreatedAt;
        // The outbox id: a message sent again after a crash has the same Message-ID, so mail
        // clients and the .eml folder see one message, not two.
        message.MessageId = $"{email.Id}@{MessageIdDomain}";
        message.Headers.Add("X-WebhookUpdater-Kind", email.Kind);
        var body = new BodyBuilder { TextBody = email.Content.Text, HtmlBody = email.Content.Html };
        message.Body = body.ToMessageBody();
        return message;
    }
}
