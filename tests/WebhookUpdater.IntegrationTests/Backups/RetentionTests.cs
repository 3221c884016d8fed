#nullable disable warnings
using Microsoft.Extensions.Logging.Abstractions;
using WebhookUpdater.Backups;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>Retention against sets in a real S3 (s3rver).</summary>
public sealed class RetentionTests : IAsyncLifetime
{
    private S3Server _s3;

    public async ValueTask InitializeAsync() => _s3 = await S3Server.StartAsync();

    public async ValueTask DisposeAsync() => await _s3.DisposeAsync();

    private static async Task CompleteAsync(S3BackupStore store, string id, string kind, string container)
    {
        var stored = await store.PutAsync(id, "data.tar.gz", $"{container}:/data", new NonSeekableStream(BackupContainers.Text(id)), CancellationToken.None);
        await store.CompleteAsync(new BackupManifest(id, kind, DateTimeOffset.UnixEpoch, null, container, null, [stored]), CancellationToken.None);
    }

    private static Task<BackupObject> IncompleteAsync(S3BackupStore store, string id, string container) =>
        store.PutAsync(id, "data.tar.gz", $"{container}:/data", new NonSeekableStream(BackupContainers.Text(id)), CancellationToken.None);

    [Fact]
    public async Task Retention_deletes_exactly_the_sets_beyond_the_newest_complete_ones()
    {
        using var store = _s3.Store();
        // gitea daily: four complete, an incomplete one between them, and one newer than all (may be uploading now).
        await CompleteAsync(store, "20240101-020000-daily-gitea-aaaaa1", BackupKinds.Daily, "gitea");
        await IncompleteAsync(store, "20240102-020000-daily-gitea-aaaaa2", "gitea");
        await CompleteAsync(store, "20240103-020000-daily-gitea-aaaaa3", BackupKinds.Daily, "gitea");
        await CompleteAsync(store, "20240104-020000-daily-gitea-aaaaa4", BackupKinds.Daily, "gitea");
        await CompleteAsync(store, "20240105-020000-daily-gitea-aaaaa5", BackupKinds.Daily, "gitea");
        await IncompleteAsync(store, "20240106-020000-daily-gitea-aaaaa6", "gitea");
        // gitea pre-update: two complete.
        await CompleteAsync(store, "20240103-120000-pre-update-gitea-bbbbb1", BackupKinds.PreUpdate, "gitea");
        await CompleteAsync(store, "20240104-120000-pre-update-gitea-bbbbb2", BackupKinds.PreUpdate, "gitea");
        // gitea manual: kept whatever their number (KeepManual 0).
        await CompleteAsync(store, "20240101-130000-manual-gitea-ccccc1", BackupKinds.Manual, "gitea");
        await CompleteAsync(store, "20240102-130000-manual-gitea-ccccc2", BackupKinds.Manual, "gitea");
        await CompleteAsync(store, "20240103-130000-manual-gitea-ccccc3", BackupKinds.Manual, "gitea");
        // postgres daily: only failed runs, and the one good set is older than them: nothing may go.
        await CompleteAsync(store, "20240101-020000-daily-postgres-ddddd1", BackupKinds.Daily, "postgres");
        await IncompleteAsync(store, "20240102-020000-daily-postgres-ddddd2", "postgres");
        await IncompleteAsync(store, "20240103-020000-daily-postgres-ddddd3", "postgres");
        // nginx pre-update: never a complete set.
        await IncompleteAsync(store, "20240101-120000-pre-update-nginx-eeeee1", "nginx");
        var options = _s3.Options(o =>
        {
            o.KeepDaily = 2;
            o.KeepPreUpdate = 1;
            o.KeepManual = 0;
        });
        var retention = new BackupRetention(store, new BackupCatalog(store), Microsoft.Extensions.Options.Options.Create(options), NullLogger<BackupRetention>.Instance);
        var before = (await store.ListAsync(CancellationToken.None)).Select(s => s.Id).ToList();

        var deleted = await retention.ApplyAsync(CancellationToken.None);

        string[] expected =
        [
            "20240101-020000-daily-gitea-aaaaa1",
            "20240102-020000-daily-gitea-aaaaa2",
            "20240103-020000-daily-gitea-aaaaa3",
            "20240103-120000-pre-update-gitea-bbbbb1",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), deleted.Order(StringComparer.Ordinal));
        var after = (await store.ListAsync(CancellationToken.None)).Select(s => s.Id).ToList();
        Assert.Equal(before.Except(expected).Order(StringComparer.Ordinal), after.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(await _s3.KeysAsync(), key => expected.Any(id => key.Contains(id, StringComparison.Ordinal)));

        Assert.Empty(await retention.ApplyAsync(CancellationToken.None));
    }
}
