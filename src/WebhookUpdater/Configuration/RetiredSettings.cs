using Microsoft.Extensions.DependencyInjection.Extensions;

namespace WebhookUpdater.Configuration;

/// <summary>A setting this version no longer reads, and what happens instead.</summary>
public sealed record RetiredSetting(string Key, string Instead);

public static class RetiredSettings
{
    /// <summary>
    /// Names a setting a feature dropped: if an operator still sets it, start-up warns that it does
    /// nothing (not an error: each retired setting only tuned something that now works without it).
    /// </summary>
    public static IServiceCollection AddRetiredSetting(this IServiceCollection services, string key, string instead)
    {
        services.AddSingleton(new RetiredSetting(key, instead));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RetiredSettingsWarning>());
        return services;
    }
}

internal sealed partial class RetiredSettingsWarning(
    IEnumerable<RetiredSetting> retired,
    IConfiguration configuration,
    ILogger<RetiredSettingsWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var setting in retired)
        {
            if (configuration.GetSection(setting.Key).Exists())
            {
                LogIgnored(logger, setting.Key, setting.Instead);
            }
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Key} is set but no longer read, remove it: {Instead}")]
    private static partial void LogIgnored(ILogger logger, string key, string instead);
}
