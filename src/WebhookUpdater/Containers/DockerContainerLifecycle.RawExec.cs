using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Docker.DotNet;

namespace WebhookUpdater.Containers;

internal sealed partial class DockerContainerLifecycle
{
    /// <summary>
    /// Starts an exec on the engine's unix socket directly and reads its multiplexed output in
    /// large reads. Docker.DotNet reads every frame (a few KiB each for pg_dump) with separate
    /// small socket reads: measured, about 35 CPU seconds per GB on this machine, CPU the dump
    /// itself then lacks. Same API call (POST /exec/{id}/start, hijacked), same frames.
    /// </summary>
    private static async Task<IExecOutput> StartRawExecAsync(DockerClient docker, Uri endpoint, string execId, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.LocalPath), cancellationToken);
            const string body = """{"Detach":false,"Tty":false}""";
            var request = $"POST /exec/{execId}/start HTTP/1.1\r\nHost: docker\r\nUser-Agent: webhook-updater\r\nContent-Type: application/json\r\n"
                + $"Content-Length: {body.Length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n{body}";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, cancellationToken);

            var reader = new FrameReader(new NetworkStream(socket, ownsSocket: true));
            var status = await reader.ReadResponseHeadAsync(cancellationToken);
            if (!status.StartsWith("HTTP/1.1 101", StringComparison.Ordinal) && !status.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
            {
                await reader.DisposeAsync();
                throw new DockerApiException(System.Net.HttpStatusCode.BadRequest, $"starting exec {execId}: {status}");
            }

            return new RawExecOutput(docker, execId, reader);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Docker's stream framing (8-byte header: stream, 0, 0, 0, big-endian length), read from a 256 KiB buffer.</summary>
    private sealed class FrameReader(NetworkStream socket) : IAsyncDisposable
    {
        private readonly byte[] _buffer = new byte[256 * 1024];
        private int _start;
        private int _end;
        private int _frameLeft;
        private bool _frameIsStdout;

        public TailBuffer Stderr { get; } = new(StderrTail);

        /// <summary>Reads the HTTP response head; what follows it is the framed stream.</summary>
        public async Task<string> ReadResponseHeadAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var end = _buffer.AsSpan(0, _end).IndexOf("\r\n\r\n"u8);
                if (end >= 0)
                {
                    var head = Encoding.ASCII.GetString(_buffer, 0, end);
                    _start = end + 4;
                    return head.Split("\r\n")[0];
                }

                if (_end == _buffer.Length || !await FillAsync(cancellationToken))
                {
                    throw new IOException("the Docker engine closed the connection before answering the exec start");
                }
            }
        }

        /// <summary>Copies stdout bytes into <paramref name="destination"/>; stderr frames are set aside. 0 at the end.</summary>
        public async ValueTask<int> ReadStdoutAsync(Memory<byte> destination, CancellationToken cancellationToken)
        {
            while (destination.Length > 0)
            {
                if (_frameLeft == 0)
                {
                    while (_end - _start < 8)
                    {
                        if (!await FillAsync(cancellationToken))
                        {
                            return _end == _start ? 0 : throw new IOException("the exec output ended inside a frame header");
                        }
                    }

                    _frameIsStdout = _buffer[_start] == 1;
                    _frameLeft = (int)BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start + 4, 4));
                    _start += 8;
                    continue;
                }

                if (_end == _start && !await FillAsync(cancellationToken))
                {
                    throw new IOException("the exec output ended inside a frame");
                }

                var count = Math.Min(_frameLeft, _end - _start);
                if (_frameIsStdout)
                {
                    count = Math.Min(count, destination.Length);
                    _buffer.AsMemory(_start, count).CopyTo(destination);
                    _start += count;
                    _frameLeft -= count;
                    return count;
                }

                Stderr.Append(_buffer, _start, count);
                _start += count;
                _frameLeft -= count;
            }

            return 0;
        }

        private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await socket.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            _end += read;
            return read > 0;
        }

        public ValueTask DisposeAsync() => socket.DisposeAsync();
    }

    private sealed class RawExecOutput(DockerClient docker, string execId, FrameReader reader) : IExecOutput
    {
        private readonly RawStdout _stdout = new(reader);

        public Stream Stdout => _stdout;

        public async Task<ExecResult> FinishAsync(CancellationToken cancellationToken)
        {
            var rest = new byte[65536];
            while (await reader.ReadStdoutAsync(rest, cancellationToken) > 0)
            {
                // Output nobody read: drained so the command can end.
            }

            return new ExecResult(await ExitCodeAsync(docker, execId, cancellationToken), reader.Stderr.ToString());
        }

        public ValueTask DisposeAsync() => reader.DisposeAsync();

        private sealed class RawStdout(FrameReader reader) : Stream
        {
            public override bool CanRead => true;

            public override bool CanSeek => false;

            public override bool CanWrite => false;

            public override long Length => throw new NotSupportedException();

            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override int Read(byte[] buffer, int offset, int count) =>
                reader.ReadStdoutAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                reader.ReadStdoutAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

            public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
                reader.ReadStdoutAsync(buffer, cancellationToken);

            public override void Flush()
            {
            }

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();

            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }
}
