namespace WebhookUpdater.Backups;

public static class BackupsExtensions
{
    public static IServiceCollection AddBackups(this IServiceCollection services)
    {
        services.AddSingleton<IBackupStore, LocalFolderBackupStore>();
        services.AddSingleton<ContainerSnapshotter>();
        return services;
    }
}
