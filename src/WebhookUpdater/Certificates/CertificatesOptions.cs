using Cronos;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;

namespace WebhookUpdater.Certificates;

public sealed class CertificatesOptions
{
    public const string Section = "Certificates";

    /// <summary>The label that marks the stack's certbot and nginx containers (values <c>certbot</c>, <c>nginx</c>).</summary>
    public const string RoleLabel = "webhook-updater.role";

    /// <summary>Cron expression (5 fields, or 6 with seconds) for the in-process renewal; empty turns the schedule off.</summary>
    public string? Schedule { get; set; } = "30 3 * * 0";

    /// <summary>IANA time zone the schedule is read in; empty means the host's local zone.</summary>
    public string? TimeZone { get; set; }

    /// <summary>Name of the stack's certbot container; empty means the one labelled webhook-updater.role=certbot.</summary>
    public string? CertbotContainer { get; set; }

    /// <summary>Name of the nginx container to reload; empty means the one labelled webhook-updater.role=nginx.</summary>
    public string? NginxContainer { get; set; }

    /// <summary>certbot's configuration directory inside the certbot container (holds live/, archive/, renewal/).</summary>
    public string ConfigDirectory { get; set; } = "/etc/letsencrypt";

    /// <summary>
    /// What the one-off container runs, split on spaces (no quoting). Without
    /// --no-random-sleep-on-renew certbot sleeps up to minutes first when it has no terminal.
    /// </summary>
    public string RenewCommand { get; set; } = "certbot renew --non-interactive --no-random-sleep-on-renew";

    /// <summary>After this the certbot container is killed and the run fails.</summary>
    public TimeSpan CertbotTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A certificate expiring within this many days after a run sends a warning.</summary>
    public int WarnWithinDays { get; set; } = 14;

    /// <summary>How much of certbot's output (the end) goes into answers and notifications.</summary>
    public int OutputTailCharacters { get; set; } = 4000;

    public IReadOnlyList<string> RenewCommandWords() =>
        RenewCommand.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The parsed schedule, or null when it is off.</summary>
    public CronExpression? ParsedSchedule() => ScheduleSetting.Parse(Schedule);

    public TimeZoneInfo ScheduleTimeZone(TimeProvider time) => ScheduleSetting.Zone(TimeZone, time);
}

internal sealed class CertificatesOptionsValidator : IValidateOptions<CertificatesOptions>
{
    public ValidateOptionsResult Validate(string? name, CertificatesOptions options)
    {
        var failures = new List<string>();
        ScheduleSetting.Check(failures, "Certificates:Schedule", options.Schedule, "'30 3 * * 0' for Sunday 03:30");
        ScheduleSetting.CheckZone(failures, "Certificates:TimeZone", options.TimeZone);

        if (!options.ConfigDirectory.StartsWith('/'))
        {
            failures.Add($"Certificates:ConfigDirectory '{options.ConfigDirectory}' must be an absolute path inside the certbot container, e.g. /etc/letsencrypt.");
        }

        if (options.RenewCommandWords().Count == 0)
        {
            failures.Add("Certificates:RenewCommand is empty: use e.g. 'certbot renew --non-interactive --no-random-sleep-on-renew'.");
        }

        if (options.CertbotTimeout <= TimeSpan.Zero || options.CertbotTimeout > TimeSpan.FromHours(2))
        {
            failures.Add($"Certificates:CertbotTimeout is {options.CertbotTimeout}: use more than 0 and at most 02:00:00 (default 00:10:00).");
        }

        if (options.WarnWithinDays is < 0 or > 3650)
        {
            failures.Add($"Certificates:WarnWithinDays is {options.WarnWithinDays}: use 0 to 3650 (default 14).");
        }

        if (options.OutputTailCharacters is < 200 or > 100_000)
        {
            failures.Add($"Certificates:OutputTailCharacters is {options.OutputTailCharacters}: use 200 to 100000 (default 4000).");
        }

        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
