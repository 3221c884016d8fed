using System.Globalization;
using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;
using Polly;

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

/// <summary>The engine's answers the features read as "nothing there" rather than as failures.</summary>
internal static class DockerCalls
{
    /// <summary>The call's answer, or null when the engine says what it names does not exist (404).</summary>
    public static async Task<T?> OrNothingAsync<T>(Func<Task<T>> call, Func<DockerApiException, bool>? nothing = null)
        where T : class
    {
        try
        {
            return await call();
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound && (nothing is null || nothing(e)))
        {
            return null;
        }
    }

    /// <summary>Runs the call; false when what it names does not exist (404).</summary>
    public static async Task<bool> OrNothingAsync(Func<Task> call) =>
        await OrNothingAsync(async () =>
        {
            await call();
            return (object)true;
        }) is not null;

    /// <summary>The container's inspect, or null when there is no such container.</summary>
    public static Task<ContainerInspectResponse?> InspectOrNothingAsync(this ResiliencePipeline pipeline, DockerClient docker, string nameOrId, CancellationToken cancellationToken) =>
        OrNothingAsync(() => pipeline.CallAsync("inspect", nameOrId, token => docker.Containers.InspectContainerAsync(nameOrId, token), cancellationToken));

    /// <summary>The image's inspect, or null when the engine does not have it.</summary>
    public static Task<ImageInspectResponse?> InspectImageOrNothingAsync(this ResiliencePipeline pipeline, DockerClient docker, string reference, CancellationToken cancellationToken) =>
        OrNothingAsync(() => pipeline.CallAsync("inspect-image", reference, token => docker.Images.InspectImageAsync(reference, token), cancellationToken));

    /// <summary>The last lines a container wrote (stdout, then stderr), at most 8,000 characters; empty when there is no such container.</summary>
    public static async Task<string> LogTailAsync(this ResiliencePipeline pipeline, DockerClient docker, string nameOrId, int lines, CancellationToken cancellationToken)
    {
        var text = await OrNothingAsync(() => pipeline.CallAsync("logs", nameOrId, async token =>
        {
            using var stream = await docker.Containers.GetContainerLogsAsync(nameOrId, new ContainerLogsParameters
            {
                ShowStdout = true,
                ShowStderr = true,
                Tail = lines.ToString(CultureInfo.InvariantCulture),
            }, token);
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(token);
            return stdout + stderr;
        }, cancellationToken)) ?? "";
        return text.Length <= LogTailCharacters ? text : text[^LogTailCharacters..];
    }

    private const int LogTailCharacters = 8000;
}
