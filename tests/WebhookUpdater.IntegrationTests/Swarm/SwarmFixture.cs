using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Deployment;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Swarm;

[CollectionDefinition(Name)]
public sealed class SwarmCollection : ICollectionFixture<SwarmFixture>
{
    public const string Name = "swarm";
}

/// <summary>
/// A single-node swarm on engine B (WU_TEST_DOCKER_HOST_B, else DOCKER_HOST), made for the
/// collection and always left at its end, so the engine is as it was found. Services it makes
/// carry this run's label and a name of their own; other test classes keep running plain
/// containers on the same engine meanwhile.
/// </summary>
public sealed class SwarmFixture : IAsyncLifetime
{
    private Exception? _unavailable;
    private bool _initialized;

    public static string Host =>
        Environment.GetEnvironmentVariable("WU_TEST_DOCKER_HOST_B") is { Length: > 0 } b ? b : TestEnvironment.DockerHost;

    public DockerClient Client { get; } = new DockerClientBuilder().WithEndpoint(new Uri(Host)).Build();

    public string RunId { get; } = Guid.NewGuid().ToString("N")[..8];

    public async ValueTask InitializeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var info = await Client.System.GetSystemInfoAsync(timeout.Token);
            if (info.Swarm?.LocalNodeState is "active")
            {
                // Someone else's swarm: leaving it at the end would break them.
                _unavailable = new InvalidOperationException($"the engine at {Host} is already part of a swarm");
                return;
            }

