using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Options;
using WebhookUpdater.Observability;

namespace WebhookUpdater.Backups;

/// <summary>The backups' part of the status page: the next daily run and the latest sets.</summary>
internal sealed class BackupsStatus(BackupCatalog catalog, IOptions<BackupOptions> options, TimeProvider time) : IStatusSection
{
    public int Order => 10;

    public string Title => "Backups";

    public async Task<IReadOnlyList<StatusRow>> RowsAsync(CancellationToken cancellationToken)
    {
        var rows = new List<StatusRow>();
        var next = options.Value.ResolveSchedule()?.GetNextOccurrence(time.GetUtcNow(), options.Value.ResolveTimeZone());
        rows.Add(new StatusRow("Next daily backup", next is { } at ? Format(at) : "not scheduled (Backups:Schedule is empty)"));
        // The newest six only: their manifests come from the catalog's cache after the first refresh.
        var sets = (await catalog.PageAsync(6, null, cancellationToken)).Sets;
        foreach (var set in sets.OrderByDescending(s => s.CreatedAt))
        {
            rows.Add(new StatusRow(
                $"{Format(set.CreatedAt)} {set.Kind ?? "?"}",
                $"{set.Container ?? "all"}: {set.State}, {Size(set.Size)}",
                set.State == "complete" ? "ok" : "warn"));
        }

        if (sets.Count == 0)
        {
            rows.Add(new StatusRow("Sets", "none yet", "warn"));
        }

        return rows;
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):0.0} KiB",
        _ => $"{bytes} B",
    };

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
}

/// <summary>Bytes and time of each backup set, by kind and result.</summary>
public sealed class BackupMetrics : IDisposable
{
    public const string MeterName = "WebhookUpdater.Backups";

    private readonly Meter _meter;
    private readonly Counter<long> _bytes;
    private readonly Histogram<double> _duration;

    public BackupMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _bytes = _meter.CreateCounter<long>("webhookupdater.backup.bytes", "By", "Bytes stored in complete backup sets");
        _duration = _meter.CreateHistogram<double>("webhookupdater.backup.duration", "s", "Time to take one backup set");
    }

    public void SetEnded(string kind, bool complete, long bytes, TimeSpan duration)
    {
        var tags = new TagList { { "kind", kind }, { "result", complete ? "complete" : "failed" } };
        if (complete)
        {
            _bytes.Add(bytes, tags);
        }

        _duration.Record(duration.TotalSeconds, tags);
    }

    public void Dispose() => _meter.Dispose();
}
