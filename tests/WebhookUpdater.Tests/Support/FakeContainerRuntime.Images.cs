using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Support;

/// <summary>The images of the in-memory engine: what a test puts in <see cref="Images"/>, and the names removed from them.</summary>
internal sealed partial class FakeContainerRuntime : IImageActions
{
    public List<ImageEntry> Images { get; } = [];

    /// <summary>Makes the container run (or, stopped, reference) another image.</summary>
    public void Use(string name, string imageId) => _containers[name] = _containers[name] with { ImageId = imageId };

    /// <summary>The image names removed, in order.</summary>
    public List<string> Untagged { get; } = [];

    Task<IReadOnlyList<ImageEntry>> IImageActions.ListAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<ImageEntry>>(Images.ToList());
        }
    }

    public Task TagAsync(string imageId, ImageReference reference, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Operations.Add($"tag {imageId} {reference}");
            // The tag points at it now: the next container created from the reference runs it.
            Published = new ContainerImage(imageId, Images.FirstOrDefault(image => image.Id == imageId)?.References.Where(name => name.Contains('@', StringComparison.Ordinal)).ToList() ?? []);
        }

        return Task.CompletedTask;
    }

    public Task<long> RemoveReferenceAsync(string reference, long size, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Untagged.Add(reference);
            var index = Images.FindIndex(image => image.References.Contains(reference));
            if (index < 0)
            {
                return Task.FromResult(0L);
            }

            var left = Images[index].References.Where(name => name != reference).ToList();
            if (left.Count > 0)
            {
                Images[index] = Images[index] with { References = left };
                return Task.FromResult(0L);
            }

            Images.RemoveAt(index);
            return Task.FromResult(size);
        }
    }
}
