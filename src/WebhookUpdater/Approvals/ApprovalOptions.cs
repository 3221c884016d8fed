using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.Approvals;

public sealed class ApprovalOptions
{
    public const string Section = "Approvals";
    public const int MinimumKeyBytes = 32;

    /// <summary>HMAC-SHA256 key of the approval links (at least 32 bytes). Secret: also from Approvals__SigningKey_FILE.</summary>
    public string? SigningKey { get; set; }

    /// <summary>The public URL the operator's browser reaches this service at; links are BaseUrl + /approvals/…</summary>
    public string? BaseUrl { get; set; }

    /// <summary>How long an emailed link works.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Requests to /approvals per client address per minute before 429.</summary>
    public int PermitsPerMinute { get; set; } = 30;

    /// <summary>How long the pull of a waiting job's new image may take before its email goes out without the new image's facts.</summary>
    public TimeSpan PullTimeout { get; set; } = TimeSpan.FromMinutes(5);

    public byte[] KeyBytes => Encoding.UTF8.GetBytes(SigningKey ?? "");

    public string PublicBase => (BaseUrl ?? "").TrimEnd('/');
}

/// <summary>In Development a missing key or base URL gets a throwaway value (links die with the process).</summary>
internal sealed class ApprovalDevelopmentDefaults(IHostEnvironment environment) : IPostConfigureOptions<ApprovalOptions>
{
    // Made on first need, not with the object: outside Development no random key is drawn, so
    // the process does not load OpenSSL (about 4 MiB resident) at start-up for nothing.
    private readonly Lazy<string> _developmentKey = new(() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));

    public void PostConfigure(string? name, ApprovalOptions options)
    {
        if (!environment.IsDevelopment())
        {
            return;
        }

        if (string.IsNullOrEmpty(options.SigningKey))
        {
            options.SigningKey = _developmentKey.Value;
        }

        if (string.IsNullOrEmpty(options.BaseUrl))
        {
            options.BaseUrl = "http://localhost:5000";
        }
    }
}

internal sealed class ApprovalOptionsValidator : IValidateOptions<ApprovalOptions>
{
    public ValidateOptionsResult Validate(string? name, ApprovalOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(options.SigningKey))
        {
            errors.Add($"Approvals:SigningKey is required outside Development: set Approvals__SigningKey or Approvals__SigningKey_FILE (a file holding at least {ApprovalOptions.MinimumKeyBytes} random bytes, e.g. `openssl rand -base64 48`).");
        }
        else if (options.KeyBytes.Length < ApprovalOptions.MinimumKeyBytes)
        {
            errors.Add($"Approvals:SigningKey is too short ({options.KeyBytes.Length} bytes): use at least {ApprovalOptions.MinimumKeyBytes} (e.g. `openssl rand -base64 48`).");
        }

        if (string.IsNullOrWhiteSpace(options.BaseUrl))
        {
            errors.Add("Approvals:BaseUrl is required outside Development: the URL at which the operator's browser reaches this service, e.g. https://updates.example.org (Approvals__BaseUrl).");
        }
        else if (!EmailComposer.IsHttp(options.BaseUrl) || options.BaseUrl.Contains('?', StringComparison.Ordinal) || options.BaseUrl.Contains('#', StringComparison.Ordinal))
        {
            errors.Add($"Approvals:BaseUrl '{options.BaseUrl}' is not an http(s) URL without query: use e.g. https://updates.example.org or https://example.org/updates.");
        }

        if (options.TokenLifetime <= TimeSpan.Zero || options.TokenLifetime > TimeSpan.FromDays(90))
        {
            errors.Add($"Approvals:TokenLifetime is {options.TokenLifetime}: use more than 0 and at most 90 days (default 7.00:00:00).");
        }

        if (options.PullTimeout <= TimeSpan.Zero || options.PullTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"Approvals:PullTimeout is {options.PullTimeout}: use more than 0 and at most 01:00:00 (default 00:05:00).");
        }

        if (options.PermitsPerMinute < 1)
        {
            errors.Add($"Approvals:PermitsPerMinute is {options.PermitsPerMinute}: use 1 or more (default 30).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>The public URLs of jobs, for the emails.</summary>
public sealed class ApprovalLinks(IOptionsMonitor<ApprovalOptions> options) : IPublicLinks
{
    public string? JobPage(string jobId) =>
        string.IsNullOrWhiteSpace(options.CurrentValue.BaseUrl) ? null : $"{options.CurrentValue.PublicBase}/api/jobs/{Uri.EscapeDataString(jobId)}";

    public string Approval(string token) => $"{options.CurrentValue.PublicBase}/approvals/{token}";

    public string Progress(string token) => $"{options.CurrentValue.PublicBase}/approvals/{token}/progress";
}
