using Dapper;
using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Tests.Persistence;

public sealed class DatabaseTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("wu-db-").FullName;
    private readonly Database _database;

    public DatabaseTests()
    {
        _database = new Database(Options.Create(new StoreOptions { DataDirectory = _folder }));
    }

    public async ValueTask InitializeAsync()
    {
        await _database.MigrateAsync(TestContext.Current.CancellationToken);
        await _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("CREATE TABLE notes (n INTEGER PRIMARY KEY)", transaction: transaction), TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _database.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>
    /// Keeps the writer busy with a write that waits for <c>Release</c> and then does
    /// <paramref name="then"/>: writes made meanwhile queue behind it and share the next commit.
    /// </summary>
    private async Task<(Task<int> Write, TaskCompletionSource Release)> OccupyWriterAsync(
        Func<Microsoft.Data.Sqlite.SqliteConnection, Microsoft.Data.Sqlite.SqliteTransaction, Task<int>> then)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var write = _database.WriteAsync(async (connection, transaction) =>
        {
            started.SetResult();
            await release.Task;
            return await then(connection, transaction);
        }, TestContext.Current.CancellationToken);
        await started.Task;
        return (write, release);
    }

    private Task<long> CountAsync() =>
        _database.ReadAsync(connection => connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM notes"), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Savepoint_journals_stay_in_memory_on_the_writer_and_reader_connections()
    {
        // 2 = MEMORY: a group commit's savepoints never spill to a temporary file (issue 2).
        var writer = await _database.WriteAsync((connection, transaction) =>
            connection.ExecuteScalarAsync<long>("PRAGMA temp_store", transaction: transaction), TestContext.Current.CancellationToken);
        var reader = await _database.ReadAsync(connection => connection.ExecuteScalarAsync<long>("PRAGMA temp_store"), TestContext.Current.CancellationToken);

        Assert.Equal(2, writer);
        Assert.Equal(2, reader);
    }

    [Fact]
    public async Task A_wal_grown_by_a_burst_is_cut_back_once_the_burst_is_over()
    {
        // A reader holding a snapshot keeps every checkpoint from finishing, as a writer that
        // never pauses does under a burst: the WAL grows past the limit.
        var payload = new string('x', 64 * 1024);
        await using (var reader = await _database.OpenAsync(TestContext.Current.CancellationToken))
        await using (var snapshot = reader.BeginTransaction(deferred: true))
        {
            await reader.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM notes", transaction: snapshot);
            await _database.WriteAsync((connection, transaction) =>
                connection.ExecuteAsync("CREATE TABLE blobs (b TEXT)", transaction: transaction), TestContext.Current.CancellationToken);
            for (var i = 0; i < 1200; i++)
            {
                await _database.WriteAsync((connection, transaction) =>
                    connection.ExecuteAsync("INSERT INTO blobs (b) VALUES (@payload)", new { payload }, transaction), TestContext.Current.CancellationToken);
            }
        }

        var wal = new FileInfo(_database.Path + "-wal");
        Assert.True(wal.Length > Database.WalSizeLimit, $"the WAL should have grown past the limit, is {wal.Length} bytes");

        // The burst is over: a checkpoint completes, the next write restarts the WAL and cuts the file back.
        await _database.ReadAsync(connection => connection.ExecuteAsync("PRAGMA wal_checkpoint(PASSIVE)"), TestContext.Current.CancellationToken);
        await _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction), TestContext.Current.CancellationToken);
        wal.Refresh();
        Assert.InRange(wal.Length, 0, Database.WalSizeLimit);
    }

    [Fact]
    public async Task Under_steady_writes_the_wal_restarts_instead_of_growing()
    {
        // New rows one after the other, never a pause: a passive checkpoint beside them never
        // completes (each copies what the last ones added while more comes), so without the
        // writer finishing it the WAL grows by every page written (64 MiB here).
        var folder = Directory.CreateTempSubdirectory("wu-db-wal-").FullName;
        try
        {
            await using var database = new Database(Options.Create(new StoreOptions { DataDirectory = folder }))
            {
                WalRestartBytes = 1024 * 1024,
                CheckpointInterval = TimeSpan.FromMilliseconds(50),
            };
            await database.MigrateAsync(TestContext.Current.CancellationToken);
            await database.WriteAsync((connection, transaction) =>
                connection.ExecuteAsync("CREATE TABLE blobs (b TEXT)", transaction: transaction), TestContext.Current.CancellationToken);
            var payload = new string('x', 16 * 1024);
            for (var written = 0L; written < 64L * 1024 * 1024; written += payload.Length)
            {
                await database.WriteAsync((connection, transaction) =>
                    connection.ExecuteAsync("INSERT INTO blobs (b) VALUES (@payload)", new { payload }, transaction), TestContext.Current.CancellationToken);
            }

            var wal = new FileInfo(database.Path + "-wal");
            Assert.InRange(wal.Length, 0, 16L * 1024 * 1024);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Concurrent_writes_are_all_stored_and_a_failing_one_undoes_only_itself()
    {
        // 200 writers at once share commits; every tenth fails after writing its row.
        var writes = Enumerable.Range(1, 200).Select(n => _database.WriteAsync(async (connection, transaction) =>
        {
            await connection.ExecuteAsync("INSERT INTO notes (n) VALUES (@n)", new { n }, transaction);
            if (n % 10 == 0)
            {
                throw new InvalidOperationException($"write {n} fails");
            }

            return n;
        }, TestContext.Current.CancellationToken)).ToList();

        var outcomes = await Task.WhenAll(writes.Select(async write =>
        {
            try
            {
                return await write;
            }
            catch (InvalidOperationException)
            {
                return -1;
            }
        }));

        Assert.Equal(20, outcomes.Count(n => n == -1));
        Assert.Equal(180, await CountAsync());
        var stored = await _database.ReadAsync(async connection => (await connection.QueryAsync<long>("SELECT n FROM notes")).ToHashSet(), TestContext.Current.CancellationToken);
        Assert.DoesNotContain(stored, n => n % 10 == 0);
    }

    [Fact]
    public async Task Writes_from_many_threads_in_waves_are_all_answered_and_stored()
    {
        // Callers come alone (written on their own thread) and in crowds (queued behind a writer,
        // handed to the background loop): no write may be left in the queue unanswered.
        var next = 0;
        for (var wave = 0; wave < 40; wave++)
        {
            var size = wave % 4 == 0 ? 1 : Random.Shared.Next(2, 60);
            var writes = Enumerable.Range(0, size).Select(_ => Task.Run(async () =>
            {
                if (Random.Shared.Next(3) == 0)
                {
                    await Task.Yield();
                }

                var n = Interlocked.Increment(ref next);
                return await _database.WriteAsync((connection, transaction) =>
                    connection.ExecuteAsync("INSERT INTO notes (n) VALUES (@n)", new { n }, transaction), TestContext.Current.CancellationToken);
            }, TestContext.Current.CancellationToken)).ToArray();

            await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }

        Assert.Equal(next, await CountAsync());
    }

    [Fact]
    public async Task A_write_alone_is_answered_at_once_when_its_work_is_synchronous()
    {
        // Nobody else writing: the caller writes itself and has its answer when WriteAsync returns,
        // without waiting for another thread (the one-webhook-at-a-time case of issue 2).
        var write = _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction), TestContext.Current.CancellationToken);

        Assert.True(write.IsCompletedSuccessfully);
        Assert.Equal(1, await write);
    }

    [Fact]
    public async Task Closing_makes_the_queued_writes_and_refuses_new_ones()
    {
        var (first, busy) = await OccupyWriterAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction));
        var queued = _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (2)", transaction: transaction), TestContext.Current.CancellationToken);

        var closing = _database.DisposeAsync().AsTask();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => _database.WriteAsync((_, _) => Task.FromResult(0), TestContext.Current.CancellationToken));
        busy.SetResult();
        await closing.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(1, await first);
        Assert.Equal(1, await queued);
        await using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_database.Path};Pooling=False");
        await other.OpenAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2L, await other.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM notes"));
    }

    [Fact]
    public async Task A_write_whose_caller_gave_up_while_it_waited_is_not_made()
    {
        // The writer is busy with a first write; a second caller gives up while queued behind it.
        var (first, busy) = await OccupyWriterAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction));
        using var giveUp = new CancellationTokenSource();
        var second = _database.WriteAsync(
            (connection, transaction) => connection.ExecuteAsync("INSERT INTO notes (n) VALUES (2)", transaction: transaction), giveUp.Token);

        await giveUp.CancelAsync();
        busy.SetResult();

        await first;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
        Assert.Equal(1, await CountAsync());
    }

    [Fact]
    public async Task When_the_transaction_itself_fails_every_write_of_it_fails_and_none_is_stored()
    {
        var (first, busy) = await OccupyWriterAsync((_, _) => Task.FromResult(0));

        // Queued behind the first, so they share the next transaction; the middle one ends it the
        // way SQLite does on a full disk or an I/O error.
        var before = _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction), TestContext.Current.CancellationToken);
        var breaking = _database.WriteAsync<int>(async (connection, transaction) =>
        {
            await connection.ExecuteAsync("ROLLBACK", transaction: transaction);
            throw new InvalidOperationException("the transaction was ended under the write");
        }, TestContext.Current.CancellationToken);
        var after = _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (3)", transaction: transaction), TestContext.Current.CancellationToken);
        busy.SetResult();
        await first;

        foreach (var write in new Task[] { before, breaking, after })
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => write.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
            Assert.IsNotType<TimeoutException>(error); // answered, not left waiting
        }

        Assert.Equal(0, await CountAsync());
        await _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (4)", transaction: transaction), TestContext.Current.CancellationToken);
        Assert.Equal(1, await CountAsync()); // the writer goes on with a new connection
    }

    [Fact]
    public async Task A_write_is_answered_only_once_it_is_committed()
    {
        await _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (7)", transaction: transaction), TestContext.Current.CancellationToken);

        // Another connection sees it at once: the commit came before the answer.
        await using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_database.Path};Pooling=False");
        await other.OpenAsync(TestContext.Current.CancellationToken);
        Assert.Equal(1L, await other.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM notes WHERE n = 7"));
    }
}
