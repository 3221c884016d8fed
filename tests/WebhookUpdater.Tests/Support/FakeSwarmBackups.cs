using WebhookUpdater.Backups;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Tests.Support;

/// <summary>Agent jobs in memory: a set per backup (or the failure the test gives), and how many updates Swarm had been sent when each ran.</summary>
internal sealed class FakeSwarmBackups(FakeSwarm swarm) : ISwarmBackups
{
    public string? Failure { get; set; }

    /// <summary>Per backup: its service, its kind, and the updates Swarm had been sent by then.</summary>
    public List<(string Service, string Kind, int SentBefore)> Backups { get; } = [];

    public async Task<IReadOnlyList<ServiceInfo>> BackedUpServicesAsync(CancellationToken cancellationToken) =>
        await swarm.IsManagerAsync(cancellationToken)
            ? (await swarm.ListAsync(cancellationToken)).Where(service => BackupLabels.AsksForBackup(service.Labels)).ToList()
            : [];

    public async Task<ServiceInfo?> ServiceAsync(string name, CancellationToken cancellationToken) =>
        await swarm.IsManagerAsync(cancellationToken) ? swarm.Named(name) : null;

    public Task<BackupManifest> BackupAsync(ServiceInfo service, string kind, string? jobId, string? imageId, CancellationToken cancellationToken)
    {
        Backups.Add((service.Name, kind, swarm.Sent.Count));
        if (Failure is { } failure)
        {
            throw new BackupSourceException(failure);
        }

        return Task.FromResult(new BackupManifest($"20260101-000000-{kind}-{service.Name}-abcdef", kind, DateTimeOffset.UtcNow, jobId, service.Name, imageId,
            [new BackupObject("x.pgdump", $"{service.Name}:postgres/forge", 10, "00", service.Name, BackupObjectTypes.PostgresDump, "forge")], "hmac-sha256:test"));
    }

    public Task<RestoreReport> RestoreAsync(ServiceInfo service, VerifiedSet verified, bool dryRun, CancellationToken cancellationToken) =>
        Task.FromResult(new RestoreReport(verified.Manifest.Id, dryRun, Succeeded: true, [.. verified.Steps, $"restored into {service.Name}"], null));
}
