using Dapper;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Backups;

/// <summary>How a container whose paths are archived is kept still while its set is taken (label <c>backup.quiesce</c>).</summary>
public enum BackupQuiesce
{
    /// <summary>Paused (docker pause) from the first object of the set to the last: its files and the set's dumps show one moment.</summary>
    Pause,

    /// <summary>Copied while it runs: files written during the copy may be torn, and may not match the set's dumps.</summary>
    None,
}

/// <summary>
/// Keeps the containers of a set still while it is taken, so Gitea's <c>/data</c> and its
/// database's dump show the same moment. A pause is journaled before it is made: after a crash
/// mid-copy the next start unpauses it (<see cref="PauseRecovery"/>).
/// </summary>
public sealed partial class SetQuiescer(IContainerLookup lookup, IContainerActions containers, Database database, TimeProvider time, ILogger<SetQuiescer> logger)
{
    public static BackupQuiesce ModeOf(string container, IReadOnlyDictionary<string, string> labels) =>
        labels.GetValueOrDefault(BackupLabels.Quiesce)?.Trim().ToLowerInvariant() switch
        {
            null or "" or "pause" => BackupQuiesce.Pause,
            "none" => BackupQuiesce.None,
            var other => throw new BackupSourceException(
                $"{container} has {BackupLabels.Quiesce}={other}: use pause (the default: paused while its set is copied) or none (copied while it runs)"),
        };

    /// <summary>
    /// Pauses the running containers whose paths the set archives, unless they say
    /// <see cref="BackupQuiesce.None"/>. A container whose database is dumped keeps running: the
    /// dump runs inside it and is consistent by itself. Dispose the result to unpause them.
    /// </summary>
    public async Task<PausedContainers> QuiesceAsync(string setId, IReadOnlyList<BackupSource> sources, CancellationToken cancellationToken)
    {
        var dumped = sources.Where(s => s.Type == BackupObjectTypes.PostgresDump).Select(s => s.Container).ToHashSet(StringComparer.Ordinal);
        var paused = new PausedContainers(this, setId);
        try
        {
            foreach (var name in sources.Where(s => s.Type == BackupObjectTypes.Archive).Select(s => s.Container).Distinct(StringComparer.Ordinal))
            {
                if (dumped.Contains(name) || await lookup.FindAsync(name, cancellationToken) is not { } status)
                {
                    continue;
                }

                // A stopped container writes nothing; an already paused one was paused by someone else, who unpauses it.
                if (ModeOf(name, status.Labels) == BackupQuiesce.None || !status.Running || status.Status == "paused")
                {
                    continue;
                }

                await RecordAsync(status.Id, status.Name, setId, cancellationToken);
                try
                {
                    await containers.PauseAsync(status.Id, cancellationToken);
                }
                catch
                {
                    await ForgetAsync(status.Id);
                    throw;
                }

                paused.Add(status.Id, status.Name);
                LogPaused(logger, setId, status.Name);
            }

            return paused;
        }
        catch
        {
            await paused.DisposeAsync();
            throw;
        }
    }

    internal async Task UnpauseAsync(string setId, string id, string name, TimeSpan paused)
    {
        try
        {
            // Not the caller's token: a cancelled backup must still let go of the container.
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            if (await lookup.FindAsync(id, deadline.Token) is { Status: "paused" })
            {
                await containers.UnpauseAsync(id, deadline.Token);
            }

            await ForgetAsync(id);
            LogUnpaused(logger, setId, name, paused.TotalMilliseconds);
        }
        catch (Exception e)
        {
            // The journal row stays: the next start of the service unpauses it.
            LogUnpauseFailed(logger, setId, name, e.Message);
        }
    }

    /// <summary>Unpauses the containers a crash left paused for a backup.</summary>
    internal async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var rows = await database.ReadAsync(connection => connection.QueryAsync<PausedRow>(
            "SELECT container_id, name, set_id, since FROM paused_containers"), cancellationToken);
        foreach (var row in rows)
        {
            LogRecovering(logger, row.name, row.set_id, row.since);
            await UnpauseAsync(row.set_id, row.container_id, row.name, TimeSpan.Zero);
        }
    }

    internal TimeProvider Time => time;

    private Task<int> RecordAsync(string id, string name, string setId, CancellationToken cancellationToken) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "INSERT OR REPLACE INTO paused_containers (container_id, name, set_id, since) VALUES (@id, @name, @setId, @since)",
            new { id, name, setId, since = JournalTime.Format(time.GetUtcNow()) }, transaction), cancellationToken);

    private Task<int> ForgetAsync(string id) =>
        database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            "DELETE FROM paused_containers WHERE container_id = @id", new { id }, transaction), CancellationToken.None);

#pragma warning disable IDE1006, CA1707 // column names
    internal sealed record PausedRow(string container_id, string name, string set_id, string since);
#pragma warning restore IDE1006, CA1707

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {SetId}: paused {Container} for the copy")]
    private static partial void LogPaused(ILogger logger, string setId, string container);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {SetId}: unpaused {Container} after {PausedMs:0} ms")]
    private static partial void LogUnpaused(ILogger logger, string setId, string container, double pausedMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Backup {SetId}: unpausing {Container} failed, it stays paused until the next start of the service or `docker unpause`: {Error}")]
    private static partial void LogUnpauseFailed(ILogger logger, string setId, string container, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unpausing {Container} at start-up: backup {SetId} paused it at {Since} and did not finish")]
    private static partial void LogRecovering(ILogger logger, string container, string setId, string since);
}

/// <summary>The containers paused for one set; disposing unpauses them.</summary>
public sealed class PausedContainers(SetQuiescer quiescer, string setId) : IAsyncDisposable
{
    private readonly List<(string Id, string Name)> _paused = [];

    private readonly long _since = quiescer.Time.GetTimestamp();

    public IReadOnlyList<string> Names => _paused.Select(p => p.Name).ToList();

    internal void Add(string id, string name) => _paused.Add((id, name));

    public async ValueTask DisposeAsync()
    {
        var took = quiescer.Time.GetElapsedTime(_since);
        foreach (var (id, name) in _paused)
        {
            await quiescer.UnpauseAsync(setId, id, name, took);
        }

        _paused.Clear();
    }
}

/// <summary>At start-up, unpauses what a backup cut short by a crash left paused.</summary>
internal sealed partial class PauseRecovery(Database database, Lazy<SetQuiescer> quiescer, IHostApplicationLifetime lifetime, ILogger<PauseRecovery> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // In the background: a slow engine must not hold the start of the service.
        _ = Task.Run(RecoverAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task RecoverAsync()
    {
        try
        {
            // The journal first: with nothing paused, the Docker client is not made at start-up.
            var paused = await database.ReadAsync(connection => connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM paused_containers"), lifetime.ApplicationStopping);
            if (paused > 0)
            {
                await quiescer.Value.RecoverAsync(lifetime.ApplicationStopping);
            }
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(logger, e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "Unpausing the containers a crashed backup left paused failed; tried again at the next start")]
    private static partial void LogFailed(ILogger logger, Exception error);
}
