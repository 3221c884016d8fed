using WebhookUpdater.Swarm;

namespace WebhookUpdater.Tests.Support;

/// <summary>
/// Swarm in memory: services, and what Swarm does with an update, told by the test (the states
/// it shows, one per look, and whether it rolls back). Not a manager unless the test says so,
/// so the other tests never look at services.
/// </summary>
internal sealed class FakeSwarm : ISwarmServices
{
    private readonly Dictionary<string, ServiceInfo> _services = new(StringComparer.Ordinal);
    private readonly Queue<string> _script = new();

    public bool IsManager { get; set; }

    /// <summary>The states Swarm shows after an update, one per look; a rollback state puts the previous image back.</summary>
    public List<string> Rollout { get; } = [SwarmUpdateStates.Updating, SwarmUpdateStates.Completed];

    public List<ServiceImageUpdate> Sent { get; } = [];

    public ServiceInfo Add(string name, string image, string? policy, IReadOnlyDictionary<string, string>? moreLabels = null)
    {
        var labels = new Dictionary<string, string>(moreLabels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (policy is not null)
        {
            labels["update.policy"] = policy;
        }

        var service = new ServiceInfo($"svc{_services.Count + 1:D22}", name, image, 10, labels, null);
        _services[service.Id] = service;
        return service;
    }

    /// <summary>Replaces the service as stored (its count, its mounts).</summary>
    public ServiceInfo Put(ServiceInfo service) => _services[service.Id] = service;

    public ServiceInfo? Named(string name) => _services.Values.SingleOrDefault(service => service.Name == name);

    /// <summary>Someone else changed the service (its version moves on).</summary>
    public void Touch(string name)
    {
        var service = Named(name)!;
        _services[service.Id] = service with { Version = service.Version + 1 };
    }

    public Task<bool> IsManagerAsync(CancellationToken cancellationToken) => Task.FromResult(IsManager);

    public Task<IReadOnlyList<ServiceInfo>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ServiceInfo>>(_services.Values.ToList());

    public Task<ServiceInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        var service = _services.Values.SingleOrDefault(s => s.Id == nameOrId || s.Name == nameOrId);
        if (service is not null && _script.TryDequeue(out var state))
        {
            var image = state is SwarmUpdateStates.RollbackCompleted or SwarmUpdateStates.RollbackStarted ? _previous[service.Id] : service.Image;
            service = _services[service.Id] = service with { Image = image, Update = new ServiceUpdateStatus(state, $"update {state}", null, null) };
        }

        return Task.FromResult(service);
    }

    private readonly Dictionary<string, string> _previous = new(StringComparer.Ordinal);

    public Task UpdateImageAsync(ServiceImageUpdate update, CancellationToken cancellationToken)
    {
        var service = _services[update.ServiceId];
        if (service.Version != update.Version)
        {
            throw new InvalidOperationException("update out of sequence");
        }

        Sent.Add(update);
        _previous[service.Id] = service.Image;
        _services[service.Id] = service with { Image = update.Image, Version = service.Version + 1, Update = null };
        foreach (var state in Rollout)
        {
            _script.Enqueue(state);
        }

        return Task.CompletedTask;
    }

    public Task<string> TaskErrorsAsync(string serviceId, CancellationToken cancellationToken) =>
        Task.FromResult("task: non-zero exit (1)");

    public Task<ulong> ScaleDownAsync(string serviceId, string node, CancellationToken cancellationToken)
    {
        var service = _services[serviceId];
        var count = service.Labels.TryGetValue(SwarmLabels.ScaledDownFrom, out var kept) ? ulong.Parse(kept, System.Globalization.CultureInfo.InvariantCulture) : service.Replicas ?? 1;
        var labels = new Dictionary<string, string>(service.Labels, StringComparer.Ordinal) { [SwarmLabels.ScaledDownFrom] = count.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        labels.TryAdd(SwarmLabels.ScaledDownOn, node);
        _services[serviceId] = service with { Labels = labels, Replicas = 0, Version = service.Version + 1 };
        return Task.FromResult(count);
    }

    public Task<ulong?> ScaleBackAsync(string serviceId, CancellationToken cancellationToken)
    {
        var service = _services[serviceId];
        if (!service.Labels.TryGetValue(SwarmLabels.ScaledDownFrom, out var kept))
        {
            return Task.FromResult<ulong?>(null);
        }

        var count = ulong.Parse(kept, System.Globalization.CultureInfo.InvariantCulture);
        var labels = new Dictionary<string, string>(service.Labels, StringComparer.Ordinal);
        labels.Remove(SwarmLabels.ScaledDownFrom);
        labels.Remove(SwarmLabels.ScaledDownOn);
        _services[serviceId] = service with { Labels = labels, Replicas = count, Version = service.Version + 1 };
        return Task.FromResult<ulong?>(count);
    }
}
