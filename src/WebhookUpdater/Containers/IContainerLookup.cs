namespace WebhookUpdater.Containers;

/// <summary>
/// Looks containers up, asking the engine each time. With <see cref="IContainerActions"/> the
/// one door to the container engine: everything that speaks the Docker API lives behind these
/// two, in this folder; the rest of the service decides.
/// </summary>
/// <remarks>
/// The default registration rides out a daemon restart; the webhook's, keyed
/// <see cref="DockerResilience.Quick"/>, gives up within Diun's wait.
/// </remarks>
public interface IContainerLookup
{
    /// <summary>The container with this name or id, or null when there is none.</summary>
    Task<ContainerInfo?> FindAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Every container (running or not) created from an image of this repository.</summary>
    Task<IReadOnlyList<ContainerInfo>> FindByRepositoryAsync(ImageReference repository, CancellationToken cancellationToken);

    /// <summary>Every container, running or not.</summary>
    Task<IReadOnlyList<ContainerInfo>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Every container (running or not) carrying label <paramref name="key"/>=<paramref name="value"/>, or with any value when it is null.</summary>
    Task<IReadOnlyList<ContainerInfo>> ListByLabelAsync(string key, string? value, CancellationToken cancellationToken);

    /// <summary>The image with this id or reference, or null when the engine does not have it.</summary>
    Task<ContainerImage?> ImageAsync(string reference, CancellationToken cancellationToken);

    /// <summary>The container's environment (Config.Env, NAME=value), or null when there is no such container.</summary>
    Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>The last lines the container wrote (stdout, then stderr); empty when there is no such container.</summary>
    Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken);

    /// <summary>Answers when the engine answers; throws otherwise.</summary>
    Task<string> PingAsync(CancellationToken cancellationToken);
}
