using WebhookUpdater.Backups;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>The catalog behind GET /api/backups and the status page, against a real S3 server (s3rver).</summary>
public sealed class BackupCatalogTests : IAsyncLifetime
{
    private S3Server _s3 = null!;

    public async ValueTask InitializeAsync() => _s3 = await S3Server.StartAsync();

    public async ValueTask DisposeAsync() => await _s3.DisposeAsync();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string SetId(int day) => $"202401{day:00}-020000-daily-gitea-abc{day:000}";

    private static async Task WriteSetAsync(IBackupStore store, int day, bool complete = true)
    {
        var id = SetId(day);
        var stored = await store.PutAsync(id, "gitea.data.tar.gz", "gitea:/data", new MemoryStream(S3BackupStoreTests.RandomBytes(100 + day)), Cancel);
        if (complete)
        {
            await store.CompleteAsync(new BackupManifest(id, BackupKinds.Daily, new DateTimeOffset(2024, 1, day, 2, 0, 0, TimeSpan.Zero), null, "gitea", null, [stored]), Cancel);
        }
    }

    [Fact]
    public async Task Pages_go_from_the_newest_set_to_the_oldest_and_each_manifest_is_read_from_the_store_once()
    {
        using var s3 = _s3.Store();
        var store = new ManifestCountingStore(s3);
        for (var day = 1; day <= 7; day++)
        {
            await WriteSetAsync(store, day);
        }

        await WriteSetAsync(store, 8, complete: false);
        var catalog = new BackupCatalog(store);

        var first = await catalog.PageAsync(3, null, Cancel);
        var second = await catalog.PageAsync(3, first.Next, Cancel);
        var last = await catalog.PageAsync(3, second.Next, Cancel);

        Assert.Equal([SetId(8), SetId(7), SetId(6)], first.Sets.Select(set => set.Id));
        Assert.Equal([BackupStates.Incomplete, BackupStates.Complete, BackupStates.Complete], first.Sets.Select(set => set.State));
        Assert.Equal(SetId(6), first.Next);
        Assert.Equal([SetId(5), SetId(4), SetId(3)], second.Sets.Select(set => set.Id));
        Assert.Equal([SetId(2), SetId(1)], last.Sets.Select(set => set.Id));
        Assert.Null(last.Next);
        Assert.Equal(7, store.ManifestReads);

        // Refreshing reads no manifest again; only a set completed since then is read.
        Assert.Equal(8, (await catalog.ListAsync(Cancel)).Count);
        Assert.Equal(7, store.ManifestReads);
        await WriteSetAsync(store, 9);
        await s3.DeleteAsync(SetId(1), Cancel);
        var sets = await catalog.ListAsync(Cancel);
        Assert.Equal(8, store.ManifestReads);
        Assert.Equal(SetId(9), sets[0].Id);
        Assert.DoesNotContain(sets, set => set.Id == SetId(1));
        Assert.Equal(1, sets[0].Objects);
    }

    /// <summary>Passes everything to the real store and counts the manifests it was asked for.</summary>
    private sealed class ManifestCountingStore(IBackupStore inner) : IBackupStore
    {
        private int _manifestReads;

        public int ManifestReads => Volatile.Read(ref _manifestReads);

        public Task<BackupObject> PutAsync(string setId, string name, string source, Stream content, CancellationToken cancellationToken) =>
            inner.PutAsync(setId, name, source, content, cancellationToken);

        public Task CompleteAsync(BackupManifest manifest, CancellationToken cancellationToken) => inner.CompleteAsync(manifest, cancellationToken);

        public Task AbortAsync(string setId, CancellationToken cancellationToken) => inner.AbortAsync(setId, cancellationToken);

        public Task<BackupManifest?> ManifestAsync(string setId, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _manifestReads);
            return inner.ManifestAsync(setId, cancellationToken);
        }

        public Task<Stream> OpenAsync(string setId, string name, CancellationToken cancellationToken) => inner.OpenAsync(setId, name, cancellationToken);

        public Task<IReadOnlyList<StoredSet>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public Task DeleteAsync(string setId, CancellationToken cancellationToken) => inner.DeleteAsync(setId, cancellationToken);

        public string Describe() => inner.Describe();
    }
}
