#nullable disable warnings
using WebhookUpdater.Containers;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Containers;

/// <summary>Reading a path that may not exist (certificates) goes through the same progress-bounded transfer as a backup's archive.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class ArchiveReadTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    [Fact]
    public async Task A_read_that_outlasts_the_request_timeout_is_not_cut_off_while_its_reader_pauses()
    {
        var name = docker.Name($"archive-read-{Guid.NewGuid():N}"[..36]);
        await docker.RunAppAsync(name, "1.0");
        using var engine = new EngineDoor(new() { ["Docker:RequestTimeout"] = "00:00:02", ["Docker:StallTimeout"] = "00:00:30" });
        // Larger than the socket buffers: the engine is still sending when the request timeout passes.
        var made = await engine.Containers.ExecAsync(name, ["sh", "-c", "head -c 67108864 /dev/zero > /data/big.bin"], TestContext.Current.CancellationToken);
        Assert.True(made.Succeeded, made.Output);

        await using var tar = await engine.Containers.TryArchiveAsync(name, "/data/big.bin", TestContext.Current.CancellationToken);
        Assert.NotNull(tar);
        var buffer = new byte[1 << 20];
        long total = await tar.ReadAsync(buffer, TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        int read;
        while ((read = await tar.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
        {
            total += read;
        }

        Assert.True(total > 64L << 20, $"only {total} bytes of the archive came");
    }

    [Fact]
    public async Task A_missing_path_is_nothing_and_a_missing_container_is_a_failure()
    {
        var name = docker.Name($"archive-none-{Guid.NewGuid():N}"[..36]);
        await docker.RunAppAsync(name, "1.0");
        using var engine = new EngineDoor(new() { ["Docker:StallTimeout"] = "00:00:30" });

        Assert.Null(await engine.Containers.TryArchiveAsync(name, "/etc/letsencrypt/live", TestContext.Current.CancellationToken));
        await Assert.ThrowsAnyAsync<Docker.DotNet.DockerApiException>(() => engine.Containers.TryArchiveAsync(name + "-gone", "/etc", TestContext.Current.CancellationToken));
    }
}
