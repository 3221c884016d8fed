using System.Buffers;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace WebhookUpdater.Containers;

internal sealed partial class DockerContainerActions
{
    private const int StderrTail = 4000;

    public async Task<IExecOutput> ExecReadAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, CancellationToken cancellationToken)
    {
        // No total limit: a large database takes as long as it takes. A dump that stops writing (a lock it waits for) is killed.
        var watchdog = new ProgressWatchdog(Settings.StallTimeout, Timeout.InfiniteTimeSpan, time, cancellationToken);
        var stderr = new OutputTail(StderrTail);
        try
        {
            var exec = await DockerExec.StartAsync(_docker, _pipeline, nameOrId, command, environment, stdin: false, stderr, watchdog.Token);
            return new ExecOutput(exec, watchdog, stderr, $"{command[0]} in {nameOrId}", Settings.StallTimeout);
        }
        catch
        {
            watchdog.Dispose();
            throw;
        }
    }

    public async Task<ExecResult> ExecWriteAsync(string nameOrId, IReadOnlyList<string> command, IReadOnlyList<string> environment, Stream input, CancellationToken cancellationToken)
    {
        // While input flows the command is bounded by progress; once all of it is sent, by Docker:ExecTimeout.
        using var watchdog = new ProgressWatchdog(Settings.StallTimeout, Timeout.InfiniteTimeSpan, time, cancellationToken);
        var output = new OutputTail(StderrTail);
        DockerExec? exec = null;
        try
        {
            exec = await DockerExec.StartAsync(_docker, _pipeline, nameOrId, command, environment, stdin: true, output, watchdog.Token);
            var stream = exec.Stream;

            // Output is read while input is written: a command that writes a lot (errors, notices)
            // would otherwise block on a full pipe and never read the rest of its input.
            var reading = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                int read;
                while ((read = await exec.ReadStdoutAsync(buffer, 0, buffer.Length, watchdog.Progress, watchdog.Token)) > 0)
                {
                    output.Append(buffer, 0, read);
                }
            }, watchdog.Token);

            var chunk = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int n;
                while ((n = await input.ReadAsync(chunk.AsMemory(0, 1 << 20), watchdog.Token)) > 0)
                {
                    watchdog.Progress();
                    if (reading.IsCompleted)
                    {
                        // The command ended before its input did (it failed): stop sending.
                        break;
                    }

                    await stream.WriteAsync(chunk, 0, n, watchdog.Token);
                    watchdog.Progress();
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

            watchdog.StopIdleWait();
            using var finishing = CancellationTokenSource.CreateLinkedTokenSource(watchdog.Token);
            finishing.CancelAfter(Settings.ExecTimeout);
            try
            {
                await reading.WaitAsync(finishing.Token);
            }
            catch (OperationCanceledException) when (!watchdog.Token.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                var stopped = await exec.KillAsync();
                return new ExecResult(-1, output.ToString(), ExecEnd.DeadlinePassed,
                    $"did not finish within {ExecLimit.Describe(Settings.ExecTimeout)} after its input ended (Docker:ExecTimeout); {stopped}");
            }

            return new ExecResult(await exec.ExitCodeAsync(cancellationToken), output.ToString());
        }
        catch (Exception e) when (watchdog.Expired != WatchdogEnd.None && !cancellationToken.IsCancellationRequested && e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            var stopped = exec is null ? "it had not started yet" : await exec.KillAsync();
            return new ExecResult(-1, output.ToString(), ExecEnd.DeadlinePassed,
                $"no bytes moved for {Settings.StallTimeout.TotalSeconds:0} s (Docker:StallTimeout); {stopped}");
        }
        finally
        {
            if (exec is not null)
            {
                await exec.DisposeAsync();
            }
        }
    }

    private sealed class ExecOutput(DockerExec exec, ProgressWatchdog watchdog, OutputTail stderr, string what, TimeSpan idle) : IExecOutput
    {
        private readonly StdoutStream _stdout = new(exec, watchdog, what, idle);
        private bool _finished;

        public Stream Stdout => _stdout;

        public async Task<ExecResult> FinishAsync(CancellationToken cancellationToken)
        {
            var rest = new byte[16384];
            try
            {
                while (await _stdout.ReadAsync(rest, cancellationToken) > 0)
                {
                    // Output nobody read: drained so the command can end.
                }
            }
            catch (StepDeadlineException e)
            {
                _finished = true;
                return new ExecResult(-1, stderr.ToString(), ExecEnd.DeadlinePassed, e.Message);
            }

            _finished = true;
            return new ExecResult(await exec.ExitCodeAsync(cancellationToken), stderr.ToString());
        }

        public async ValueTask DisposeAsync()
        {
            // Whoever stopped reading early (the store failed) must not leave the command running for nobody.
            if (!_finished && !_stdout.Killed && await RunningAsync())
            {
                await exec.KillAsync();
            }

            await exec.DisposeAsync();
            watchdog.Dispose();
        }

        private async Task<bool> RunningAsync()
        {
            try
            {
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                return await exec.RunningAsync(limit.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException or Docker.DotNet.DockerApiException)
            {
                return false;
            }
        }

        /// <summary>Stdout of the exec; stderr frames are set aside as they pass. A stall kills the command and ends the read with a <see cref="StepDeadlineException"/>.</summary>
        private sealed class StdoutStream(DockerExec exec, ProgressWatchdog watchdog, string what, TimeSpan idle) : Stream
        {
            public bool Killed { get; private set; }

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
                using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, watchdog.Token);
                try
                {
                    return await exec.ReadStdoutAsync(buffer, offset, count, watchdog.Progress, both.Token);
                }
                catch (Exception e) when (watchdog.Expired != WatchdogEnd.None && e is OperationCanceledException or IOException or ObjectDisposedException)
                {
                    var stopped = Killed ? "killed" : await exec.KillAsync();
                    Killed = true;
                    throw new StepDeadlineException($"{what} stopped: no output for {idle.TotalSeconds:0} s (Docker:StallTimeout); {stopped}");
                }
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
