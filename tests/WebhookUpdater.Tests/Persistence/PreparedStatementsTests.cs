using Dapper;
using Microsoft.Data.Sqlite;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Tests.Persistence;

public sealed class PreparedStatementsTests
{
    private const string Insert = "INSERT INTO notes (n, text) VALUES (@n, @text)";

    private static async Task<SqliteConnection> OpenAsync()
    {
        var connection = new SqliteConnection("Data Source=:memory:");
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await connection.ExecuteAsync("CREATE TABLE notes (n INTEGER PRIMARY KEY, text TEXT)");
        return connection;
    }

    [Fact]
    public async Task A_statement_is_prepared_once_per_connection_and_takes_new_values_each_time()
    {
        await using var connection = await OpenAsync();
        await using (var transaction = connection.BeginTransaction())
        {
            var first = PreparedStatements.Get(connection, transaction, Insert, ("@n", 1), ("@text", "one"));
            await first.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            var second = PreparedStatements.Get(connection, transaction, Insert, ("@n", 2), ("@text", null));
            await second.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);

            Assert.Same(first, second);
            await transaction.CommitAsync(TestContext.Current.CancellationToken);
        }

        // A later transaction on the same connection uses the same command.
        await using (var transaction = connection.BeginTransaction())
        {
            await PreparedStatements.Get(connection, transaction, Insert, ("@n", 3), ("@text", "three")).ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            await transaction.CommitAsync(TestContext.Current.CancellationToken);
        }

        var rows = (await connection.QueryAsync<(long N, string? Text)>("SELECT n, text FROM notes ORDER BY n")).ToList();
        Assert.Equal([(1L, "one"), (2L, null), (3L, "three")], rows);
    }

    [Fact]
    public async Task A_statement_that_failed_runs_again_with_the_next_values()
    {
        // A failing write rolls back its savepoint and the next write reuses the same command.
        await using var connection = await OpenAsync();
        await using var transaction = connection.BeginTransaction();
        await PreparedStatements.Get(connection, transaction, Insert, ("@n", 1), ("@text", "one")).ExecuteNonQueryAsync(TestContext.Current.CancellationToken);

        transaction.Save("write");
        await Assert.ThrowsAsync<SqliteException>(() =>
            PreparedStatements.Get(connection, transaction, Insert, ("@n", 1), ("@text", "again")).ExecuteNonQueryAsync(TestContext.Current.CancellationToken));
        transaction.Rollback("write");
        await PreparedStatements.Get(connection, transaction, Insert, ("@n", 2), ("@text", "two")).ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        await transaction.CommitAsync(TestContext.Current.CancellationToken);

        var rows = (await connection.QueryAsync<(long N, string? Text)>("SELECT n, text FROM notes ORDER BY n")).ToList();
        Assert.Equal([(1L, "one"), (2L, "two")], rows);
    }

    [Fact]
    public async Task The_same_statement_with_its_parameters_in_another_order_is_refused()
    {
        // Values are bound by position: swapped names would store each value in the other column.
        await using var connection = await OpenAsync();
        await using var transaction = connection.BeginTransaction();
        PreparedStatements.Get(connection, transaction, Insert, ("@n", 1), ("@text", "one"));

        var error = Assert.Throws<InvalidOperationException>(() =>
            PreparedStatements.Get(connection, transaction, Insert, ("@text", "two"), ("@n", 2)));
        Assert.Contains("same order", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => PreparedStatements.Get(connection, transaction, Insert, ("@n", 3)));
    }

    [Fact]
    public async Task Each_connection_has_its_own_commands()
    {
        await using var one = await OpenAsync();
        await using var other = await OpenAsync();
        await using var first = one.BeginTransaction();
        await using var second = other.BeginTransaction();

        Assert.NotSame(
            PreparedStatements.Get(one, first, Insert, ("@n", 1), ("@text", "a")),
            PreparedStatements.Get(other, second, Insert, ("@n", 1), ("@text", "a")));
    }
}
