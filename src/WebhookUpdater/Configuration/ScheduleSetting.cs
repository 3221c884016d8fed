using Cronos;

namespace WebhookUpdater.Configuration;

/// <summary>A schedule setting (cron, 5 fields or 6 with seconds; empty is off) and its time zone setting, read and checked alike everywhere.</summary>
public static class ScheduleSetting
{
    public static CronExpression? Parse(string? schedule) =>
        string.IsNullOrWhiteSpace(schedule)
            ? null
            : CronExpression.Parse(schedule.Trim(), schedule.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);

    /// <summary>The IANA zone named, or the host's local zone (as the service clock knows it) when empty.</summary>
    public static TimeZoneInfo Zone(string? timeZone, TimeProvider time) =>
        string.IsNullOrWhiteSpace(timeZone) ? time.LocalTimeZone : TimeZoneInfo.FindSystemTimeZoneById(timeZone.Trim());

    /// <summary>Adds a message naming <paramref name="setting"/> when the value is not a cron expression.</summary>
    public static void Check(List<string> failures, string setting, string? schedule, string example)
    {
        try
        {
            Parse(schedule);
        }
        catch (CronFormatException e)
        {
            failures.Add($"{setting} '{schedule}' is not a cron expression ({e.Message}): use 5 fields, e.g. {example}, or leave it empty to turn the schedule off.");
        }
    }

    /// <summary>Adds a message naming <paramref name="setting"/> when the zone is not known here.</summary>
    public static void CheckZone(List<string> failures, string setting, string? timeZone)
    {
        if (string.IsNullOrWhiteSpace(timeZone))
        {
            return;
        }

        try
        {
            TimeZoneInfo.FindSystemTimeZoneById(timeZone.Trim());
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            failures.Add($"{setting} '{timeZone}' is not a known time zone: use an IANA name such as Europe/Berlin, or leave it empty for the host's zone.");
        }
    }
}
