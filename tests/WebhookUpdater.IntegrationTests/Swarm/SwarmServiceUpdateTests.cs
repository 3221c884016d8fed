#nullable disable warnings
using System.Net.Http.Headers;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Swarm;

/// <summary>
/// Swarm services as update targets, on a real single-node swarm: Swarm rolls the new image out
/// and back by itself, the job follows it, and a restart mid-update never sends it twice.
/// </summary>
// No Category=Docker trait: the swarm is always on engine B, so the engine-B step must not run it a second time.
[Collection(SwarmCollection.Name)]
public sealed class SwarmServiceUpdateTests(SwarmFixture swarm) : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("wu-it-swarm-").FullName;
    private readonly List<string> _services = [];

    private static Dictionary<string, string?> Settings => new()
    {
        ["Updates:RunWorker"] = "true",
        ["HealthGate:StableFor"] = "00:00:03",
        ["HealthGate:PollInterval"] = "00:00:00.200",
        ["HealthGate:Timeout"] = "00:01:00",
        ["Swarm:PollInterval"] = "00:00:00.250",
        ["Swarm:UpdateTimeout"] = "00:03:00",
        ["DOCKER_HOST"] = SwarmFixture.Host,
    };

    public ValueTask InitializeAsync()
    {
        swarm.Require();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Plain_containers_keep_working_while_the_swarm_exists()
    {
        var name = swarm.Name("plain");
        var image = TestEnvironment.AppImage("1.0");
        await swarm.PublishAsync(swarm.Repository("plain"), "stable", "1.0");
        var created = await swarm.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            Labels = new Dictionary<string, string> { [DockerFixture.TestLabel] = "true" },
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        try
        {
            await swarm.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            string health = null;
            while (DateTime.UtcNow < deadline && health != "healthy")
            {
                health = (await swarm.Client.Containers.InspectContainerAsync(created.ID)).State?.Health?.Status;
                await Task.Delay(200);
            }

            Assert.Equal("healthy", health);
        }
        finally
        {
            await swarm.Client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    [Fact]
    public async Task An_automatic_service_is_updated_by_Swarm_to_the_new_digest()
    {
        var (repository, name, id, _) = await RunServiceAsync("auto", "automatic");
        var digest = await swarm.PublishAsync(repository, "stable", "1.1");
        await using var service = await ServiceProcess.StartAsync(_data, Settings);

        var job = await UpdateAsync(service, repository, digest, name);

        Assert.True(job.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(job) + service.Output);
        Assert.Equal("service", job.GetProperty("target").GetString());
        var inspect = await swarm.InspectAsync(id);
        Assert.Equal($"{repository}:stable@{digest}", inspect.Spec.TaskTemplate.ContainerSpec.Image);
        Assert.Equal("completed", inspect.UpdateStatus.State);
        Assert.Equal("rollback", inspect.Spec.UpdateConfig.FailureAction);
        Assert.Equal(TimeSpan.FromSeconds(3), inspect.Spec.UpdateConfig.Monitor);
        Assert.Equal(0, await EmailsAsync(service, job));
    }

    [Theory]
    [InlineData("1.3-exits")]
    [InlineData("1.2-unhealthy")]
    public async Task A_service_whose_new_image_fails_is_rolled_back_by_Swarm_with_one_email(string version)
    {
        var (repository, name, id, oldImage) = await RunServiceAsync($"fail-{version.Replace('.', '-')}", "automatic");
        var digest = await swarm.PublishAsync(repository, "stable", version);
        await using var service = await ServiceProcess.StartAsync(_data, Settings);

        var job = await UpdateAsync(service, repository, digest, name);

        Assert.True(job.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(job) + service.Output);
        var inspect = await swarm.InspectAsync(id);
        Assert.Equal("rollback_completed", inspect.UpdateStatus.State);
        Assert.Equal(oldImage, inspect.Spec.TaskTemplate.ContainerSpec.Image);
        Assert.Contains(job.GetProperty("steps").EnumerateArray(), step => step.GetProperty("name").GetString() == "swarm-rollback-completed");
        Assert.Equal(1, await EmailsAsync(service, job));
    }

    [Fact]
    public async Task A_manual_service_waits_for_approval_and_updates_once_approved()
    {
        var (repository, name, id, oldImage) = await RunServiceAsync("manual", "manual");
        var digest = await swarm.PublishAsync(repository, "stable", "1.1");
        await using var service = await ServiceProcess.StartAsync(_data, Settings);

        var answer = await service.PostEventAsync(SwarmPayload($"{repository}:stable", digest));
        var jobId = JobOf(answer, name);
        var waiting = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(10), job => job.GetProperty("state").GetString() == "awaiting_approval");
        await Task.Delay(1500);
        Assert.Equal("awaiting_approval", (await service.GetJsonAsync($"/api/jobs/{jobId}")).GetProperty("state").GetString());
        Assert.Equal(oldImage, (await swarm.InspectAsync(id)).Spec.TaskTemplate.ContainerSpec.Image);

        using (var approve = new HttpRequestMessage(HttpMethod.Post, $"/api/jobs/{jobId}/approve"))
        {
            approve.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
            var response = await service.Http.SendAsync(approve);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(120));
        Assert.True(job.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(job) + service.Output);
        Assert.Equal($"{repository}:stable@{digest}", (await swarm.InspectAsync(id)).Spec.TaskTemplate.ContainerSpec.Image);
        Assert.NotNull(waiting.GetProperty("id").GetString());
    }

    /// <summary>Killed before the update was sent, or while Swarm rolls it out and back: it ends as Swarm ended, sent once, one email.</summary>
    [Theory]
    [InlineData("service_updating")]
    [InlineData("service_following")]
    public async Task A_service_killed_during_a_service_update_ends_the_job_as_Swarm_ended_it(string phase)
    {
        var (repository, name, id, oldImage) = await RunServiceAsync($"crash-{phase.Replace('_', '-')}", "automatic");
        var digest = await swarm.PublishAsync(repository, "stable", "1.3-exits");
        string jobId;
        await using (var first = await ServiceProcess.StartAsync(_data, Settings, hangAfterPhase: phase))
        {
            var answer = await first.PostEventAsync(SwarmPayload($"{repository}:stable", digest));
            jobId = JobOf(answer, name);
            await JobWaiter.WaitAsync(first.GetJsonAsync, jobId, TimeSpan.FromSeconds(60), job => job.GetProperty("phase").GetString() == phase);
            await first.KillAsync();
        }

        await using var second = await ServiceProcess.StartAsync(_data, Settings);
        var finished = await JobWaiter.WaitAsync(second.GetJsonAsync, jobId, TimeSpan.FromSeconds(180));

        Assert.True(finished.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(finished) + second.Output);
        var inspect = await swarm.InspectAsync(id);
        Assert.Equal("rollback_completed", inspect.UpdateStatus.State);
        Assert.Equal(oldImage, inspect.Spec.TaskTemplate.ContainerSpec.Image);
        var sent = finished.GetProperty("steps").EnumerateArray().Count(step => step.GetProperty("name").GetString() == "service-update" && step.GetProperty("state").GetString() == "succeeded");
        Assert.True(sent == 1, JobWaiter.Timeline(finished));
        Assert.Equal(1, await EmailsAsync(second, finished));
    }

    private async Task<(string Repository, string Name, string Id, string Image)> RunServiceAsync(string role, string policy)
    {
        var repository = swarm.Repository(role);
        var digest = await swarm.PublishAsync(repository, "stable", "1.0");
        var name = swarm.Name(role);
        var image = $"{repository}:stable@{digest}";
        var id = await swarm.CreateServiceAsync(name, image, new Dictionary<string, string> { ["update.policy"] = policy });
        _services.Add(id);
        return (repository, name, id, image);
    }

    private static async Task<JsonElement> UpdateAsync(ServiceProcess service, string repository, string digest, string name)
    {
        var answer = await service.PostEventAsync(SwarmPayload($"{repository}:stable", digest));
        return await JobWaiter.WaitAsync(service.GetJsonAsync, JobOf(answer, name), TimeSpan.FromSeconds(150));
    }

    internal static string JobOf(JsonElement answer, string name) =>
        answer.GetProperty("jobs").EnumerateArray().Single(job => job.GetProperty("container").GetString() == name).GetProperty("id").GetString();

    /// <summary>What Diun's swarm provider sends: the image and its digest, nothing of the service.</summary>
    internal static string SwarmPayload(string image, string digest) =>
        ServiceHost.DiunPayload(image, digest).Replace("\"provider\":\"docker\"", "\"provider\":\"swarm\"", StringComparison.Ordinal);

    private static async Task<int> EmailsAsync(ServiceProcess service, JsonElement job)
    {
        var jobId = job.GetProperty("id").GetString();
        await Task.Delay(500);
        var outbox = await service.GetJsonAsync("/api/notifications/outbox?limit=500");
        return outbox.EnumerateArray().Count(m => m.GetProperty("jobId").GetString() == jobId);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _services)
        {
            await swarm.RemoveServiceAsync(id);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }
}
