using System.Threading.Channels;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Persistence;

/// <summary>
/// The embedded journal. SQLite allows one writer at a time: every write goes to one writer
/// with one long-lived connection instead of meeting SQLITE_BUSY. The writer takes what is
/// waiting, runs each write in its own savepoint (one failing write undoes only itself) and
/// commits them together: one sync for many writes under load, a write's caller answered only
/// after the commit that holds it.
/// </summary>
public sealed class Database(IOptions<StoreOptions> options) : IDisposable, IAsyncDisposable
{
    /// <summary>At most this many writes share a commit, so no caller waits behind a huge batch.</summary>
    public const int MaxBatch = 128;

    private readonly Channel<WriteRequest> _writes = Channel.CreateUnbounded<WriteRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _startLock = new();
    private readonly CancellationTokenSource _closing = new();
    private Task? _writer;
    private Task? _checkpointer;
    private long _commits;
    private int _disposed;

    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = options.Value.DatabasePath,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
    }.ToString();

    // temp_store=MEMORY: each write of a group commit runs in its own savepoint, and SQLite keeps
    // a savepoint's undo pages in a statement journal that spills to a temporary file past 64 KiB.
    // Under load (many writes per commit) that was a file created, written page by page and
    // deleted for every batch: ~18% of the service's CPU in pwrite at 16 connections (issue 2).
    private readonly string _pragmas =
        $"PRAGMA synchronous={options.Value.Synchronous.ToUpperInvariant()}; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";

    public string Path => options.Value.DatabasePath;

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(_pragmas);
        return connection;
    }

    public Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var request = new WriteRequest<T>(work, cancellationToken);
        EnsureWriter();
        if (!_writes.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(Database), "The journal is closed: the service is stopping.");
        }

        return request.Task;
    }

    public Task WriteAsync(Func<SqliteConnection, SqliteTransaction, Task> work, CancellationToken cancellationToken) =>
        WriteAsync<bool>(async (connection, transaction) =>
        {
            await work(connection, transaction);
            return true;
        }, cancellationToken);

    private void EnsureWriter()
    {
        if (Volatile.Read(ref _writer) is not null)
        {
            return;
        }

        lock (_startLock)
        {
            _writer ??= Task.Run(WriteLoopAsync);
            _checkpointer ??= Task.Run(CheckpointLoopAsync);
        }
    }

    private async Task WriteLoopAsync()
    {
        SqliteConnection? connection = null;
        var batch = new List<WriteRequest>(MaxBatch);
        var done = new List<WriteRequest>(MaxBatch);
        try
        {
            while (await _writes.Reader.WaitToReadAsync())
            {
                batch.Clear();
                done.Clear();
                while (batch.Count < MaxBatch && _writes.Reader.TryRead(out var request))
                {
                    if (!request.Cancelled())
                    {
                        batch.Add(request);
                    }
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                try
                {
                    connection ??= await OpenWriterAsync();
                    await using var transaction = connection.BeginTransaction();
                    foreach (var request in batch)
                    {
                        transaction.Save("write");
                        try
                        {
                            await request.RunAsync(connection, transaction);
                            transaction.Release("write");
                            done.Add(request);
                        }
                        catch (Exception e)
                        {
                            // Its caller hears of it first; if SQLite already ended the whole
                            // transaction (disk full, I/O error), the rollback throws and the
                            // batch fails below, every caller with it.
                            request.Fail(e);
                            transaction.Rollback("write");
                        }
                    }

                    await transaction.CommitAsync();
                    Interlocked.Increment(ref _commits);
                }
                catch (Exception e)
                {
                    // The transaction, the commit or the connection failed: nothing of this batch
                    // is stored, and every caller of it is told (one already answered keeps its own error).
                    foreach (var request in batch)
                    {
                        request.Fail(e);
                    }

                    done.Clear();
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }
                }

                foreach (var request in done)
                {
                    request.Complete();
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    public async Task<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await work(connection);
    }

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        await using var connection = await OpenAsync(cancellationToken);
        await connection.ExecuteAsync("PRAGMA journal_mode=WAL;");
        var version = await connection.ExecuteScalarAsync<long>("PRAGMA user_version;");
        for (var step = (int)version; step < Migrations.All.Count; step++)
        {
            await using var transaction = connection.BeginTransaction();
            await connection.ExecuteAsync(Migrations.All[step], transaction: transaction);
            await connection.ExecuteAsync($"PRAGMA user_version={step + 1};", transaction: transaction);
            await transaction.CommitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The writer's connection leaves checkpoints (copying the WAL into the database file, with
    /// its syncs) to <see cref="CheckpointLoopAsync"/>: a commit then costs one WAL append and
    /// sync, never a checkpoint that happens to fall on it. Under a sustained burst the WAL only
    /// grows (a passive checkpoint never catches up with a writer that commits all the time; the
    /// webhook benchmark reached ~1 GB in 10 s); once the burst is over the WAL restarts from its
    /// beginning, and journal_size_limit then gives the disk space back.
    /// </summary>
    private async Task<SqliteConnection> OpenWriterAsync()
    {
        var connection = await OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync($"PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WalSizeLimit};");
        return connection;
    }

    /// <summary>What the WAL file is cut back to when it restarts (64 MiB).</summary>
    internal const long WalSizeLimit = 64L * 1024 * 1024;

    /// <summary>
    /// Once a second, if anything was committed, a passive checkpoint on a connection of its own:
    /// it runs beside the writer without blocking it, and keeps the WAL to about a second of writes.
    /// </summary>
    private async Task CheckpointLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var checkpointed = 0L;
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token))
            {
                var commits = Interlocked.Read(ref _commits);
                if (commits == checkpointed)
                {
                    continue;
                }

                try
                {
                    await using var connection = await OpenAsync(_closing.Token);
                    await connection.ExecuteAsync("PRAGMA wal_checkpoint(PASSIVE);");
                    checkpointed = commits;
                }
                catch (SqliteException)
                {
                    // Busy or failing: the next tick tries again; the WAL only grows meanwhile.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _writes.Writer.TryComplete();
        await _closing.CancelAsync();
        if (Volatile.Read(ref _writer) is { } writer)
        {
            await writer;
        }

        if (Volatile.Read(ref _checkpointer) is { } checkpointer)
        {
            await checkpointer;
        }

        _closing.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private abstract class WriteRequest
    {
        public abstract bool Cancelled();

        public abstract Task RunAsync(SqliteConnection connection, SqliteTransaction transaction);

        public abstract void Complete();

        public abstract void Fail(Exception error);
    }

    /// <summary>One write: its work, and its caller's answer, held until the commit.</summary>
    private sealed class WriteRequest<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken) : WriteRequest
    {
        private readonly TaskCompletionSource<T> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _answer.Task;

        /// <summary>A caller that gave up before its write began is told so, and nothing is written.</summary>
        public override bool Cancelled() => cancellationToken.IsCancellationRequested && _answer.TrySetCanceled(cancellationToken);

        public override async Task RunAsync(SqliteConnection connection, SqliteTransaction transaction) =>
            _result = await work(connection, transaction);

        public override void Complete() => _answer.TrySetResult(_result!);

        public override void Fail(Exception error) => _answer.TrySetException(error);
    }
}
