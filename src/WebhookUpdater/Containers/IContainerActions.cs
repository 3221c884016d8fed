namespace WebhookUpdater.Containers;

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

/// <summary>
/// The standard output of a command running in a container, as a stream read while the command
/// runs (nothing is buffered beyond one read). Its standard error is kept (the tail of it) and
/// its exit code is known only after the output ended: call <see cref="FinishAsync"/> then.
/// </summary>
public interface IExecOutput : IAsyncDisposable
{
    Stream Stdout { get; }

    /// <summary>Reads what is left, then the exit code and the tail of standard error.</summary>
    Task<ExecResult> FinishAsync(CancellationToken cancellationToken);
}

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
/// Acts on containers, each operation one call (or a short fixed sequence) against the engine,
/// through the patient resilience pipeline. The order and the decisions live in the features.
/// Archive transfers and pulls are bounded by their progress (Docker:StallTimeout), commands by
/// their deadline (Docker:ExecTimeout), everything else by Docker:RequestTimeout.
/// </summary>
public interface IContainerActions
{
    /// <summary>Pulls the image; the registry's in-band errors, a stall and Docker:PullTimeout fail it (<see cref="ImagePullException"/>).</summary>
    Task<ContainerImage> PullAsync(ImageReference image, IProgress<string> progress, CancellationToken cancellationToken);

    /// <summary>
    /// Creates (does not start) a container named <paramref name="name"/> with the full
    /// configuration of <paramref name="template"/>, on <paramref name="image"/>. Returns its id.
    /// </summary>
    Task<string> CreateLikeAsync(string template, string name, string image, CancellationToken cancellationToken);

    Task RenameAsync(string nameOrId, string newName, CancellationToken cancellationToken);

    /// <summary>Stops it, giving it the container's own StopTimeout (compose's stop_grace_period) when set.</summary>
    Task StopAsync(string nameOrId, CancellationToken cancellationToken);

    Task StartAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Freezes every process of a running container (cgroup freezer): it keeps its memory and connections, and writes nothing.</summary>
    Task PauseAsync(string nameOrId, CancellationToken cancellationToken);

    Task UnpauseAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Removes it (running or not) but never its volumes; a missing container is no error.</summary>
    Task RemoveAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Runs a command; it is killed when Docker:ExecTimeout passes.</summary>
    Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, CancellationToken cancellationToken) =>
        ExecAsync(nameOrId, command, Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>
    /// Runs a command; it is killed (inside the container) when <paramref name="budget"/> or
    /// Docker:ExecTimeout passes, whichever is first, and the result says so.
    /// </summary>
    Task<ExecResult> ExecAsync(string nameOrId, IReadOnlyList<string> command, TimeSpan budget, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="command"/> with extra environment variables; its stdout is streamed out.</summary>
    Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="command"/> with <paramref name="input"/> as its stdin; returns its exit code and the tail of its output.</summary>
    Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken);

    /// <summary>A tar stream of a path in the container (Docker's archive API).</summary>
    Task<Stream> ArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken);

    /// <summary>A tar stream of a path in the container, or null when the path does not exist there (a missing container still throws).</summary>
    Task<Stream?> TryArchiveAsync(string nameOrId, string path, CancellationToken cancellationToken);

    /// <summary>Unpacks <paramref name="tar"/> into a path of the container.</summary>
    Task ExtractAsync(string nameOrId, string path, Stream tar, CancellationToken cancellationToken);

    /// <summary>
    /// Runs <paramref name="command"/> in a throwaway container of <paramref name="image"/> that has the
    /// volumes and binds of <paramref name="volumesOf"/> at the same paths (no network, as root), waits
    /// for it and removes it. Returns its exit code and the tail of its output.
    /// </summary>
    Task<ExecResult> RunWithVolumesOfAsync(string volumesOf, string image, IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the one-off container, starts it, waits for it to exit (or kills it at the timeout),
    /// collects its output, and removes it whatever happened.
    /// </summary>
    Task<OneOffResult> RunOneOffAsync(OneOffRun run, int maxOutput, CancellationToken cancellationToken);

    /// <summary>Removes exited containers carrying this label, left behind by a run the process did not finish.</summary>
    Task RemoveLeftoversAsync(string key, string value, CancellationToken cancellationToken);

    /// <summary>
    /// Creates and starts <paramref name="name"/> from <paramref name="image"/> with no network but
    /// its own loopback and no mounts (only the image's own anonymous volumes): it cannot reach or
    /// change what the stack runs. Returns its id.
    /// </summary>
    Task<string> RunThrowawayAsync(string name, string image, IReadOnlyList<string> environment, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>Removes a throwaway container (running or not) with its anonymous volumes; a missing container is no error.</summary>
    Task RemoveThrowawayAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates, and never starts, <paramref name="name"/> from <paramref name="image"/> with these
    /// volumes and bind mounts at their paths (writable) and no network: a stand-in a restore writes
    /// through while the container that owns the data is gone. Removed with <see cref="RemoveThrowawayAsync"/>,
    /// which leaves named volumes and binds as they are. Returns its id.
    /// </summary>
    Task<string> CreateVolumeHolderAsync(string name, string image, IReadOnlyList<DataMount> mounts, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);
}
