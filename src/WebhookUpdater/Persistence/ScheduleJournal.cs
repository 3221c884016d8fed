using Cronos;
using Dapper;

namespace WebhookUpdater.Persistence;

/// <summary>What a schedule should do when it starts.</summary>
public enum ScheduleStart
{
    /// <summary>Nothing was missed: wait for the next occurrence.</summary>
    Wait,

    /// <summary>An occurrence passed while the service was down (or a run was cut off): run once now.</summary>
    CatchUp,
}

/// <summary>
/// When each schedule last settled its runs, in the journal: every occurrence at or before that
/// time has run (or came before the schedule was first started). A schedule that starts and finds
/// an occurrence between that time and now missed it, and runs once to catch up.
/// </summary>
public sealed partial class ScheduleJournal(Database database, TimeProvider time, ILogger<ScheduleJournal> logger)
{
    /// <summary>
    /// Decides at start-up. The first start of a schedule only records the present: there is no
    /// history to catch up on.
    /// </summary>
    public async Task<ScheduleStart> StartAsync(string name, CronExpression schedule, TimeZoneInfo zone, CancellationToken cancellationToken)
    {
        try
        {
            return await DecideAsync(name, schedule, zone, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A journal that cannot be read must not stop the schedule: it runs at its next time.
            LogUnreadable(logger, name, e.Message);
            return ScheduleStart.Wait;
        }
    }

    private async Task<ScheduleStart> DecideAsync(string name, CronExpression schedule, TimeZoneInfo zone, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var settled = await database.ReadAsync(
            connection => connection.ExecuteScalarAsync<string?>("SELECT settled_at FROM schedule_runs WHERE name = @name", new { name }),
            cancellationToken);
        if (settled is null)
        {
            await SettleAsync(name, now, cancellationToken);
            return ScheduleStart.Wait;
        }

        var missed = schedule.GetNextOccurrence(JournalTime.Parse(settled), zone);
        return missed is { } at && at <= now ? ScheduleStart.CatchUp : ScheduleStart.Wait;
    }

    /// <summary>Records that every occurrence up to <paramref name="at"/> has run; called after a run ends, whatever its result.</summary>
    public async Task SettleAsync(string name, DateTimeOffset at, CancellationToken cancellationToken)
    {
        try
        {
            await database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
                """
                INSERT INTO schedule_runs (name, settled_at) VALUES (@name, @at)
                ON CONFLICT(name) DO UPDATE SET settled_at = excluded.settled_at WHERE excluded.settled_at > schedule_runs.settled_at
                """,
                new { name, at = JournalTime.Format(at) }, transaction), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // At worst the run is repeated once at the next start.
            LogUnwritable(logger, name, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {Name}: its last run could not be read from the journal, no catch-up: {Error}")]
    private static partial void LogUnreadable(ILogger logger, string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {Name}: its run could not be recorded in the journal (it may run once more at the next start): {Error}")]
    private static partial void LogUnwritable(ILogger logger, string name, string error);
}
