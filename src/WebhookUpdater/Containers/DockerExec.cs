using System.Globalization;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Polly;

namespace WebhookUpdater.Containers;

/// <summary>
/// One command running in a container through docker exec, that can be killed.
/// Docker's API has no "kill exec", and the exec inspect's Pid is a host PID that a service in
/// a container cannot signal. So the command is started through a shell that first writes its
/// own PID (in the container's namespace) to stderr and then execs the command in its place;
/// at the deadline a second exec stops that process and every descendant and kills them. An
/// image without /bin/sh runs the command as it is: it cannot be killed then (the service only
/// stops reading it), and the result says so.
/// </summary>
internal sealed class DockerExec : IAsyncDisposable
{
    internal const string PidMarker = "webhook-updater-pid ";

    /// <summary>$$ is the shell's PID; exec keeps it for the command.</summary>
    internal const string WrapScript = "echo \"" + PidMarker + "$$\" >&2; exec \"$@\"";

    /// <summary>
    /// Stops the process first (so it starts no more children), kills its descendants found in
    /// /proc depth first, then the process. Plain sh and /proc only: busybox images have no pkill.
    /// </summary>
    internal const string KillTreeScript =
        "k() { kill -STOP \"$1\" 2>/dev/null; " +
        "for s in /proc/[0-9]*/status; do while read -r key value; do if [ \"$key\" = PPid: ]; then " +
        "if [ \"$value\" = \"$1\" ]; then c=${s#/proc/}; k \"${c%/status}\"; fi; break; fi; done < \"$s\"; done 2>/dev/null; " +
        "kill -KILL \"$1\" 2>/dev/null; }; k \"$1\"";

    private const int MarkerLimit = 64;

    private const int EarlyStdoutLimit = 1 << 20;

    private readonly DockerClient _docker;
    private readonly ResiliencePipeline _pipeline;
    private readonly string _container;
    private readonly MultiplexedStream _stream;
    private readonly OutputTail _stderr;
    private (MultiplexedStream.TargetStream Target, byte[] Bytes)? _pending;
    private bool _ended;
    private bool _disposed;

    private DockerExec(DockerClient docker, ResiliencePipeline pipeline, string container, string id, MultiplexedStream stream, OutputTail stderr)
    {
        _docker = docker;
        _pipeline = pipeline;
        _container = container;
        Id = id;
        _stream = stream;
        _stderr = stderr;
    }

    public string Id { get; }

    /// <summary>The command's PID inside the container, or null when it could not be learnt (no shell).</summary>
    public int? Pid { get; private set; }

    /// <summary>True when the image has no /bin/sh and the command runs unwrapped (it cannot be killed).</summary>
    public bool Unkillable { get; private set; }

    public MultiplexedStream Stream => _stream;

    /// <summary>
    /// Starts <paramref name="command"/> wrapped so that it can be killed, and waits for its PID;
    /// falls back to the bare command when the image has no shell.
    /// </summary>
    public static async Task<DockerExec> StartAsync(
        DockerClient docker, ResiliencePipeline pipeline, string container, IReadOnlyList<string> command, IReadOnlyList<string> environment, bool stdin, OutputTail stderr, CancellationToken cancellationToken)
    {
        var wrapped = await StartRawAsync(docker, pipeline, container, ["/bin/sh", "-c", WrapScript, "sh", .. command], environment, stdin, stderr, cancellationToken);
        if (await wrapped.ReadPidAsync(cancellationToken))
        {
            return wrapped;
        }

        // No marker: the shell did not run. What came instead is Docker's error; 126/127 is its "executable not found".
        var drain = new byte[4096];
        int drained;
        while ((drained = await wrapped.ReadStdoutAsync(drain, 0, drain.Length, () => { }, cancellationToken)) > 0)
        {
            stderr.Append(drain, 0, drained);
        }

        if (await wrapped.ExitCodeAsync(cancellationToken) is 126 or 127)
        {
            await wrapped.DisposeAsync();
            stderr.Clear();
            var bare = await StartRawAsync(docker, pipeline, container, command, environment, stdin, stderr, cancellationToken);
            bare.Unkillable = true;
            return bare;
        }

        return wrapped;
    }

