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
    /// <paramref name="then"/>: writes made meanwhile wait for their turn behind it.
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
        // 64 MiB written one row after the other: SQLite's own checkpoint after every 1,000 pages
        // lets the WAL start again from its beginning instead of growing by every page.
        var folder = Directory.CreateTempSubdirectory("wu-db-wal-").FullName;
        try
        {
            // Normal: the same WAL, without a sync per commit to wait for.
            await using var database = new Database(Options.Create(new StoreOptions { DataDirectory = folder, Synchronous = "Normal" }));
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
        // 200 writers at once take turns; every tenth fails after writing its row.
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
        // Callers come alone and in crowds: none may be left waiting for a turn that never comes.
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
    public async Task Closing_finishes_the_writes_already_waiting_and_refuses_later_ones()
    {
        var (first, busy) = await OccupyWriterAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction));
        var waiting = _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (2)", transaction: transaction), TestContext.Current.CancellationToken);

        var closing = _database.DisposeAsync().AsTask();
        var late = _database.WriteAsync((_, _) => Task.FromResult(0), TestContext.Current.CancellationToken);
        busy.SetResult();
        await closing.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(1, await first);
        Assert.Equal(1, await waiting);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => late);
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
    public async Task A_write_whose_transaction_was_ended_under_it_fails_and_the_next_write_goes_on()
    {
        // Ended the way SQLite ends it on a full disk or an I/O error.
        var breaking = _database.WriteAsync<int>(async (connection, transaction) =>
        {
            await connection.ExecuteAsync("INSERT INTO notes (n) VALUES (1)", transaction: transaction);
            await connection.ExecuteAsync("ROLLBACK", transaction: transaction);
            throw new InvalidOperationException("the transaction was ended under the write");
        }, TestContext.Current.CancellationToken);

        await Assert.ThrowsAsync<InvalidOperationException>(() => breaking);
        Assert.Equal(0, await CountAsync());
        await _database.WriteAsync((connection, transaction) =>
            connection.ExecuteAsync("INSERT INTO notes (n) VALUES (4)", transaction: transaction), TestContext.Current.CancellationToken);
        Assert.Equal(1, await CountAsync());
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
