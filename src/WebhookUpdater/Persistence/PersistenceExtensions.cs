using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Persistence;

public static class PersistenceExtensions
{
    public static IServiceCollection AddPersistence(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Persistence)))
        {
            return services;
        }

        services.AddTime();
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>();
        services.AddSingleton<Database>();
        services.AddSingleton<ScheduleJournal>();
        services.AddOptions<JournalOptions>().BindConfiguration(JournalOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<JournalOptions>, JournalOptionsValidator>();
        services.AddSingleton<JournalRetention>();
        // Registered first among the hosted services: the schema exists before anything reads it.
        services.AddHostedService<DatabaseInitializer>();
        services.AddHostedService<JournalRetentionService>();
        return services;
    }
}

internal sealed class DatabaseInitializer(Database database) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => database.MigrateAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
