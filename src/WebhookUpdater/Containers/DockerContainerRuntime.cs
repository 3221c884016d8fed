using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using Polly.Registry;

namespace WebhookUpdater.Containers;

internal sealed class DockerContainerRuntime(DockerApi engine, ResiliencePipelineProvider<string> pipelines) : IContainerRuntime
{
    private readonly DockerClient _docker = engine.Client;

    private readonly ResiliencePipeline _pipeline = pipelines.Docker(DockerResilience.Quick);

    public async Task<ContainerSnapshot?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        ContainerInspectResponse container;
        try
        {
            container = await _pipeline.CallAsync("inspect", nameOrId, token => _docker.Containers.InspectContainerAsync(nameOrId, token), cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        return await SnapshotAsync(container, cancellationToken);
    }

    public async Task<IReadOnlyList<ContainerSnapshot>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        var all = await _pipeline.CallAsync("list", repository.Repository, token => _docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }, token), cancellationToken);
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

    public async Task<IReadOnlyList<ContainerSnapshot>> ListAllAsync(CancellationToken cancellationToken)
    {
        var all = await _pipeline.CallAsync("list", "all", token => _docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }, token), cancellationToken);
        var digestsByImage = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var found = new List<ContainerSnapshot>(all.Count);
        foreach (var summary in all)
        {
            ContainerInspectResponse container;
            try
            {
                container = await _pipeline.CallAsync("inspect", summary.ID, token => _docker.Containers.InspectContainerAsync(summary.ID, token), cancellationToken);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                continue; // removed between the list and the inspect
            }

            if (!digestsByImage.TryGetValue(container.Image, out var digests))
            {
                digests = digestsByImage[container.Image] = await RepoDigestsAsync(container.Image, cancellationToken);
            }

            found.Add(Snapshot(container, digests));
        }

        return found;
    }

    public async IAsyncEnumerable<EngineChange> WatchAsync(DateTimeOffset since, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var changes = Channel.CreateUnbounded<EngineChange>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var parameters = new ContainerEventsParameters
        {
            Since = (since.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture),
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["type"] = new Dictionary<string, bool> { [EngineChange.Container] = true, [EngineChange.Image] = true },
                ["event"] = WatchedActions.ToDictionary(action => action, _ => true),
            },
        };

        // The stream ends only when the engine goes away (or we stop): then the channel completes,
        // with the error that ended it.
        var monitor = _docker.System.MonitorEventsAsync(parameters, new ChannelProgress(changes.Writer), cancellationToken)
            .ContinueWith(task => changes.Writer.TryComplete(task.Exception?.InnerException ?? new IOException("The Docker event stream ended.")), TaskScheduler.Default);

        await foreach (var change in changes.Reader.ReadAllAsync(cancellationToken))
        {
            yield return change;
        }

        await monitor;
    }

    /// <summary>What can change a container's name, labels, image or existence, or an image's digests.</summary>
    private static readonly string[] WatchedActions =
        ["create", "destroy", "rename", "update", "start", "die", "pull", "tag", "untag", "delete", "load", "import"];

    private sealed class ChannelProgress(ChannelWriter<EngineChange> writer) : IProgress<Message>
    {
        public void Report(Message value)
        {
            var id = value.Actor?.ID;
            if (value.Type is { } type && id is not null)
            {
                writer.TryWrite(new EngineChange(type, id, value.Action ?? ""));
            }
        }
    }

    public async Task<string> PingAsync(CancellationToken cancellationToken)
    {
        var version = await _docker.System.GetVersionAsync(cancellationToken);
        return $"Docker {version.Version} (API {version.APIVersion})";
    }

    private async Task<ContainerSnapshot> SnapshotAsync(ContainerInspectResponse container, CancellationToken cancellationToken) =>
        Snapshot(container, await RepoDigestsAsync(container.Image, cancellationToken));

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
