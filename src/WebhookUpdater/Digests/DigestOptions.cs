using Cronos;
using Microsoft.Extensions.Options;

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

    public static CronExpression? Parse(string? schedule) =>
        string.IsNullOrWhiteSpace(schedule)
            ? null
            : CronExpression.Parse(schedule.Trim(), schedule.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);

    public TimeZoneInfo Zone(TimeProvider time) =>
        string.IsNullOrWhiteSpace(TimeZone) ? time.LocalTimeZone : TimeZoneInfo.FindSystemTimeZoneById(TimeZone.Trim());
}

internal sealed class DigestOptionsValidator : IValidateOptions<DigestOptions>
{
    public ValidateOptionsResult Validate(string? name, DigestOptions options)
    {
        var failures = new List<string>();
        foreach (var (setting, value, example) in new[]
        {
            ("Digests:NotifySchedule", options.NotifySchedule, "'0 8 * * *' for 08:00 every day"),
            ("Digests:OutsideTrackSchedule", options.OutsideTrackSchedule, "'0 8 * * 1' for Monday 08:00"),
        })
        {
            try
            {
                DigestOptions.Parse(value);
            }
            catch (CronFormatException e)
            {
                failures.Add($"{setting} '{value}' is not a cron expression ({e.Message}): use 5 fields, e.g. {example}, or leave it empty to turn the email off.");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.TimeZone))
        {
            try
            {
                TimeZoneInfo.FindSystemTimeZoneById(options.TimeZone.Trim());
            }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                failures.Add($"Digests:TimeZone '{options.TimeZone}' is not a known time zone: use an IANA name such as Europe/Berlin, or leave it empty for the host's zone.");
            }
        }

        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
