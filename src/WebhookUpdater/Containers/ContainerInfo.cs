namespace WebhookUpdater.Containers;

/// <summary>What the service knows of one container: the engine's inspect of it and of the image it runs.</summary>
/// <param name="ConfiguredImage">The image the container was created from, as written (Config.Image).</param>
/// <param name="ImageId">The id of the image the container runs now.</param>
/// <param name="Status">The engine's state word: created, running, restarting, exited, paused, dead.</param>
/// <param name="Health">The image HEALTHCHECK's status (healthy, unhealthy, starting), or null without one.</param>
/// <param name="RepoDigests">The running image's repository digests (repo@sha256:…); empty when the image is gone.</param>
/// <param name="Mounts">The volumes and bind mounts it keeps data in.</param>
/// <remarks>The environment is not here: it carries secrets, and a record prints itself whole.</remarks>
public sealed record ContainerInfo(
    string Id,
    string Name,
    string ConfiguredImage,
    string ImageId,
    string Status,
    bool Running,
    bool Restarting,
    long RestartCount,
    long ExitCode,
    string? Health,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<string> RepoDigests,
    IReadOnlyList<DataMount> Mounts)
{
    public string? Label(string key) => Labels.TryGetValue(key, out var value) ? value : null;

    /// <summary>True when the running image was pulled with this digest from the same repository.</summary>
    public bool RunsDigest(ImageReference repository, string digest) => ContainerImage.Lists(RepoDigests, repository, digest);
}

/// <summary>An image as the engine has it.</summary>
/// <param name="RepoDigests">repo@sha256:… for every repository and digest it was pulled as.</param>
public sealed record ContainerImage(string Id, IReadOnlyList<string> RepoDigests)
{
    /// <summary>The image's labels (Config.Labels): the OCI ones say its version, revision and source.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Its size on disk in bytes, as the engine reports it.</summary>
    public long? Size { get; init; }

    /// <summary>From an inspect answer of the engine.</summary>
    internal static ContainerImage From(Docker.DotNet.Models.ImageInspectResponse inspect) =>
        new(inspect.ID, inspect.RepoDigests?.ToArray() ?? [])
        {
            Labels = inspect.Config?.Labels is { } labels ? new Dictionary<string, string>(labels, StringComparer.Ordinal) : new Dictionary<string, string>(),
            Size = inspect.Size,
        };

    /// <remarks>
    /// Allocation-free, and most entries are passed over on their last character: an image pushed
    /// and pulled many times carries one entry per repository and digest, and every event looks at
    /// all of them. An entry is <c>repository@digest</c>, so the digest is its end.
    /// </remarks>
    internal static bool Lists(IReadOnlyList<string> repoDigests, ImageReference repository, string digest)
    {
        if (digest.Length == 0)
        {
            return false;
        }

        var last = char.ToLowerInvariant(digest[^1]);
        foreach (var entry in repoDigests)
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

/// <summary>A path a container keeps data in: a named or anonymous volume, or a bind mount.</summary>
public sealed record DataMount(string Type, string? Name, string Source, string Destination);
