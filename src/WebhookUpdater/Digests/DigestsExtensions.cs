using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Digests;

public static class DigestsExtensions
{
    /// <summary>The daily email of notify-only containers and the weekly email of versions outside a manual container's track.</summary>
    public static IServiceCollection AddDigests(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Digests)))
        {
            return services;
        }

        services.AddPersistence();
        services.AddNotifications();
        services.AddOptions<DigestOptions>().BindConfiguration(DigestOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DigestOptions>, DigestOptionsValidator>();
        services.AddSingleton<DigestStore>();
        services.AddSingleton<DigestSender>();
        services.AddHostedService<NotifyDigestSchedule>();
        services.AddHostedService<OutsideTrackDigestSchedule>();
        return services;
    }
}
