#nullable disable warnings
using WebhookUpdater.Containers;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Containers;

/// <summary>Reading a path that may not exist (certificates): a missing path is nothing to read, a missing container a failure.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class ArchiveReadTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

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
