using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Notifications.Senders;

/// <summary>SMTP through MailKit: SES's SMTP endpoint or any other server.</summary>
internal sealed class SmtpEmailSender(IOptionsMonitor<EmailOptions> options) : IEmailSender
{
    public string Name => "smtp";

    public async Task<string?> SendAsync(OutgoingEmail email, CancellationToken cancellationToken)
    {
        var smtp = options.CurrentValue.Smtp;
        var message = MimeMessages.Build(email);
        using var client = new SmtpClient { Timeout = (int)options.CurrentValue.SendTimeout.TotalMilliseconds };
        try
        {
            await client.ConnectAsync(smtp.Host ?? throw new EmailSendException("Email:Smtp:Host is not set", transient: false), smtp.Port, smtp.Security switch
            {
                SmtpSecurity.StartTls => SecureSocketOptions.StartTls,
                SmtpSecurity.SslOnConnect => SecureSocketOptions.SslOnConnect,
                SmtpSecurity.None => SecureSocketOptions.None,
                _ => SecureSocketOptions.Auto,
            }, cancellationToken);
            if (!string.IsNullOrEmpty(smtp.Username))
            {
                await client.AuthenticateAsync(smtp.Username, smtp.Password ?? "", cancellationToken);
            }

            var answer = await client.SendAsync(message, cancellationToken);
            await client.DisconnectAsync(quit: true, cancellationToken);
            return string.IsNullOrWhiteSpace(answer) ? message.MessageId : answer.Trim();
        }
        catch (SmtpCommandException e)
        {
            // 4xx: try later (greylisting, throttling); 5xx: the server refuses this message.
            throw new EmailSendException($"SMTP server answered {(int)e.StatusCode} ({e.ErrorCode}): {e.Message}", (int)e.StatusCode is >= 400 and < 500, inner: e);
        }
        catch (AuthenticationException e)
        {
            throw new EmailSendException($"SMTP authentication failed for user {smtp.Username}: check Email:Smtp:Username and the password", transient: false, inner: e);
        }
        catch (Exception e) when (e is SmtpProtocolException or ServiceNotConnectedException or IOException or SocketException or SslHandshakeException)
        {
            throw new EmailSendException($"SMTP server {smtp.Host}:{smtp.Port} could not be reached or broke off ({e.GetType().Name}: {e.Message})", transient: true, inner: e);
        }
    }
}
