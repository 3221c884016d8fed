using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Support;

/// <summary>
/// The update operations of the in-memory engine: containers are created, renamed, started and
/// stopped as Docker would, an image marked as exiting stops right after its start, and every
/// change is written to <see cref="Operations"/> so a test can read the order of things.
/// </summary>
internal sealed partial class FakeContainerRuntime : IContainerLifecycle
{
    private readonly Lock _lock = new();

    private readonly HashSet<string> _exitingImages = [];

    /// <summary>What the registry serves now for any pull; null: the pull fails with "not found".</summary>
    public PulledImage? Published { get; set; }

    /// <summary>The changes made, in order: "create NAME", "stop NAME", "rename OLD NEW", "start NAME ID", "remove NAME".</summary>
    public List<string> Operations { get; } = [];

    /// <summary>An operation ("pull", "create", "stop", "rename", "start", "remove") that fails with this message.</summary>
    public Dictionary<string, string> Failures { get; } = [];

    /// <summary>Publishes an image whose containers exit at once (a version that does not start).</summary>
    public PulledImage PublishExiting(string repository, string digest)
    {
        var image = Publish(repository, digest);
        lock (_lock)
        {
            _exitingImages.Add(image.Id);
        }

        return image;
    }

    /// <summary>Makes <paramref name="digest"/> what the registry serves for the repository.</summary>
    public PulledImage Publish(string repository, string digest)
    {
        Published = new PulledImage("sha256:" + digest[^64..].Replace('0', 'f'), [$"{repository}@{digest}"]);
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

    public ContainerSnapshot? Named(string name) => _containers.TryGetValue(name, out var container) ? container : null;

    public Task<ContainerStatus?> StatusAsync(string nameOrId, CancellationToken cancellationToken)
    {
        var container = Lookup(nameOrId);
        return Task.FromResult(container is null ? null : new ContainerStatus(
            container.Id, container.Name, container.ImageId, container.State, container.State is "running" or "paused", false, 0,
            container.State == "exited" ? 1 : 0, null, container.Labels));
    }

    public Task<PulledImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken)
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
        Change(nameOrId, container => container with { State = container.State == "running" ? "exited" : container.State }, "stop");
        return Task.CompletedTask;
    }

    public Task StartAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("start");
        lock (_lock)
        {
            var container = Lookup(nameOrId) ?? throw new InvalidOperationException($"No such container: {nameOrId}");
            _containers[container.Name] = container with { State = _exitingImages.Contains(container.ImageId) ? "exited" : "running" };
            Operations.Add($"start {container.Name} {container.Id}");
        }

        return Task.CompletedTask;
    }

    public Task PauseAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("pause");
        Change(nameOrId, container => container with { State = container.State == "running" ? "paused" : container.State }, "pause");
        return Task.CompletedTask;
    }

    public Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Fail("unpause");
        Change(nameOrId, container => container with { State = container.State == "paused" ? "running" : container.State }, "unpause");
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

            var created = old with
            {
                Id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
                Name = name,
                ConfiguredImage = image,
                ImageId = Published?.Id ?? old.ImageId,
                RepoDigests = Published?.RepoDigests ?? old.RepoDigests,
                State = "created",
            };
            _containers[name] = created;
            Operations.Add($"create {name}");
            return Task.FromResult(created.Id);
        }
    }

    public Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken) =>
        Task.FromResult(Lookup(nameOrId) is { State: "exited" } ? "app: cannot start: configuration error" : "");

    public Task<IReadOnlyList<DataMount>> DataMountsAsync(string nameOrId, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<DataMount>>([]);

    public Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken) => throw new NotSupportedException("the fake engine keeps no files");

    public Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken) => throw new NotSupportedException("the fake engine keeps no files");

    public Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    public Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, CancellationToken cancellationToken) => Task.FromResult(new ExecResult(0, ""));

    public Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    public Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the fake engine runs no commands");

    public Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>?>(Lookup(nameOrId) is null ? null : []);

    public async Task<IReadOnlyList<ContainerStatus>> ListAsync(CancellationToken cancellationToken)
    {
        var all = new List<ContainerStatus>();
        foreach (var container in _containers.Values)
        {
            all.Add((await StatusAsync(container.Id, cancellationToken))!);
        }

        return all;
    }

    private ContainerSnapshot? Lookup(string nameOrId) =>
        _containers.TryGetValue(nameOrId, out var byName) ? byName : _containers.Values.FirstOrDefault(c => c.Id == nameOrId);

    private void Change(string nameOrId, Func<ContainerSnapshot, ContainerSnapshot> change, string operation)
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
