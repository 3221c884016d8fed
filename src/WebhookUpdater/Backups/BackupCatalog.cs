using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Backups;

public static class BackupStates
{
    public const string Complete = "complete";
    public const string Incomplete = "incomplete";
}

/// <summary>A set as GET /api/backups shows it.</summary>
/// <param name="State">complete (its manifest exists) or incomplete (an upload failed, or is running now).</param>
/// <param name="Size">Bytes stored under the set.</param>
public sealed record BackupSetView(
    string Id,
    string State,
    string? Kind,
    string? Container,
    string? JobId,
    long Size,
    DateTimeOffset CreatedAt,
    int? Objects,
    IReadOnlyList<BackupObject>? Contents)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public BackupManifest? Manifest { get; init; }
}

/// <summary>One page of sets, newest first; <see cref="Next"/> is the cursor (a set id) of the next page, or null after the last.</summary>
public sealed record BackupPage(IReadOnlyList<BackupSetView> Sets, string? Next);

/// <summary>
/// The sets in the store, with what their manifests say. A manifest never changes once written
/// (set ids are unique, and a set is deleted manifest first), so each is read from the store once
/// and kept: a listing costs one LIST of the store plus a GET for each set completed since the
/// last one, not one GET per set. Sets gone from the store are dropped from the cache.
/// </summary>
public sealed class BackupCatalog(IBackupStore store)
{
    private readonly ConcurrentDictionary<string, BackupManifest> _manifests = new(StringComparer.Ordinal);

    /// <summary>Every set, newest first.</summary>
    public async Task<IReadOnlyList<BackupSetView>> ListAsync(CancellationToken cancellationToken) =>
        await ViewsAsync(await ListedAsync(cancellationToken), cancellationToken);

    /// <summary>Up to <paramref name="limit"/> sets older than the set <paramref name="before"/> (an id; null starts at the newest), newest first.</summary>
    public async Task<BackupPage> PageAsync(int limit, string? before, CancellationToken cancellationToken)
    {
        var listed = await ListedAsync(cancellationToken);
        var older = before is null ? listed : listed.Where(set => string.CompareOrdinal(set.Id, before) < 0).ToList();
        var page = older.Take(limit).ToList();
        return new BackupPage(await ViewsAsync(page, cancellationToken), older.Count > limit ? page[^1].Id : null);
    }

    /// <summary>One listing of the store, newest first (ids begin with their UTC time); forgets manifests of sets that are gone.</summary>
    private async Task<List<StoredSet>> ListedAsync(CancellationToken cancellationToken)
    {
        var listed = (await store.ListAsync(cancellationToken)).OrderByDescending(set => set.Id, StringComparer.Ordinal).ToList();
        var present = listed.Where(set => set.HasManifest).Select(set => set.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var id in _manifests.Keys.Where(id => !present.Contains(id)))
        {
            _manifests.TryRemove(id, out _);
        }

        return listed;
    }

    private async Task<IReadOnlyList<BackupSetView>> ViewsAsync(List<StoredSet> sets, CancellationToken cancellationToken)
    {
        var views = new List<BackupSetView>(sets.Count);
        foreach (var set in sets)
        {
            var manifest = set.HasManifest ? await ManifestAsync(set.Id, cancellationToken) : null;
            views.Add(manifest is null
                ? new BackupSetView(set.Id, BackupStates.Incomplete, BackupNames.KindOf(set.Id), BackupNames.ContainerOf(set.Id), null, set.Size, set.FirstWrite, null, null)
                : new BackupSetView(set.Id, BackupStates.Complete, manifest.Kind, manifest.Container, manifest.JobId, set.Size, manifest.CreatedAt, manifest.Objects.Count, manifest.Objects) { Manifest = manifest });
        }

        return views;
    }

    private async Task<BackupManifest?> ManifestAsync(string setId, CancellationToken cancellationToken)
    {
        if (_manifests.TryGetValue(setId, out var cached))
        {
            return cached;
        }

        var manifest = await store.ManifestAsync(setId, cancellationToken);
        if (manifest is not null)
        {
            _manifests[setId] = manifest;
        }

        return manifest;
    }
}

/// <summary>
/// Keeps the newest N complete sets of each kind per container and deletes the rest. A set is
/// only deleted when a newer complete set of the same container and kind exists, so a run of
/// failed backups never eats the last good one. Incomplete sets older than the newest complete
/// one are debris of failed runs and go too; newer ones may be uploading right now and stay.
/// </summary>
public sealed partial class BackupRetention(IBackupStore store, BackupCatalog catalog, IOptions<BackupOptions> options, ILogger<BackupRetention> logger)
{
    public async Task<IReadOnlyList<string>> ApplyAsync(CancellationToken cancellationToken)
    {
        var deleted = new List<string>();
        var sets = await catalog.ListAsync(cancellationToken);
        foreach (var group in sets.Where(set => set.Kind is not null && set.Container is not null)
                     .GroupBy(set => (Container: BackupNames.Safe(set.Container!), Kind: set.Kind!)))
        {
            var keep = group.Key.Kind switch
            {
                BackupKinds.Daily => options.Value.KeepDaily,
                BackupKinds.PreUpdate => options.Value.KeepPreUpdate,
                _ => options.Value.KeepManual,
            };
            // Manifests carry their creation time to the tick; ids begin with it to the second.
            var complete = group.Where(set => set.State == BackupStates.Complete)
                .OrderByDescending(set => set.CreatedAt).ThenByDescending(set => set.Id, StringComparer.Ordinal).ToList();
            if (complete.Count == 0)
            {
                continue;
            }

            var newest = complete[0].Id;
            var expired = (keep > 0 ? complete.Skip(keep) : [])
                .Concat(group.Where(set => set.State == BackupStates.Incomplete && string.CompareOrdinal(set.Id, newest) < 0));
            foreach (var set in expired)
            {
                await store.DeleteAsync(set.Id, cancellationToken);
                LogDeleted(logger, set.Id, set.State, group.Key.Container, group.Key.Kind);
                deleted.Add(set.Id);
            }
        }

        return deleted;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: deleted {State} set {SetId} ({Container}, {Kind})")]
    private static partial void LogDeleted(ILogger logger, string setId, string state, string container, string kind);
}
