using System.Text.Json;
using Microsoft.Extensions.Options;
using Polly.Registry;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;
using WebhookUpdater.Swarm;

namespace WebhookUpdater.Backups;

/// <summary>What the manager asks of an agent: one set of one service, made or restored on the node where its task runs.</summary>
/// <param name="Verb"><see cref="SwarmAgentCommand.Backup"/> or <see cref="SwarmAgentCommand.Restore"/>.</param>
/// <param name="Labels">The service's labels (backup.*): Swarm puts them on the service, not on its task container.</param>
public sealed record SwarmAgentRequest(
    string Verb, string Service, string ServiceId, string SetId, string Kind, string? JobId, string? ImageId, IReadOnlyDictionary<string, string> Labels)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// For a restore of paths, with the service scaled to 0: its volumes and binds. The agent puts
    /// the files back through a stopped stand-in container of <see cref="HolderImage"/> with these
    /// mounts, since no task container is left to write through.
    /// </summary>
    public IReadOnlyList<DataMount>? Mounts { get; init; }

    /// <summary>The image of the stand-in: the agent's own, present on the node since the agent runs from it.</summary>
    public string? HolderImage { get; init; }

    /// <summary>The agent's command line: no secret is on it (they come as files under /run/secrets).</summary>
    public IList<string> Arguments() => [SwarmAgentCommand.Name, Verb, JsonSerializer.Serialize(this, Json)];

    public static SwarmAgentRequest Parse(string json) =>
        JsonSerializer.Deserialize<SwarmAgentRequest>(json, Json) ?? throw new ArgumentException("the agent request is empty");
}

/// <summary>
/// <c>dotnet WebhookUpdater.dll agent backup|restore {request}</c>: runs inside a Swarm job on the
/// node of a service's task, with that node's Docker socket, and makes (or restores) the set
/// with the same snapshot and restore code as for a plain container. The store's settings come
/// from the environment, its credentials and the signing key from Docker secrets. It prints one
/// line of JSON, and exits 0 only when the set is complete (or restored).
/// </summary>
public static class SwarmAgentCommand
{
    public const string Name = "agent";
    public const string Backup = "backup";
    public const string Restore = "restore";

    public static bool Matches(string[] args) => args.Length > 0 && args[0] == Name;

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        if (args.Length != 3 || args[1] is not (Backup or Restore))
        {
            await output.WriteLineAsync("usage: dotnet WebhookUpdater.dll agent backup|restore <request json>   (started by the manager as a Swarm job)");
            return 2;
        }

        var request = SwarmAgentRequest.Parse(args[2]);
        var builder = RestoreCommand.CommandHost([]);
        builder.Services.AddSingleton(provider => new TaskContainerDoor(
            new DockerContainerLookup(provider.GetRequiredService<DockerApi>(), provider.GetRequiredService<ResiliencePipelineProvider<string>>().Docker(DockerResilience.Patient)),
            ActivatorUtilities.CreateInstance<DockerContainerActions>(provider),
            request));
        builder.Services.AddSingleton<IContainerLookup>(provider => provider.GetRequiredService<TaskContainerDoor>());
        builder.Services.AddSingleton<IContainerActions>(provider => provider.GetRequiredService<TaskContainerDoor>());
        using var host = builder.Build();
        try
        {
            _ = host.Services.GetRequiredService<IOptions<BackupOptions>>().Value;
            // Pauses are journaled: the agent's journal lives in its own scratch folder.
            await host.Services.GetRequiredService<Database>().MigrateAsync(CancellationToken.None);
            if (request.Verb == Backup)
            {
                var manifest = await host.Services.GetRequiredService<ContainerSnapshotter>()
                    .SnapshotAsync(request.Service, request.Kind, request.JobId, request.ImageId, CancellationToken.None, request.SetId);
                await output.WriteLineAsync(JsonSerializer.Serialize(new { set = manifest.Id, objects = manifest.Objects.Count, bytes = manifest.Objects.Sum(o => o.Size) }));
                return 0;
            }

            var report = await host.Services.GetRequiredService<BackupRestorer>()
                .RestoreAsync(new RestoreRequest(request.SetId, RunHealthGate: false, StartAll: false), CancellationToken.None);
            await output.WriteLineAsync(JsonSerializer.Serialize(new { set = request.SetId, restored = report.Succeeded, steps = report.Steps, error = report.Error }));
            return report.Succeeded ? 0 : 1;
        }
        catch (Exception e)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(new { set = request.SetId, error = e.Message }));
            return 1;
        }
        finally
        {
            await host.Services.GetRequiredService<TaskContainerDoor>().RemoveHolderAsync();
        }
    }
}

