#nullable disable warnings
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Backups;

/// <summary>Gitea-like data (a volume with nested files) through the archive API, S3 and back.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class VolumeBackupTests(DockerFixture docker) : S3DockerTest
{
    protected override DockerFixture Docker => docker;

    private static Dictionary<string, byte[]> GiteaFiles() => new()
    {
        ["gitea/conf/app.ini"] = BackupContainers.Text("[server]\nDOMAIN = git.example\n"),
        ["gitea/repos/alice/project.git/HEAD"] = BackupContainers.Text("ref: refs/heads/main\n"),
        ["gitea/repos/alice/project.git/objects/ab/cdef0123456789"] = S3BackupStoreTests.RandomBytes(200_000),
        ["gitea/repos/alice/project.git/objects/pack/pack-1.pack"] = S3BackupStoreTests.RandomBytes(7 * 1024 * 1024),
        ["gitea/repos/bob/deep/a/b/c/d/e/f/notes.txt"] = BackupContainers.Text("deep\n"),
        ["gitea/repos/bob/empty"] = [],
        ["gitea/avatars/ünïcode name.png"] = S3BackupStoreTests.RandomBytes(3000),
    };

    [Fact]
    public async Task A_gitea_like_volume_round_trips_byte_for_byte_through_the_restore_command()
    {
        var id = await RunAppWithVolumesAsync("gitea", "/data", "/data");
        await docker.WriteFilesAsync(id, "/data", GiteaFiles());
        var before = await docker.TreeAsync(id, "/data/gitea");
        Assert.Equal(GiteaFiles().Count, before.Count(entry => entry.Value != "dir"));
        await using var service = new ServiceHost(Data, S3.Settings());

        var backup = await PostgresBackupTests.Admin(service).PostAsJsonAsync("/api/backups", new { containers = new[] { docker.Name("gitea") } }, TestContext.Current.CancellationToken);
        var result = await backup.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(backup.IsSuccessStatusCode, result.ToString());
        var set = result.GetProperty("sets")[0];
        var setId = set.GetProperty("id").GetString();
        Assert.Equal("manual", set.GetProperty("kind").GetString());
        var stored = Assert.Single(set.GetProperty("objects").EnumerateArray());
        Assert.Equal("/data", stored.GetProperty("target").GetString());
        Assert.True(stored.GetProperty("size").GetInt64() > 5 * 1024 * 1024, "the archive should span several parts");

        var (exit, _, damage) = await docker.ExecAsync(id, ["sh", "-c", "rm -rf /data/gitea/repos && echo changed > /data/gitea/conf/app.ini"]);
        Assert.True(exit == 0, damage);
        Assert.NotEqual(before, await docker.TreeAsync(id, "/data/gitea"));

        var (code, output) = await RunRestoreCommandAsync(setId);

        Assert.True(code == 0, output);
        Assert.Contains($"stop {docker.Name("gitea")}", output, StringComparison.Ordinal);
        Assert.Contains("restore complete", output, StringComparison.Ordinal);
        Assert.Equal(before, await docker.TreeAsync(id, "/data/gitea"));
        var after = await docker.Client.Containers.InspectContainerAsync(id);
        Assert.True(after.State.Running);
        Assert.Equal("healthy", after.State.Health.Status);
    }

    [Fact]
    public async Task The_restore_command_refuses_a_set_that_does_not_exist_and_changes_nothing()
    {
        var (code, output) = await RunRestoreCommandAsync("20240101-020000-daily-nothing-abcdef");

        Assert.Equal(1, code);
        Assert.Contains("has no manifest", output, StringComparison.Ordinal);
    }

    /// <summary>dotnet WebhookUpdater.dll restore ID, as an operator runs it on the server.</summary>
    private async Task<(int ExitCode, string Output)> RunRestoreCommandAsync(string setId)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "WebhookUpdater.dll"), "restore", setId])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["DOCKER_HOST"] = TestEnvironment.DockerHost;
        start.Environment["Store__DataDirectory"] = Data;
        start.Environment["Backups__SigningKey"] = ServiceHost.BackupSigningKey;
        start.Environment["HealthGate__StableFor"] = "00:00:01";
        foreach (var (key, value) in S3.Settings())
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        using var process = Process.Start(start);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
