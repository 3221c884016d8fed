using WebhookUpdater.Configuration;
using Microsoft.Extensions.Options;
using WebhookUpdater.Leases;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

/// <summary>A set that could not be made, and why.</summary>
/// <param name="HeldBy">Set when the container was busy with another operation (nothing was backed up).</param>
public sealed record BackupFailure(string Container, string Error, LeaseHolder? HeldBy = null);

public sealed record BackupRunResult(string Kind, IReadOnlyList<BackupManifest> Sets, IReadOnlyList<BackupFailure> Failures)
{
    public bool Succeeded => Failures.Count == 0;
}

/// <summary>The daily backup, as the schedule starts it.</summary>
public interface IDailyBackup
{
    Task<BackupRunResult> RunDailyAsync(CancellationToken cancellationToken);
}

/// <summary>A backup failed outside an update (daily or on demand): the operator must hear it.</summary>
public sealed record BackupNotification(string Kind, string BackupKind, IReadOnlyList<BackupFailure> Failures, IReadOnlyList<string> Completed, string Store) : Notification(Kind)
{
    public override string Subject => $"Backup failed: {string.Join(", ", Failures.Select(f => f.Container))} ({BackupKind})";

    public override string Summary =>
        $"""
        The {BackupKind} backup to {Store} failed for {Failures.Count} container(s); no complete set was written for them.
        {string.Join("\n", Failures.Select(f => $"- {f.Container}: {f.Error}"))}
        Completed sets: {(Completed.Count == 0 ? "none" : string.Join(", ", Completed))}
        """;
}

public static class BackupNotificationKinds
{
    public const string BackupFailed = "backup-failed";
}

