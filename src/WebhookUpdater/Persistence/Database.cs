using System.Collections.Concurrent;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Persistence;

/// <summary>
/// The embedded journal. SQLite allows one writer at a time: every write goes through one
/// writer with one long-lived connection instead of meeting SQLITE_BUSY. The writer takes what
/// is waiting, runs each write in its own savepoint (one failing write undoes only itself) and
/// commits them together: one sync for many writes under load, a write's caller answered only
/// after the commit that holds it.
/// <para>
/// Who writes: when nobody is writing, the caller itself does, on its own thread, and gets its
/// answer without waiting for another thread to wake up (the usual case: one webhook at a time).
/// Writes that come meanwhile queue up; whoever commits a batch and finds more waiting hands the
/// rest to a background loop, so no caller is kept past its own commit.
/// </para>
/// </summary>
public sealed class Database(IOptions<StoreOptions> options) : IDisposable, IAsyncDisposable
{
    /// <summary>At most this many writes share a commit, so no caller waits behind a huge batch.</summary>
    public const int MaxBatch = 128;

    private readonly ConcurrentQueue<WriteRequest> _writes = new();
    private readonly Lock _startLock = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<WriteRequest> _batch = new(MaxBatch);
    private readonly List<WriteRequest> _done = new(MaxBatch);
    private SqliteConnection? _writer;
    private Task? _checkpointer;
    private long _commits;
    private int _writing;
    private int _finishCheckpoint;
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
        if (Volatile.Read(ref _disposed) == 1)
        {
            throw Closed();
        }

        var request = new WriteRequest<T>(work, cancellationToken);
        EnsureCheckpointer();
        _writes.Enqueue(request);
        if (TryBecomeWriter())
        {
            // Nobody was writing: this caller writes (its own request and whatever queued up
            // meanwhile); when the work is synchronous, as SQLite's is, the task is done on return.
            _ = WriteInlineAsync();
        }

