using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;

namespace WebhookUpdater.Containers;

/// <summary>Each look-up inspects the container, then its image for the RepoDigests (once per image in a list).</summary>
internal sealed class DockerContainerLookup(DockerApi engine, ResiliencePipeline pipeline) : IContainerLookup
{
    private readonly DockerClient _docker = engine.Client;

    public async Task<ContainerInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken) =>
        await pipeline.InspectOrNothingAsync(_docker, nameOrId, cancellationToken) is { } container
            ? Info(container, await RepoDigestsAsync(container.Image, cancellationToken))
            : null;

    /// <summary>
    /// One list call gives each container's image as written; only those of the repository are
    /// inspected, and those whose tag has moved on (listed by image id) to learn what they were created from.
    /// </summary>
    public Task<IReadOnlyList<ContainerInfo>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken) =>
        InspectListedAsync(null, repository.Repository, summary =>
        {
            var written = summary.Image ?? "";
            return written.StartsWith("sha256:", StringComparison.Ordinal) || OfRepository(written, repository);
        }, container => OfRepository(container.ConfiguredImage, repository), cancellationToken);

    public Task<IReadOnlyList<ContainerInfo>> ListAsync(CancellationToken cancellationToken) =>
        InspectListedAsync(null, "all", _ => true, _ => true, cancellationToken);

    public Task<IReadOnlyList<ContainerInfo>> ListByLabelAsync(string key, string? value, CancellationToken cancellationToken)
    {
        var filter = value is null ? key : $"{key}={value}";
        return InspectListedAsync(
            new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [filter] = true } },
            filter, _ => true, _ => true, cancellationToken);
    }

    public async Task<ContainerImage?> ImageAsync(string reference, CancellationToken cancellationToken) =>
        await pipeline.InspectImageOrNothingAsync(_docker, reference, cancellationToken) is { } image
            ? ContainerImage.From(image)
            : null;

    public async Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken) =>
        await pipeline.InspectOrNothingAsync(_docker, nameOrId, cancellationToken) is { } container
            ? container.Config?.Env?.ToList() ?? []
            : null;

    public Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken) =>
        pipeline.LogTailAsync(_docker, nameOrId, lines, cancellationToken);

    public async Task<string> PingAsync(CancellationToken cancellationToken)
    {
        var version = await pipeline.CallAsync("version", "engine", token => _docker.System.GetVersionAsync(token), cancellationToken);
        return $"Docker {version.Version} (API {version.APIVersion})";
    }

    private async Task<IReadOnlyList<ContainerInfo>> InspectListedAsync(
        IDictionary<string, IDictionary<string, bool>>? filters,
        string target,
        Func<ContainerListResponse, bool> candidate,
        Func<ContainerInfo, bool> keep,
        CancellationToken cancellationToken)
    {
        var all = await pipeline.CallAsync("list", target, token => _docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filters }, token), cancellationToken);
        var digestsByImage = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var found = new List<ContainerInfo>();
        foreach (var summary in all.Where(candidate))
        {
            if (await pipeline.InspectOrNothingAsync(_docker, summary.ID, cancellationToken) is not { } container)
            {
                continue; // removed since the list
            }

            if (!digestsByImage.TryGetValue(container.Image, out var digests))
            {
                digests = digestsByImage[container.Image] = await RepoDigestsAsync(container.Image, cancellationToken);
            }

            var info = Info(container, digests);
            if (keep(info))
            {
                found.Add(info);
            }
        }

        return found;
    }

    private static bool OfRepository(string image, ImageReference repository) =>
        ImageReference.TryParse(image, out var reference, out _) && reference.SameRepository(repository);

    /// <summary>Empty when the image was removed under the container: nothing says which digest it runs.</summary>
    private async Task<IReadOnlyList<string>> RepoDigestsAsync(string imageId, CancellationToken cancellationToken) =>
        (await ImageAsync(imageId, cancellationToken))?.RepoDigests ?? [];

    internal static ContainerInfo Info(ContainerInspectResponse container, IReadOnlyList<string> repoDigests)
    {
        var state = container.State;
        return new ContainerInfo(
            container.ID,
            container.Name.TrimStart('/'),
            container.Config?.Image ?? container.Image,
            container.Image,
            state?.Status ?? "unknown",
            state?.Running ?? false,
            state?.Restarting ?? false,
            container.RestartCount,
            state?.ExitCode ?? 0,
            state?.Health?.Status is { Length: > 0 } health && health != "none" ? health : null,
            container.Config?.Labels is { } labels ? new Dictionary<string, string>(labels) : new Dictionary<string, string>(),
            repoDigests,
            (container.Mounts ?? [])
                .Where(mount => mount.Type is "volume" or "bind")
                .Select(mount => new DataMount(mount.Type!, string.IsNullOrEmpty(mount.Name) ? null : mount.Name, mount.Source ?? "", mount.Destination ?? ""))
                .ToList());
    }
}
