using System.Collections.Concurrent;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Support;

/// <summary>An in-memory engine for the fast tests: containers are what the test says they are.</summary>
internal sealed partial class FakeContainerRuntime : IContainerRuntime
{
    private readonly ConcurrentDictionary<string, ContainerSnapshot> _containers = new();

    public Exception? Failure { get; set; }

    public int Calls;

    /// <summary>Holds back the answer to a container look-up (an engine slow to inspect) until released.</summary>
    public TaskCompletionSource? InspectGate { get; set; }

    public ContainerSnapshot Add(string name, string image, string? policy = null, string? repoDigest = null, IReadOnlyDictionary<string, string>? moreLabels = null)
    {
        var labels = new Dictionary<string, string>(moreLabels ?? new Dictionary<string, string>());
        if (policy is not null)
        {
            labels["update.policy"] = policy;
        }

        var container = new ContainerSnapshot(
            Id: Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
            Name: name,
            ConfiguredImage: image,
            ImageId: "sha256:" + new string('a', 64),
            Labels: labels,
            RepoDigests: repoDigest is null ? [] : [repoDigest],
            State: "running");
        _containers[name] = container;
        return container;
    }

    public void Remove(string name)
    {
        _containers.TryRemove(name, out _);
    }

    public async Task<ContainerSnapshot?> FindAsync(string nameOrId, CancellationToken cancellationToken)
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

    public Task<IReadOnlyList<ContainerSnapshot>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        if (Failure is not null)
        {
            throw Failure;
        }

        IReadOnlyList<ContainerSnapshot> found = _containers.Values
            .Where(c => ImageReference.TryParse(c.ConfiguredImage, out var r, out _) && r.SameRepository(repository))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        return Task.FromResult(found);
    }

    public Task<string> PingAsync(CancellationToken cancellationToken) =>
        Failure is null ? Task.FromResult("fake engine") : throw Failure;
}
