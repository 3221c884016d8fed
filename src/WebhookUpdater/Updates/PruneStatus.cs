using System.Globalization;
using Microsoft.Extensions.Options;
using WebhookUpdater.Observability;

namespace WebhookUpdater.Updates;

/// <summary>The status page's "Previous images" section: the policy, and what the latest prunes removed.</summary>
internal sealed class PruneStatus(JobStore store, IOptions<UpdateOptions> options) : IStatusSection
{
    public int Order => 5;

    public string Title => "Previous images";

    public async Task<IReadOnlyList<StatusRow>> RowsAsync(CancellationToken cancellationToken)
    {
        List<StatusRow> rows = [new("kept per repository", $"{options.Value.KeepImages} (Updates:KeepImages), and each container's rollback image")];
        foreach (var prune in await store.LatestStepsAsync("prune", 5, cancellationToken))
        {
            var at = (prune.EndedAt ?? prune.StartedAt).UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
            rows.Add(new StatusRow($"{prune.Container}, {at}", prune.Detail ?? "", prune.State == StepState.Failed ? "warn" : ""));
        }

        return rows;
    }
}