/// <summary>
/// The agent's door to its node's engine: the service's name stands for its running task
/// container on this node, with the service's labels on it; every other name is left as it is.
/// For a restore of paths (the service scaled to 0) it stands for a stopped stand-in container
/// with the service's mounts, made on first use and removed at the end.
/// </summary>
internal sealed class TaskContainerDoor(IContainerLookup lookup, IContainerActions actions, SwarmAgentRequest request) : IContainerLookup, IContainerActions
{
    /// <summary>On a stand-in container: the service it stands in for.</summary>
    public const string HolderLabel = SwarmBackups.AgentLabel + ".holder";

    /// <summary>How long a task container scaled away may take to stop (Swarm's stop grace period is 10 s unless set).</summary>
    private static readonly TimeSpan TaskStopWait = TimeSpan.FromMinutes(5);

    private ContainerInfo? _task;
    private string? _holder;

    private async Task<ContainerInfo> TaskAsync(CancellationToken cancellationToken)
    {
        if (_task is not null)
        {
            return _task;
        }

        var running = await RunningTasksAsync(cancellationToken);
        if (request.Mounts is { } mounts)
        {
            // Swarm drops a scaled-down task from its list while the container still stops (its grace period).
            var until = DateTimeOffset.UtcNow + TaskStopWait;
            while (running.Count != 0 && DateTimeOffset.UtcNow < until)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
                running = await RunningTasksAsync(cancellationToken);
            }

            if (running.Count != 0)
            {
                throw new BackupSourceException($"service {request.Service} still has {running.Count} running task container(s) on this node after {TaskStopWait.TotalMinutes} min: its paths are restored only while it is scaled to 0");
            }

            var holderLabels = Merged(new Dictionary<string, string> { [SwarmBackups.AgentLabel] = "restore-holder", [HolderLabel] = request.Service });
            var image = request.HolderImage ?? throw new BackupSourceException("the restore names no image for the stand-in container");
            // A stand-in of this service left by an agent that was stopped midway goes first.
            await actions.RemoveLeftoversAsync(HolderLabel, request.Service, cancellationToken);
            _holder = await actions.CreateVolumeHolderAsync($"wu-restore-{Guid.NewGuid().ToString("N")[..10]}", image, mounts, holderLabels, cancellationToken);
            var holder = await lookup.FindAsync(_holder, cancellationToken)
                ?? throw new BackupSourceException($"the stand-in container {_holder} disappeared as it was made");
            _task = holder with { Labels = holderLabels };
            return _task;
        }

        if (running.Count != 1)
        {
            throw new BackupSourceException($"service {request.Service} has {running.Count} running task container(s) on this node, not one: the set is taken of exactly one task");
        }

