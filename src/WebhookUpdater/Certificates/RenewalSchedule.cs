using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Certificates;

/// <summary>
/// Runs the renewal at each occurrence of Certificates:Schedule (default Sunday 03:30). The
/// renewal (Docker client) is made at the first run, not at start-up.
/// </summary>
internal sealed partial class RenewalSchedule(
    Lazy<CertificateRenewal> renewal,
    ScheduleJournal journal,
    IOptions<CertificatesOptions> options,
    TimeProvider time,
    ILogger<RenewalSchedule> logger) : ScheduledService(journal, time, logger)
{
    public const string Name = "certificates.renewal";

    protected override string JournalName => Name;

    protected override string Title => "Certificate renewal";

    protected override string Setting => "Certificates:Schedule";

    protected override (Cronos.CronExpression? Schedule, TimeZoneInfo Zone) Resolve() =>
        (options.Value.ParsedSchedule(), options.Value.ScheduleTimeZone(Time));

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        if (await renewal.Value.TryRunAsync(RenewalTriggers.Schedule, cancellationToken) is null)
        {
            LogSkipped(logger, renewal.Value.Running?.Trigger ?? "?");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scheduled certificate renewal skipped: a renewal ({Trigger}) is already running")]
    private static partial void LogSkipped(ILogger logger, string trigger);
}
