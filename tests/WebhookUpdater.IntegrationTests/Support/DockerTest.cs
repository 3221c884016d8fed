using Docker.DotNet;

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
