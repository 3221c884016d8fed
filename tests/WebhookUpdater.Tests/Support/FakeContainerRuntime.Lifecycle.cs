using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Support;

/// <summary>
/// The update operations of the in-memory engine: containers are created, renamed, started and
/// stopped as Docker would, an image marked as exiting stops right after its start, and every
/// change is written to <see cref="Operations"/> so a test can read the order of things.
/// </summary>
internal sealed partial class FakeContainerRuntime : IContainerActions
{
    private readonly Lock _lock = new();

    private readonly HashSet<string> _exitingImages = [];

    /// <summary>What the registry serves now for any pull; null: the pull fails with "not found".</summary>
    public ContainerImage? Published { get; set; }

    /// <summary>The changes made, in order: "create NAME", "stop NAME", "rename OLD NEW", "start NAME ID", "remove NAME".</summary>
    public List<string> Operations { get; } = [];

    /// <summary>An operation ("pull", "create", "stop", "rename", "start", "remove") that fails with this message.</summary>
    public Dictionary<string, string> Failures { get; } = [];

    /// <summary>Publishes an image whose containers exit at once (a version that does not start).</summary>
    public ContainerImage PublishExiting(string repository, string digest)
    {
        var image = Publish(repository, digest);
        lock (_lock)
        {
            _exitingImages.Add(image.Id);
        }

        return image;
    }

    /// <summary>Makes <paramref name="digest"/> what the registry serves for the repository.</summary>
    public ContainerImage Publish(string repository, string digest)
    {
        Published = new ContainerImage("sha256:" + digest[^64..].Replace('0', 'f'), [$"{repository}@{digest}"]);
        return Published;
    }

    /// <summary>How often a container (by id) was started.</summary>
    public int Starts(string id)
    {
        lock (_lock)
        {
            return Operations.Count(operation => operation.StartsWith("start ", StringComparison.Ordinal) && operation.EndsWith(" " + id, StringComparison.Ordinal));
        }
    }

    public ContainerInfo? Named(string name) => _containers.TryGetValue(name, out var container) ? container : null;

    public Task<ContainerImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken)
    {
        Fail("pull");
        return Published is { } published ? Task.FromResult(published) : throw new InvalidOperationException($"pulling {image} failed: manifest unknown: not found");
    }

    public Task RenameAsync(string nameOrId, string newName, CancellationToken cancellationToken)
    {
        Fail("rename");
        lock (_lock)
        {
            var container = Lookup(nameOrId) ?? throw new InvalidOperationException($"No such container: {nameOrId}");
            if (_containers.ContainsKey(newName))
            {
                throw new InvalidOperationException($"Conflict: the name {newName} is already in use");
            }

            _containers.TryRemove(container.Name, out _);
            _containers[newName] = container with { Name = newName };
            Operations.Add($"rename {container.Name} {newName}");
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("stop");
        Change(nameOrId, container => container.Running ? InState(container, "exited") : container, "stop");
        return Task.CompletedTask;
    }

    public Task StartAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("start");
        lock (_lock)
        {
            var container = Lookup(nameOrId) ?? throw new InvalidOperationException($"No such container: {nameOrId}");
            _containers[container.Name] = InState(container, _exitingImages.Contains(container.ImageId) ? "exited" : "running");
            Operations.Add($"start {container.Name} {container.Id}");
        }

        return Task.CompletedTask;
    }

    public Task PauseAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("pause");
        Change(nameOrId, container => container.Status == "running" ? InState(container, "paused") : container, "pause");
        return Task.CompletedTask;
    }

    public Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("unpause");
        Change(nameOrId, container => container.Status == "paused" ? InState(container, "running") : container, "unpause");
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("remove");
        lock (_lock)
        {
            if (Lookup(nameOrId) is { } container)
            {
                _containers.TryRemove(container.Name, out _);
                Operations.Add($"remove {container.Name}");
            }
        }

        return Task.CompletedTask;
    }

    public Task<string> CreateLikeAsync(string template, string name, string image, CancellationToken cancellationToken)
    {
        Fail("create");
        lock (_lock)
        {
            var old = Lookup(template) ?? throw new InvalidOperationException($"No such container: {template}");
            if (_containers.ContainsKey(name))
            {
                throw new InvalidOperationException($"Conflict: the name {name} is already in use");
            }

            var created = InState(old, "created") with
            {
                Id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
                Name = name,
                ConfiguredImage = image,
                ImageId = Published?.Id ?? old.ImageId,
                RepoDigests = Published?.RepoDigests ?? old.RepoDigests,
            };
            _containers[name] = created;
            Operations.Add($"create {name}");
            return Task.FromResult(created.Id);
        }
    }

    public Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) => throw new NotSupportedException("the fake engine keeps no files");

    public Task<Stream?> TryArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) => throw new NotSupportedException("the fake engine keeps no files");

    public Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken) => throw new NotSupportedException("the fake engine keeps no files");

    public Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    /// <summary>Containers whose commands (the gate's update.health.cmd) exit 1; by default every command exits 0.</summary>
    public Func<ContainerInfo, bool>? CommandsFail { get; set; }

    public Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, TimeSpan budget, CancellationToken cancellationToken) =>
        Task.FromResult(Lookup(nameOrId) is { } container && CommandsFail?.Invoke(container) == true ? new ExecResult(1, "") : new ExecResult(0, ""));

    public Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    public Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    public Task<OneOffResult> RunOneOffAsync(OneOffRun run, int maxOutput, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    public Task RemoveLeftoversAsync(string key, string value, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<string> RunThrowawayAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no throwaway containers");

    public Task RemoveThrowawayAsync(string nameOrId, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<string> CreateVolumeHolderAsync(string name, string image, IReadOnlyList<DataMount> mounts, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
        throw new NotSupportedException("volume holders are made only by the Swarm agent, on a real engine");

    private ContainerInfo? Lookup(string nameOrId) =>
        _containers.TryGetValue(nameOrId, out var byName) ? byName : _containers.Values.FirstOrDefault(c => c.Id == nameOrId);

    private void Change(string nameOrId, Func<ContainerInfo, ContainerInfo> change, string operation)
    {
        lock (_lock)
        {
            var container = Lookup(nameOrId) ?? throw new InvalidOperationException($"No such container: {nameOrId}");
            _containers[container.Name] = change(container);
            Operations.Add($"{operation} {container.Name}");
        }
    }

    private void Fail(string operation)
    {
        if (Failures.TryGetValue(operation, out var message))
        {
            throw new InvalidOperationException(message);
        }
    }
}