    private static async Task<DockerExec> StartRawAsync(
        DockerClient docker, ResiliencePipeline pipeline, string container, IReadOnlyList<string> command, IReadOnlyList<string> environment, bool stdin, OutputTail stderr, CancellationToken cancellationToken)
    {
        var exec = await pipeline.CallAsync("exec-create", container, token => docker.Exec.CreateContainerExecAsync(container, new ContainerExecCreateParameters
        {
            Cmd = command.ToList(),
            Env = environment.ToList(),
            AttachStdin = stdin,
            AttachStdout = true,
            AttachStderr = true,
        }, token), cancellationToken);
        var stream = await pipeline.CallAsync("exec-start", container, token => docker.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters(), token), cancellationToken);
        return new DockerExec(docker, pipeline, container, exec.ID, stream, stderr);
    }

    /// <summary>Reads the marker line the wrapper writes first. False when something else came first, or nothing.</summary>
    private async Task<bool> ReadPidAsync(CancellationToken cancellationToken)
    {
        var head = new byte[MarkerLimit];
        var length = 0;

        // Docker copies stdout and stderr separately, so the command's first stdout can pass the marker: it waits here.
        var stdout = new MemoryStream();
        try
        {
            while (length < MarkerLimit && stdout.Length <= EarlyStdoutLimit)
            {
                var read = await _stream.ReadOutputAsync(head, length, MarkerLimit - length, cancellationToken);
                if (read.EOF)
                {
                    _ended = true;
                    break;
                }

                if (read.Target != MultiplexedStream.TargetStream.StandardError)
                {
                    stdout.Write(head, length, read.Count);
                    continue;
                }

                length += read.Count;
                if (MarkerParser.TryParse(head.AsSpan(0, length), out var pid, out var rest))
                {
                    Pid = pid;
                    if (rest > 0)
                    {
                        _stderr.Append(head, length - rest, rest);
                    }

                    return true;
                }

                if (MarkerParser.CannotBeMarker(head.AsSpan(0, length)))
                {
                    break;
                }
            }

            // No marker: the stdout that came is the command's or Docker's own output.
            _stderr.Append(head, 0, length);
            return false;
        }
        finally
        {
            Keep(MultiplexedStream.TargetStream.StandardOut, stdout.GetBuffer(), (int)stdout.Length);
        }
    }

    private void Keep(MultiplexedStream.TargetStream target, byte[] bytes, int count)
    {
        if (count > 0)
        {
            _pending = (target, bytes[..count]);
        }
    }

    /// <summary>
    /// The next bytes of stdout into <paramref name="buffer"/>; stderr is kept in the tail as it
    /// passes (and reported through <paramref name="onBytes"/> too). 0 when the output ended.
    /// </summary>
    public async Task<int> ReadStdoutAsync(byte[] buffer, int offset, int count, Action onBytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_pending is { } pending)
            {
                _pending = null;
                if (pending.Target == MultiplexedStream.TargetStream.StandardError)
                {
                    _stderr.Append(pending.Bytes, 0, pending.Bytes.Length);
                    continue;
                }

                var n = Math.Min(count, pending.Bytes.Length);
                pending.Bytes.AsSpan(0, n).CopyTo(buffer.AsSpan(offset, n));
                if (n < pending.Bytes.Length)
                {
                    _pending = (pending.Target, pending.Bytes[n..]);
                }

                return n;
            }

            if (_ended || count == 0)
            {
                return 0;
            }

            var read = await _stream.ReadOutputAsync(buffer, offset, count, cancellationToken);
            if (read.EOF)
            {
                _ended = true;
                return 0;
            }

            onBytes();
            if (read.Target == MultiplexedStream.TargetStream.StandardError)
            {
                _stderr.Append(buffer, offset, read.Count);
                continue;
            }

            if (read.Count > 0)
            {
                return read.Count;
            }
        }
    }

    /// <summary>
    /// Kills the command and everything it started, inside the container, and stops reading it.
    /// Returns what was done, for the result's note.
    /// </summary>
    public async Task<string> KillAsync()
    {
        string note;
        if (Pid is not { } pid)
        {
            note = Unkillable
                ? "the image has no /bin/sh, so the command could not be killed: it may still run in the container (only its output is no longer read)"
                : "the command's PID is unknown, so it could not be killed: it may still run in the container";
        }
        else
        {
            // Its own short deadline: a container that cannot run one more exec must not hold us either.
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                var kill = await StartRawAsync(_docker, _pipeline, _container, ["/bin/sh", "-c", KillTreeScript, "sh", pid.ToString(CultureInfo.InvariantCulture)], [], false, new OutputTail(1000), limit.Token);
                await using (kill)
                {
                    while (await kill.ReadStdoutAsync(new byte[256], 0, 256, () => { }, limit.Token) > 0)
                    {
                    }
                }

                note = await ExitCodeAsync(limit.Token) == -1
                    ? $"killed (pid {pid} in the container), but docker still reports it running"
                    : $"killed inside the container (pid {pid} and its children)";
            }
            catch (Exception e) when (e is OperationCanceledException or DockerApiException or IOException or HttpRequestException)
            {
                note = $"killing it (pid {pid} in the container) failed: {e.Message}";
            }
        }

        _stream.Dispose();
        _ended = true;
        return note;
    }

    /// <summary>True while Docker reports the exec running.</summary>
    public async Task<bool> RunningAsync(CancellationToken cancellationToken) =>
        (await InspectAsync(cancellationToken)).Running;

    /// <summary>The exec's exit code once it has ended (the output can end a moment before the process is reaped); -1 if it does not end within 5 s.</summary>
    public async Task<long> ExitCodeAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var inspect = await InspectAsync(cancellationToken);
            if (!inspect.Running || attempt >= 50)
            {
                return inspect.Running ? -1 : inspect.ExitCode ?? -1;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private Task<ContainerExecInspectResponse> InspectAsync(CancellationToken cancellationToken) =>
        _pipeline.CallAsync("exec-inspect", _container, token => _docker.Exec.InspectContainerExecAsync(Id, token), cancellationToken);

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _stream.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>Recognises the wrapper's first line, <c>webhook-updater-pid 123\n</c>.</summary>
internal static class MarkerParser
{
    private static readonly byte[] Marker = Encoding.ASCII.GetBytes(DockerExec.PidMarker);

    /// <param name="rest">How many bytes after the marker line belong to the command's own stderr.</param>
    public static bool TryParse(ReadOnlySpan<byte> head, out int pid, out int rest)
    {
        pid = 0;
        rest = 0;
        var newline = head.IndexOf((byte)'\n');
        if (newline < 0 || !head.StartsWith(Marker))
        {
            return false;
        }

        if (!int.TryParse(head[Marker.Length..newline], NumberStyles.None, CultureInfo.InvariantCulture, out pid) || pid <= 0)
        {
            return false;
        }

        rest = head.Length - newline - 1;
        return true;
    }

    /// <summary>True when these first bytes can no longer become the marker line.</summary>
    public static bool CannotBeMarker(ReadOnlySpan<byte> head)
    {
        var common = Math.Min(head.Length, Marker.Length);
        return !head[..common].SequenceEqual(Marker.AsSpan(0, common)) || head.IndexOf((byte)'\n') >= 0;
    }
}
