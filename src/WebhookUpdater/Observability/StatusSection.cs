namespace WebhookUpdater.Observability;

/// <summary>
/// A part of the status page a feature contributes (backups, certificates, schedules). It lives
/// here, not with the page, so a feature can contribute without depending on the page's feature.
/// </summary>
public interface IStatusSection
{
    /// <summary>Sections are shown in this order after the jobs.</summary>
    int Order { get; }

    string Title { get; }

    /// <summary>Rows of (label, value, tone); tone is "", "ok", "warn" or "bad". Values are plain text.</summary>
    Task<IReadOnlyList<StatusRow>> RowsAsync(CancellationToken cancellationToken);
}

public sealed record StatusRow(string Label, string Value, string Tone = "");
