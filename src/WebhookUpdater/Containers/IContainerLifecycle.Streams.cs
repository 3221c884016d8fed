namespace WebhookUpdater.Containers;

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

/// <summary>Operations for backups and restores: streaming execs and a container's listing.</summary>
public partial interface IContainerLifecycle
{
    /// <summary>Runs <paramref name="command"/> with extra environment variables; its stdout is streamed out.</summary>
    Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="command"/> with <paramref name="input"/> as its stdin; returns its exit code and the tail of its output.</summary>
    Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken);

    /// <summary>The container's environment (Config.Env, NAME=value), or null when there is no such container.</summary>
    Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken);

    /// <summary>Every container (running or not) with its labels.</summary>
    Task<IReadOnlyList<ContainerStatus>> ListAsync(CancellationToken cancellationToken);
}
