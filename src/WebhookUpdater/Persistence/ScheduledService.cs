using Cronos;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Persistence;

/// <summary>
/// Runs a piece of work at the occurrences of a cron schedule, waiting on the service's
/// <see cref="TimeProvider"/> so tests move time instead of sleeping. An occurrence missed while
/// the service was down runs once at start-up: the journal keeps when the schedule last ran. A
/// run is settled whatever its result (a failure was notified), so only a run cut off by a stop
/// is caught up, and one failed run never ends the schedule.
/// </summary>
public abstract partial class ScheduledService(ScheduleJournal journal, TimeProvider time, ILogger logger) : BackgroundService
{
    protected TimeProvider Time => time;

    /// <summary>The schedule's key in the journal.</summary>
    protected abstract string JournalName { get; }

    /// <summary>What the log lines call it, e.g. "Daily backup".</summary>
    protected abstract string Title { get; }

    /// <summary>The setting that holds the schedule, named when it is off or has no more occurrence.</summary>
    protected abstract string Setting { get; }

    /// <summary>The schedule (null: off) and its time zone.</summary>
    protected abstract (CronExpression? Schedule, TimeZoneInfo Zone) Resolve();

    /// <summary>One run; an exception is logged and the schedule goes on.</summary>
    protected abstract Task RunAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var (schedule, zone) = Resolve();
        if (schedule is null)
        {
            LogOff(logger, Title, Setting);
            return;
        }

        try
        {
            if (await journal.StartAsync(JournalName, schedule, zone, stoppingToken) == ScheduleStart.CatchUp)
            {
                LogCatchUp(logger, Title);
                await RunOnceAsync(stoppingToken);
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                var next = schedule.GetNextOccurrence(time.GetUtcNow(), zone);
                if (next is null)
                {
                    LogNoMoreOccurrences(logger, Title, Setting);
                    return;
                }

                LogNext(logger, Title, next.Value);
                await ScheduleClock.WaitUntilAsync(next.Value, time, stoppingToken);
                await RunOnceAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunOnceAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRunFailed(logger, Title, e.Message);
        }

        await journal.SettleAsync(JournalName, time.GetUtcNow(), stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Title}: {Setting} is empty, no schedule")]
    private static partial void LogOff(ILogger logger, string title, string setting);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Title}: a run was missed while the service was down; running it now")]
    private static partial void LogCatchUp(ILogger logger, string title);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Title}: next run at {Next:o}")]
    private static partial void LogNext(ILogger logger, string title, DateTimeOffset next);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Title}: {Setting} has no further occurrence, no more runs")]
    private static partial void LogNoMoreOccurrences(ILogger logger, string title, string setting);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Title}: the run failed: {Error}")]
    private static partial void LogRunFailed(ILogger logger, string title, string error);
}
