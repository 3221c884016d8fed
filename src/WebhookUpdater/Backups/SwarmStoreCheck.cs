using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Backups;

/// <summary>
/// At start-up: a Swarm service's sets are made on its task's node, so when the engine is a Swarm
/// manager and a service asks for backups, a store that only this node reaches stops the start with
/// the setting to change. An engine that cannot be asked does not stop the start: such a backup
/// still fails when it runs, and says the same.
/// </summary>
internal sealed partial class SwarmStoreCheck(
    [FromKeyedServices(DockerResilience.Quick)] ISwarmServices swarm,
    IOptions<BackupOptions> options,
    ILogger<SwarmStoreCheck> logger) : IHostedService
{
    private static readonly TimeSpan AskFor = TimeSpan.FromSeconds(10);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var store = options.Value.Store;
        if (store == BackupStores.S3)
        {
            return;
        }

        List<string> asking;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(AskFor);
            if (!await swarm.IsManagerAsync(deadline.Token))
            {
                return;
            }

            asking = (await swarm.ListAsync(deadline.Token)).Where(s => BackupLabels.AsksForBackup(s.Labels)).Select(s => s.Name).Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            LogNotAsked(logger, e.Message);
            return;
        }

        if (asking.Count > 0)
        {
            throw new OptionsValidationException(BackupOptions.Section, typeof(BackupOptions),
            [
                $"Backups:Store is {store}, and the engine is a Swarm manager whose services {string.Join(", ", asking)} ask for backups: their sets are made on the nodes where their tasks run, so they need a store every node reaches. Set Backups:Store=S3 (Backups__Store=S3, with Backups__Bucket), or remove the backup.* labels of those services",
            ]);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Whether the engine is a Swarm manager with services to back up could not be asked at start-up ({Error}); such a backup fails when it runs if Backups:Store is not S3")]
    private static partial void LogNotAsked(ILogger logger, string error);
}
