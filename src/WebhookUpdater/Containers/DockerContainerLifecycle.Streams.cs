using System.Buffers;
using System.Net;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace WebhookUpdater.Containers;

internal sealed partial class DockerContainerLifecycle
{
    private const int StderrTail = 4000;

    public async Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken)
    {
        var exec = await _docker.Exec.CreateContainerExecAsync(nameOrId, new ContainerExecCreateParameters
        {
            Cmd = command.ToList(),
            Env = environment.ToList(),
            AttachStdout = true,
            AttachStderr = true,
        }, cancellationToken);
        var stream = await _docker.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters(), cancellationToken);
        return new ExecOutput(_docker, exec.ID, stream);
    }

    public async Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken)
    {
        var exec = await _docker.Exec.CreateContainerExecAsync(nameOrId, new ContainerExecCreateParameters
        {
            Cmd = command.ToList(),
            Env = environment.ToList(),
            AttachStdin = true,
            AttachStdout = true,
            AttachStderr = true,
        }, cancellationToken);
        using var stream = await _docker.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters(), cancellationToken);

        // Output is read while input is written: a command that writes a lot (errors, notices)
        // would otherwise block on a full pipe and never read the rest of its input.
        var output = new TailBuffer(StderrTail);
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[16384];
            while (true)
            {
                var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken);
                if (read.EOF)
                {
                    return;
                }

                output.Append(buffer, 0, read.Count);
            }
        }, cancellationToken);

        var chunk = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            int n;
            while ((n = await input.ReadAsync(chunk.AsMemory(0, 1 << 20), cancellationToken)) > 0)
            {
                if (reading.IsCompleted)
                {
                    // The command ended before its input did (it failed): stop sending.
                    break;
                }

                await stream.WriteAsync(chunk, 0, n, cancellationToken);
            }

            stream.CloseWrite();
        }
        catch (IOException) when (reading.IsCompleted)
        {
            // The command closed its stdin by exiting; its exit code says why.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        await reading;
        return new ExecResult(await ExitCodeAsync(_docker, exec.ID, cancellationToken), output.ToString());
    }

    public async Task<IReadOnlyList<string>?> EnvironmentAsync(string nameOrId, CancellationToken cancellationToken)
    {
        try
        {
            var container = await _docker.Containers.InspectContainerAsync(nameOrId, cancellationToken);
            return container.Config?.Env?.ToList() ?? [];
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<ContainerStatus>> ListAsync(CancellationToken cancellationToken)
    {
        var all = await _docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }, cancellationToken);
        var statuses = new List<ContainerStatus>();
        foreach (var summary in all)
        {
            if (await StatusAsync(summary.ID, cancellationToken) is { } status)
            {
                statuses.Add(status);
            }
        }

        return statuses;
    }

    /// <summary>The exec's exit code once it has ended (the output can end a moment before the process is reaped).</summary>
    private static async Task<long> ExitCodeAsync(DockerClient docker, string execId, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var inspect = await docker.Exec.InspectContainerExecAsync(execId, cancellationToken);
            if (!inspect.Running || attempt >= 50)
            {
                return inspect.Running ? -1 : inspect.ExitCode ?? -1;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>The last characters of what a command wrote, whatever its length.</summary>
    private sealed class TailBuffer(int capacity)
    {
        private readonly StringBuilder _text = new();

        public void Append(byte[] buffer, int offset, int count)
        {
            lock (_text)
            {
                _text.Append(Encoding.UTF8.GetString(buffer, offset, count));
                if (_text.Length > capacity * 2)
                {
                    _text.Remove(0, _text.Length - capacity);
                }
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _text.Length <= capacity ? _text.ToString() : _text.ToString(_text.Length - capacity, capacity);
            }
        }
    }

    private sealed class ExecOutput(DockerClient docker, string execId, MultiplexedStream stream) : IExecOutput
    {
        private readonly StdoutStream _stdout = new(stream);

        public Stream Stdout => _stdout;

        public async Task<ExecResult> FinishAsync(CancellationToken cancellationToken)
        {
            var rest = new byte[16384];
            while (await _stdout.ReadAsync(rest, cancellationToken) > 0)
            {
                // Output nobody read: drained so the command can end.
            }

            return new ExecResult(await ExitCodeAsync(docker, execId, cancellationToken), _stdout.Stderr.ToString());
        }

        public ValueTask DisposeAsync()
        {
            stream.Dispose();
            return ValueTask.CompletedTask;
        }

        /// <summary>Stdout of the multiplexed stream; stderr frames are set aside as they pass.</summary>
        private sealed class StdoutStream(MultiplexedStream stream) : Stream
        {
            private bool _ended;

            public TailBuffer Stderr { get; } = new(StderrTail);

            public override bool CanRead => true;

            public override bool CanSeek => false;

            public override bool CanWrite => false;

            public override long Length => throw new NotSupportedException();

            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override int Read(byte[] buffer, int offset, int count) => ReadCoreAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                ReadCoreAsync(buffer, offset, count, cancellationToken);

            private async Task<int> ReadCoreAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                while (!_ended && count > 0)
                {
                    var read = await stream.ReadOutputAsync(buffer, offset, count, cancellationToken);
                    if (read.EOF)
                    {
                        _ended = true;
                        break;
                    }

                    if (read.Target == MultiplexedStream.TargetStream.StandardError)
                    {
                        Stderr.Append(buffer, offset, read.Count);
                        continue;
                    }

                    if (read.Count > 0)
                    {
                        return read.Count;
                    }
                }

                return 0;
            }

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(buffer, out var segment))
                {
                    return await ReadCoreAsync(segment.Array!, segment.Offset, segment.Count, cancellationToken);
                }

                var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
                try
                {
                    var n = await ReadCoreAsync(rented, 0, buffer.Length, cancellationToken);
                    rented.AsSpan(0, n).CopyTo(buffer.Span);
                    return n;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }

            public override void Flush()
            {
            }

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();

            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }
}
