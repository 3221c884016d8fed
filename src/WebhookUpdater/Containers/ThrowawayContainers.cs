using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using Polly.Registry;

namespace WebhookUpdater.Containers;

/// <summary>Short-lived containers the service starts for itself (a restore test), never a managed one.</summary>
public interface IThrowawayContainers
{
    /// <summary>
    /// Creates and starts <paramref name="name"/> from <paramref name="image"/> with no network but
    /// its own loopback and no mounts (only the image's own anonymous volumes): it cannot reach or
    /// change what the stack runs. Returns its id.
    /// </summary>
    Task<string> RunAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>Removes it (running or not) with its anonymous volumes; a missing container is no error.</summary>
    Task RemoveAsync(string nameOrId, CancellationToken cancellationToken);
}

internal sealed class DockerThrowawayContainers(DockerApi engine, ResiliencePipelineProvider<string> pipelines) : IThrowawayContainers
{
    private readonly DockerClient _docker = engine.Client;

    private readonly ResiliencePipeline _pipeline = pipelines.Docker(DockerResilience.Patient);

    public async Task<string> RunAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var created = await _pipeline.CallAsync("create", name, token => _docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Env = environment.ToList(),
            Labels = new Dictionary<string, string>(labels),
            HostConfig = new HostConfig { NetworkMode = "none" },
        }, token), cancellationToken);
        try
        {
            await _pipeline.CallAsync("start", name, token => _docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), token), cancellationToken);
        }
        catch
        {
            await RemoveAsync(created.ID, CancellationToken.None);
            throw;
        }

        return created.ID;
    }

    public async Task RemoveAsync(string nameOrId, CancellationToken cancellationToken)
    {
        try
        {
            await _pipeline.CallAsync("remove", nameOrId, token => _docker.Containers.RemoveContainerAsync(nameOrId, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, token), cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }
}
