using System.Collections.Concurrent;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Support;

/// <summary>An in-memory engine for the fast tests: containers are what the test says they are.</summary>
internal sealed partial class FakeContainerRuntime : IContainerLookup
{
    private readonly ConcurrentDictionary<string, ContainerInfo> _containers = new();

    public Exception? Failure { get; set; }

    public int Calls;

    /// <summary>Holds back the answer to a container look-up (an engine slow to inspect) until released.</summary>
    public TaskCompletionSource? InspectGate { get; set; }

    public ContainerInfo Add(string name, string image, string? policy = null, string? repoDigest = null, IReadOnlyDictionary<string, string>? moreLabels = null)
    {
        var labels = new Dictionary<string, string>(moreLabels ?? new Dictionary<string, string>());
        if (policy is not null)
        {
            labels["update.policy"] = policy;
        }

        var container = InState(new ContainerInfo(
            Id: Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
            Name: name,
            ConfiguredImage: image,
            ImageId: "sha256:" + new string('a', 64),
            Status: "",
            Running: false,
            Restarting: false,
            RestartCount: 0,
            ExitCode: 0,
            Health: null,
            Labels: labels,
            RepoDigests: repoDigest is null ? [] : [repoDigest],
            Mounts: []), "running");
        _containers[name] = container;
        return container;
    }

    public void Remove(string name)
    {
        _containers.TryRemove(name, out _);
    }

    public async Task<ContainerInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        if (Failure is not null)
        {
            throw Failure;
        }

        if (InspectGate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        return _containers.Values.FirstOrDefault(c => c.Name == nameOrId || c.Id == nameOrId || (nameOrId.Length >= 12 && c.Id.StartsWith(nameOrId, StringComparison.Ordinal)));
    }

    public Task<IReadOnlyList<ContainerInfo>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        if (Failure is not null)
        {
            throw Failure;
        }

        IReadOnlyList<ContainerInfo> found = _containers.Values
            .Where(c => ImageReference.TryParse(c.ConfiguredImage, out var r, out _) && r.SameRepository(repository))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        return Task.FromResult(found);
    }

    public Task<IReadOnlyList<ContainerInfo>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ContainerInfo>>(_containers.Values.ToList());

    public Task<IReadOnlyList<ContainerInfo>> ListByLabelAsync(string key, string? value, CancellationToken cancellationToken) =>
        Failure is { } failure
            ? Task.FromException<IReadOnlyList<ContainerInfo>>(failure)
            : Task.FromResult<IReadOnlyList<ContainerInfo>>(_containers.Values.Where(c => c.Label(key) is { } found && (value is null || found == value)).ToList());

    public Task<ContainerImage?> ImageAsync(string reference, CancellationToken cancellationToken) =>
        Task.FromResult(_containers.Values.FirstOrDefault(c => c.ImageId == reference) is { } container
            ? new ContainerImage(container.ImageId, container.RepoDigests)
            : Images.FirstOrDefault(image => image.Id == reference) is { } kept
                ? new ContainerImage(kept.Id, kept.References.Where(name => name.Contains('@', StringComparison.Ordinal)).ToList())
                : null);

    public Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>?>(Lookup(nameOrId) is null ? null : []);

    public Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken) =>
        Task.FromResult(Lookup(nameOrId) is { Status: "exited" } ? "app: cannot start: configuration error" : "");

    /// <summary>The container as the engine shows it in this state; one that exited failed (exit code 1).</summary>
    private static ContainerInfo InState(ContainerInfo container, string state) =>
        container with { Status = state, Running = state is "running" or "paused", ExitCode = state == "exited" ? 1 : 0 };

    public Task<string> PingAsync(CancellationToken cancellationToken) =>
        Failure is null ? Task.FromResult("fake engine") : throw Failure;
}
