using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Persistence;

/// <summary>
/// The embedded journal. SQLite allows one writer at a time: writes go through one lock here
/// instead of meeting SQLITE_BUSY, and each runs in its own transaction.
/// </summary>
public sealed class Database(IOptions<StoreOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
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

    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var transaction = connection.BeginTransaction();
            var result = await work(connection, transaction);
            await transaction.CommitAsync(cancellationToken);
            return result;
        }
        finally
        {
            _writeLock.Release();
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

    public void Dispose() => _writeLock.Dispose();
}
