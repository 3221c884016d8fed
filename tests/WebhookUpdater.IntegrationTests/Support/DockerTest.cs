using Docker.DotNet;
using Docker.DotNet.Models;

namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>
/// A test against the real engine: it fails (never skips) when the engine is missing under CI,
/// has a data folder of its own, and leaves nothing behind: the containers of this test run
/// (labelled with its run id, so a second test process on the same engine is not touched) and
/// the volumes and networks it lists are removed, whatever happened to them meanwhile.
/// </summary>
public abstract class DockerTest : IAsyncLifetime
{
    protected abstract DockerFixture Docker { get; }

    /// <summary>The service's data folder for this test.</summary>
    protected string Data { get; } = Directory.CreateTempSubdirectory("wu-it-").FullName;

    /// <summary>Containers made without the run's labels, removed by name afterwards.</summary>
    protected List<string> Containers { get; } = [];

    protected List<string> Volumes { get; } = [];

    protected List<string> Networks { get; } = [];

    /// <summary>
    /// The test app (1.0) on the host network, labelled <c>backup.paths=<paramref name="backupPaths"/></c>,
    /// with a new volume at each of <paramref name="mounts"/> (removed afterwards), healthy; its id.
    /// </summary>
    protected async Task<string> RunAppWithVolumesAsync(string role, string backupPaths, params string[] mounts)
    {
        var binds = new List<string>();
        foreach (var mount in mounts)
        {
            var volume = Docker.Name($"{role}-{mount.Trim('/').Replace('/', '-')}-{Guid.NewGuid().ToString("N")[..6]}");
            await Docker.Client.Volumes.CreateAsync(new VolumesCreateParameters { Name = volume, Labels = new Dictionary<string, string> { [DockerFixture.TestLabel] = "true" } });
            Volumes.Add(volume);
            binds.Add($"{volume}:{mount}");
        }

        var image = TestEnvironment.AppImage("1.0");
        await Docker.EnsureImageAsync(image);
        var created = await Docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = Docker.Name(role),
            Image = image,
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            Labels = Docker.RunLabels(new Dictionary<string, string> { ["backup.paths"] = backupPaths }),
            HostConfig = new HostConfig { NetworkMode = "host", Binds = binds },
        });
        Containers.Add(created.ID);
        await Docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await Docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(30));
        return created.ID;
    }

    public virtual ValueTask InitializeAsync()
    {
        Docker.Require();
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var container in Containers)
        {
            await Docker.RemoveIfPresentAsync(container);
        }

        await Docker.RemoveTestContainersAsync();
        foreach (var network in Networks)
        {
            await IgnoreMissingAsync(() => Docker.Client.Networks.DeleteNetworkAsync(network));
        }

        foreach (var volume in Volumes)
        {
            await IgnoreMissingAsync(() => Docker.Client.Volumes.RemoveAsync(volume, force: true));
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(Data, recursive: true);
        GC.SuppressFinalize(this);
    }

    private static async Task IgnoreMissingAsync(Func<Task> remove)
    {
        try
        {
            await remove();
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
        }
    }
}
