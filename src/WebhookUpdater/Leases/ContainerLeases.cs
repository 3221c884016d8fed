using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Serialization;
using Dapper;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Leases;

/// <summary>What holds a container: the operations that must never overlap on one.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationKind>))]
public enum OperationKind
{
    [JsonStringEnumMemberName("update")]
    Update,

    [JsonStringEnumMemberName("restore")]
    Restore,

    [JsonStringEnumMemberName("backup")]
    Backup,

    [JsonStringEnumMemberName("certificate_renewal")]
    CertificateRenewal,
}

/// <summary>Who holds a container's lease: the operation, its job/restore/run id, since when.</summary>
public sealed record LeaseHolder(string Container, OperationKind Kind, string OperationId, DateTimeOffset Since)
{
    /// <summary>"update job 0197… since 2026-12-03 16:04:05Z", for 409 answers, logs and notices.</summary>
    public string Describe() =>
        $"{Kind switch
        {
            OperationKind.Update => "update job",
            OperationKind.Restore => "restore",
            OperationKind.Backup => "backup",
            _ => "certificate renewal",
        }} {OperationId} since {Since.ToString("u", CultureInfo.InvariantCulture)}";
}

/// <summary>The answer to an acquire: the lease, or who kept it from being taken.</summary>
public sealed record LeaseAttempt(ContainerLease? Lease, LeaseHolder? HeldBy)
{
    public bool Acquired => Lease is not null;
}

/// <summary>A held lease on one or more containers; disposing releases it.</summary>
public sealed class ContainerLease : IAsyncDisposable
{
    private readonly ContainerLeases _owner;
    private int _released;

    internal ContainerLease(ContainerLeases owner, IReadOnlyList<string> containers, OperationKind kind, string operationId, DateTimeOffset since)
    {
        _owner = owner;
        Containers = containers;
        Kind = kind;
        OperationId = operationId;
        Since = since;
    }

    /// <summary>The lease keys (container names without a <c>.old</c> suffix).</summary>
    public IReadOnlyList<string> Containers { get; }

    public OperationKind Kind { get; }

    public string OperationId { get; }

    public DateTimeOffset Since { get; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            await _owner.ReleaseAsync(this);
        }
    }
}

/// <summary>
/// One operation per container at a time. A lease is a row in the journal, taken for all of an
/// operation's containers at once or not at all (so two operations never wait on each other in a
/// circle), and released when the operation ends. The row names its process: a lease whose
/// process is gone (a crash, a SIGKILL) is released the first time leases are used after a start.
/// A waiter is woken by a release in this process at once, and looks again every
/// <see cref="PollInterval"/> for one made by another process (the restore command).
/// </summary>
public sealed partial class ContainerLeases(Database database, TimeProvider time, ILogger<ContainerLeases> logger)
{
    private static readonly (int Id, string Start) Self = CurrentProcess();

    private readonly Lock _recoveryLock = new();
    private Task? _recovery;
    private TaskCompletionSource _released = NewSignal();

    private int _waiting;
    private int _looks;

    /// <summary>Operations waiting for a container now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>How many times a waiter has looked at the leases (tests follow a waiter by it).</summary>
    internal int Looks => Volatile.Read(ref _looks);

    /// <summary>How often a waiter looks again when no release in this process woke it (1 s).</summary>
    internal TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The key of a container: an update renames the old container to <c>name.old</c> while it
    /// makes the new one, and both are the same container for whoever else wants it.
    /// </summary>
    public static string KeyOf(string container)
    {
        var name = container.TrimStart('/');
        return name.EndsWith(".old", StringComparison.Ordinal) && name.Length > 4 ? name[..^4] : name;
    }

