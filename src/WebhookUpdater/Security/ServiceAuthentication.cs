using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Security;

/// <summary>The authentication schemes: each endpoint group names its own through its policy, none is the default.</summary>
public static class AuthSchemes
{
    public const string Webhook = "webhook-bearer";
    public const string Admin = "admin-bearer";
    public const string StatusCookie = "status-cookie";
}

/// <summary>The authorization policies on the endpoint groups.</summary>
public static class AuthPolicies
{
    /// <summary>Diun's webhook: the webhook secret as a bearer token.</summary>
    public const string Webhook = "webhook";

    /// <summary>The operator's API: the admin token as a bearer token.</summary>
    public const string Admin = "admin";

    /// <summary>The status page: the session cookie its login sets.</summary>
    public const string StatusPage = "status-page";
}

public static class ServiceAuthenticationExtensions
{
    /// <summary>
    /// The admin bearer scheme and policy, authorization, and the data-protection keys that sign
    /// the status cookie and the antiforgery tokens (kept in the data folder, so a restart does
    /// not log the operator out).
    /// </summary>
    public static IServiceCollection AddServiceAuthentication(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf("Authentication"))
        {
            return services;
        }

        services.AddAdminAccess();
        services.AddPersistence();
        services.AddAuthentication()
            .AddScheme<BearerSecretOptions, BearerSecretHandler>(AuthSchemes.Admin, options =>
                options.Secret = provider => provider.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue.Token);
        services.AddAuthorizationBuilder()
            .AddPolicy(AuthPolicies.Admin, policy => policy.AddAuthenticationSchemes(AuthSchemes.Admin).RequireAuthenticatedUser());
        services.AddDataProtection().SetApplicationName("WebhookUpdater");
        services.AddOptions<KeyManagementOptions>().Configure<IOptions<StoreOptions>, ILoggerFactory>((keys, store, logging) =>
        {
            keys.XmlRepository = new FileSystemXmlRepository(
                new DirectoryInfo(Path.Combine(Path.GetFullPath(store.Value.DataDirectory), "keys")), logging);
            // Nothing on Linux to wrap them with: the keys are as private as the data folder that holds the journal.
            keys.XmlEncryptor = new NullXmlEncryptor();
        });
        return services;
    }

    /// <summary>
    /// Call after every registration: the data-protection keys are read at the first cookie or
    /// antiforgery token, not at start-up (their eager load costs an idle service about 5 MiB).
    /// </summary>
    public static IServiceCollection LoadKeysOnFirstUse(this IServiceCollection services)
    {
        foreach (var eager in services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.Name == "DataProtectionHostedService").ToList())
        {
            services.Remove(eager);
        }

        return services;
    }

    /// <summary>After the rate limiter (refusals count towards it), before any endpoint reads a body.</summary>
    public static WebApplication UseServiceAuthentication(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        return app;
    }
}
