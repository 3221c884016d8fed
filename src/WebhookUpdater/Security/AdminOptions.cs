using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Security;

public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>Bearer token for the operator's API (jobs, backups, certificates).</summary>
    public string? Token { get; set; }
}

public static class SecurityExtensions
{
    public static IServiceCollection AddAdminAccess(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf("AdminAccess"))
        {
            return services;
        }

        services.AddOptions<AdminOptions>()
            .BindConfiguration(AdminOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.Token = configuration.ReadSecret("Admin:Token"))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>();
        return services;
    }
}

internal sealed class AdminOptionsValidator(IHostEnvironment environment) : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options) =>
        SecretRules.Check("Admin:Token", options.Token, environment);
}

internal static class SecretRules
{
    public const int MinimumLength = 16;

    public static ValidateOptionsResult Check(string setting, string? value, IHostEnvironment environment)
    {
        var variable = setting.Replace(":", "__", StringComparison.Ordinal);
        if (string.IsNullOrEmpty(value))
        {
            return environment.IsDevelopment()
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail(
                    $"{setting} is required outside Development: set {variable} or {variable}_FILE (a file holding at least {MinimumLength} random characters).");
        }

        return value.Length < MinimumLength
            ? ValidateOptionsResult.Fail($"{setting} is too short: use at least {MinimumLength} random characters (e.g. `openssl rand -base64 32`).")
            : ValidateOptionsResult.Success;
    }
}
