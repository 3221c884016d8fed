using Microsoft.Extensions.Options;
using WebhookUpdater.Security;

namespace WebhookUpdater.Webhooks;

public sealed class WebhookOptions
{
    public const string Section = "Webhook";

    /// <summary>The shared secret Diun sends as <c>Authorization: Bearer …</c>.</summary>
    public string? Secret { get; set; }

    /// <summary>Bodies above this size get 413; Diun's are about 1 KiB.</summary>
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Requests per client address per minute before 429.</summary>
    public int PermitsPerMinute { get; set; } = 120;
}

internal sealed class WebhookOptionsValidator(IHostEnvironment environment) : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var secret = SecretRules.Check("Webhook:Secret", options.Secret, environment);
        if (secret.Failed)
        {
            return secret;
        }

        if (options.MaxBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            return ValidateOptionsResult.Fail($"Webhook:MaxBodyBytes is {options.MaxBodyBytes}: use 1024 to 16777216 (default 65536).");
        }

        return options.PermitsPerMinute < 1
            ? ValidateOptionsResult.Fail($"Webhook:PermitsPerMinute is {options.PermitsPerMinute}: use 1 or more (default 120).")
            : ValidateOptionsResult.Success;
    }
}
