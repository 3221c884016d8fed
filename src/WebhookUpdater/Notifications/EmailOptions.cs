using System.Net.Mail;
using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Notifications;

/// <summary>Which sender delivers the email (setting <c>Email:Sender</c>).</summary>
public enum EmailSenderKind
{
    /// <summary>Each message written as an .eml file under the data directory: works with nothing configured.</summary>
    Outbox,

    /// <summary>Amazon SES v2 SendEmail over HTTPS, signed with SigV4.</summary>
    Ses,

    /// <summary>Any SMTP server (SES's SMTP endpoint too), through MailKit.</summary>
    Smtp,
}

public enum SmtpSecurity
{
    Auto,
    StartTls,
    SslOnConnect,
    None,
}

public sealed class EmailOptions
{
    public const string Section = "Email";

    public EmailSenderKind Sender { get; set; } = EmailSenderKind.Outbox;

    /// <summary>The From address, e.g. <c>WebhookUpdater &lt;updates@example.org&gt;</c>.</summary>
    public string From { get; set; } = "WebhookUpdater <webhook-updater@localhost>";

    /// <summary>The operator's address(es), comma-separated.</summary>
    public string To { get; set; } = "operator@localhost";

    /// <summary>Where the Outbox sender writes .eml files (default: &lt;Store:DataDirectory&gt;/outbox).</summary>
    public string? OutboxDirectory { get; set; }

    /// <summary>Retries inside one delivery round, on throttling, 5xx and network errors (Polly).</summary>
    public int RetryAttempts { get; set; } = 3;

    /// <summary>First delay between those retries; doubles each time, with jitter.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one request to the mail server may take.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>After a failed round, the message waits this long before the next one; doubles each round.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest wait between two rounds for a message that keeps failing.</summary>
    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromHours(1);

    public SesSettings Ses { get; set; } = new();

    public SmtpSettings Smtp { get; set; } = new();

    public IReadOnlyList<string> Recipients =>
        To.Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public string ResolveOutboxDirectory(StoreOptions store) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(OutboxDirectory) ? Path.Combine(store.DataDirectory, "outbox") : OutboxDirectory);

    public sealed class SesSettings
    {
        /// <summary>The AWS region of the SES account, e.g. eu-west-1 (also the SigV4 signing region); empty: the SDK's region (AWS_REGION).</summary>
        public string? Region { get; set; }

        /// <summary>Another endpoint than https://email.&lt;region&gt;.amazonaws.com (a VPC endpoint, or a local emulator).</summary>
        public string? ServiceUrl { get; set; }

        /// <summary>Optional SES configuration set, for SES's own event publishing.</summary>
        public string? ConfigurationSetName { get; set; }
    }

    public sealed class SmtpSettings
    {
        public string? Host { get; set; }

        public int Port { get; set; } = 587;

        public SmtpSecurity Security { get; set; } = SmtpSecurity.Auto;

        public string? Username { get; set; }

        /// <summary>Secret: also from <c>Email__Smtp__Password_FILE</c>.</summary>
        public string? Password { get; set; }
    }
}

internal sealed class EmailOptionsValidator : IValidateOptions<EmailOptions>
{
    public ValidateOptionsResult Validate(string? name, EmailOptions options)
    {
        var errors = new List<string>();
        if (!IsAddress(options.From))
        {
            errors.Add($"Email:From '{options.From}' is not an email address: use e.g. 'WebhookUpdater <updates@example.org>'.");
        }

        if (options.Recipients.Count == 0 || options.Recipients.Any(to => !IsAddress(to)))
        {
            errors.Add($"Email:To '{options.To}' must be one or more email addresses, comma-separated (the operator's).");
        }

        if (options.RetryAttempts is < 0 or > 10)
        {
            errors.Add($"Email:RetryAttempts is {options.RetryAttempts}: use 0 to 10 (default 3).");
        }

        if (options.RetryDelay <= TimeSpan.Zero || options.SendTimeout <= TimeSpan.Zero || options.RetryInterval <= TimeSpan.Zero
            || options.MaxRetryInterval < options.RetryInterval)
        {
            errors.Add("Email:RetryDelay, Email:SendTimeout and Email:RetryInterval must be positive, and Email:MaxRetryInterval at least Email:RetryInterval (e.g. 00:01:00 and 01:00:00).");
        }

        switch (options.Sender)
        {
            case EmailSenderKind.Ses:
                if (string.IsNullOrWhiteSpace(options.Ses.Region))
                {
                    errors.Add("Email:Sender is Ses but no SES region is set: set AWS_REGION (or Email__Ses__Region when SES runs in another region), e.g. eu-west-1.");
                }

                if (!string.IsNullOrEmpty(options.Ses.ServiceUrl) && !IsHttpUrl(options.Ses.ServiceUrl))
                {
                    errors.Add($"Email:Ses:ServiceUrl '{options.Ses.ServiceUrl}' is not an http(s) URL: leave it empty for AWS, or name an endpoint such as http://127.0.0.1:8005.");
                }

                break;
            case EmailSenderKind.Smtp:
                if (string.IsNullOrWhiteSpace(options.Smtp.Host))
                {
                    errors.Add("Email:Sender is Smtp but Email:Smtp:Host is empty: name the SMTP server, e.g. email-smtp.eu-west-1.amazonaws.com (Email__Smtp__Host).");
                }

                if (options.Smtp.Port is < 1 or > 65535)
                {
                    errors.Add($"Email:Smtp:Port is {options.Smtp.Port}: use 1 to 65535 (587 for STARTTLS, 465 for TLS).");
                }

                if (!string.IsNullOrEmpty(options.Smtp.Username) && string.IsNullOrEmpty(options.Smtp.Password))
                {
                    errors.Add("Email:Smtp:Username is set but Email:Smtp:Password is empty: set Email__Smtp__Password or Email__Smtp__Password_FILE.");
                }

                break;
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static bool IsAddress(string? value) => !string.IsNullOrWhiteSpace(value) && MailAddress.TryCreate(value, out _);

    internal static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
