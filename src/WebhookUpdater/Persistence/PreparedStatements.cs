using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace WebhookUpdater.Persistence;

/// <summary>
/// Statements of the webhook's path kept prepared on the connection that runs them (the journal's
/// writer): SQLite parses and plans each once per connection instead of once per event, and the
/// parameters, named with their '@', are bound by index. Through Dapper every event prepared its
/// four statements anew and Microsoft.Data.Sqlite looked each unprefixed parameter name up four
/// times (as written, then with '@', '$' and ':'), converting it to UTF-8 every time (issue 2).
/// </summary>
internal static class PreparedStatements
{
    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> Cache = [];

    /// <summary>The command for <paramref name="sql"/> on this connection, in this transaction, its parameters set in order.</summary>
    public static SqliteCommand Get(SqliteConnection connection, SqliteTransaction transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var commands = Cache.GetValue(connection, _ => new Dictionary<string, SqliteCommand>(StringComparer.Ordinal));
        if (!commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, _) in parameters)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            commands[sql] = command;
        }

        command.Transaction = transaction;
        if (command.Parameters.Count != parameters.Length)
        {
            throw new InvalidOperationException($"The statement was prepared with {command.Parameters.Count} parameters, this call gives {parameters.Length}.");
        }

        for (var i = 0; i < parameters.Length; i++)
        {
            // Bound by position: a second call site with the same SQL must list them alike.
            var parameter = command.Parameters[i];
            if (!string.Equals(parameter.ParameterName, parameters[i].Name, StringComparison.Ordinal))
            {
                throw new InvalidOperationException(
                    $"Parameter {i} of the prepared statement is {parameter.ParameterName}, this call gives {parameters[i].Name}: list them in the same order.");
            }

            parameter.Value = parameters[i].Value ?? DBNull.Value;
        }

        return command;
    }
}
