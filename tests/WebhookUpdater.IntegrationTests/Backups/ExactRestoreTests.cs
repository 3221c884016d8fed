#nullable disable warnings
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>A restored path is the backed-up one, file for file and byte for byte.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class ExactRestoreTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    [Fact]
    public async Task Two_paths_whose_names_folded_together_make_two_objects_and_restore_to_two_files()
    {
        var id = await RunAppWithVolumesAsync("fold", "/data/a.b,/data/a_b", "/data", "/srv");
        await docker.WriteFilesAsync(id, "/data", new Dictionary<string, byte[]> { ["a.b"] = BackupContainers.Text("dotted\n"), ["a_b"] = BackupContainers.Text("underscored\n") });
        var before = await docker.TreeAsync(id, "/data");
        await using var service = new ServiceHost(Data, S3.Settings());
        var set = await BackupAsync(service, docker.Name("fold"));
        await docker.WriteFilesAsync(id, "/data", new Dictionary<string, byte[]> { ["a.b"] = BackupContainers.Text("changed\n"), ["a_b"] = BackupContainers.Text("changed too\n") });

        var restore = await PostgresBackupTests.Admin(service).PostAsync($"/api/backups/{set.GetProperty("id").GetString()}/restore", null, TestContext.Current.CancellationToken);

        Assert.True(restore.IsSuccessStatusCode, await restore.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var names = set.GetProperty("objects").EnumerateArray().Select(o => o.GetProperty("name").GetString()).ToList();
        Assert.Equal(2, names.Distinct().Count());
        Assert.Equal(2, (await S3.KeysAsync()).Count(key => key.EndsWith(".tar.gz", StringComparison.Ordinal)));
        var after = await docker.TreeAsync(id, "/data");
        Assert.Equal(before["data/a.b"], after["data/a.b"]);
        Assert.Equal(before["data/a_b"], after["data/a_b"]);
        Assert.NotEqual(after["data/a.b"], after["data/a_b"]);
    }

    [Fact]
    public async Task A_restore_after_files_were_added_changed_and_removed_leaves_exactly_the_backed_up_tree()
    {
        var id = await RunAppWithVolumesAsync("exact", "/srv", "/data", "/srv");
        await docker.WriteFilesAsync(id, "/srv", new Dictionary<string, byte[]>
        {
            ["repos/alice/project.git/HEAD"] = BackupContainers.Text("ref: refs/heads/main\n"),
            ["repos/alice/project.git/objects/ab/cdef"] = S3BackupStoreTests.RandomBytes(100_000),
            ["conf/app.ini"] = BackupContainers.Text("[server]\n"),
            [".hidden"] = BackupContainers.Text("dot file\n"),
            ["keep/deep/a/b/c.txt"] = BackupContainers.Text("deep\n"),
        });
        var before = await docker.TreeAsync(id, "/srv");
        await using var service = new ServiceHost(Data, S3.Settings());
        var set = await BackupAsync(service, docker.Name("exact"));
        await docker.WriteFilesAsync(id, "/srv", new Dictionary<string, byte[]>
        {
            ["conf/app.ini"] = BackupContainers.Text("[server]\nchanged\n"),
            ["repos/alice/project.git/objects/ff/added"] = BackupContainers.Text("added\n"),
            ["added-dir/x/y.txt"] = BackupContainers.Text("added\n"),
            [".added-hidden"] = BackupContainers.Text("added\n"),
        });
        var (exit, _, error) = await docker.ExecAsync(id, ["sh", "-c", "rm -rf /srv/keep/deep /srv/.hidden && mkdir /srv/empty-added"]);
        Assert.True(exit == 0, error);
        Assert.NotEqual(before, await docker.TreeAsync(id, "/srv"));

        var restore = await PostgresBackupTests.Admin(service).PostAsync($"/api/backups/{set.GetProperty("id").GetString()}/restore", null, TestContext.Current.CancellationToken);

        Assert.True(restore.IsSuccessStatusCode, await restore.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(before, await docker.TreeAsync(id, "/srv"));
        Assert.True((await docker.Client.Containers.InspectContainerAsync(id)).State.Running);
    }

    private static async Task<JsonElement> BackupAsync(ServiceHost service, string container)
    {
        var backup = await PostgresBackupTests.Admin(service).PostAsJsonAsync("/api/backups", new { containers = new[] { container } }, TestContext.Current.CancellationToken);
        var result = await backup.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(backup.IsSuccessStatusCode, result.ToString());
        return result.GetProperty("sets")[0];
    }
}
