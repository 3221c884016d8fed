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
    /// <remarks>
    /// Allocation-free, and most entries are passed over on their last character: an image pushed
    /// and pulled many times carries one entry per repository and digest (the benchmark's test
    /// image had 385, and comparing every one in full was 18% of the webhook's CPU), and every
    /// event looks at all of them. An entry is <c>repository@digest</c>, so the digest is its end.
    /// </remarks>
    public bool RunsDigest(ImageReference repository, string digest)
    {
        if (digest.Length == 0)
        {
            return false;
        }

        var last = char.ToLowerInvariant(digest[^1]);
        foreach (var entry in RepoDigests)
        {
            var at = entry.Length - digest.Length - 1;
            if (at > 0
                && char.ToLowerInvariant(entry[^1]) == last
                && entry[at] == '@'
                && entry.AsSpan(at + 1).Equals(digest, StringComparison.OrdinalIgnoreCase)
                && ImageReference.TryParse(entry[..at], out var repo, out _)
                && repo.SameRepository(repository))
            {
                return true;
            }
        }

        return false;
    }
}
