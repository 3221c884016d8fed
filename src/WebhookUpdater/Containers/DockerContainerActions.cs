using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using Microsoft.Extensions.Options;
using Polly.Registry;

namespace WebhookUpdater.Containers;

internal sealed partial class DockerContainerActions(
    DockerApi engine, ResiliencePipelineProvider<string> pipelines, IOptions<DockerOptions> options, TimeProvider time) : IContainerActions
{
    private readonly DockerClient _docker = engine.Client;

    private readonly ResiliencePipeline _pipeline = pipelines.Docker(DockerResilience.Patient);

    private DockerOptions Settings => options.Value;

    public async Task<ContainerImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken)
    {
        using var watchdog = new ProgressWatchdog(Settings.StallTimeout, Settings.PullTimeout, time, cancellationToken);
        string? failure = null;
        var messages = new Progress<JSONMessage>(message =>
        {
            watchdog.Progress();
            if (message.Error is { } error)
            {
                failure = error.Message ?? "unknown error";
            }
            else if (!string.IsNullOrEmpty(message.Status) && message.Progress is null)
            {
                progress.Report(string.IsNullOrEmpty(message.ID) ? message.Status : $"{message.ID}: {message.Status}");
            }
        });

        var tagOrDigest = image.Tag ?? image.Digest ?? "latest";
        try
        {
            // The transfer client: a large layer takes longer than one request's timeout; the watchdog bounds it instead.
            await _pipeline.CallAsync("pull", image.ToString(), token => engine.Transfers.Images.CreateImageAsync(
                new ImagesCreateParameters { FromImage = image.FamiliarRepository, Tag = tagOrDigest },
                RegistryCredentials.For(image.Registry),
                messages,
                token), watchdog.Token);
        }
        catch (OperationCanceledException) when (watchdog.Expired != WatchdogEnd.None && !cancellationToken.IsCancellationRequested)
        {
            throw new ImagePullException(watchdog.Expired == WatchdogEnd.Idle
                ? $"pulling {image} stopped: the registry sent nothing for {Settings.StallTimeout.TotalSeconds:0} s (Docker:StallTimeout)"
                : $"pulling {image} took longer than {Settings.PullTimeout.TotalMinutes:0.#} min (Docker:PullTimeout)");
        }

        // The progress stream reports errors in-band, after a 200.
        if (failure is not null)
        {
            throw new ImagePullException($"pulling {image} failed: {failure}");
        }

        var reference = image.Tag is null && image.Digest is not null ? $"{image.FamiliarRepository}@{image.Digest}" : $"{image.FamiliarRepository}:{tagOrDigest}";
        var inspect = await _pipeline.CallAsync("inspect-image", reference, token => _docker.Images.InspectImageAsync(reference, token), cancellationToken);
        return ContainerImage.From(inspect);
    }

    public async Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) =>
        await OpenArchiveAsync(nameOrId, path, pathMayBeMissing: false, cancellationToken) ?? Stream.Null;

    public Task<Stream?> TryArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) =>
        OpenArchiveAsync(nameOrId, path, pathMayBeMissing: true, cancellationToken);

    /// <summary>The archive API answers 404 for a missing path and for a missing container; only the first is "nothing there".</summary>
    internal static bool IsMissingPath(DockerApiException e) => e.ResponseBody?.Contains("No such container", StringComparison.OrdinalIgnoreCase) != true;

    /// <summary>Bounded by progress, not by the request timeout: the stream is read for as long as bytes come.</summary>
    private async Task<Stream?> OpenArchiveAsync(string nameOrId, string path, bool pathMayBeMissing, CancellationToken cancellationToken)
    {
        var watchdog = new ProgressWatchdog(Settings.StallTimeout, Timeout.InfiniteTimeSpan, time, cancellationToken);
        try
        {
            var archive = await DockerCalls.OrNothingAsync(
                () => _pipeline.CallAsync("archive", nameOrId, token => engine.Transfers.Containers.GetArchiveFromContainerAsync(nameOrId, new ContainerPathStatParameters { Path = path }, false, token), watchdog.Token),
                e => pathMayBeMissing && IsMissingPath(e));
            if (archive is null)
            {
                watchdog.Dispose();
                return null;
            }

            return new WatchedStream(archive.Stream ?? Stream.Null, watchdog, $"reading {nameOrId}:{path}", Settings.StallTimeout, ownsWatchdog: true);
        }
        catch
        {
            watchdog.Dispose();
            throw;
        }
    }

    // Not retried: the tar stream is read once. Bounded by progress: a multi-GB archive is never cut off while it moves.
    public async Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken)
    {
        using var watchdog = new ProgressWatchdog(Settings.StallTimeout, Timeout.InfiniteTimeSpan, time, cancellationToken);
        await using var watched = new WatchedStream(tar, watchdog, $"writing into {nameOrId}:{path}", Settings.StallTimeout, leaveOpen: true);
        try
        {
            await engine.Transfers.Containers.ExtractArchiveToContainerAsync(nameOrId, new CopyToContainerParameters { Path = path }, watched, watchdog.Token);
        }
        catch (Exception e) when (watchdog.Expired != WatchdogEnd.None && e is OperationCanceledException or IOException or HttpRequestException)
        {
            throw new StepDeadlineException($"writing into {nameOrId}:{path} stopped: no bytes moved for {Settings.StallTimeout.TotalSeconds:0} s (Docker:StallTimeout)");
        }
    }

    public Task RenameAsync(string nameOrId, string newName, CancellationToken cancellationToken) =>
        _pipeline.CallAsync("rename", nameOrId, token => _docker.Containers.RenameContainerAsync(nameOrId, new ContainerRenameParameters { NewName = newName }, token), cancellationToken);

    public async Task StopAsync(string nameOrId, CancellationToken cancellationToken)
    {
        // Honours the container's own StopTimeout (compose's stop_grace_period) when set.
        await _pipeline.CallAsync("stop", nameOrId, token => _docker.Containers.StopContainerAsync(nameOrId, new ContainerStopParameters(), token), cancellationToken);
    }

    public async Task StartAsync(string nameOrId, CancellationToken cancellationToken)
    {
        await _pipeline.CallAsync("start", nameOrId, token => _docker.Containers.StartContainerAsync(nameOrId, new ContainerStartParameters(), token), cancellationToken);
    }

    public Task PauseAsync(string nameOrId, CancellationToken cancellationToken) =>
        _pipeline.CallAsync("pause", nameOrId, token => _docker.Containers.PauseContainerAsync(nameOrId, token), cancellationToken);

    public Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken) =>
        _pipeline.CallAsync("unpause", nameOrId, token => _docker.Containers.UnpauseContainerAsync(nameOrId, token), cancellationToken);

    // Never the volumes: the other container (old or new) uses them.
    public Task RemoveAsync(string nameOrId, CancellationToken cancellationToken) =>
        DockerCalls.OrNothingAsync(() => _pipeline.CallAsync("remove", nameOrId, token => _docker.Containers.RemoveContainerAsync(nameOrId, new ContainerRemoveParameters { Force = true, RemoveVolumes = false }, token), cancellationToken));

    public async Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var created = await _pipeline.CallAsync("create", image, token => _docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = [command[0]],
            Cmd = command.Skip(1).ToList(),
            User = "0",
            NetworkDisabled = true,
            HostConfig = new HostConfig { VolumesFrom = [volumesOf], NetworkMode = "none" },
        }, token), deadline.Token);
        try
        {
            await _pipeline.CallAsync("start", created.ID, token => _docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), token), deadline.Token);
            var exit = await _pipeline.CallAsync("wait", created.ID, token => _docker.Containers.WaitContainerAsync(created.ID, token), deadline.Token);
            return new ExecResult(exit.StatusCode, await _pipeline.LogTailAsync(_docker, created.ID, 20, deadline.Token));
        }
        finally
        {
            await RemoveAsync(created.ID, CancellationToken.None);
        }
    }

    public async Task<string> CreateLikeAsync(string template, string name, string image, CancellationToken cancellationToken)
    {
        var old = await _pipeline.CallAsync("inspect", template, token => _docker.Containers.InspectContainerAsync(template, token), cancellationToken);

        // Without the old image nothing tells its defaults apart: everything is kept as set.
        var oldImage = await _pipeline.InspectImageOrNothingAsync(_docker, old.Image, cancellationToken);

        var created = await _pipeline.CallAsync("create", name, token => _docker.Containers.CreateContainerAsync(ContainerBlueprint.From(old, oldImage, name, image), token), cancellationToken);
        foreach (var (network, endpoint) in ContainerBlueprint.SecondaryNetworks(old))
        {
            await _pipeline.CallAsync("connect", network, token => _docker.Networks.ConnectNetworkAsync(network, new NetworkConnectParameters { Container = created.ID, EndpointConfig = endpoint }, token), cancellationToken);
        }

        return created.ID;
    }

    public async Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, TimeSpan budget, CancellationToken cancellationToken)
    {
        using var activity = DockerResilience.Source.StartActivity("docker exec", System.Diagnostics.ActivityKind.Client);
        var limit = ExecLimit.Of(budget, Settings.ExecTimeout);
        using var watchdog = new ProgressWatchdog(Timeout.InfiniteTimeSpan, limit, time, cancellationToken);
        var output = new OutputTail(OutputTailCharacters);
        DockerExec? exec = null;
        try
        {
            exec = await DockerExec.StartAsync(_docker, _pipeline, nameOrId, command, [], stdin: false, output, watchdog.Token);
            var buffer = new byte[16384];
            int read;
            while ((read = await exec.ReadStdoutAsync(buffer, 0, buffer.Length, watchdog.Progress, watchdog.Token)) > 0)
            {
                output.Append(buffer, 0, read);
            }

            return new ExecResult(await exec.ExitCodeAsync(watchdog.Token), output.ToString());
        }
        catch (OperationCanceledException) when (watchdog.Expired != WatchdogEnd.None && !cancellationToken.IsCancellationRequested)
        {
            var killed = exec is null ? "it had not started yet" : await exec.KillAsync();
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "deadline");
            return new ExecResult(-1, output.ToString(), ExecEnd.DeadlinePassed,
                $"did not finish within {ExecLimit.Describe(limit)}; {killed}");
        }
        finally
        {
            if (exec is not null)
            {
                await exec.DisposeAsync();
            }
        }
    }

    private const int OutputTailCharacters = 4000;
}

public sealed class ImagePullException(string message) : Exception(message);

/// <summary>A transfer or command inside a stream passed its deadline (or stalled) and was stopped.</summary>
public sealed class StepDeadlineException(string message) : Exception(message);
