using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Certificates;

/// <summary>
/// Runs the renewal at each occurrence of Certificates:Schedule (default Sunday 03:30), on the
/// injected <see cref="TimeProvider"/> so tests move time instead of waiting a week. A renewal
/// missed while the service was down runs once at start-up (the journal keeps the last run). The
/// renewal (Docker client) is made at the first run, not at start-up.
/// </summary>
internal sealed partial class RenewalSchedule(
    Lazy<CertificateRenewal> renewal,
    ScheduleJournal journal,
    IOptions<CertificatesOptions> options,
    TimeProvider time,
    ILogger<RenewalSchedule> logger) : BackgroundService
{
    // Task.Delay takes at most ~49 days; a long wait is cut into steps and the next occurrence recomputed.
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);

    public const string Name = "certificates.renewal";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var cron = options.Value.ParsedSchedule();
        if (cron is null)
        {
            LogOff(logger);
            return;
        }

        var zone = options.Value.ScheduleTimeZone(time);
        try
        {
            if (await journal.StartAsync(Name, cron, zone, stoppingToken) == ScheduleStart.CatchUp)
            {
                LogCatchUp(logger);
                await RunOnceAsync(stoppingToken);
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                var next = cron.GetNextOccurrence(time.GetUtcNow(), zone);
                if (next is null)
                {
                    LogNoMoreOccurrences(logger, options.Value.Schedule ?? "");
                    return;
                }

                LogNext(logger, next.Value);
                while (time.GetUtcNow() < next.Value)
                {
                    var wait = next.Value - time.GetUtcNow();
                    await Task.Delay(wait < LongestWait ? wait : LongestWait, time, stoppingToken);
                }

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
            if (await renewal.Value.TryRunAsync(RenewalTriggers.Schedule, stoppingToken) is null)
            {
                LogSkipped(logger, renewal.Value.Running?.Trigger ?? "?");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The next week's run must still happen.
            LogFailed(logger, e);
        }

        // Settled whatever the result (a failure was notified); only a run cut off by a stop is caught up.
        await journal.SettleAsync(Name, time.GetUtcNow(), stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Certificate renewal schedule is off (Certificates:Schedule is empty)")]
    private static partial void LogOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A scheduled certificate renewal was missed while the service was down; running it now")]
    private static partial void LogCatchUp(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Next scheduled certificate renewal at {Next:o}")]
    private static partial void LogNext(ILogger logger, DateTimeOffset next);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Certificates:Schedule '{Schedule}' has no further occurrence: no more scheduled renewals")]
    private static partial void LogNoMoreOccurrences(ILogger logger, string schedule);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scheduled certificate renewal skipped: a renewal ({Trigger}) is already running")]
    private static partial void LogSkipped(ILogger logger, string trigger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduled certificate renewal failed unexpectedly")]
    private static partial void LogFailed(ILogger logger, Exception error);
}
