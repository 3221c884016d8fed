using System.Globalization;
using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Updates;

/// <summary>
/// After a successful update, the repository's previous images beyond Updates:KeepImages go.
/// Never removed: an image any container uses (running or stopped), and the previous image of each
/// container's newest successful job (what a rollback of it needs), this job's included.
/// Only this repository's names are removed; an image that has names elsewhere stays on disk.
/// </summary>
public sealed class ImagePruner(IImageActions images, IContainerLookup lookup, JobStore store, IOptions<UpdateOptions> options)
{
    public async Task<StepResult<long>> PruneAsync(JobView job, CancellationToken cancellationToken)
    {
        if (!ImageReference.TryParse(job.Image, out var repository, out _))
        {
            return StepResult.Ok(0L, "nothing to prune: the job's image is not a repository reference");
        }

        var used = (await lookup.ListAsync(cancellationToken)).Select(container => container.ImageId).ToHashSet(StringComparer.Ordinal);
        var needed = (await store.RollbackImageIdsAsync(job.Container, cancellationToken)).ToHashSet(StringComparer.Ordinal);
        if (job.CurrentImageId is { } replaced)
        {
            needed.Add(replaced);
        }

        var replacedAt = await store.ImagesReplacedAtAsync(cancellationToken);
        var previous = (await images.ListAsync(cancellationToken))
            .Select(image => (Image: image, Names: image.References.Where(name => Names(name, repository)).ToList()))
            .Where(entry => entry.Names.Count > 0 && !used.Contains(entry.Image.Id))
            // Newest first: by when an update replaced it, else by when it was built.
            .OrderByDescending(entry => replacedAt.TryGetValue(entry.Image.Id, out var at) ? at : DateTimeOffset.MinValue)
            .ThenByDescending(entry => entry.Image.Created)
            .ToList();

        var keep = options.Value.KeepImages;
        var kept = 0;
        long freed = 0;
        var removed = new List<string>();
        var refused = new List<string>();
        foreach (var (index, (image, names)) in previous.Index())
        {
            if (index < keep || needed.Contains(image.Id))
            {
                kept++;
                continue;
            }

            try
            {
                foreach (var name in names)
                {
                    freed += await images.RemoveReferenceAsync(name, image.Size, cancellationToken);
                }

                removed.Add(Short(image.Id));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                refused.Add($"{Short(image.Id)} ({e.Message})");
            }
        }

        var detail = $"kept {kept} previous image(s) of {repository.Repository} (Updates:KeepImages={keep}); removed {removed.Count}"
            + (removed.Count > 0 ? $" ({string.Join(", ", removed)})" : "")
            + $"; {Bytes(freed)} reclaimed"
            + (refused.Count > 0 ? $"; not removed: {string.Join(", ", refused)}" : "");
        return refused.Count > 0 ? StepResult.Fail<long>(detail) : StepResult.Ok(freed, detail);
    }

    private static bool Names(string name, ImageReference repository)
    {
        var at = name.IndexOf('@', StringComparison.Ordinal);
        return ImageReference.TryParse(at < 0 ? name : name[..at], out var reference, out _) && reference.SameRepository(repository);
    }

    private static string Short(string id) => id[..Math.Min(19, id.Length)];

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1 << 30 => (bytes / (double)(1 << 30)).ToString("0.0 'GiB'", CultureInfo.InvariantCulture),
        >= 1 << 20 => (bytes / (double)(1 << 20)).ToString("0.0 'MiB'", CultureInfo.InvariantCulture),
        >= 1 << 10 => (bytes / (double)(1 << 10)).ToString("0.0 'KiB'", CultureInfo.InvariantCulture),
        _ => $"{bytes} B",
    };
}
