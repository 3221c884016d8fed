using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace WebhookUpdater.IntegrationTests.Support;

[CollectionDefinition(Name)]
public sealed class DockerCollection : ICollectionFixture<DockerFixture>
{
    public const string Name = "docker";
}

/// <summary>
/// The real engine (DOCKER_HOST), once per test collection. Containers it creates carry the
/// label wu.test=true and are removed when the collection ends.
/// </summary>
public sealed class DockerFixture : IAsyncLifetime
{
    public const string TestLabel = "wu.test";
    public const string RunLabel = "wu.test.run";

    private Exception? _unavailable;

    public DockerClient Client { get; } = new DockerClientBuilder().WithEndpoint(new Uri(TestEnvironment.DockerHost)).Build();

    public string RunId { get; } = Guid.NewGuid().ToString("N")[..8];

    public string ServerVersion { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var version = await Client.System.GetVersionAsync(timeout.Token);
            ServerVersion = $"{version.Version} (API {version.APIVersion})";
            await RemoveTestContainersAsync();
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException or OperationCanceledException or System.Net.Sockets.SocketException or DockerApiException)
        {
            _unavailable = e;
        }
    }

    /// <summary>Call first in every test that needs the engine.</summary>
    public void Require()
    {
        if (_unavailable is not null)
        {
            TestEnvironment.Unavailable($"The Docker engine at {TestEnvironment.DockerHost}", _unavailable);
        }
    }

    /// <summary>Makes sure the image is on this engine, pulling it from the loopback registry if needed.</summary>
    public async Task<ImageInspectResponse> EnsureImageAsync(string image)
    {
        try
        {
            return await Client.Images.InspectImageAsync(image);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            var colon = image.LastIndexOf(':');
            try
            {
                await Client.Images.CreateImageAsync(
                    new ImagesCreateParameters { FromImage = image[..colon], Tag = image[(colon + 1)..] }, null, new Progress<JSONMessage>());
            }
            catch (DockerApiException pull)
            {
                TestEnvironment.Unavailable($"The test image {image} (loopback registry)", pull);
            }

            return await Client.Images.InspectImageAsync(image);
        }
    }

    /// <summary>The manifest digest the loopback registry gave this image (from its RepoDigests).</summary>
    public async Task<string> RegistryDigestAsync(string image)
    {
        var inspect = await EnsureImageAsync(image);
        var repoDigest = inspect.RepoDigests.FirstOrDefault()
            ?? throw new InvalidOperationException($"{image} has no RepoDigests: was it pushed to the registry?");
        return repoDigest[(repoDigest.IndexOf('@', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>Creates and starts a test-app container on the host network, serving on a loopback port.</summary>
    public async Task<string> RunAppAsync(string name, string tagOrImage, IDictionary<string, string>? labels = null, int? port = null)
    {
        var image = tagOrImage.Contains('/', StringComparison.Ordinal) ? tagOrImage : TestEnvironment.AppImage(tagOrImage);
        await EnsureImageAsync(image);
        var allLabels = RunLabels(labels);
        var created = await Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Labels = allLabels,
            Env = [$"APP_PORT={port ?? FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        return created.ID;
    }

    public async Task WaitHealthyAsync(string id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var state = (await Client.Containers.InspectContainerAsync(id)).State;
            if (state?.Health?.Status == "healthy")
            {
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"container {id} did not turn healthy within {timeout}");
    }

    public string Name(string role) => $"wu-it-{RunId}-{role}";

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The labels every test container carries: the test label, and this run's id, so cleaning up
    /// never removes the containers of another test process on the same engine.
    /// </summary>
    public Dictionary<string, string> RunLabels(IDictionary<string, string>? more = null) =>
        new(more ?? new Dictionary<string, string>()) { [TestLabel] = "true", [RunLabel] = RunId };

    /// <summary>Removes a container by name or id, if it is still there.</summary>
    public async Task RemoveIfPresentAsync(string container)
    {
        try
        {
            await Client.Containers.RemoveContainerAsync(container, new ContainerRemoveParameters { Force = true, RemoveVolumes = true });
        }
        catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            // Gone already, or being removed.
        }
    }

    /// <summary>Every container of this test run (by its run label), running or not.</summary>
    public async Task RemoveTestContainersAsync()
    {
        var containers = await Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{RunLabel}={RunId}"] = true } },
        });
        foreach (var container in containers)
        {
            await Client.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true });
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_unavailable is null)
        {
            await RemoveTestContainersAsync();
        }

        Client.Dispose();
    }
}