/// <summary>
/// Backs up every container that asks for it (or those named), one set each, each under the
/// container's lease: the daily run waits for an update or restore to finish (at most
/// Leases:WaitTimeout), an operator's run does not wait (the container is reported busy).
/// </summary>
public sealed partial class BackupRunner(
    ContainerSnapshotter snapshotter,
    BackupPlanner planner,
    IBackupStore store,
    INotifier notifier,
    ContainerLeases leases,
    IOptions<LeaseOptions> leaseOptions,
    ILogger<BackupRunner> logger,
    ISwarmBackups? services = null) : IDailyBackup
{
    public Task<BackupRunResult> RunDailyAsync(CancellationToken cancellationToken) => RunAsync(BackupKinds.Daily, null, cancellationToken);

    /// <summary>One set per container; a failure of one does not stop the others, and is notified.</summary>
    public async Task<BackupRunResult> RunAsync(string kind, IReadOnlyList<string>? containers, CancellationToken cancellationToken)
    {
        var sets = new List<BackupManifest>();
        var failures = new List<BackupFailure>();
        IReadOnlyList<string> names;
        try
        {
            names = containers is { Count: > 0 } ? containers : await planner.DailyRootsAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Docker did not answer: no container could be chosen, which is a failed backup too.
            LogFailed(logger, kind, "(every labelled container)", e.Message);
            failures.Add(new BackupFailure("(every labelled container)", $"the containers to back up could not be listed: {e.Message}"));
            names = [];
        }

        var runId = Guid.CreateVersion7().ToString("N");
        var wait = kind == BackupKinds.Manual ? TimeSpan.Zero : leaseOptions.Value.WaitTimeout;
        foreach (var name in names)
        {
            try
            {
                if (containers is { Count: > 0 } && services is not null && await services.ServiceAsync(name, cancellationToken) is { } service)
                {
                    await BackUpServiceAsync(service, kind, runId, wait, sets, failures, cancellationToken);
                    continue;
                }

                var members = await planner.MembersAsync(name, cancellationToken);
                var attempt = await leases.AcquireAsync(members, OperationKind.Backup, runId, wait, cancellationToken);
                if (attempt.Lease is not { } lease)
                {
                    failures.Add(new BackupFailure(name, $"{attempt.HeldBy!.Container} is busy with {attempt.HeldBy.Describe()}: no backup of {name} was taken", attempt.HeldBy));
                    continue;
                }

                await using (lease)
                {
                    sets.Add(await snapshotter.SnapshotAsync(name, kind, null, null, cancellationToken));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogFailed(logger, kind, name, e.Message);
                failures.Add(new BackupFailure(name, e.Message));
            }
        }

        if (containers is not { Count: > 0 } && services is not null)
        {
            await RunServicesAsync(kind, runId, wait, sets, failures, cancellationToken);
        }

        // An operator's run told busy hears it in the answer (409); anything else must reach the operator.
        if (failures.Any(f => f.HeldBy is null || kind != BackupKinds.Manual))
        {
            try
            {
                await notifier.NotifyAsync(new BackupNotification(BackupNotificationKinds.BackupFailed, kind, failures, sets.Select(s => s.Id).ToList(), store.Describe()), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogNotifyFailed(logger, kind, e.Message);
            }
        }

        return new BackupRunResult(kind, sets, failures);
    }

    /// <summary>Every Swarm service that asks for a backup: one set each, made by an agent on its node, under the service's lease.</summary>
    private async Task RunServicesAsync(string kind, string runId, TimeSpan wait, List<BackupManifest> sets, List<BackupFailure> failures, CancellationToken cancellationToken)
    {
        IReadOnlyList<Swarm.ServiceInfo> found;
        try
        {
            found = await services!.BackedUpServicesAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogFailed(logger, kind, "(every labelled service)", e.Message);
            failures.Add(new BackupFailure("(every labelled service)", $"the services to back up could not be listed: {e.Message}"));
            return;
        }

        foreach (var service in found)
        {
            try
            {
                await BackUpServiceAsync(service, kind, runId, wait, sets, failures, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogFailed(logger, kind, service.Name, e.Message);
                failures.Add(new BackupFailure(service.Name, e.Message));
            }
        }
    }

    private async Task BackUpServiceAsync(Swarm.ServiceInfo service, string kind, string runId, TimeSpan wait, List<BackupManifest> sets, List<BackupFailure> failures, CancellationToken cancellationToken)
    {
        var attempt = await leases.AcquireAsync([service.Name], OperationKind.Backup, runId, wait, cancellationToken);
        if (attempt.Lease is not { } lease)
        {
            failures.Add(new BackupFailure(service.Name, $"{attempt.HeldBy!.Container} is busy with {attempt.HeldBy.Describe()}: no backup of {service.Name} was taken", attempt.HeldBy));
            return;
        }

        await using (lease)
        {
            sets.Add(await services!.BackupAsync(service, kind, null, null, cancellationToken));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The {Kind} backup of {Container} failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string kind, string container, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "The {Kind} backup failed and the notice could not be sent: {Error}")]
    private static partial void LogNotifyFailed(ILogger logger, string kind, string error);
}

/// <summary>
/// Starts the daily backup at the times of Backups:Schedule (cron, in Backups:TimeZone). The
/// backup (Docker client, store) is made at the first run, not at start-up.
/// </summary>
internal sealed partial class BackupSchedule(
    Lazy<IDailyBackup> daily,
    ScheduleJournal journal,
    IOptions<BackupOptions> options,
    TimeProvider time,
    ILogger<BackupSchedule> logger) : ScheduledService(journal, time, logger)
{
    public const string Name = "backups.daily";

    protected override string JournalName => Name;

    protected override string Title => "Daily backup";

    protected override string Setting => "Backups:Schedule";

    protected override (Cronos.CronExpression? Schedule, TimeZoneInfo Zone) Resolve() =>
        (options.Value.ResolveSchedule(), options.Value.ResolveTimeZone());

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        var result = await daily.Value.RunDailyAsync(cancellationToken);
        LogRan(logger, result.Sets.Count, result.Failures.Count);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Daily backup: {Sets} set(s) complete, {Failures} failed")]
    private static partial void LogRan(ILogger logger, int sets, int failures);
}
