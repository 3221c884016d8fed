#nullable disable warnings
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>A rollback that puts the pre-update data back, for a container labelled for it.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class DataRollbackTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    [Fact]
    public async Task A_migration_the_new_version_wrote_is_gone_after_the_rollback()
    {
        // Only the old version is healthy: the new one fails the gate after 8 s, time enough to "migrate".
        var (database, repository, name, createdId, _) = await RunGiteaPairAsync("rb", "CREATE TABLE schema_version (v text); INSERT INTO schema_version VALUES ('v1')", gateSeconds: 8);
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var newImage = await docker.ImageIdAsync(TestEnvironment.AppImage("1.1"));
        var settings = FastGateOnS3();

        await using var service = new ServiceHost(Data, settings);
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        var jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();

        // The new version starts and migrates the database, as a new Gitea does on its first start.
        await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(120), job =>
            job.GetProperty("steps").EnumerateArray().Any(s => s.GetProperty("name").GetString() == "health-gate"));
        var running = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(newImage, running.Image);
        await docker.PsqlAsync(database, "forge", "INSERT INTO schema_version VALUES ('v2'); CREATE TABLE migrated_v2 (x int)");
        Containers.Add(running.ID);

        var finished = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(120));

        Assert.True(finished.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(finished));
        Assert.Equal("rolled back, healthy", finished.GetProperty("outcome").GetString());
        var rollback = finished.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "rollback");
        Assert.Contains($"restored pre-update set {finished.GetProperty("backupId").GetString()}", rollback.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("v1", await docker.PsqlAsync(database, "forge", "SELECT string_agg(v, ',' ORDER BY v) FROM schema_version"));
        Assert.Equal("0", await docker.PsqlAsync(database, "forge", "SELECT count(*) FROM pg_tables WHERE tablename = 'migrated_v2'"));
        var old = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(createdId, old.ID);
        Assert.True(old.State.Running);
        // The volume was put back too: the new version's start line is gone, the old one's restart is there.
        var (_, versions, _) = await docker.ExecAsync(name, ["cat", "/data/versions.log"]);
        Assert.Equal("1.0\n1.0\n", versions);
    }
}
