using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Options;
using WebhookUpdater.Observability;

namespace WebhookUpdater.Certificates;

/// <summary>The certificates' part of the status page: the next run, the last run, each certificate's expiry.</summary>
internal sealed class CertificatesStatus(CertificateRenewal renewal, IOptions<CertificatesOptions> options, TimeProvider time) : IStatusSection
{
    public int Order => 20;

    public string Title => "Certificates";

    public Task<IReadOnlyList<StatusRow>> RowsAsync(CancellationToken cancellationToken)
    {
        var rows = new List<StatusRow>();
        var cron = options.Value.ParsedSchedule();
        var next = cron?.GetNextOccurrence(time.GetUtcNow(), options.Value.ScheduleTimeZone(time));
        rows.Add(new StatusRow("Next renewal", next is { } at ? Format(at) : "not scheduled (Certificates:Schedule is empty)"));
        if (renewal.Running is { } running)
        {
            rows.Add(new StatusRow("Running", $"since {Format(running.StartedAt)} ({running.Trigger})"));
        }

        if (renewal.LastReport is not { } last)
        {
            rows.Add(new StatusRow("Last renewal", "none since the service started"));
            return Task.FromResult<IReadOnlyList<StatusRow>>(rows);
        }

        rows.Add(new StatusRow("Last renewal", $"{Format(last.FinishedAt)}: {last.Outcome}; nginx {last.Nginx.Action}", last.ActionRequired ? "bad" : "ok"));
        foreach (var certificate in last.Certificates)
        {
            var expiry = certificate.NewExpiry ?? certificate.OldExpiry;
            rows.Add(new StatusRow(
                string.Join(", ", certificate.Domains.DefaultIfEmpty(certificate.Name)),
                $"{certificate.Status}; expires {(expiry is { } e ? Format(e) : "?")} ({certificate.DaysLeft?.ToString(CultureInfo.InvariantCulture) ?? "?"} days)",
                certificate.ExpiresSoon ? "warn" : "ok"));
        }

        return Task.FromResult<IReadOnlyList<StatusRow>>(rows);
    }

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
}

/// <summary>Days until each certificate expires, as of the last renewal run.</summary>
internal sealed class CertificateMetrics : IDisposable
{
    public const string MeterName = "WebhookUpdater.Certificates";
    private readonly Meter _meter;

    public CertificateMetrics(IMeterFactory meters, Lazy<CertificateRenewal> renewal, TimeProvider time)
    {
        _meter = meters.Create(MeterName);
        // The renewal (and the Docker client it holds) is made at the first collection, not with the meter.
        _meter.CreateObservableGauge("webhookupdater.certificate.days_left", () =>
            (renewal.Value.LastReport?.Certificates ?? [])
                .Where(c => (c.NewExpiry ?? c.OldExpiry) is not null)
                .Select(c => new Measurement<double>(
                    ((c.NewExpiry ?? c.OldExpiry)!.Value - time.GetUtcNow()).TotalDays,
                    new KeyValuePair<string, object?>("certificate", c.Name))),
            "{day}", "Days until each certificate expires, as of the last renewal run");
    }

    public void Dispose() => _meter.Dispose();
}
