#nullable disable warnings
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.Health;
using WebhookUpdater.IntegrationTests.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

/// <summary>A postgres-like container is updated; a Gitea stand-in that requires it is checked after it, as users would meet it.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class DependentsTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    /// <summary>
    /// How the stand-in judges the database (its update.health.cmd): it answers at all; the version
    /// it saw at its own start is the one running (a connection an update breaks until a restart);
    /// it is not version 1.1 (a client the new version breaks for good).
    /// </summary>
    public static TheoryData<string, string, string> Cases => new()
    {
        { "recovers", "wget -q -O- http://127.0.0.1:{port}/healthz", "succeeded" },
        { "restart", "[ \"$(cat /tmp/seen)\" = \"$(wget -q -O- http://127.0.0.1:{port}/version)\" ]", "succeeded" },
        { "never", "[ \"$(wget -q -O- http://127.0.0.1:{port}/version)\" != 1.1 ]", "rolled_back" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_dependent_is_checked_after_what_it_requires_was_updated(string behaviour, string probe, string expected)
    {
        var repository = docker.Repository($"pg-{behaviour}");
        await docker.PublishAsync(repository, "stable", "1.0");
        var database = docker.Name($"pg-{behaviour}");
        var port = DockerFixture.FreePort();
        var databaseId = await CreateAsync(database, $"{repository}:stable", port, new Dictionary<string, string> { ["update.policy"] = "automatic" });
        var gitea = docker.Name($"gitea-{behaviour}");
        var giteaId = await CreateAsync(gitea, TestEnvironment.AppImage("1.0"), DockerFixture.FreePort(), new Dictionary<string, string>
        {
            ["update.requires"] = database,
            [HealthLabels.Command] = probe.Replace("{port}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal),
            [HealthLabels.TimeoutSeconds] = "8",
        }, entrypoint: ["/bin/sh", "-c", $"wget -q -O- http://127.0.0.1:{port}/version >/tmp/seen; exec /bin/sh /entrypoint.sh"]);
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);

        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, database));
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, answer.GetProperty("jobs")[0].GetProperty("id").GetString(), JobTimeout);

        Assert.True(job.GetProperty("state").GetString() == expected, JobWaiter.Timeline(job));
        var steps = job.GetProperty("steps").EnumerateArray().ToList();
        var check = steps.Single(s => s.GetProperty("name").GetString() == $"dependent {gitea}");
        var detail = check.GetProperty("detail").GetString();
        var running = await docker.Client.Containers.InspectContainerAsync(database);
        switch (behaviour)
        {
            case "recovers":
                Assert.Equal("succeeded", check.GetProperty("state").GetString());
                Assert.DoesNotContain("restarted", detail, StringComparison.Ordinal);
                Assert.Equal(1, await StartsAsync(gitea));
                break;
            case "restart":
                Assert.Equal("succeeded", check.GetProperty("state").GetString());
                Assert.Contains("restarted", detail, StringComparison.Ordinal);
                Assert.Equal(2, await StartsAsync(gitea));
                Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.1")), running.Image);
                break;
            default:
                Assert.Equal("failed", check.GetProperty("state").GetString());
                Assert.Contains($"{gitea}, which requires {database}", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
                Assert.Contains($"--- {gitea} ---", job.GetProperty("logTail").GetString(), StringComparison.Ordinal);
                Assert.Equal(databaseId, running.ID);
                Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.0")), running.Image);
                var after = steps.Single(s => s.GetProperty("name").GetString() == $"dependent {gitea} after rollback");
                Assert.True(after.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(job));
                Assert.Equal(3, await StartsAsync(gitea));
                var email = await EmailAsync();
                Assert.Contains(gitea, email, StringComparison.Ordinal);
                Assert.Contains($"wu-test app 1.0 (healthy) listening", email, StringComparison.Ordinal);
                break;
        }

        var dependent = await docker.Client.Containers.InspectContainerAsync(gitea);
        Assert.Equal(giteaId, dependent.ID);
        Assert.True(dependent.State.Running);
        await docker.WaitHealthyAsync(gitea, TimeSpan.FromSeconds(20));
    }

    private async Task<string> CreateAsync(string name, string image, int port, Dictionary<string, string> labels, IList<string> entrypoint = null)
    {
        await docker.EnsureImageAsync(image);
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Labels = docker.RunLabels(labels),
            Env = [$"APP_PORT={port}"],
            Entrypoint = entrypoint,
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(20));
        return created.ID;
    }

    /// <summary>The stand-in's starts, from the versions.log its entrypoint appends to at each one.</summary>
    private async Task<int> StartsAsync(string name)
    {
        var (_, versions, _) = await docker.ExecAsync(name, ["cat", "/data/versions.log"]);
        return versions.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    /// <summary>The failure email, as the outbox sender wrote it.</summary>
    private async Task<string> EmailAsync()
    {
        var directory = Path.Combine(Data, "outbox");
        for (var i = 0; i < 40 && (!Directory.Exists(directory) || Directory.GetFiles(directory, "*.eml").Length == 0); i++)
        {
            await Task.Delay(250);
        }

        var email = await MimeKit.MimeMessage.LoadAsync(Directory.GetFiles(directory, "*.eml").Single());
        return email.Subject + "\n" + email.TextBody;
    }
}