            await Client.Swarm.InitSwarmAsync(new SwarmInitParameters { ListenAddr = "127.0.0.1:2377", AdvertiseAddr = "127.0.0.1" }, timeout.Token);
            _initialized = true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException or OperationCanceledException or System.Net.Sockets.SocketException or DockerApiException)
        {
            _unavailable = e;
        }
    }

    public void Require()
    {
        if (_unavailable is not null)
        {
            TestEnvironment.Unavailable($"A single-node swarm on the Docker engine at {Host}", _unavailable);
        }
    }

    public string Name(string role) => $"wu-it-{RunId}-{role}-{Guid.NewGuid().ToString("N")[..4]}";

    /// <summary>A repository of the test's own in the loopback registry.</summary>
    public string Repository(string role) => $"{TestEnvironment.ImagePrefix.Split('/')[0]}/wu-it/{RunId}-swarm-{role}";

    /// <summary>Tags a test-app version as repository:tag, pushes it, and returns the registry's digest.</summary>
    public async Task<string> PublishAsync(string repository, string tag, string appVersion)
    {
        var source = TestEnvironment.AppImage(appVersion);
        try
        {
            await Client.Images.InspectImageAsync(source);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            await Client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = source[..source.LastIndexOf(':')], Tag = appVersion }, null, new Progress<JSONMessage>());
        }

        await Client.Images.TagImageAsync(source, new ImageTagParameters { RepositoryName = repository, Tag = tag });
        string? error = null;
        await Client.Images.PushImageAsync($"{repository}:{tag}", new ImagePushParameters { Tag = tag }, new AuthConfig(),
            new Progress<JSONMessage>(m => error ??= m.Error?.Message));
        Assert.True(error is null, $"push of {repository}:{tag}: {error}");
        var inspect = await Client.Images.InspectImageAsync($"{repository}:{tag}");
        var repoDigest = inspect.RepoDigests.First(d => d.StartsWith(repository + "@", StringComparison.Ordinal));
        return repoDigest[(repoDigest.IndexOf('@', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>
    /// A replicated service of one task on the host network, pinned to the digest the way
    /// `docker service create` and `docker stack deploy` pin it, with these service labels; its id.
    /// </summary>
    public Task<string> CreateServiceAsync(string name, string image, IDictionary<string, string> labels, SwarmUpdateConfig? update = null) =>
        CreateServiceAsync(name, new ContainerSpec { Image = image, Env = [$"APP_PORT={DockerFixture.FreePort()}"] }, labels, update);

    /// <summary>A replicated service of one task on the host network running <paramref name="container"/>; its id.</summary>
    public async Task<string> CreateServiceAsync(string name, ContainerSpec container, IDictionary<string, string> labels, SwarmUpdateConfig? update = null)
    {
        var created = await Client.Swarm.CreateServiceAsync(new ServiceCreateParameters
        {
            Service = new ServiceSpec
            {
                Name = name,
                Labels = new Dictionary<string, string>(labels) { [DockerFixture.TestLabel] = "true", [DockerFixture.RunLabel] = RunId },
                TaskTemplate = new TaskSpec
                {
                    ContainerSpec = container,
                    Networks = [new NetworkAttachmentConfig { Target = "host" }],
                },
                Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = 1 } },
                UpdateConfig = update,
            },
        });
        var id = created.ID ?? throw new InvalidOperationException($"the engine created {name} without an id");
        await WaitRunningAsync(id, TimeSpan.FromSeconds(60));
        return id;
    }

    /// <summary>Waits until one of the service's tasks runs (healthy, for an image with a HEALTHCHECK).</summary>
    public async Task WaitRunningAsync(string serviceId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var tasks = await Client.Tasks.ListAsync(new TasksListParameters
            {
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [serviceId] = true } },
            });
            if (tasks.Any(task => task.Status?.State == TaskState.Running))
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"service {serviceId} has no running task after {timeout}");
    }

    /// <summary>The id of the service's running task container, once its HEALTHCHECK passes.</summary>
    public async Task<string> HealthyTaskAsync(string serviceId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var tasks = await Client.Containers.ListContainersAsync(new ContainersListParameters
            {
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"com.docker.swarm.service.id={serviceId}"] = true } },
            });
            foreach (var task in tasks)
            {
                if ((await Client.Containers.InspectContainerAsync(task.ID)).State is { Running: true } state && state.Health?.Status is null or "healthy")
                {
                    return task.ID;
                }
            }

            await Task.Delay(250);
        }

        Assert.Fail($"service {serviceId} has no healthy task container after {timeout}");
        return "";
    }

    /// <summary>
    /// webhook-updater's own image (the repository's Dockerfile, built once per run), pushed to the
    /// loopback registry so the swarm's engine pulls it for its agent jobs as any node would.
    /// </summary>
    public async Task<string> AgentImageAsync()
    {
        var built = await UpdaterImage.BuildAsync();
        var reference = $"{TestEnvironment.ImagePrefix.Split('/')[0]}/wu-it/webhook-updater-agent:{built[(built.LastIndexOf(':') + 1)..]}";
        // Untagged after the push: the registry keeps it, and no copy piles up here with each rebuild.
        foreach (var step in new[] { new[] { "tag", built, reference }, ["push", reference], ["rmi", reference] })
        {
            var result = await Cli.RunAsync(UpdaterImage.Docker(), step, environment: UpdaterImage.DockerEnvironment, timeout: TimeSpan.FromMinutes(5));
            Assert.True(result.ExitCode == 0, result.Describe($"docker {step[0]} {reference}"));
        }

        _agentImage = reference;
        return reference;
    }

    private string? _agentImage;

    public Task<SwarmService> InspectAsync(string serviceId) => Client.Swarm.InspectServiceAsync(serviceId);

    public async Task RemoveServiceAsync(string serviceId)
    {
        try
        {
            await Client.Swarm.RemoveServiceAsync(serviceId);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_initialized)
        {
            try
            {
                foreach (var service in await Client.Swarm.ListServicesAsync(new ServiceListParameters
                {
                    Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{DockerFixture.RunLabel}={RunId}"] = true } },
                }))
                {
                    await RemoveServiceAsync(service.ID);
                }
            }
            finally
            {
                // Always: the engine goes back to how the test environment started it.
                await Client.Swarm.LeaveSwarmAsync(new SwarmLeaveParameters { Force = true });
            }
        }

        if (_agentImage is not null)
        {
            try
            {
                // The swarm's engine pulled it for the agent jobs: it goes with the swarm.
                await Client.Images.DeleteImageAsync(_agentImage, new ImageDeleteParameters { Force = true });
            }
            catch (DockerApiException)
            {
            }
        }

        Client.Dispose();
    }
}
