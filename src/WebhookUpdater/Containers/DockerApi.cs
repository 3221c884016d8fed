using Docker.DotNet;
using Microsoft.Extensions.Options;

namespace WebhookUpdater.Containers;

/// <summary>
/// The engine's API client, made when the first Docker-facing service is. It is a service of its
/// own rather than <see cref="DockerClient"/> itself so that registering it does not load
/// Docker.DotNet: an idle service that has not needed Docker yet keeps neither the client nor the
/// library (1.2 MiB resident).
/// </summary>
internal sealed class DockerApi(IOptions<DockerOptions> options) : IDisposable
{
    public DockerClient Client { get; } = new DockerClientBuilder()
        .WithEndpoint(options.Value.ResolveEndpoint())
        .WithTimeout(options.Value.RequestTimeout)
        .Build();

    private readonly Lazy<DockerClient> _transfers = new(() => new DockerClientBuilder()
        .WithEndpoint(options.Value.ResolveEndpoint())
        .WithTimeout(Timeout.InfiniteTimeSpan)
        .Build());

    /// <summary>
    /// For archive uploads and downloads: no request timeout, since a multi-GB volume takes longer
    /// than any fixed one. Each transfer is bounded by its progress instead (<see cref="ProgressWatchdog"/>).
    /// </summary>
    public DockerClient Transfers => _transfers.Value;

    public void Dispose()
    {
        Client.Dispose();
        if (_transfers.IsValueCreated)
        {
            _transfers.Value.Dispose();
        }
    }
}