    /// <summary>
    /// Takes the lease on every one of <paramref name="containers"/> for the operation, waiting at
    /// most <paramref name="wait"/> (zero: one look) for its holders to finish.
    /// </summary>
    public async Task<LeaseAttempt> AcquireAsync(IEnumerable<string> containers, OperationKind kind, string operationId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var keys = containers.Select(KeyOf).Where(key => key.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (keys.Count == 0)
        {
            throw new ArgumentException("a lease needs at least one container", nameof(containers));
        }

        await RecoverAsync(cancellationToken);
        var names = string.Join(", ", keys);
        var deadline = time.GetUtcNow() + wait;
        var logged = false;
        while (true)
        {
            // Taken before the look, so a release between the look and the wait is not missed.
            var released = Volatile.Read(ref _released).Task;
            Interlocked.Increment(ref _looks);
            var since = time.GetUtcNow();
            var holder = await TryTakeAsync(keys, kind, operationId, since, cancellationToken);
            if (holder is null)
            {
                LogAcquired(logger, names, kind, operationId);
                return new LeaseAttempt(new ContainerLease(this, keys, kind, operationId, since), null);
            }

            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                LogBusy(logger, names, kind, operationId, holder.Kind, holder.OperationId, holder.Since);
                return new LeaseAttempt(null, holder);
            }

            if (!logged)
            {
                LogWaiting(logger, names, kind, operationId, holder.Kind, holder.OperationId, holder.Since);
                logged = true;
            }

            var pause = left < PollInterval ? left : PollInterval;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(pause, time, timeout.Token);
            Interlocked.Increment(ref _waiting);
            try
            {
                await Task.WhenAny(released, delay);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }

            await timeout.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Every lease held now (status, tests).</summary>
    public async Task<IReadOnlyList<LeaseHolder>> HoldersAsync(CancellationToken cancellationToken)
    {
        await RecoverAsync(cancellationToken);
        return await database.ReadAsync<IReadOnlyList<LeaseHolder>>(async connection =>
            (await connection.QueryAsync<LeaseRow>("SELECT container, kind, operation_id, since, process_id, process_start FROM leases ORDER BY container"))
                .Select(row => row.ToHolder()).ToList(),
            cancellationToken);
    }

    /// <summary>
    /// Releases the leases of processes that are gone: this process's earlier life (same id after
    /// a restart in a container, where the service is always PID 1) or any process no longer running.
    /// </summary>
    public Task RecoverAsync(CancellationToken cancellationToken)
    {
        lock (_recoveryLock)
        {
            if (_recovery is null || _recovery.IsFaulted || _recovery.IsCanceled)
            {
                _recovery = RecoverOnceAsync();
            }

            return _recovery.WaitAsync(cancellationToken);
        }
    }

    private async Task RecoverOnceAsync()
    {
        var released = await database.WriteAsync(async (connection, transaction) =>
        {
            var rows = (await connection.QueryAsync<LeaseRow>(
                "SELECT container, kind, operation_id, since, process_id, process_start FROM leases", transaction: transaction)).ToList();
            var gone = rows.Where(row => !IsAlive((int)row.process_id, row.process_start)).ToList();
            foreach (var row in gone)
            {
                await connection.ExecuteAsync(
                    "DELETE FROM leases WHERE container = @container AND operation_id = @operation_id",
                    new { row.container, row.operation_id }, transaction);
            }

            return gone;
        }, CancellationToken.None);
        foreach (var row in released)
        {
            var holder = row.ToHolder();
            LogReleasedAtStart(logger, row.container, holder.Kind, holder.OperationId, holder.Since);
        }
    }

    internal async Task ReleaseAsync(ContainerLease lease)
    {
        try
        {
            // Not the operation's token: a lease must be given back even when its operation was cancelled.
            var containers = lease.Containers;
            await database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
                "DELETE FROM leases WHERE container IN @containers AND operation_id = @OperationId",
                new { containers, lease.OperationId }, transaction), CancellationToken.None);
            LogReleased(logger, containers.Count, lease.Kind, lease.OperationId);
        }
        catch (ObjectDisposedException)
        {
            // The journal closed with the service: the row stays and is released at the next start.
        }
        finally
        {
            Interlocked.Exchange(ref _released, NewSignal()).TrySetResult();
        }
    }

