using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Persistence;

/// <summary>
/// The embedded journal (SQLite in WAL mode). SQLite allows one writer at a time, so every write
/// takes its turn on one writer connection, each in its own transaction, committed before its
/// caller is answered. Reads open their own connections and never wait for the writer.
/// </summary>
public sealed class Database(IOptions<StoreOptions> options) : IDisposable, IAsyncDisposable
{
    /// <summary>What the WAL file is cut back to after a checkpoint (64 MiB), so a burst does not keep its disk space.</summary>
    internal const long WalSizeLimit = 64L * 1024 * 1024;

    private readonly SemaphoreSlim _turn = new(1, 1);
    private SqliteConnection? _writer;
    private bool _closed;

    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = options.Value.DatabasePath,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
    }.ToString();

    private readonly string _pragmas =
        $"PRAGMA synchronous={options.Value.Synchronous.ToUpperInvariant()}; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;";

    public string Path => options.Value.DatabasePath;

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(_pragmas);
        return connection;
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction on the writer connection and commits it.
    /// The token is honoured only while waiting for the turn: a write that began is finished, so
    /// a caller that goes away never leaves half of it.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(Database), "The journal is closed: the service is stopping.");
            }

            var connection = _writer ??= await OpenWriterAsync();
            var transaction = connection.BeginTransaction();
            try
            {
                var result = await work(connection, transaction);
                transaction.Commit();
                return result;
            }
            catch
            {
                Abandon(transaction);
                throw;
            }
        }
        finally
        {
            _turn.Release();
        }
    }

    public Task WriteAsync(Func<SqliteConnection, SqliteTransaction, Task> work, CancellationToken cancellationToken) =>
        WriteAsync<bool>(async (connection, transaction) =>
        {
            await work(connection, transaction);
            return true;
        }, cancellationToken);

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

    /// <summary>SQLite's own automatic checkpoint (every 1,000 pages) keeps the WAL bounded; the size limit returns the space.</summary>
    private async Task<SqliteConnection> OpenWriterAsync()
    {
        var connection = await OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync($"PRAGMA wal_autocheckpoint=1000; PRAGMA journal_size_limit={WalSizeLimit};");
        return connection;
    }

    /// <summary>Rolls back; when even that fails the connection is broken, and the next write opens a new one.</summary>
    private void Abandon(SqliteTransaction transaction)
    {
        try
        {
            transaction.Dispose();
        }
        catch (SqliteException)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The write under way is finished first; later ones are refused.
        await _turn.WaitAsync();
        try
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            if (_writer is { } writer)
            {
                _writer = null;
                await writer.DisposeAsync();
            }
        }
        finally
        {
            _turn.Release();
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
