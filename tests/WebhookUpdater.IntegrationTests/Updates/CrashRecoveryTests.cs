#nullable disable warnings
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class CrashRecoveryTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;


    [Theory]
    [InlineData("stopped", "rolled_back")]
    [InlineData("created", "succeeded")]
    public async Task A_service_killed_mid_update_finishes_or_undoes_it_at_the_next_start(string killAfter, string expected)
    {
        var (repository, name) = await docker.RunPublishedAppAsync($"crash-{killAfter}", "automatic");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var settings = UpdatePipelineTests.FastGate;
        string jobId;

        await using (var first = await ServiceProcess.StartAsync(Data, new(settings) { ["Updates:HangAfterPhase"] = killAfter }))
        {
            var answer = await first.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
            jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();
            await JobWaiter.WaitAsync(first.GetJsonAsync, jobId, TimeSpan.FromSeconds(60), job => job.GetProperty("phase").GetString() == killAfter);
            await first.KillAsync();
        }

        // The crash left the original renamed and stopped.
        var old = await docker.Client.Containers.InspectContainerAsync($"{name}.old");
        Assert.False(old.State.Running);

        await using var second = await ServiceProcess.StartAsync(Data, settings);
        var finished = await JobWaiter.WaitAsync(second.GetJsonAsync, jobId, TimeSpan.FromSeconds(120));

        Assert.True(finished.GetProperty("state").GetString() == expected, JobWaiter.Timeline(finished) + second.Output);
        var container = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.True(container.State.Running);
        Assert.Equal("healthy", container.State.Health?.Status);
        var expectedImage = expected == "succeeded" ? "1.1" : "1.0";
        Assert.Equal((await docker.Client.Images.InspectImageAsync(TestEnvironment.AppImage(expectedImage))).ID, container.Image);
        var all = await docker.Client.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(all, c => c.Names.Contains($"/{name}.old"));
        Assert.Contains(finished.GetProperty("steps").EnumerateArray(), s => s.GetProperty("state").GetString() == "interrupted");
    }
}
