namespace WebhookUpdater.Containers;

/// <summary>Finds the containers an event is about. Answered by the engine, or by an index kept from its events.</summary>
public interface IContainerLookup
{
    /// <summary>The container with this name or id, or null when there is none.</summary>
    Task<ContainerSnapshot?> FindAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Every container (running or not) created from an image of this repository.</summary>
    Task<IReadOnlyList<ContainerSnapshot>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken);
}

/// <summary>
/// The one narrow door to the container engine. Everything that speaks the Docker API lives
/// behind it, in this folder; the rest of the service decides.
/// </summary>
public interface IContainerRuntime : IContainerLookup
{
    /// <summary>Every container of the engine, running or not.</summary>
    Task<IReadOnlyList<ContainerSnapshot>> ListAllAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The engine's changes to containers and images from <paramref name="since"/> on, until the
    /// stream breaks (it then throws or ends: the engine went away).
    /// </summary>
    IAsyncEnumerable<EngineChange> WatchAsync(DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>Answers when the engine answers; throws otherwise.</summary>
    Task<string> PingAsync(CancellationToken cancellationToken);
}

/// <summary>Something changed in the engine: a container (by id) or an image.</summary>
/// <param name="Type">"container" or "image".</param>
public sealed record EngineChange(string Type, string Id, string Action)
{
    public const string Container = "container";
    public const string Image = "image";
}
