using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using Polly.Registry;

namespace WebhookUpdater.Containers;

internal sealed class DockerContainerRuntime(DockerApi engine, ResiliencePipelineProvider<string> pipelines) : IContainerRuntime
{
    private readonly DockerClient _docker = engine.Client;

    private readonly ResiliencePipeline _pipeline = pipelines.Docker(DockerResilience.Quick);

    /// <summary>Two calls: the container (labels, image as written, image id), then its image's RepoDigests.</summary>
    public async Task<ContainerSnapshot?> FindAsync(string nameOrId, CancellationToken cancellationToken) =>
        await InspectAsync(nameOrId, cancellationToken) is { } container
            ? Snapshot(container, await RepoDigestsAsync(container.Image, cancellationToken))
            : null;

    private async Task<ContainerInspectResponse?> InspectAsync(string nameOrId, CancellationToken cancellationToken)
    {
        try
        {
            return await _pipeline.CallAsync("inspect", nameOrId, token => _docker.Containers.InspectContainerAsync(nameOrId, token), cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// One list call gives each container's labels, image as written and image id; only a container
    /// whose tag has moved on (listed by image id) is inspected to learn what it was created from.
    /// </summary>
    public async Task<IReadOnlyList<ContainerSnapshot>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        var all = await _pipeline.CallAsync("list", repository.Repository, token => _docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }, token), cancellationToken);
        var digestsByImage = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var found = new List<ContainerSnapshot>();
        foreach (var summary in all)
        {
            var configured = summary.Image ?? "";
            if (configured.StartsWith("sha256:", StringComparison.Ordinal))
            {
                var inspected = await InspectAsync(summary.ID, cancellationToken);
                if (inspected?.Config?.Image is not { } written)
                {
                    continue; // removed since the list, or nothing says what it was created from
                }

                configured = written;
            }

            if (!ImageReference.TryParse(configured, out var reference, out _) || !reference.SameRepository(repository))
            {
                continue;
            }

            if (!digestsByImage.TryGetValue(summary.ImageID, out var digests))
            {
                digests = digestsByImage[summary.ImageID] = await RepoDigestsAsync(summary.ImageID, cancellationToken);
            }

            found.Add(new ContainerSnapshot(
                summary.ID,
                summary.Names?.FirstOrDefault()?.TrimStart('/') ?? summary.ID,
                configured,
                summary.ImageID,
                summary.Labels is { } labels ? new Dictionary<string, string>(labels) : new Dictionary<string, string>(),
                digests,
                summary.State ?? "unknown"));
        }

        return found;
    }

    public async Task<string> PingAsync(CancellationToken cancellationToken)
    {
        var version = await _docker.System.GetVersionAsync(cancellationToken);
        return $"Docker {version.Version} (API {version.APIVersion})";
    }

    private async Task<IReadOnlyList<string>> RepoDigestsAsync(string imageId, CancellationToken cancellationToken)
    {
        try
        {
            var image = await _pipeline.CallAsync("inspect-image", imageId, token => _docker.Images.InspectImageAsync(imageId, token), cancellationToken);
            return image.RepoDigests?.ToArray() ?? [];
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // The image was removed under a running container: nothing says which digest it runs.
            return [];
        }
    }

    private static ContainerSnapshot Snapshot(ContainerInspectResponse container, IReadOnlyList<string> repoDigests) =>
        new(
            container.ID,
            container.Name.TrimStart('/'),
            container.Config?.Image ?? container.Image,
            container.Image,
            container.Config?.Labels is { } labels ? new Dictionary<string, string>(labels) : new Dictionary<string, string>(),
            repoDigests,
            container.State?.Status ?? "unknown");
}
