using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Tests.Support;

/// <summary>A real SQLite journal in a folder of its own, migrated; deleted at the end.</summary>
internal sealed class TempJournal : IAsyncDisposable
{
    private TempJournal(string folder, Database database)
    {
        Folder = folder;
        Database = database;
    }

    public string Folder { get; }

    public Database Database { get; private set; }

    public static async Task<TempJournal> CreateAsync()
    {
        var folder = Directory.CreateTempSubdirectory("wu-journal-").FullName;
        var database = new Database(Options.Create(new StoreOptions { DataDirectory = folder }));
        await database.MigrateAsync(CancellationToken.None);
        return new TempJournal(folder, database);
    }

    /// <summary>Closes the journal and opens the same file again, as a restarted service does.</summary>
    public async Task ReopenAsync()
    {
        await Database.DisposeAsync();
        Database = new Database(Options.Create(new StoreOptions { DataDirectory = Folder }));
        await Database.MigrateAsync(CancellationToken.None);
    }

    /// <summary>
    /// Waits (real time, a few seconds at most) until a schedule has recorded its start in the journal:
    /// a test that moves the clock before that would move it under a schedule still starting.
    /// </summary>
    public async Task WaitForScheduleAsync(string name)
    {
        for (var i = 0; i < 200; i++)
        {
            await using var connection = await Database.OpenAsync(CancellationToken.None);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM schedule_runs WHERE name = $name";
            command.Parameters.AddWithValue("$name", name);
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"schedule {name} never recorded its start");
    }

    public async ValueTask DisposeAsync()
    {
        await Database.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(Folder, recursive: true);
    }
}
