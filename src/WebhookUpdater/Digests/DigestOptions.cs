using Cronos;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Digests;

public sealed class DigestOptions
{
    public const string Section = "Digests";

    /// <summary>Cron (5 fields, or 6 with seconds) of the daily "update available" email of notify-only containers; empty turns it off.</summary>
    public string? NotifySchedule { get; set; } = "0 8 * * *";

    /// <summary>Cron of the weekly email of versions outside a manual container's track; empty turns it off.</summary>
    public string? OutsideTrackSchedule { get; set; } = "0 8 * * 1";

    /// <summary>IANA time zone both schedules are read in; empty means the host's local zone.</summary>
    public string? TimeZone { get; set; }

    public static CronExpression? Parse(string? schedule) => ScheduleSetting.Parse(schedule);

    public TimeZoneInfo Zone(TimeProvider time) => ScheduleSetting.Zone(TimeZone, time);
}

internal sealed class DigestOptionsValidator : IValidateOptions<DigestOptions>
{
    public ValidateOptionsResult Validate(string? name, DigestOptions options)
    {
        var failures = new List<string>();
        ScheduleSetting.Check(failures, "Digests:NotifySchedule", options.NotifySchedule, "'0 8 * * *' for 08:00 every day");
        ScheduleSetting.Check(failures, "Digests:OutsideTrackSchedule", options.OutsideTrackSchedule, "'0 8 * * 1' for Monday 08:00");
        ScheduleSetting.CheckZone(failures, "Digests:TimeZone", options.TimeZone);
        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
