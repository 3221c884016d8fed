using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Swarm;

/// <summary>
/// One Swarm service as the updater sees it.
/// </summary>
/// <param name="Image">The image of its task template as Swarm keeps it (<c>repo:tag@sha256:…</c> once resolved).</param>
/// <param name="Version">Its Version.Index: an update names it, so two writers never both win.</param>
/// <param name="Labels">The service's own labels (Spec.Labels, <c>deploy.labels</c> in a stack file).</param>
/// <param name="Update">Its UpdateStatus, or null before Swarm starts rolling the last change out.</param>
public sealed record ServiceInfo(string Id, string Name, string Image, ulong Version, IReadOnlyDictionary<string, string> Labels, ServiceUpdateStatus? Update)
{
    /// <summary>The task count of a replicated service; null for a global service or a job.</summary>
    public ulong? Replicas { get; init; }

    /// <summary>The volumes and bind mounts of its task template (tmpfs and the like hold no data to restore).</summary>
    public IReadOnlyList<DataMount> Mounts { get; init; } = [];

    /// <summary>The image as the operator wrote it, without the digest Swarm pinned.</summary>
    public string ConfiguredImage => Image.IndexOf('@', StringComparison.Ordinal) is var at and > 0 ? Image[..at] : Image;

    /// <summary>The digest Swarm pinned the tasks to, or null when the spec names none.</summary>
    public string? Digest => Image.IndexOf('@', StringComparison.Ordinal) is var at and > 0 ? Image[(at + 1)..] : null;

    /// <summary>
    /// The service in the decider's terms: its name and labels, its image as configured, and the
    /// pinned digest as what it runs (Diun's swarm provider sends the image and digest only).
    /// </summary>
    public ContainerInfo AsTarget() => new(
        Id, Name, ConfiguredImage, Digest ?? "", "service", Running: true, Restarting: false, RestartCount: 0, ExitCode: 0, Health: null,
        Labels,
        Digest is { } digest && ImageReference.TryParse(ConfiguredImage, out var reference, out _) ? [$"{reference.Repository}@{digest}"] : [],
        []);
}

/// <summary>Swarm's UpdateStatus: updating, paused, completed, rollback_started, rollback_paused, rollback_completed.</summary>
public sealed record ServiceUpdateStatus(string State, string? Message, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt)
{
    public bool Ended => State is SwarmUpdateStates.Completed or SwarmUpdateStates.Paused or SwarmUpdateStates.RollbackCompleted or SwarmUpdateStates.RollbackPaused;
}

public static class SwarmUpdateStates
{
    public const string Updating = "updating";
    public const string Paused = "paused";
    public const string Completed = "completed";
    public const string RollbackStarted = "rollback_started";
    public const string RollbackPaused = "rollback_paused";
    public const string RollbackCompleted = "rollback_completed";
}

/// <summary>How the updater asks Swarm to roll a new image out.</summary>
/// <param name="MinimumMonitor">The monitor window when the operator set none: the health gate's stable time.</param>
public sealed record ServiceImageUpdate(string ServiceId, ulong Version, string Image, TimeSpan MinimumMonitor);

/// <summary>
/// The Swarm half of the door to the engine: services and the manager's state. Like
/// <see cref="IContainerLookup"/>, the only place that speaks the Swarm API.
/// </summary>
public interface ISwarmServices
{
    /// <summary>True when the engine is a Swarm manager (docker info: Swarm.ControlAvailable).</summary>
    Task<bool> IsManagerAsync(CancellationToken cancellationToken);

    /// <summary>Every service.</summary>
    Task<IReadOnlyList<ServiceInfo>> ListAsync(CancellationToken cancellationToken);

    /// <summary>The service with this name or id, or null when there is none.</summary>
    Task<ServiceInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>
    /// Sends the new image with the service's own update and rollback settings, forcing
    /// failure_action rollback. Fails when the service changed since <see cref="ServiceImageUpdate.Version"/>.
    /// </summary>
    Task UpdateImageAsync(ServiceImageUpdate update, CancellationToken cancellationToken);

    /// <summary>Why the service's recent tasks failed, newest first (Swarm's task errors), for the job and the email.</summary>
    Task<string> TaskErrorsAsync(string serviceId, CancellationToken cancellationToken);

