using Docker.DotNet;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Containers;

/// <summary>
/// The engine's API client, made when the first Docker-facing service is. It is a service of its
/// own rather than <see cref="DockerClient"/> itself so that registering it does not load
/// Docker.DotNet: an idle service that has not needed Docker yet keeps neither the client nor the
/// library (1.2 MiB resident, issue 8).
/// </summary>
internal sealed class DockerApi(IOptions<DockerOptions> options) : IDisposable
{
    public DockerClient Client { get; } = new DockerClientBuilder()
        .WithEndpoint(options.Value.ResolveEndpoint())
        .WithTimeout(options.Value.RequestTimeout)
        .Build();

    public void Dispose() => Client.Dispose();
}