/// <summary>Registry and image chores for the update tests.</summary>
public static class DockerFixtureImages
{
    /// <summary>
    /// Publishes a test-app version under a repository and tag of its own in the loopback
    /// registry, the way a real release moves a tag, and returns the digest the registry gave it.
    /// </summary>
    public static async Task<string> PublishAsync(this DockerFixture docker, string repository, string tag, string appVersion)
    {
        var source = TestEnvironment.AppImage(appVersion);
        await docker.EnsureImageAsync(source);
        await docker.Client.Images.TagImageAsync(source, new Docker.DotNet.Models.ImageTagParameters { RepositoryName = repository, Tag = tag });
        return await docker.PushAsync(repository, tag);
    }

    /// <summary>Pushes a local image to the loopback registry; returns the digest the registry gave it.</summary>
    public static async Task<string> PushAsync(this DockerFixture docker, string repository, string tag)
    {
        string? error = null;
        await docker.Client.Images.PushImageAsync(
            $"{repository}:{tag}",
            new Docker.DotNet.Models.ImagePushParameters { Tag = tag },
            new Docker.DotNet.Models.AuthConfig(),
            new Progress<Docker.DotNet.Models.JSONMessage>(m => error ??= m.Error?.Message));
        if (error is not null)
        {
            TestEnvironment.Unavailable($"The loopback registry (push of {repository}:{tag})", new InvalidOperationException(error));
        }

        var inspect = await docker.Client.Images.InspectImageAsync($"{repository}:{tag}");
        var repoDigest = inspect.RepoDigests.First(d => d.StartsWith(repository + "@", StringComparison.Ordinal));
        return repoDigest[(repoDigest.IndexOf('@', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>A repository of the test's own in the loopback registry (per run, role and engine): no other test pushes to it.</summary>
    public static string Repository(this DockerFixture docker, string role) =>
        $"{TestEnvironment.ImagePrefix.Split('/')[0]}/wu-it/{docker.RunId}-{role}-{TestEnvironment.Engine.ToLowerInvariant()}";

    /// <summary>
    /// The usual start of an update test: a repository of the test's own in the loopback
    /// registry with <paramref name="version"/> under :stable, and a labelled container of it
    /// running on the host network. Returns the repository (without tag) and the container's name.
    /// </summary>
    public static async Task<(string Repository, string Name)> RunPublishedAppAsync(this DockerFixture docker, string role, string policy, string version = "1.0")
    {
        var repository = docker.Repository(role);
        await docker.PublishAsync(repository, "stable", version);
        var name = docker.Name(role);
        await docker.RunAppAsync(name, $"{repository}:stable", new Dictionary<string, string> { ["update.policy"] = policy });
        return (repository, name);
    }

    /// <summary>Tags a test-app version locally only (nothing in any registry), for pull failures.</summary>
    public static async Task TagLocallyAsync(this DockerFixture docker, string repository, string tag, string appVersion)
    {
        var source = TestEnvironment.AppImage(appVersion);
        await docker.EnsureImageAsync(source);
        await docker.Client.Images.TagImageAsync(source, new Docker.DotNet.Models.ImageTagParameters { RepositoryName = repository, Tag = tag });
    }

    public static async Task<string> ImageIdAsync(this DockerFixture docker, string image) =>
        (await docker.Client.Images.InspectImageAsync(image)).ID;
}
