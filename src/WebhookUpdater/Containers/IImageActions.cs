namespace WebhookUpdater.Containers;

/// <summary>An image the engine keeps, with every name it goes by.</summary>
/// <param name="References">repo:tag and repo@digest names; an image whose tag moved on keeps only its digest names.</param>
/// <param name="Size">Bytes on disk, shared layers included.</param>
public sealed record ImageEntry(string Id, IReadOnlyList<string> References, long Size, DateTimeOffset Created);

/// <summary>The images themselves: list, tag, and remove a name (the image goes with its last name).</summary>
public interface IImageActions
{
    Task<IReadOnlyList<ImageEntry>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Gives <paramref name="imageId"/> the tag of <paramref name="reference"/>, taking it from whatever image had it.</summary>
    Task TagAsync(string imageId, ImageReference reference, CancellationToken cancellationToken);

    /// <summary>
    /// Removes one name of an image (never forced: an image a container uses is refused by the
    /// engine). Returns the bytes freed: the image's size when that was its last name, else 0.
    /// </summary>
    Task<long> RemoveReferenceAsync(string reference, long size, CancellationToken cancellationToken);
}