        _task = running[0] with { Labels = Merged(running[0].Labels) };
        return _task;
    }

    private async Task<List<ContainerInfo>> RunningTasksAsync(CancellationToken cancellationToken) =>
        (await lookup.ListByLabelAsync(SwarmLabels.TaskOfService, request.ServiceId, cancellationToken)).Where(task => task.Running).ToList();

    /// <summary>The container's labels with the service's over them (Swarm puts backup.* on the service only).</summary>
    private Dictionary<string, string> Merged(IReadOnlyDictionary<string, string> own)
    {
        var labels = new Dictionary<string, string>(own, StringComparer.Ordinal);
        foreach (var (key, value) in request.Labels)
        {
            labels[key] = value;
        }

        return labels;
    }

    /// <summary>Removes the stand-in, if one was made; its volumes and binds stay.</summary>
    public async Task RemoveHolderAsync()
    {
        if (_holder is { } holder)
        {
            await actions.RemoveThrowawayAsync(holder, CancellationToken.None);
        }
    }

    private async Task<string> MapAsync(string nameOrId, CancellationToken cancellationToken) =>
        nameOrId == request.Service ? (await TaskAsync(cancellationToken)).Id : nameOrId;

    public async Task<ContainerInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        if (nameOrId != request.Service)
        {
            return await lookup.FindAsync(nameOrId, cancellationToken);
        }

        var task = await TaskAsync(cancellationToken);
        // Read again for its state now (paused, running), under the service's name and labels.
        var now = await lookup.FindAsync(task.Id, cancellationToken);
        return now is null ? null : now with { Name = request.Service, Labels = task.Labels };
    }

    public Task<IReadOnlyList<ContainerInfo>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken) => lookup.FindByRepositoryAsync(repository, cancellationToken);

    public Task<IReadOnlyList<ContainerInfo>> ListAsync(CancellationToken cancellationToken) => lookup.ListAsync(cancellationToken);

    public Task<IReadOnlyList<ContainerInfo>> ListByLabelAsync(string key, string? value, CancellationToken cancellationToken) => lookup.ListByLabelAsync(key, value, cancellationToken);

    public Task<ContainerImage?> ImageAsync(string reference, CancellationToken cancellationToken) => lookup.ImageAsync(reference, cancellationToken);

    public async Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken) =>
        await lookup.EnvironmentAsync(await MapAsync(nameOrId, cancellationToken), cancellationToken);

    public async Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken) =>
        await lookup.LogTailAsync(await MapAsync(nameOrId, cancellationToken), lines, cancellationToken);

    public Task<string> PingAsync(CancellationToken cancellationToken) => lookup.PingAsync(cancellationToken);

    public Task<ContainerImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken) => actions.PullAsync(image, progress, cancellationToken);

    public async Task<string> CreateLikeAsync(string template, string name, string image, CancellationToken cancellationToken) =>
        await actions.CreateLikeAsync(await MapAsync(template, cancellationToken), name, image, cancellationToken);

    public async Task RenameAsync(string nameOrId, string newName, CancellationToken cancellationToken) =>
        await actions.RenameAsync(await MapAsync(nameOrId, cancellationToken), newName, cancellationToken);

    public async Task StopAsync(string nameOrId, CancellationToken cancellationToken) =>
        await actions.StopAsync(await MapAsync(nameOrId, cancellationToken), cancellationToken);

    public async Task StartAsync(string nameOrId, CancellationToken cancellationToken) =>
        await actions.StartAsync(await MapAsync(nameOrId, cancellationToken), cancellationToken);

    public async Task PauseAsync(string nameOrId, CancellationToken cancellationToken) =>
        await actions.PauseAsync(await MapAsync(nameOrId, cancellationToken), cancellationToken);

    public async Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken) =>
        await actions.UnpauseAsync(await MapAsync(nameOrId, cancellationToken), cancellationToken);

    public async Task RemoveAsync(string nameOrId, CancellationToken cancellationToken) =>
        await actions.RemoveAsync(await MapAsync(nameOrId, cancellationToken), cancellationToken);

    public async Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, TimeSpan budget, CancellationToken cancellationToken) =>
        await actions.ExecAsync(await MapAsync(nameOrId, cancellationToken), command, budget, cancellationToken);

    public async Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken) =>
        await actions.ExecReadAsync(await MapAsync(nameOrId, cancellationToken), command, environment, cancellationToken);

    public async Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken) =>
        await actions.ExecWriteAsync(await MapAsync(nameOrId, cancellationToken), command, environment, input, cancellationToken);

    public async Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) =>
        await actions.ArchiveAsync(await MapAsync(nameOrId, cancellationToken), path, cancellationToken);

    public async Task<Stream?> TryArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) =>
        await actions.TryArchiveAsync(await MapAsync(nameOrId, cancellationToken), path, cancellationToken);

    public async Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken) =>
        await actions.ExtractAsync(await MapAsync(nameOrId, cancellationToken), path, tar, cancellationToken);

    public async Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken) =>
        await actions.RunWithVolumesOfAsync(await MapAsync(volumesOf, cancellationToken), image, command, timeout, cancellationToken);

    public Task<OneOffResult> RunOneOffAsync(OneOffRun run, int maxOutput, CancellationToken cancellationToken) => actions.RunOneOffAsync(run, maxOutput, cancellationToken);

    public Task RemoveLeftoversAsync(string key, string value, CancellationToken cancellationToken) => actions.RemoveLeftoversAsync(key, value, cancellationToken);

    public Task<string> RunThrowawayAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        actions.RunThrowawayAsync(name, image, environment, labels, cancellationToken);

    public Task RemoveThrowawayAsync(string nameOrId, CancellationToken cancellationToken) => actions.RemoveThrowawayAsync(nameOrId, cancellationToken);

    public Task<string> CreateVolumeHolderAsync(string name, string image, IReadOnlyList<DataMount> mounts, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        actions.CreateVolumeHolderAsync(name, image, mounts, labels, cancellationToken);
}
