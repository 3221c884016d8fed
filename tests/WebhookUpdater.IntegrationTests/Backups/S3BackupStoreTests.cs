using System.Security.Cryptography;
using WebhookUpdater.Backups;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>The S3 store against a real S3 server (s3rver).</summary>
public sealed class S3BackupStoreTests : IAsyncLifetime
{
    private S3Server _s3 = null!;

    public async ValueTask InitializeAsync() => _s3 = await S3Server.StartAsync();

    public async ValueTask DisposeAsync() => await _s3.DisposeAsync();

    internal static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task A_stream_larger_than_a_part_goes_up_in_parts_and_reads_back_byte_for_byte()
    {
        var data = RandomBytes((13 * 1024 * 1024) + 17);
        using var store = _s3.Store();

        var stored = await store.PutAsync("20240101-020000-daily-gitea-abc123", "data.tar.gz", "gitea:/data", new NonSeekableStream(data), TestContext.Current.CancellationToken);

        Assert.Equal(data.Length, stored.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), stored.Sha256);
        Assert.Equal(["wu/backups/20240101-020000-daily-gitea-abc123/data.tar.gz"], await _s3.KeysAsync());
        await using var back = await store.OpenAsync("20240101-020000-daily-gitea-abc123", "data.tar.gz", TestContext.Current.CancellationToken);
        using var copy = new MemoryStream();
        await back.CopyToAsync(copy, TestContext.Current.CancellationToken);
        Assert.True(data.AsSpan().SequenceEqual(copy.ToArray()), "the object read back differs from what was sent");
    }

    [Theory]
    [InlineData(false, "by store MD5 (ETag)")]
    [InlineData(true, "by read back")]
    public async Task The_store_own_hash_verifies_an_upload_unless_every_object_must_be_read_back(bool alwaysReadBack, string how)
    {
        var log = new CapturingLogger<S3BackupStore>();
        using var store = new S3BackupStore(Microsoft.Extensions.Options.Options.Create(_s3.Options(o => o.AlwaysReadBack = alwaysReadBack)), log);

        await store.PutAsync("20240101-020000-daily-gitea-abc123", "data.tar.gz", "gitea:/data", new NonSeekableStream(RandomBytes(11 * 1024 * 1024)), TestContext.Current.CancellationToken);

        Assert.Contains(log.Lines, line => line.EndsWith($"wu/backups/20240101-020000-daily-gitea-abc123/data.tar.gz: verified {11 * 1024 * 1024} bytes {how}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stream_smaller_than_a_part_goes_up_in_one_put()
    {
        var data = RandomBytes(1000);
        using var store = _s3.Store();

        var stored = await store.PutAsync("20240101-020000-manual-gitea-abc123", "config.tar.gz", "gitea:/config", new NonSeekableStream(data), TestContext.Current.CancellationToken);

        Assert.Equal(1000, stored.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), stored.Sha256);
    }

    [Fact]
    public async Task A_set_is_incomplete_until_its_manifest_is_written_last()
    {
        using var store = _s3.Store();
        const string set = "20240101-020000-daily-postgres-abc123";
        var stored = await store.PutAsync(set, "postgres-gitea.dump", "postgres:gitea", new NonSeekableStream(RandomBytes(6 * 1024 * 1024)), TestContext.Current.CancellationToken);

        var before = Assert.Single(await store.ListAsync(TestContext.Current.CancellationToken));
        Assert.False(before.HasManifest);
        Assert.Null(await store.ManifestAsync(set, TestContext.Current.CancellationToken));

        var manifest = new BackupManifest(set, BackupKinds.Daily, DateTimeOffset.UnixEpoch, null, "postgres", "sha256:1", [stored]);
        await store.CompleteAsync(manifest, TestContext.Current.CancellationToken);

        var after = Assert.Single(await store.ListAsync(TestContext.Current.CancellationToken));
        Assert.True(after.HasManifest);
        Assert.True(after.Size > stored.Size);
        var read = await store.ManifestAsync(set, TestContext.Current.CancellationToken);
        Assert.NotNull(read);
        Assert.Equal(stored, Assert.Single(read.Objects));
    }

    [Fact]
    public async Task A_body_the_store_keeps_mangled_is_caught_by_verification()
    {
        // s3rver answers 200 to aws-chunked bodies and stores the chunk framing: the trap of TESTENV.md.
        using var store = _s3.Store(o => o.UseChunkEncoding = true);

        var error = await Assert.ThrowsAsync<BackupVerificationException>(() =>
            store.PutAsync("20240101-020000-daily-gitea-abc123", "data.tar.gz", "gitea:/data", new NonSeekableStream(RandomBytes(6 * 1024 * 1024)), TestContext.Current.CancellationToken));

        Assert.Contains("UseChunkEncoding=false", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_set_removes_its_manifest_and_every_object()
    {
        using var store = _s3.Store();
        const string keep = "20240101-020000-daily-gitea-aaaaaa";
        const string drop = "20240102-020000-daily-gitea-bbbbbb";
        foreach (var set in new[] { keep, drop })
        {
            var stored = await store.PutAsync(set, "data.tar.gz", "gitea:/data", new NonSeekableStream(RandomBytes(100)), TestContext.Current.CancellationToken);
            await store.CompleteAsync(new BackupManifest(set, BackupKinds.Daily, DateTimeOffset.UnixEpoch, null, "gitea", null, [stored]), TestContext.Current.CancellationToken);
        }

        await store.DeleteAsync(drop, TestContext.Current.CancellationToken);

        Assert.Equal([$"wu/backups/{keep}/data.tar.gz", $"wu/backups/{keep}/manifest.json"], await _s3.KeysAsync());
    }
}

internal sealed class CapturingLogger<T> : Microsoft.Extensions.Logging.ILogger<T>
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines.ToList();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue(formatter(state, exception));
}

/// <summary>A stream that cannot seek and has no length, like a pipe from pg_dump.</summary>
internal sealed class NonSeekableStream(byte[] data) : Stream
{
    private readonly MemoryStream _inner = new(data, writable: false);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 65536));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
