#nullable disable warnings
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Deployment;

/// <summary>
/// The image built from the repository's Dockerfile, run as a container the way the compose stack
/// runs it: non-root, the Docker socket mounted, secrets as files. Engine A only (the image and
/// its base images are built there).
/// </summary>
[Collection(DockerCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DockerImageTests(DockerFixture docker) : IAsyncLifetime
{
    private const string WebhookSecret = "image-test-webhook-secret-0123456789";
    private const string AdminToken = "image-test-admin-token-0123456789";
    private readonly string _secrets = Directory.CreateTempSubdirectory("wu-image-secrets-").FullName;

    public ValueTask InitializeAsync()
    {
        docker.Require();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await docker.RemoveTestContainersAsync();
        Directory.Delete(_secrets, recursive: true);
    }

    [Fact]
    public async Task The_image_runs_as_a_non_root_user_with_its_own_healthcheck_and_a_thin_app_layer()
    {
        var tag = await UpdaterImage.BuildAsync();

        var image = await docker.Client.Images.InspectImageAsync(tag);
        var runtime = await docker.Client.Images.InspectImageAsync(UpdaterImage.RuntimeImage);
        Assert.Equal("10001", image.Config.User);
        Assert.Equal(["CMD", "dotnet", "/app/WebhookUpdater.dll", "healthcheck"], image.Config.Healthcheck.Test);
        Assert.Contains("Store__DataDirectory=/data", image.Config.Env);
        Assert.Contains("ASPNETCORE_URLS=http://+:8080", image.Config.Env);
        Assert.True(image.Config.Volumes.ContainsKey("/data"));
        // Only the published app on top of the runtime image: no SDK, no sources, no test output.
        Assert.InRange(image.Size - runtime.Size, 1, 30L * 1024 * 1024);
    }

    [Fact]
    public async Task The_container_turns_healthy_and_updates_a_labelled_container_when_diun_posts()
    {
        var tag = await UpdaterImage.BuildAsync();
        var repository = docker.Repository("image");
        await docker.PublishAsync(repository, "stable", "1.0");
        var target = docker.Name("image-target");
        var targetId = await RunTargetAsync(target, $"{repository}:stable");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var port = DockerFixture.FreePort();
        var updater = await RunUpdaterAsync(tag, port);

        await WaitHealthAsync(updater, "healthy", TimeSpan.FromSeconds(90));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using var post = new HttpRequestMessage(HttpMethod.Post, "/api/diun") { Content = new StringContent(ServiceHost.DiunPayload($"{repository}:stable", digest, target), Encoding.UTF8, "application/json") };
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", WebhookSecret);
        var answer = await http.SendAsync(post);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, answer.StatusCode);
        var job = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("jobs")[0];
        Assert.Equal("queued", job.GetProperty("decision").GetString());
        var done = await JobWaiter.WaitAsync(
            async path =>
            {
                using var get = new HttpRequestMessage(HttpMethod.Get, path);
                get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
                var response = await http.SendAsync(get);
                response.EnsureSuccessStatusCode();
                return await response.Content.ReadFromJsonAsync<JsonElement>();
            },
            job.GetProperty("id").GetString(),
            TimeSpan.FromSeconds(120));

        Assert.True(done.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(done) + await LogsAsync(updater));
        var updated = await docker.Client.Containers.InspectContainerAsync(target);
        Assert.NotEqual(targetId, updated.ID);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.1")), updated.Image);
        Assert.True(updated.State.Running);
        // The journal and the pre-update backup are in the container's /data, written as uid 10001.
        var data = await ExecAsync(updater, ["sh", "-c", "id -u; ls /data; ls /data/backups | wc -l"]);
        Assert.StartsWith("10001\n", data, StringComparison.Ordinal);
        Assert.Contains("webhook-updater.db", data, StringComparison.Ordinal);
        var logs = await LogsAsync(updater);
        Assert.DoesNotContain(WebhookSecret, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(AdminToken, logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_healthcheck_turns_unhealthy_when_the_service_stops_answering()
    {
        var tag = await UpdaterImage.BuildAsync();
        var port = DockerFixture.FreePort();
        var updater = await RunUpdaterAsync(tag, port);
        await WaitHealthAsync(updater, "healthy", TimeSpan.FromSeconds(90));

        // SIGSTOP (from the host: PID 1 of a container ignores it from inside) freezes the service;
        // the probe is a new process each time and finds no answer.
        await docker.Client.Containers.KillContainerAsync(updater, new ContainerKillParameters { Signal = "SIGSTOP" });

        await WaitHealthAsync(updater, "unhealthy", TimeSpan.FromSeconds(60));
        var inspect = await docker.Client.Containers.InspectContainerAsync(updater);
        Assert.Contains(inspect.State.Health.Log, l => l.Output.Contains("unhealthy: GET http://127.0.0.1:", StringComparison.Ordinal));
    }

    private async Task<string> RunTargetAsync(string name, string image)
    {
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            Labels = docker.RunLabels(new Dictionary<string, string> { ["update.policy"] = "automatic" }),
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await WaitHealthAsync(created.ID, "healthy", TimeSpan.FromSeconds(30));
        return created.ID;
    }

    private async Task<string> RunUpdaterAsync(string tag, int port)
    {
        var webhook = Path.Combine(_secrets, "webhook_secret");
        var admin = Path.Combine(_secrets, "admin_token");
        await File.WriteAllTextAsync(webhook, WebhookSecret + "\n");
        await File.WriteAllTextAsync(admin, AdminToken);
        // As compose mounts secrets without swarm: the host file's mode, readable by uid 10001.
        File.SetUnixFileMode(webhook, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.SetUnixFileMode(admin, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = docker.Name($"updater-{port}"),
            Image = tag,
            Labels = docker.RunLabels(),
            Env =
            [
                $"ASPNETCORE_URLS=http://127.0.0.1:{port}",
                "Webhook__Secret_FILE=/run/secrets/webhook_secret",
                "Admin__Token_FILE=/run/secrets/admin_token",
                $"Approvals__SigningKey={ServiceHost.SigningKey}",
                $"Backups__SigningKey={ServiceHost.BackupSigningKey}",
                $"Approvals__BaseUrl=http://127.0.0.1:{port}",
                "HealthGate__StableFor=00:00:02",
                "HealthGate__PollInterval=00:00:00.200",
                "HealthGate__Timeout=00:01:00",
            ],
            // The image's own probe, checked every second instead of every 30 s.
            Healthcheck = new HealthcheckConfig { Interval = TimeSpan.FromSeconds(1), Timeout = TimeSpan.FromSeconds(5), Retries = 2, StartPeriod = TimeSpan.FromSeconds(30) },
            HostConfig = new HostConfig
            {
                NetworkMode = "host",
                Binds =
                [
                    $"{webhook}:/run/secrets/webhook_secret:ro",
                    $"{admin}:/run/secrets/admin_token:ro",
                    $"{UpdaterImage.SocketPath}:/var/run/docker.sock",
                ],
            },
        });
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        return created.ID;
    }

    private async Task WaitHealthAsync(string id, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        ContainerInspectResponse inspect = null;
        while (DateTime.UtcNow < deadline)
        {
            inspect = await docker.Client.Containers.InspectContainerAsync(id);
            if (inspect.State.Health?.Status == status)
            {
                return;
            }

            if (!inspect.State.Running)
            {
                break;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"container {inspect?.Name} is not {status} ({inspect?.State.Status}, health {inspect?.State.Health?.Status}): " +
            string.Join(" | ", inspect?.State.Health?.Log?.Select(l => l.Output.Trim()) ?? []) + await LogsAsync(id));
    }

    private async Task<string> ExecAsync(string id, IList<string> command)
    {
        var exec = await docker.Client.Exec.CreateContainerExecAsync(id, new ContainerExecCreateParameters { Cmd = command, AttachStdout = true, AttachStderr = true });
        using var stream = await docker.Client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
        return stdout + stderr;
    }

    private static async Task<string> LogsAsync(string id)
    {
        var result = await Cli.RunAsync(UpdaterImage.Docker(), ["logs", "--tail", "200", id], environment: UpdaterImage.DockerEnvironment);
        return "\n--- logs:\n" + result.Output;
    }
}
