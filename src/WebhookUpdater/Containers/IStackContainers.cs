namespace WebhookUpdater.Containers;

/// <summary>A command to run once in a new container shaped like a service's (<c>docker compose run --rm</c>).</summary>
/// <param name="Template">The service container whose image, environment, volumes, binds and network the run takes.</param>
/// <param name="Command">Entrypoint and arguments; the first word replaces the image's entrypoint.</param>
/// <param name="Name">The one-off container's name.</param>
/// <param name="Labels">Labels of the one-off container (the template's are not copied: its role label would make it a second service).</param>
/// <param name="Timeout">After this the container is killed and the run counts as failed.</param>
public sealed record OneOffRun(
    string Template,
    IReadOnlyList<string> Command,
    string Name,
    IReadOnlyDictionary<string, string> Labels,
    TimeSpan Timeout);

/// <param name="ExitCode">The container's exit code; -1 when it was killed at the timeout.</param>
/// <param name="Output">stdout and stderr in the order they were written, the last <c>maxOutput</c> characters.</param>
public sealed record OneOffResult(long ExitCode, string Output, bool TimedOut, string Image);

/// <summary>
/// The stack's service containers as a whole: found by label, read from, and used as the model
/// of one-off commands. Lives beside <see cref="IContainerLifecycle"/> so only Containers/ speaks Docker.
/// </summary>
public interface IStackContainers
{
    /// <summary>Names of every container (running or not) carrying label <paramref name="key"/>=<paramref name="value"/>.</summary>
    Task<IReadOnlyList<string>> FindByLabelAsync(string key, string value, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the container, starts it, waits for it to exit (or kills it at the timeout),
    /// collects its output, and removes it whatever happened.
    /// </summary>
    Task<OneOffResult> RunAsync(OneOffRun run, int maxOutput, CancellationToken cancellationToken);

    /// <summary>A tar stream of a path in the container (Docker's archive API), or null when the path does not exist there.</summary>
    Task<Stream?> TryArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken);

    /// <summary>Removes exited containers carrying this label, left behind by a run the process did not finish.</summary>
    Task RemoveLeftoversAsync(string key, string value, CancellationToken cancellationToken);
}
