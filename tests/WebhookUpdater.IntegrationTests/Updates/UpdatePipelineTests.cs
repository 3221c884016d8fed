#nullable disable warnings
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.Health;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class UpdatePipelineTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    public static Dictionary<string, string?> FastGate => new()
    {
        ["Updates:RunWorker"] = "true",
        ["HealthGate:StableFor"] = "00:00:02",
        ["HealthGate:PollInterval"] = "00:00:00.200",
        ["HealthGate:Timeout"] = "00:01:00",
    };


    private async Task<string> CreateAsync(CreateContainerParameters parameters)
    {
        parameters.Labels = docker.RunLabels(parameters.Labels);
        parameters.Labels["update.policy"] = "automatic";
        var created = await docker.Client.Containers.CreateContainerAsync(parameters);
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(20));
        return created.ID;
    }

    private static async Task<JsonElement> UpdateAsync(ServiceHost service, string image, string digest, string name)
    {
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload(image, digest, name));
        var job = answer.GetProperty("jobs")[0];
        Assert.Equal("queued", job.GetProperty("decision").GetString());
        return await JobWaiter.WaitAsync(service.GetJsonAsync, job.GetProperty("id").GetString()!, JobTimeout);
    }

    private async Task<string> ReadFileAsync(string container, string path)
    {
        var exec = await docker.Client.Exec.CreateContainerExecAsync(container, new ContainerExecCreateParameters { Cmd = ["cat", path], AttachStdout = true, AttachStderr = true });
        using var stream = await docker.Client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        var (stdout, _) = await stream.ReadOutputToEndAsync(CancellationToken.None);
        return stdout;
    }

    [Fact]
    public async Task An_update_keeps_config_volumes_data_limits_and_network_aliases()
    {
        var repository = docker.Repository("keep");
        await docker.PublishAsync(repository, "stable", "1.0");
        var name = docker.Name("keep");
        var network = (await docker.Client.Networks.CreateNetworkAsync(new NetworksCreateParameters { Name = docker.Name("net"), Driver = "bridge" })).ID;
        Networks.Add(network);
        var volume = docker.Name("vol");
        Volumes.Add(volume);
        var bindDir = Directory.CreateDirectory(Path.Combine(Data, "config")).FullName;
        await File.WriteAllTextAsync(Path.Combine(bindDir, "app.ini"), "[server]\nDOMAIN = git.example\n");
        var oldId = await CreateAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = ["APP_PORT=8080", "GITEA__server__DOMAIN=git.example"],
            Cmd = ["--custom-flag"],
            Labels = new Dictionary<string, string> { ["com.example.role"] = "forge" },
            HostConfig = new HostConfig
            {
                NetworkMode = docker.Name("net"),
                Binds = [$"{bindDir}:/config:ro", $"{volume}:/named"],
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.UnlessStopped },
                Memory = 64 * 1024 * 1024,
                NanoCPUs = 500_000_000,
            },
            NetworkingConfig = new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings> { [docker.Name("net")] = new() { Aliases = ["forge-alias"] } },
            },
        });
        var anonymousVolume = (await docker.Client.Containers.InspectContainerAsync(oldId)).Mounts.Single(m => m.Destination == "/data").Name;
        var oldImageId = await docker.ImageIdAsync($"{repository}:stable");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        await using var service = new ServiceHost(Data, FastGate);

        var job = await UpdateAsync(service, $"{repository}:stable", digest, name);

        Assert.True(job.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(job));
        var updated = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.NotEqual(oldId, updated.ID);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.1")), updated.Image);
        Assert.True(updated.State.Running);
        Assert.Contains("GITEA__server__DOMAIN=git.example", updated.Config.Env);
        Assert.Equal(["--custom-flag"], updated.Config.Cmd);
        Assert.Equal("forge", updated.Config.Labels["com.example.role"]);
        Assert.Equal("1.1", updated.Config.Labels["org.opencontainers.image.version"]);
        Assert.Contains($"{bindDir}:/config:ro", updated.HostConfig.Binds);
        Assert.Contains($"{volume}:/named", updated.HostConfig.Binds);
        Assert.Equal(anonymousVolume, updated.Mounts.Single(m => m.Destination == "/data").Name);
        Assert.Equal(RestartPolicyKind.UnlessStopped, updated.HostConfig.RestartPolicy.Name);
        Assert.Equal(64 * 1024 * 1024, updated.HostConfig.Memory);
        Assert.Equal(500_000_000, updated.HostConfig.NanoCPUs);
        var endpoint = updated.NetworkSettings.Networks[docker.Name("net")];
        Assert.Contains("forge-alias", endpoint.Aliases);
        Assert.DoesNotContain(oldId[..12], endpoint.Aliases ?? []);
        Assert.Equal("1.0\n1.1\n", await ReadFileAsync(name, "/data/versions.log"));
        Assert.Contains("DOMAIN = git.example", await ReadFileAsync(name, "/config/app.ini"), StringComparison.Ordinal);
        Assert.DoesNotContain((await docker.Client.Containers.ListContainersAsync(new ContainersListParameters { All = true })), c => c.Names.Contains($"/{name}.old"));
        // The previous image is kept (an operator can roll back by hand), and the backup was taken first.
        Assert.Equal(oldImageId, await docker.ImageIdAsync(TestEnvironment.AppImage("1.0")));
        Assert.Equal(["check", "backup", "pull", "create", "recreate", "health-gate", "cleanup", "prune"],
            job.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()));
        var backupId = job.GetProperty("backupId").GetString()!;
        var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Data, "backups", backupId, "manifest.json"))).RootElement;
        Assert.Equal(3, manifest.GetProperty("objects").GetArrayLength()); // /config (bind), /named, /data (anonymous)
    }

    [Theory]
    [InlineData("1.2-unhealthy", "HEALTHCHECK reports unhealthy")]
    [InlineData("1.3-exits", "exited with code 1")]
    public async Task A_failing_version_is_rolled_back_and_the_old_one_runs_healthy(string badVersion, string why)
    {
        var repository = docker.Repository("bad");
        await docker.PublishAsync(repository, "stable", "1.1");
        var name = docker.Name("rollback");
        var oldId = await CreateAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        var digest = await docker.PublishAsync(repository, "stable", badVersion);
        await using var service = new ServiceHost(Data, FastGate);

        var job = await UpdateAsync(service, $"{repository}:stable", digest, name);

        Assert.True(job.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(job));
        Assert.Equal("rolled back, healthy", job.GetProperty("outcome").GetString());
        Assert.Contains(why, job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains($"wu-test app {badVersion}", job.GetProperty("logTail").GetString(), StringComparison.Ordinal);
        var running = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(oldId, running.ID);
        Assert.True(running.State.Running);
        await docker.WaitHealthyAsync(name, TimeSpan.FromSeconds(20));
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.1")), running.Image);
    }

    [Theory]
    [InlineData("/healthz", "succeeded", null)]
    [InlineData("/no-such-page", "failed", "/no-such-page answered 404")]
    public async Task The_health_url_label_is_probed_over_http_and_a_bad_answer_fails_the_gate(string path, string state, string? why)
    {
        // The app's HEALTHCHECK passes in both cases: only the label's HTTP probe decides.
        var repository = docker.Repository("probe");
        await docker.PublishAsync(repository, "stable", "1.0");
        var name = docker.Name("probe");
        var port = DockerFixture.FreePort();
        await CreateAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = [$"APP_PORT={port}"],
            Labels = new Dictionary<string, string>
            {
                [HealthLabels.Url] = $"http://127.0.0.1:{port}{path}",
                [HealthLabels.TimeoutSeconds] = "5",
            },
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        await using var service = new ServiceHost(Data, FastGate);

        var job = await UpdateAsync(service, $"{repository}:stable", digest, name);

        Assert.True(job.GetProperty("state").GetString() == state, JobWaiter.Timeline(job));
        if (why is not null)
        {
            // The old version carries the same label, so it fails the probe too after the rollback,
            // and the timeline says so.
            Assert.Contains(why, job.GetProperty("reason").GetString(), StringComparison.Ordinal);
            var steps = job.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("state").GetString());
            Assert.Equal("failed", steps["health-gate"]);
            Assert.Equal("failed", steps["rollback-health-gate"]);
        }
    }

    [Fact]
    public async Task A_registry_that_does_not_answer_fails_the_job_at_pull_and_leaves_the_container_alone()
    {
        var repository = $"127.0.0.1:{DockerFixture.FreePort()}/wu-it/{docker.RunId}-unreachable";
        await docker.TagLocallyAsync(repository, "stable", "1.0");
        var name = docker.Name("unreachable");
        var id = await CreateAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await using var service = new ServiceHost(Data, FastGate);

        var job = await UpdateAsync(service, $"{repository}:stable", "sha256:" + new string('d', 64), name);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        Assert.StartsWith("pull failed", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var container = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(id, container.ID);
        Assert.True(container.State.Running);
        Assert.Equal(0, container.RestartCount);
    }

    [Fact]
    public async Task A_missing_tag_fails_the_job_at_pull_and_leaves_the_container_alone()
    {
        var repository = docker.Repository("ghost");
        await docker.TagLocallyAsync(repository, "never-pushed", "1.0");
        var name = docker.Name("ghost");
        var id = await CreateAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:never-pushed",
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await using var service = new ServiceHost(Data, FastGate);

        var job = await UpdateAsync(service, $"{repository}:never-pushed", "sha256:" + new string('e', 64), name);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        var failedStep = job.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("state").GetString() == "failed");
        Assert.Equal("pull", failedStep.GetProperty("name").GetString());
        Assert.Contains("not found", failedStep.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        var container = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(id, container.ID);
        Assert.True(container.State.Running);
    }

    [Fact]
    public async Task A_digest_the_registry_no_longer_serves_stops_the_update_before_any_change()
    {
        var repository = docker.Repository("moved");
        await docker.PublishAsync(repository, "stable", "1.0");
        var name = docker.Name("moved");
        var id = await CreateAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        var seenByDiun = await docker.PublishAsync(repository, "stable", "1.1");
        await docker.PublishAsync(repository, "stable", "1.4");
        Assert.NotEqual(seenByDiun, await docker.RegistryDigestAsync($"{repository}:stable"));
        await using var service = new ServiceHost(Data, FastGate);

        var job = await UpdateAsync(service, $"{repository}:stable", seenByDiun, name);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        Assert.Contains("registry moved on", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(id, (await docker.Client.Containers.InspectContainerAsync(name)).ID);
    }
}