    /// <summary>
    /// Scales a replicated service to 0 and writes the count it had, and the node its task ran on,
    /// in its labels <see cref="SwarmLabels.ScaledDownFrom"/> and <see cref="SwarmLabels.ScaledDownOn"/>
    /// in the same spec update, so a restore resumed after a restart finds both. A service already
    /// scaled down that way keeps its first count and node. Returns that count.
    /// </summary>
    Task<ulong> ScaleDownAsync(string serviceId, string node, CancellationToken cancellationToken);

    /// <summary>Gives a service scaled down by <see cref="ScaleDownAsync"/> its count back and drops the labels; null when it carries none.</summary>
    Task<ulong?> ScaleBackAsync(string serviceId, CancellationToken cancellationToken);
}

internal sealed class DockerSwarmServices(DockerApi engine, ResiliencePipeline pipeline) : ISwarmServices
{
    private readonly DockerClient _docker = engine.Client;

    public async Task<bool> IsManagerAsync(CancellationToken cancellationToken)
    {
        var info = await pipeline.CallAsync("info", "engine", token => _docker.System.GetSystemInfoAsync(token), cancellationToken);
        return info.Swarm?.ControlAvailable == true;
    }

    public async Task<IReadOnlyList<ServiceInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var services = await pipeline.CallAsync("list-services", "all", token => _docker.Swarm.ListServicesAsync(new ServiceListParameters(), token), cancellationToken);
        return services.Select(Info).ToList();
    }

    public async Task<ServiceInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken) =>
        await InspectAsync(nameOrId, cancellationToken) is { } service ? Info(service) : null;

    public async Task UpdateImageAsync(ServiceImageUpdate update, CancellationToken cancellationToken)
    {
        var service = await InspectAsync(update.ServiceId, cancellationToken)
            ?? throw new InvalidOperationException($"service {update.ServiceId} was removed");
        if (service.Version?.Index != update.Version)
        {
            throw new InvalidOperationException($"service {service.Spec?.Name} changed since it was read (version {service.Version?.Index}, not {update.Version})");
        }

        var spec = service.Spec ?? throw new InvalidOperationException($"service {update.ServiceId} has no spec");
        var container = spec.TaskTemplate?.ContainerSpec ?? throw new InvalidOperationException($"service {spec.Name} runs no container");
        container.Image = update.Image;
        spec.UpdateConfig = Forced(spec.UpdateConfig, update.MinimumMonitor);
        spec.RollbackConfig ??= new SwarmUpdateConfig { Parallelism = 1, FailureAction = "pause" };

        // Not retried: the version makes a second send fail, and a timeout must not look like "not sent".
        await _docker.Swarm.UpdateServiceAsync(update.ServiceId, new ServiceUpdateParameters
        {
            Service = spec,
            Version = (long)update.Version,
            RegistryAuthFrom = "spec",
        }, cancellationToken);
    }

    public async Task<string> TaskErrorsAsync(string serviceId, CancellationToken cancellationToken)
    {
        var tasks = await pipeline.CallAsync("list-tasks", serviceId, token => _docker.Tasks.ListAsync(new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [serviceId] = true } },
        }, token), cancellationToken);
        var errors = tasks
            .Where(task => !string.IsNullOrEmpty(task.Status?.Err))
            .OrderByDescending(task => task.Status!.Timestamp)
            .Take(5)
            .Select(task => $"{task.Spec?.ContainerSpec?.Image}: {task.Status!.Err}");
        return string.Join("\n", errors);
    }

    public async Task<ulong> ScaleDownAsync(string serviceId, string node, CancellationToken cancellationToken)
    {
        var (service, spec) = await SpecAsync(serviceId, cancellationToken);
        var replicated = spec.Mode?.Replicated ?? throw new InvalidOperationException($"service {spec.Name} is not replicated: only a replicated service is scaled to 0");
        spec.Labels ??= new Dictionary<string, string>();
        var count = spec.Labels.TryGetValue(SwarmLabels.ScaledDownFrom, out var kept) && ulong.TryParse(kept, out var first) ? first : replicated.Replicas ?? 1;
        spec.Labels[SwarmLabels.ScaledDownFrom] = count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        spec.Labels.TryAdd(SwarmLabels.ScaledDownOn, node);
        replicated.Replicas = 0;
        await SendAsync(service, spec, cancellationToken);
        return count;
    }

    public async Task<ulong?> ScaleBackAsync(string serviceId, CancellationToken cancellationToken)
    {
        var (service, spec) = await SpecAsync(serviceId, cancellationToken);
        if (spec.Labels is not { } labels || !labels.TryGetValue(SwarmLabels.ScaledDownFrom, out var kept) || !ulong.TryParse(kept, out var count))
        {
            return null;
        }

        labels.Remove(SwarmLabels.ScaledDownFrom);
        labels.Remove(SwarmLabels.ScaledDownOn);
        if (spec.Mode?.Replicated is { } replicated)
        {
            replicated.Replicas = count;
        }

        await SendAsync(service, spec, cancellationToken);
        return count;
    }

    private async Task<(SwarmService Service, ServiceSpec Spec)> SpecAsync(string serviceId, CancellationToken cancellationToken)
    {
        var service = await InspectAsync(serviceId, cancellationToken) ?? throw new InvalidOperationException($"service {serviceId} was removed");
        return (service, service.Spec ?? throw new InvalidOperationException($"service {serviceId} has no spec"));
    }

    /// <summary>Sends the spec at the version it was read at: a service changed meanwhile fails the call instead of being overwritten.</summary>
    private async Task SendAsync(SwarmService service, ServiceSpec spec, CancellationToken cancellationToken) =>
        await _docker.Swarm.UpdateServiceAsync(service.ID, new ServiceUpdateParameters
        {
            Service = spec,
            Version = (long)(service.Version?.Index ?? 0),
            RegistryAuthFrom = "spec",
        }, cancellationToken);

    /// <summary>The operator's update settings, with a failed update rolled back and watched at least as long as the health gate would.</summary>
    internal static SwarmUpdateConfig Forced(SwarmUpdateConfig? configured, TimeSpan minimumMonitor)
    {
        var config = configured ?? new SwarmUpdateConfig { Parallelism = 1 };
        config.FailureAction = "rollback";
        if (config.Monitor is null || config.Monitor == TimeSpan.Zero)
        {
            config.Monitor = minimumMonitor;
        }

        return config;
    }

    private Task<SwarmService?> InspectAsync(string nameOrId, CancellationToken cancellationToken) =>
        DockerCalls.OrNothingAsync(() => pipeline.CallAsync("inspect-service", nameOrId, token => _docker.Swarm.InspectServiceAsync(nameOrId, token), cancellationToken));

    private static ServiceInfo Info(SwarmService service) => new(
        service.ID,
        service.Spec?.Name ?? service.ID,
        service.Spec?.TaskTemplate?.ContainerSpec?.Image ?? "",
        service.Version?.Index ?? 0,
        service.Spec?.Labels is { } labels ? new Dictionary<string, string>(labels, StringComparer.Ordinal) : new Dictionary<string, string>(),
        service.UpdateStatus is { State: { Length: > 0 } state } status
            ? new ServiceUpdateStatus(state, status.Message, Time(status.StartedAt), Time(status.CompletedAt))
            : null)
    {
        Replicas = service.Spec?.Mode?.Replicated?.Replicas,
        Mounts = (service.Spec?.TaskTemplate?.ContainerSpec?.Mounts ?? [])
            // An anonymous volume belongs to one task and goes with it: nothing to put back.
            .Where(mount => mount.Type is "volume" or "bind" && !string.IsNullOrEmpty(mount.Target) && !string.IsNullOrEmpty(mount.Source))
            .Select(mount => new DataMount(mount.Type!, mount.Type == "volume" ? mount.Source : null, mount.Source ?? "", mount.Target!))
            .ToList(),
    };

    private static DateTimeOffset? Time(DateTime? value) => value is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null;
}

public static class SwarmLabels
{
    /// <summary>Swarm puts it on every task container: such a container belongs to its service.</summary>
    public const string TaskOfService = "com.docker.swarm.service.id";

    /// <summary>On a service scaled to 0 for a restore of its paths: the task count to give it back.</summary>
    public const string ScaledDownFrom = "webhook-updater.restore.replicas";

    /// <summary>With <see cref="ScaledDownFrom"/>: the node the task ran on, where its data is.</summary>
    public const string ScaledDownOn = "webhook-updater.restore.node";
}
