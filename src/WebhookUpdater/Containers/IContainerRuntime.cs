namespace WebhookUpdater.Containers;

/// <summary>Finds the containers an event is about, asking the engine each time.</summary>
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
    /// <summary>Answers when the engine answers; throws otherwise.</summary>
    Task<string> PingAsync(CancellationToken cancellationToken);
}
