namespace WebhookUpdater.Containers;

/// <summary>What the service needs to know about one container to decide on an update.</summary>
/// <param name="ConfiguredImage">The image the container was created from, as written (Config.Image).</param>
/// <param name="ImageId">The id of the image the container runs now.</param>
/// <param name="RepoDigests">The running image's repository digests (repo@sha256:…).</param>
public sealed record ContainerSnapshot(
    string Id,
    string Name,
    string ConfiguredImage,
    string ImageId,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<string> RepoDigests,
    string State)
{
    public string? Label(string key) => Labels.TryGetValue(key, out var value) ? value : null;

    /// <summary>True when the running image was pulled with this digest from the same repository.</summary>
    public bool RunsDigest(ImageReference repository, string digest) =>
        RepoDigests.Any(entry =>
        {
            var at = entry.LastIndexOf('@');
            return at > 0
                && string.Equals(entry[(at + 1)..], digest, StringComparison.OrdinalIgnoreCase)
                && ImageReference.TryParse(entry[..at], out var repo, out _)
                && repo.SameRepository(repository);
        });
}