        return request.Task;
    }

    public Task WriteAsync(Func<SqliteConnection, SqliteTransaction, Task> work, CancellationToken cancellationToken) =>
        WriteAsync<bool>(async (connection, transaction) =>
        {
            await work(connection, transaction);
            return true;
        }, cancellationToken);

    private static ObjectDisposedException Closed() =>
        new(nameof(Database), "The journal is closed: the service is stopping.");

    private bool TryBecomeWriter() => Interlocked.CompareExchange(ref _writing, 1, 0) == 0;

    private void EnsureCheckpointer()
    {
        if (Volatile.Read(ref _checkpointer) is not null)
        {
            return;
        }

        lock (_startLock)
        {
            _checkpointer ??= Task.Run(CheckpointLoopAsync);
        }
    }

    /// <summary>
    /// One batch on the caller's thread. What comes after it (more writes waiting, or a checkpoint
    /// to finish) goes to the background loop, so the caller is answered right after its commit.
    /// </summary>
    private async Task WriteInlineAsync()
    {
        var handedOn = false;
        try
        {
            await CommitBatchAsync();
            if (Volatile.Read(ref _finishCheckpoint) == 1)
            {
                handedOn = true;
                _ = Task.Run(WriteLoopAsync, CancellationToken.None);
            }
        }
        finally
        {
            if (!handedOn)
            {
                StopWriting();
            }
        }
    }

    /// <summary>Batches until nothing is waiting; between two batches, the checkpoint's last step when asked for.</summary>
    private async Task WriteLoopAsync()
    {
        try
        {
            do
            {
                if (Interlocked.Exchange(ref _finishCheckpoint, 0) == 1)
                {
                    await FinishCheckpointAsync();
                }

                await CommitBatchAsync();
            }
            while (!_writes.IsEmpty || Volatile.Read(ref _finishCheckpoint) == 1);
        }
        finally
        {
            StopWriting();
        }
    }

    /// <summary>
    /// Gives up the writer's role, or hands what is still waiting to the background loop. A write
    /// queued by a caller who found the role taken is never left behind: the role is released
    /// (a full fence) before the queue is looked at, and that caller queued before it looked.
    /// </summary>
    private void StopWriting()
    {
        Interlocked.Exchange(ref _writing, 0);
        if (!_writes.IsEmpty || Volatile.Read(ref _finishCheckpoint) == 1)
        {
            if (TryBecomeWriter())
            {
                _ = Task.Run(WriteLoopAsync);
            }

            return; // else whoever took the role takes the waiting writes too
        }

        if (Volatile.Read(ref _disposed) == 1)
        {
            _idle.TrySetResult();
        }
    }

    private async Task CommitBatchAsync()
    {
        var batch = _batch;
        var done = _done;
        batch.Clear();
        done.Clear();
        while (batch.Count < MaxBatch && _writes.TryDequeue(out var request))
        {
            if (!request.Cancelled())
            {
                batch.Add(request);
            }
        }

        if (batch.Count == 0)
        {
            return;
        }

        if (_idle.Task.IsCompleted)
        {
            // Queued while the journal closed: not made.
            foreach (var request in batch)
            {
                request.Fail(Closed());
            }

            return;
        }

        try
        {
            var connection = _writer ??= await OpenWriterAsync();
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
            if (_writer is { } broken)
            {
                _writer = null;
                try
                {
                    await broken.DisposeAsync();
                }
                catch (SqliteException)
                {
                    // Already broken; the next batch opens a new connection.
                }
            }
        }

        foreach (var request in done)
        {
            request.Complete();
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
    /// sync, never a whole checkpoint that happens to fall on it (measured: automatic checkpoints
    /// every 1,000 or 4,000 pages on the writer made the webhook's p99 two to three times worse).
    /// journal_size_limit gives disk space back when the WAL restarts after it grew past 64 MiB
    /// (a reader holding an old snapshot can keep a checkpoint from completing for that long).
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
    /// Every <see cref="CheckpointInterval"/>, if anything was committed, a passive checkpoint on a
    /// connection of its own: it copies the WAL into the database file beside the writer, without
    /// blocking it. Under steady writes it can never finish (the writer appends while it copies),
    /// so the WAL would only grow: ~1 GB in 10 s of the webhook benchmark, every append into new
    /// file space, which the kernel zeroes first (a fifth of the service's CPU one webhook at a
    /// time). So once the WAL is past <see cref="WalRestartBytes"/>, the writer is asked to finish
    /// the checkpoint between two batches: it copies only what was committed during the passive
    /// one, nothing else writes meanwhile, the checkpoint completes and the next commit starts the
    /// WAL again from its beginning, in file space already written.
    /// </summary>
    private async Task CheckpointLoopAsync()
    {
        using var timer = new PeriodicTimer(CheckpointInterval);
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
                    continue;
                }

                if (WalBytes() > WalRestartBytes)
                {
                    Volatile.Write(ref _finishCheckpoint, 1);
                    if (TryBecomeWriter())
                    {
                        // Nobody is writing: finish it now, as the writer would.
                        _ = Task.Run(WriteLoopAsync, CancellationToken.None);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>How often the checkpointer looks (250 ms).</summary>
    internal TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A WAL past this size (16 MiB) is restarted by the writer finishing the checkpoint.</summary>
    internal long WalRestartBytes { get; init; } = 16L * 1024 * 1024;

    private long WalBytes()
    {
        var wal = new FileInfo(Path + "-wal");
        return wal.Exists ? wal.Length : 0;
    }

    /// <summary>The checkpoint's last step, on the writer's connection with no write open: it completes unless a reader still reads an old snapshot.</summary>
    private async Task FinishCheckpointAsync()
    {
        if (_idle.Task.IsCompleted)
        {
            return;
        }

        try
        {
            var connection = _writer ??= await OpenWriterAsync();
            await connection.ExecuteAsync("PRAGMA wal_checkpoint(PASSIVE);");
        }
        catch (SqliteException)
        {
            // Busy or failing: the checkpointer asks again.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _closing.CancelAsync();

        // Writes already queued are made; then the writer's connection closes.
        if (TryBecomeWriter())
        {
            StopWriting();
        }

        await _idle.Task;
        if (_writer is { } writer)
        {
            _writer = null;
            await writer.DisposeAsync();
        }

        while (_writes.TryDequeue(out var late))
        {
            late.Fail(Closed());
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
