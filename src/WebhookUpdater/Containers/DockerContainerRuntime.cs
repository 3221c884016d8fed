using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using Polly.Registry;

namespace WebhookUpdater.Containers;

internal sealed class DockerContainerRuntime(DockerClient docker, ResiliencePipelineProvider<string> pipelines) : IContainerRuntime
{
    private readonly ResiliencePipeline _pipeline = pipelines.Docker(DockerResilience.Quick);

    public async Task<ContainerSnapshot?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        ContainerInspectResponse container;
        try
        {
            container = await _pipeline.CallAsync("inspect", nameOrId, token => docker.Containers.InspectContainerAsync(nameOrId, token), cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        return await SnapshotAsync(container, cancellationToken);
    }

    public async Task<IReadOnlyList<ContainerSnapshot>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        var all = await _pipeline.CallAsync("list", repository.Repository, token => docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }, token), cancellationToken);
        var found = new List<ContainerSnapshot>();
        foreach (var summary in all)
        {
            // The list shows the image as written at creation, or the image id once that tag has
            // moved on to a newer image: only then is an inspect needed to know the repository.
            var listed = summary.Image ?? "";
            var mayMatch = listed.StartsWith("sha256:", StringComparison.Ordinal)
                || (ImageReference.TryParse(listed, out var reference, out _) && reference.SameRepository(repository));
            if (!mayMatch)
            {
                continue;
            }

            var snapshot = await FindAsync(summary.ID, cancellationToken);
            if (snapshot is not null
                && ImageReference.TryParse(snapshot.ConfiguredImage, out var configured, out _)
                && configured.SameRepository(repository))
            {
                found.Add(snapshot);
            }
        }

        return found;
    }

    public async Task<string> PingAsync(CancellationToken cancellationToken)
    {
        var version = await docker.System.GetVersionAsync(cancellationToken);
        return $"Docker {version.Version} (API {version.APIVersion})";
    }

    private async Task<ContainerSnapshot> SnapshotAsync(ContainerInspectResponse container, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> repoDigests = [];
        try
        {
            var image = await _pipeline.CallAsync("inspect-image", container.Image, token => docker.Images.InspectImageAsync(container.Image, token), cancellationToken);
            repoDigests = image.RepoDigests?.ToArray() ?? [];
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // The image was removed under a running container: nothing says which digest it runs.
        }

        return new ContainerSnapshot(
            container.ID,
            container.Name.TrimStart('/'),
            container.Config?.Image ?? container.Image,
            container.Image,
            container.Config?.Labels is { } labels ? new Dictionary<string, string>(labels) : new Dictionary<string, string>(),
            repoDigests,
            container.State?.Status ?? "unknown");
    }
}
