#nullable disable warnings
using System.Buffers.Binary;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Pipelines;
using System.Security.Cryptography;
using WebhookUpdater.Containers;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Containers;

/// <summary>
/// A multi-GB volume archive goes into a container and back out through Docker's archive API
/// in full: transfers are bounded by progress, not by the client's request timeout.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class LargeArchiveTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private const long Size = 2L << 30;

    [Fact]
    public async Task A_2_GB_archive_is_extracted_into_a_volume_and_read_back_whole_far_past_the_request_timeout()
    {
        // Minutes of disk and CPU on a shared 2-core machine: one engine is enough for a transfer the client does the same way on both.
        Assert.SkipWhen(TestEnvironment.Engine == "B", "the 2 GB transfer runs on engine A only");
        var name = docker.Name("big-archive");
        await docker.RunAppAsync(name, "1.0");
        // A request timeout far below the transfer's length: the old client-wide timeout would cut it off.
        using var engine = new EngineLifecycle(new() { ["Docker:RequestTimeout"] = "00:00:03", ["Docker:StallTimeout"] = "00:00:30" });
        var content = new GeneratedContent(Size);
        var clock = Stopwatch.StartNew();

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var writing = Task.Run(async () =>
        {
            try
            {
                await using (var tar = new TarWriter(pipe.Writer.AsStream(leaveOpen: true), TarEntryFormat.Pax, leaveOpen: true))
                {
                    await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "restored/big.bin") { DataStream = content, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
                }

                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        });
        await using (var upload = pipe.Reader.AsStream())
        {
            await engine.Containers.ExtractAsync(name, "/data", upload, TestContext.Current.CancellationToken);
        }

        await writing;
        var uploaded = clock.Elapsed;
        var sha256 = content.Sha256();
        var inContainer = await engine.Containers.ExecAsync(name, ["sha256sum", "/data/restored/big.bin"], TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);
        Assert.True(inContainer.Succeeded, inContainer.Output);
        Assert.Equal($"{sha256}  /data/restored/big.bin", inContainer.Output.Trim());

        clock.Restart();
        await using var download = await engine.Containers.ArchiveAsync(name, "/data/restored/big.bin", TestContext.Current.CancellationToken);
        var (entryName, entrySize, entrySha256) = await HashFirstFileAsync(download);
        var downloaded = clock.Elapsed;

        Assert.Equal("big.bin", entryName);
        Assert.Equal(Size, entrySize);
        Assert.Equal(sha256, entrySha256);
        TestContext.Current.SendDiagnosticMessage($"2 GiB up in {uploaded.TotalSeconds:0.0} s, down in {downloaded.TotalSeconds:0.0} s");
        Assert.True(uploaded > TimeSpan.FromSeconds(3) || downloaded > TimeSpan.FromSeconds(3), "the transfers were too fast to show that the request timeout no longer applies");
    }

    /// <summary>The first regular file of a tar stream: its name, size and sha256, read as it streams (nothing kept).</summary>
    private static async Task<(string Name, long Size, string Sha256)> HashFirstFileAsync(Stream tar)
    {
        var header = new byte[512];
        while (true)
        {
            await ReadExactlyAsync(tar, header);
            var name = System.Text.Encoding.ASCII.GetString(header, 0, 100).TrimEnd('\0');
            var size = Convert.ToInt64(System.Text.Encoding.ASCII.GetString(header, 124, 12).Trim('\0', ' '), 8);
            var type = (char)header[156];
            var padded = (size + 511) / 512 * 512;
            if (type is '0' or '\0')
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[1 << 20];
                var left = size;
                while (left > 0)
                {
                    var read = await tar.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)));
                    Assert.True(read > 0, $"the archive ended {left} bytes before the end of {name}");
                    hash.AppendData(buffer, 0, read);
                    left -= read;
                }

                return (name, size, Convert.ToHexStringLower(hash.GetHashAndReset()));
            }

            // A pax or GNU header before the file: skip its data.
            var skip = new byte[padded];
            await ReadExactlyAsync(tar, skip);
        }
    }

    private static async Task ReadExactlyAsync(Stream stream, byte[] buffer)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled));
            Assert.True(read > 0, "the archive ended early");
            filled += read;
        }
    }

    /// <summary>
    /// Deterministic bytes made as they are read (one random MiB, each copy stamped with its
    /// index so no two MiB are alike), hashed on the way: 2 GiB cost no disk on the test side.
    /// </summary>
    private sealed class GeneratedContent(long length) : Stream
    {
        private readonly byte[] _block = RandomNumberGenerator.GetBytes(1 << 20);
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly byte[] _stamp = new byte[8];
        private long _position;
        private string _sha256;

        /// <summary>The sha256 of everything, once it has all been read.</summary>
        public string Sha256() => _sha256 ?? throw new InvalidOperationException($"only {_position} of {length} bytes were read");

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set
            {
                if (value != _position)
                {
                    throw new NotSupportedException();
                }
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var total = 0;
            while (total < buffer.Length && _position < length)
            {
                var block = _position >> 20;
                var within = (int)(_position & ((1 << 20) - 1));
                var n = (int)Math.Min(Math.Min(buffer.Length - total, (1 << 20) - within), length - _position);
                _block.AsSpan(within, n).CopyTo(buffer.Slice(total, n));
                // The stamp: the block's index in its first 8 bytes.
                BinaryPrimitives.WriteInt64LittleEndian(_stamp, block);
                for (var i = within; i < 8 && i < within + n; i++)
                {
                    buffer[total + i - within] = _stamp[i];
                }

                _hash.AppendData(buffer.Slice(total, n));
                total += n;
                _position += n;
            }

            if (_position == length)
            {
                _sha256 ??= Convert.ToHexStringLower(_hash.GetHashAndReset());
            }

            return total;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