    /// <summary>One look: all keys are taken in one transaction, or none; the first holder found otherwise.</summary>
    private Task<LeaseHolder?> TryTakeAsync(IReadOnlyList<string> keys, OperationKind kind, string operationId, DateTimeOffset since, CancellationToken cancellationToken) =>
        database.WriteAsync<LeaseHolder?>(async (connection, transaction) =>
        {
            var held = await connection.QueryFirstOrDefaultAsync<LeaseRow>(
                "SELECT container, kind, operation_id, since, process_id, process_start FROM leases WHERE container IN @keys ORDER BY since LIMIT 1",
                new { keys }, transaction);
            if (held is not null)
            {
                return held.ToHolder();
            }

            var at = JournalTime.Format(since);
            var kindName = Name(kind);
            foreach (var container in keys)
            {
                await connection.ExecuteAsync(
                    """
                    INSERT INTO leases (container, kind, operation_id, since, process_id, process_start)
                    VALUES (@container, @kindName, @operationId, @at, @Id, @Start)
                    """,
                    new { container, kindName, operationId, at, Self.Id, Self.Start }, transaction);
            }

            return null;
        }, cancellationToken);

    internal static string Name(OperationKind kind) => kind switch
    {
        OperationKind.Update => "update",
        OperationKind.Restore => "restore",
        OperationKind.Backup => "backup",
        _ => "certificate_renewal",
    };

    private static OperationKind Parse(string kind) => kind switch
    {
        "update" => OperationKind.Update,
        "restore" => OperationKind.Restore,
        "backup" => OperationKind.Backup,
        _ => OperationKind.CertificateRenewal,
    };

    private static (int Id, string Start) CurrentProcess()
    {
        using var process = Process.GetCurrentProcess();
        return (process.Id, StartOf(process));
    }

    private static string StartOf(Process process) =>
        process.StartTime.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Alive: this very process, or a running process with the id and start time the row names.</summary>
    private static bool IsAlive(int processId, string processStart)
    {
        if (processId == Self.Id)
        {
            // The same id with another start time is this service's earlier life (PID 1 in a container).
            return processStart == Self.Start;
        }

        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited && StartOf(process) == processStart;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Lease on {Containers} taken by {Kind} {OperationId}")]
    private static partial void LogAcquired(ILogger logger, string containers, OperationKind kind, string operationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Lease on {Count} container(s) released by {Kind} {OperationId}")]
    private static partial void LogReleased(ILogger logger, int count, OperationKind kind, string operationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Kind} {OperationId} waits for {Containers}: held by {HolderKind} {HolderId} since {HolderSince}")]
    private static partial void LogWaiting(ILogger logger, string containers, OperationKind kind, string operationId, OperationKind holderKind, string holderId, DateTimeOffset holderSince);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Kind} {OperationId} did not get {Containers}: held by {HolderKind} {HolderId} since {HolderSince}")]
    private static partial void LogBusy(ILogger logger, string containers, OperationKind kind, string operationId, OperationKind holderKind, string holderId, DateTimeOffset holderSince);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease on {Container} released at start-up: its process is gone (it was held by {HolderKind} {HolderId} since {HolderSince})")]
    private static partial void LogReleasedAtStart(ILogger logger, string container, OperationKind holderKind, string holderId, DateTimeOffset holderSince);

#pragma warning disable IDE1006, CA1707 // column names as SQLite has them
    internal sealed record LeaseRow(string container, string kind, string operation_id, string since, long process_id, string process_start)
    {
        public LeaseHolder ToHolder() => new(container, ContainerLeases.Parse(kind), operation_id, JournalTime.Parse(since));
    }
#pragma warning restore IDE1006, CA1707
}
