using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Containers;
using WebhookUpdater.Tests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

public sealed class ImagePrunerTests : IAsyncLifetime
{
    private const string Repository = "registry.test/forge/app";

    private readonly TestApp _app = new(new() { ["Updates:KeepImages"] = "2" });

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private static ImageEntry Image(int n, params string[] names) =>
        new($"sha256:{n:D64}", names.Length > 0 ? names : [$"{Repository}@sha256:{n:D64}"], 1000 * n, DateTimeOffset.UnixEpoch.AddDays(n));

    private static JobView Job(string currentImageId) =>
        new("job", null, "forge", null, "automatic", Decision.Queued, JobState.Running, Repository + ":stable", "sha256:d", null, null, null, null,
            DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, []) { CurrentImageId = currentImageId };

    [Fact]
    public async Task The_newest_previous_images_are_kept_and_older_ones_removed()
    {
        var engine = _app.Containers;
        engine.Add("forge", Repository + ":stable");
        var current = engine.Named("forge")!.ImageId;
        engine.Images.AddRange([Image(1), Image(2), Image(3), Image(4), new ImageEntry(current, [Repository + ":stable"], 1, DateTimeOffset.UnixEpoch.AddDays(9))]);
        engine.Images.Add(Image(5, "registry.test/other/app:1"));

        var result = await _app.Services.GetRequiredService<ImagePruner>().PruneAsync(Job(Image(4).Id), Cancel);

        Assert.True(result.Succeeded, result.Detail);
        Assert.Equal([$"{Repository}@{Image(2).Id}", $"{Repository}@{Image(1).Id}"], engine.Untagged);
        Assert.Equal(3000, result.Value);
        Assert.Contains("kept 2 previous image(s)", result.Detail, StringComparison.Ordinal);
        Assert.Contains("2.9 KiB reclaimed", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_image_a_stopped_container_uses_or_a_rollback_needs_is_never_removed()
    {
        await using var app = new TestApp(new() { ["Updates:KeepImages"] = "0" });
        var engine = app.Containers;
        engine.Add("forge", Repository + ":stable");
        var stopped = engine.Add("forge-copy", Repository + ":stable");
        engine.Use(stopped.Name, Image(1).Id);
        await engine.StopAsync(stopped.Name, Cancel);
        engine.Images.AddRange([Image(1), Image(2), Image(3), Image(4)]);

        var result = await app.Services.GetRequiredService<ImagePruner>().PruneAsync(Job(Image(3).Id), Cancel);

        // Keep 0: the stopped container's image and the one this job replaced (its rollback) stay.
        Assert.True(result.Succeeded, result.Detail);
        Assert.Equal([$"{Repository}@{Image(4).Id}", $"{Repository}@{Image(2).Id}"], engine.Untagged);
        Assert.Contains("kept 1 previous image(s)", result.Detail, StringComparison.Ordinal);
    }
}
