// Docker's models say "not null" but null means "unset" to the engine (as in ContainerBlueprint).
#nullable disable warnings

using System.Net;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;

namespace WebhookUpdater.Containers;

/// <summary>Containers the service runs for itself: one-offs shaped like a service, and throwaways.</summary>
internal sealed partial class DockerContainerActions
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private static readonly string[] FinishedStates = ["created", "exited", "dead"];

    public async Task RemoveLeftoversAsync(string key, string value, CancellationToken cancellationToken)
    {
        var containers = await _pipeline.CallAsync("list", $"{key}={value}", token => _docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{key}={value}"] = true } },
        }, token), cancellationToken);

        // A one-off still running belongs to a live run (or one that may still be writing): left alone.
        foreach (var container in containers.Where(c => FinishedStates.Contains(c.State)))
        {
            await RemoveQuietlyAsync(container.ID);
        }
    }

    public async Task<OneOffResult> RunOneOffAsync(OneOffRun run, int maxOutput, CancellationToken cancellationToken)
    {
        if (run.Command.Count == 0)
        {
            throw new ArgumentException("a one-off run needs a command", nameof(run));
        }

        var template = await _pipeline.CallAsync("inspect", run.Template, token => _docker.Containers.InspectContainerAsync(run.Template, token), cancellationToken);
        var created = await _pipeline.CallAsync("create", run.Name, token => _docker.Containers.CreateContainerAsync(Parameters(template, run), token), cancellationToken);
        try
        {
            await _pipeline.CallAsync("start", run.Name, token => _docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), token), cancellationToken);
            var (exitCode, timedOut) = await WaitForExitAsync(created.ID, run.Timeout, cancellationToken);
            var output = await OutputAsync(created.ID, maxOutput, cancellationToken);
            return new OneOffResult(timedOut ? -1 : exitCode, output, timedOut, template.Image);
        }
        finally
        {
            // Even when the caller gave up: a one-off must never outlive its run.
            await RemoveQuietlyAsync(created.ID);
        }
    }

    public async Task<string> RunThrowawayAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
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
            await RemoveThrowawayAsync(created.ID, CancellationToken.None);
            throw;
        }

        return created.ID;
    }

    public Task RemoveThrowawayAsync(string nameOrId, CancellationToken cancellationToken) =>
        DockerCalls.OrNothingAsync(() => _pipeline.CallAsync("remove", nameOrId, token => _docker.Containers.RemoveContainerAsync(nameOrId, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, token), cancellationToken));

    public async Task<string> CreateVolumeHolderAsync(string name, string image, IReadOnlyList<DataMount> mounts, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var created = await _pipeline.CallAsync("create", name, token => _docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Entrypoint = ["true"],
            User = "0",
            NetworkDisabled = true,
            Labels = new Dictionary<string, string>(labels),
            HostConfig = new HostConfig
            {
                NetworkMode = "none",
                Mounts = mounts.Select(mount => new Mount
                {
                    Type = mount.Type,
                    Source = mount.Type == "volume" ? mount.Name ?? mount.Source : mount.Source,
                    Target = mount.Destination,
                }).ToList(),
            },
        }, token), cancellationToken);
        return created.ID;
    }

    private static CreateContainerParameters Parameters(ContainerInspectResponse template, OneOffRun run)
    {
        var hostConfig = template.HostConfig ?? new HostConfig();
        var networkMode = string.IsNullOrEmpty(hostConfig.NetworkMode) ? "default" : hostConfig.NetworkMode;
        var userNetwork = networkMode is not ("default" or "bridge" or "host" or "none") && !networkMode.StartsWith("container:", StringComparison.Ordinal);

        return new CreateContainerParameters
        {
            Name = run.Name,
            // The image id the service runs now, not its tag: no pull, and the same certbot the stack has.
            Image = template.Image,
            Entrypoint = [run.Command[0]],
            Cmd = run.Command.Skip(1).ToList(),
            Env = template.Config?.Env,
            User = string.IsNullOrEmpty(template.Config?.User) ? null : template.Config.User,
            Labels = new Dictionary<string, string>(run.Labels),
            Tty = false,
            HostConfig = new HostConfig
            {
                Binds = Binds(template),
                NetworkMode = networkMode,
                ExtraHosts = hostConfig.ExtraHosts,
                DNS = hostConfig.DNS,
                DNSSearch = hostConfig.DNSSearch,
                DNSOptions = hostConfig.DNSOptions,
            },
            NetworkingConfig = userNetwork
                ? new NetworkingConfig { EndpointsConfig = new Dictionary<string, EndpointSettings> { [networkMode] = new() } }
                : null,
        };
    }

    /// <summary>
    /// Every volume (named or anonymous, by its name) and bind of the template, at the same
    /// place: an anonymous volume declared by the image would otherwise be a new, empty one.
    /// </summary>
    private static List<string> Binds(ContainerInspectResponse template)
    {
        var binds = new List<string>();
        foreach (var mount in template.Mounts ?? [])
        {
            var source = mount.Type switch
            {
                "volume" when !string.IsNullOrEmpty(mount.Name) => mount.Name,
                "bind" => mount.Source,
                _ => null,
            };
            if (!string.IsNullOrEmpty(source) && !string.IsNullOrEmpty(mount.Destination))
            {
                binds.Add($"{source}:{mount.Destination}{(mount.RW ? "" : ":ro")}");
            }
        }

        return binds;
    }

    private async Task<(long ExitCode, bool TimedOut)> WaitForExitAsync(string id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Polls instead of the wait endpoint: the client's request timeout would cut a long wait.
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var state = (await _pipeline.CallAsync("inspect", id, token => _docker.Containers.InspectContainerAsync(id, token), cancellationToken)).State;
            if (state is { Running: false } && state.Status is "exited" or "dead")
            {
                return (state.ExitCode, false);
            }

            if (time.GetUtcNow() >= deadline)
            {
                try
                {
                    await _pipeline.CallAsync("kill", id, token => _docker.Containers.KillContainerAsync(id, new ContainerKillParameters(), token), cancellationToken);
                }
                catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
                {
                    // It exited on its own in the meantime.
                }

                return (-1, true);
            }

            await Task.Delay(PollInterval, time, cancellationToken);
        }
    }

    private async Task<string> OutputAsync(string id, int maxOutput, CancellationToken cancellationToken)
    {
        using var stream = await _pipeline.CallAsync("logs", id, token => _docker.Containers.GetContainerLogsAsync(id, new ContainerLogsParameters
        {
            ShowStdout = true,
            ShowStderr = true,
            Follow = false,
        }, token), cancellationToken);

        // Read frame by frame so stdout and stderr keep the order they were written in.
        var text = new StringBuilder();
        var buffer = new byte[16 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        while (true)
        {
            var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken);
            if (read.EOF || read.Count == 0)
            {
                break;
            }

            var count = decoder.GetChars(buffer, 0, read.Count, chars, 0);
            text.Append(chars, 0, count);
            if (text.Length > maxOutput * 2)
            {
                text.Remove(0, text.Length - maxOutput);
            }
        }

        return text.Length <= maxOutput ? text.ToString() : text.ToString(text.Length - maxOutput, maxOutput);
    }

    private async Task RemoveQuietlyAsync(string id)
    {
        // Its own deadline: called when the caller may have given up already.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await DockerCalls.OrNothingAsync(() => _pipeline.CallAsync("remove", id, token => _docker.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = false }, token), timeout.Token));
    }
}
