using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Backups;

public static class BackupsExtensions
{
    public static IServiceCollection AddBackups(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Backups)))
        {
            return services;
        }

        services.AddPersistence();
        services.AddContainers();
        services.AddHealthGate();
        services.AddNotifications();
        services.AddLeases();
        services.AddSwarm();
        services.AddOptions<BackupOptions>().BindConfiguration(BackupOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.SigningKey = configuration.ReadSecret("Backups:SigningKey"))
            .ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<BackupOptions>, BackupDevelopmentDefaults>();
        services.AddSingleton<BackupManifestSigner>();
        services.AddSingleton<IValidateOptions<BackupOptions>, BackupOptionsValidator>();
        services.AddSingleton<LocalFolderBackupStore>();
        services.AddSingleton<S3BackupStore>();
        services.AddSingleton<IBackupStore>(provider =>
            provider.GetRequiredService<IOptions<BackupOptions>>().Value.Store == BackupStores.S3
                ? provider.GetRequiredService<S3BackupStore>()
                : provider.GetRequiredService<LocalFolderBackupStore>());
        services.AddSingleton<BackupPlanner>();
        services.AddSingleton<BackupCatalog>();
        services.AddSingleton<BackupRetention>();
        services.AddSingleton<SetQuiescer>();
        services.AddLazy<SetQuiescer>();
        services.AddHostedService<PauseRecovery>();
        services.AddSingleton<ContainerSnapshotter>();
        services.AddSingleton<ISwarmBackups, SwarmBackups>();
        services.AddHostedService<SwarmStoreCheck>();
        services.AddSingleton<BackupRunner>();
        services.AddSingleton<IDailyBackup>(provider => provider.GetRequiredService<BackupRunner>());
        services.AddSingleton<BackupRestorer>();
        services.AddSingleton<RestoreJobs>();
        services.AddLazy<RestoreJobs>();
        services.AddHostedService<RestoreRecovery>();
        services.AddLazy<IDailyBackup>();
        services.AddHostedService<BackupSchedule>();
        services.AddSingleton<BackupMetrics>();
        services.AddSingleton<RestoreTestMetrics>();
        services.AddSingleton<RestoreTester>();
        services.AddLazy<RestoreTester>();
        services.AddHostedService<RestoreTestSchedule>();
        services.AddSingleton<Observability.IStatusSection, BackupsStatus>();
        return services;
    }
}
