using WebhookUpdater.Backups;

namespace WebhookUpdater.Updates;

/// <summary>A pre-update set, or why there is none.</summary>
public sealed record BackupOutcome(string? BackupId, string Detail)
{
    public bool Succeeded => BackupId is not null;
}

/// <summary>What an update asks of the backups: a pre-update set, and that set back on rollback.</summary>
public interface IUpdateBackups
{
    Task<BackupOutcome> SnapshotAsync(string container, string jobId, string? imageId, CancellationToken cancellationToken);

    /// <summary>Null when the set is back in place, else why not.</summary>
    Task<string?> RestoreAsync(string backupId, CancellationToken cancellationToken);

    /// <summary>The containers the update's set reads and its rollback may write: the container and its backup.with partners.</summary>
    Task<IReadOnlyList<string>> MembersAsync(string container, CancellationToken cancellationToken);
}

internal sealed class UpdateBackups(ContainerSnapshotter snapshotter, BackupRestorer restorer, BackupPlanner planner) : IUpdateBackups
{
    public Task<IReadOnlyList<string>> MembersAsync(string container, CancellationToken cancellationToken) =>
        planner.MembersAsync(container, cancellationToken);

    public async Task<BackupOutcome> SnapshotAsync(string container, string jobId, string? imageId, CancellationToken cancellationToken)
    {
        try
        {
            var manifest = await snapshotter.SnapshotAsync(container, BackupKinds.PreUpdate, jobId, imageId, cancellationToken);
            return new BackupOutcome(manifest.Id, $"backup set {manifest.Id}: {manifest.Objects.Count} object(s), {manifest.Objects.Sum(o => o.Size)} bytes");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new BackupOutcome(null, e.Message);
        }
    }

    public async Task<string?> RestoreAsync(string backupId, CancellationToken cancellationToken)
    {
        try
        {
            // The rollback starts the container and runs the gate itself.
            var report = await restorer.RestoreAsync(new RestoreRequest(backupId, RunHealthGate: false, StartAll: false), cancellationToken);
            return report.Succeeded ? null : report.Error ?? "the restore failed";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return e.Message;
        }
    }
}
