using Microsoft.Extensions.Options;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Digests;

/// <summary>Sends one digest at each occurrence of its schedule; a run missed while the service was down is caught up once.</summary>
internal abstract class DigestSchedule(
    DigestSender sender,
    ScheduleJournal journal,
    IOptions<DigestOptions> options,
    TimeProvider time,
    ILogger logger) : ScheduledService(journal, time, logger)
{
    protected abstract DigestDefinition Digest { get; }

    protected abstract string? Schedule(DigestOptions options);

    protected override string JournalName => $"digests.{Digest.Name}";

    protected override (Cronos.CronExpression? Schedule, TimeZoneInfo Zone) Resolve() =>
        (DigestOptions.Parse(Schedule(options.Value)), options.Value.Zone(Time));

    protected override Task RunAsync(CancellationToken cancellationToken) => sender.SendAsync(Digest, cancellationToken);
}

internal sealed class NotifyDigestSchedule(
    DigestSender sender, ScheduleJournal journal, IOptions<DigestOptions> options, TimeProvider time, ILogger<NotifyDigestSchedule> logger)
    : DigestSchedule(sender, journal, options, time, logger)
{
    protected override DigestDefinition Digest => DigestDefinition.Notify;

    protected override string Title => "Daily update-available email";

    protected override string Setting => "Digests:NotifySchedule";

    protected override string? Schedule(DigestOptions options) => options.NotifySchedule;
}

internal sealed class OutsideTrackDigestSchedule(
    DigestSender sender, ScheduleJournal journal, IOptions<DigestOptions> options, TimeProvider time, ILogger<OutsideTrackDigestSchedule> logger)
    : DigestSchedule(sender, journal, options, time, logger)
{
    protected override DigestDefinition Digest => DigestDefinition.OutsideTrack;

    protected override string Title => "Weekly outside-track email";

    protected override string Setting => "Digests:OutsideTrackSchedule";

    protected override string? Schedule(DigestOptions options) => options.OutsideTrackSchedule;
}
