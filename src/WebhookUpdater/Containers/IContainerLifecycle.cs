namespace WebhookUpdater.Containers;

/// <summary>What the health gate reads of a container.</summary>
/// <param name="Health">The image HEALTHCHECK's status (healthy, unhealthy, starting), or null without one.</param>
public sealed record ContainerStatus(
    string Id,
    string Name,
    string ImageId,
    string Status,
    bool Running,
    bool Restarting,
    long RestartCount,
    long ExitCode,
    string? Health,
    IReadOnlyDictionary<string, string> Labels);

/// <summary>How a command run in a container ended, and the tail of what it wrote.</summary>
/// <param name="End">Whether it ended by itself or was stopped at its deadline.</param>
/// <param name="Note">When it was stopped: whether it was killed inside the container, or why it could not be.</param>
public sealed record ExecResult(long ExitCode, string Output, ExecEnd End = ExecEnd.Exited, string? Note = null)
{
    public bool Succeeded => End == ExecEnd.Exited && ExitCode == 0;

    /// <summary>One line for a report: the exit code, or the deadline and what was done about it.</summary>
    public string Describe() => End == ExecEnd.Exited ? $"exited with {ExitCode}" : Note ?? "passed its deadline";
}

public enum ExecEnd
{
    /// <summary>The command ended by itself; its exit code says how.</summary>
    Exited,

    /// <summary>The command ran past its deadline (or stalled) and was stopped.</summary>
    DeadlinePassed,
}

/// <summary>A path a container keeps data in: a named or anonymous volume, or a bind mount.</summary>
public sealed record DataMount(string Type, string? Name, string Source, string Destination);

public sealed record PulledImage(string Id, IReadOnlyList<string> RepoDigests);

/// <summary>
/// The Docker operations of an update, each one call (or a short fixed sequence) against the
/// engine. The order and the decisions live in Updates/.
/// </summary>
public partial interface IContainerLifecycle
{
    Task<ContainerStatus?> StatusAsync(string nameOrId, CancellationToken cancellationToken);

    Task<PulledImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken);

    Task<IReadOnlyList<DataMount>> DataMountsAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>A tar stream of a path in the container (Docker's archive API).</summary>
    Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken);

    Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken);

    Task RenameAsync(string nameOrId, string newName, CancellationToken cancellationToken);

    Task StopAsync(string nameOrId, CancellationToken cancellationToken);

    Task StartAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Freezes every process of a running container (cgroup freezer): it keeps its memory and connections, and writes nothing.</summary>
    Task PauseAsync(string nameOrId, CancellationToken cancellationToken);

    Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken);

    Task RemoveAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates (does not start) a container named <paramref name="name"/> with the full
    /// configuration of <paramref name="template"/>, on <paramref name="image"/>. Returns its id.
    /// </summary>
    Task<string> CreateLikeAsync(string template, string name, string image, CancellationToken cancellationToken);

    /// <summary>Runs a command; it is killed when Docker:ExecTimeout passes.</summary>
    Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, CancellationToken cancellationToken);

    /// <summary>
    /// Runs a command; it is killed (inside the container) when <paramref name="budget"/> or
    /// Docker:ExecTimeout passes, whichever is first, and the result says so.
    /// </summary>
    Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, TimeSpan budget, CancellationToken cancellationToken) =>
        ExecAsync(nameOrId, command, cancellationToken);

    Task<string> LogTailAsync(string nameOrId, int lines, CancellationToken cancellationToken);

    /// <summary>
    /// Runs <paramref name="command"/> in a throwaway container of <paramref name="image"/> that has the
    /// volumes and binds of <paramref name="volumesOf"/> at the same paths (no network, as root), waits
    /// for it and removes it. Returns its exit code and the tail of its output.
    /// </summary>
    Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken);
}
