using Microsoft.Extensions.Options;

namespace WebhookUpdater.Backups;

public static class BackupsExtensions
{
    public static IServiceCollection AddBackups(this IServiceCollection services)
    {
        services.AddOptions<BackupOptions>().BindConfiguration(BackupOptions.Section).ValidateOnStart();
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
        services.AddSingleton<ContainerSnapshotter>();
        services.AddSingleton<BackupRunner>();
        services.AddSingleton<IDailyBackup>(provider => provider.GetRequiredService<BackupRunner>());
        services.AddSingleton<BackupRestorer>();
        services.AddHostedService<BackupSchedule>();
        services.AddSingleton<BackupMetrics>();
        services.AddSingleton<RestoreTestMetrics>();
        services.AddSingleton<RestoreTester>();
        services.AddHostedService<RestoreTestSchedule>();
        services.AddSingleton<Status.IStatusSection, BackupsStatus>();
        return services;
    }
}
