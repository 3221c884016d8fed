#nullable disable warnings
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Backups;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Leases;

/// <summary>
/// Two operations on one container at once, on the real engine: the second waits for the first
/// or is refused with 409 naming the holder; they never interleave.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class OneOperationPerContainerTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>The gate keeps the update busy for a few seconds after the new container started.</summary>
    private static Dictionary<string, string> SlowGate => new(UpdatePipelineTests.FastGate) { ["HealthGate:StableFor"] = "00:00:08" };

    /// <summary>A published app with /data backed up and the given extra labels; returns repository and name.</summary>
    private async Task<(string Repository, string Name)> RunAppAsync(string role, Dictionary<string, string> labels = null)
    {
        var repository = docker.Repository(role);
        await docker.PublishAsync(repository, "stable", "1.0");
        var name = docker.Name(role);
        var all = new Dictionary<string, string>(labels ?? []) { ["update.policy"] = "automatic", ["backup.paths"] = "/data" };
        var id = await docker.RunAppAsync(name, $"{repository}:stable", all);
        await docker.WaitHealthyAsync(id, TimeSpan.FromSeconds(90));
        return (repository, name);
    }

    private static HttpClient Admin(HttpClient client)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        client.Timeout = TimeSpan.FromMinutes(5);
        return client;
    }

    private static async Task<string> BackupAsync(HttpClient admin, string name)
    {
        var response = await admin.PostAsJsonAsync("/api/backups", new { containers = new[] { name } }, Token);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Token);
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return body.GetProperty("sets")[0].GetProperty("id").GetString();
    }

    [Fact]
    public async Task A_restore_during_an_update_is_refused_with_409_naming_the_update_job_and_runs_once_the_update_ended()
    {
        var (repository, name) = await RunAppAsync("lease-upd");
        await using var service = new ServiceHost(Data, SlowGate);
        var admin = Admin(service.CreateClient());
        var setId = await BackupAsync(admin, name);
        var digest = await docker.PublishAsync(repository, "stable", "1.1");

        var jobId = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(60), job => job.GetProperty("phase").GetString() == "gating");
        var during = await admin.PostAsync($"/api/backups/{setId}/restore", null, Token);
        var refused = await during.Content.ReadFromJsonAsync<JsonElement>(Token);
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(90));
        var after = await admin.PostAsync($"/api/backups/{setId}/restore", null, Token);

        Assert.Equal(HttpStatusCode.Conflict, during.StatusCode);
        Assert.Equal("application/problem+json", during.Content.Headers.ContentType?.MediaType);
        var holder = refused.GetProperty("heldBy");
        Assert.Equal("update", holder.GetProperty("kind").GetString());
        Assert.Equal(jobId, holder.GetProperty("operationId").GetString());
        Assert.Equal(name, holder.GetProperty("container").GetString());
        Assert.Contains($"update job {jobId} since", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.True(after.IsSuccessStatusCode, await after.Content.ReadAsStringAsync(Token));
        var restore = await service.GetJsonAsync(after.Headers.Location!.OriginalString);
        Assert.Equal("succeeded", restore.GetProperty("state").GetString());
        Assert.True(restore.GetProperty("startedAt").GetDateTimeOffset() >= job.GetProperty("updatedAt").GetDateTimeOffset());
        Assert.True((await docker.Client.Containers.InspectContainerAsync(name, Token)).State.Running);
    }

    [Fact]
    public async Task Two_restores_of_one_container_at_once_never_interleave()
    {
        var (_, name) = await RunAppAsync("lease-two");
        await using var service = new ServiceHost(Data);
        var admin = Admin(service.CreateClient());
        var setId = await BackupAsync(admin, name);

        var both = await Task.WhenAll(
            admin.PostAsync($"/api/backups/{setId}/restore", null, Token),
            admin.PostAsync($"/api/backups/{setId}/restore", null, Token));

        var restores = (await service.GetJsonAsync("/api/backups/restores")).EnumerateArray().ToList();
        var statuses = both.Select(r => r.StatusCode).Order().ToList();
        if (statuses.Contains(HttpStatusCode.Conflict))
        {
            // The second found the first running: refused, nothing journaled for it.
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], statuses);
            var refused = await both.Single(r => r.StatusCode == HttpStatusCode.Conflict).Content.ReadFromJsonAsync<JsonElement>(Token);
            var ran = Assert.Single(restores);
            Assert.Equal("restore", refused.GetProperty("heldBy").GetProperty("kind").GetString());
            Assert.Equal(ran.GetProperty("id").GetString(), refused.GetProperty("heldBy").GetProperty("operationId").GetString());
        }
        else
        {
            // The first had ended before the second asked: one after the other.
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK], statuses);
            Assert.Equal(2, restores.Count);
            var ordered = restores.OrderBy(r => r.GetProperty("startedAt").GetDateTimeOffset()).ToList();
            Assert.True(ordered[0].GetProperty("finishedAt").GetDateTimeOffset() <= ordered[1].GetProperty("startedAt").GetDateTimeOffset());
        }

        Assert.All(restores, r => Assert.Equal("succeeded", r.GetProperty("state").GetString()));
        Assert.True((await docker.Client.Containers.InspectContainerAsync(name, Token)).State.Running);
    }

    [Fact]
    public async Task A_certificate_renewal_during_an_nginx_update_is_refused_with_409_and_leaves_nginx_alone()
    {
        var (repository, name) = await RunAppAsync("lease-nginx", new Dictionary<string, string> { ["webhook-updater.role"] = "nginx" });
        await using var service = new ServiceHost(Data, SlowGate);
        var admin = Admin(service.CreateClient());
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var since = DateTime.UtcNow;

        var jobId = (await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name))).GetProperty("jobs")[0].GetProperty("id").GetString();
        await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(60), job => job.GetProperty("phase").GetString() == "gating");
        var renew = await admin.PostAsync("/api/certificates/renew", null, Token);
        var body = await renew.Content.ReadFromJsonAsync<JsonElement>(Token);
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(90));

        Assert.Equal(HttpStatusCode.Conflict, renew.StatusCode);
        Assert.Equal("update", body.GetProperty("heldBy").GetProperty("kind").GetString());
        Assert.Equal(jobId, body.GetProperty("heldBy").GetProperty("operationId").GetString());
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        // The renewal never reached nginx: no nginx -t, no reload.
        var execs = await ExecsSinceAsync(name, since);
        Assert.Empty(execs);
    }

    /// <summary>The nginx commands (nginx -t, nginx -s reload) exec'd into the container (old or new) since the given moment.</summary>
    private async Task<List<string>> ExecsSinceAsync(string name, DateTime since)
    {
        var execs = new List<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await docker.Client.System.MonitorEventsAsync(
                new ContainerEventsParameters
                {
                    Since = ((DateTimeOffset)since).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Until = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Filters = new Dictionary<string, IDictionary<string, bool>> { ["type"] = new Dictionary<string, bool> { ["container"] = true } },
                },
                new Progress<Message>(m =>
                {
                    var actor = m.Actor?.Attributes is { } attributes && attributes.TryGetValue("name", out var n) ? n : "";
                    if (m.Action.StartsWith("exec_create: nginx", StringComparison.Ordinal) && (actor == name || actor == $"{name}.old"))
                    {
                        lock (execs)
                        {
                            execs.Add(m.Action);
                        }
                    }
                }),
                stop.Token);
        }
        catch (OperationCanceledException)
        {
        }

        return execs;
    }

    [Fact]
    public async Task A_service_killed_mid_restore_finishes_the_restore_at_the_next_start_and_leaves_no_container_stopped()
    {
        // busybox httpd as PID 1 ignores SIGTERM: each stop takes the whole stop timeout, a window
        // in which the restore has begun stopping the container and not yet started it again.
        var name = docker.Name("lease-kill");
        var port = DockerFixture.FreePort();
        var image = TestEnvironment.AppImage("1.0");
        await docker.EnsureImageAsync(image);
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Entrypoint = ["/bin/sh", "-c", $"mkdir -p /data && exec httpd -f -p 127.0.0.1:{port} -h /www"],
            Env = [$"APP_PORT={port}"],
            StopTimeout = TimeSpan.FromSeconds(6),
            Labels = docker.RunLabels(new Dictionary<string, string> { ["backup.paths"] = "/data" }),
            HostConfig = new HostConfig { NetworkMode = "host" },
        }, Token);
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), Token);
        await docker.WriteFilesAsync(created.ID, "/data", new Dictionary<string, byte[]> { ["keep.txt"] = BackupContainers.Text("as backed up\n") });

        string setId;
        await using (var first = await ServiceProcess.StartAsync(Data, []))
        {
            using var admin = Admin(new HttpClient { BaseAddress = first.Http.BaseAddress });
            setId = await BackupAsync(admin, name);
            await docker.WriteFilesAsync(created.ID, "/data", new Dictionary<string, byte[]> { ["keep.txt"] = BackupContainers.Text("changed since\n") });

            using var sigterm = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var stopping = WaitForEventAsync(name, "kill", sigterm.Token);
            var restore = admin.PostAsync($"/api/backups/{setId}/restore", null, Token);
            await stopping;
            await first.KillAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => restore);
        }

        await using var second = await ServiceProcess.StartAsync(Data, []);
        var restores = await WaitForRestoresAsync(second, TimeSpan.FromSeconds(120));

        var resumed = Assert.Single(restores.EnumerateArray());
        Assert.True(resumed.GetProperty("state").GetString() == "succeeded", resumed.ToString() + second.Output);
        Assert.Equal(2, resumed.GetProperty("attempts").GetInt32());
        var container = await docker.Client.Containers.InspectContainerAsync(name, Token);
        Assert.True(container.State.Running);
        var (_, content, _) = await docker.ExecAsync(name, ["cat", "/data/keep.txt"]);
        Assert.Equal("as backed up\n", content);

        // The killed process's lease is gone: the container can be restored again at once.
        using var secondAdmin = Admin(new HttpClient { BaseAddress = second.Http.BaseAddress });
        var again = await secondAdmin.PostAsync($"/api/backups/{setId}/restore", null, Token);
        Assert.True(again.IsSuccessStatusCode, await again.Content.ReadAsStringAsync(Token));
    }

    /// <summary>Polls GET /api/backups/restores until none is running.</summary>
    private static async Task<JsonElement> WaitForRestoresAsync(ServiceProcess service, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonElement restores = default;
        while (DateTime.UtcNow < deadline)
        {
            restores = await service.GetJsonAsync("/api/backups/restores");
            if (restores.GetArrayLength() > 0 && restores.EnumerateArray().All(r => r.GetProperty("state").GetString() != "running"))
            {
                return restores;
            }

            await Task.Delay(250, Token);
        }

        Assert.Fail($"the restore did not finish within {timeout}: {restores}\n{service.Output}");
        return restores;
    }

    /// <summary>Completes when the engine reports <paramref name="action"/> on the container (subscribed before the caller acts).</summary>
    private async Task WaitForEventAsync(string name, string action, CancellationToken cancellationToken)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var monitor = docker.Client.System.MonitorEventsAsync(
            new ContainerEventsParameters
            {
                // From a second ago: an event between this call and the subscription is not missed.
                Since = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["type"] = new Dictionary<string, bool> { ["container"] = true },
                    ["container"] = new Dictionary<string, bool> { [name] = true },
                },
            },
            new Progress<Message>(m =>
            {
                if (m.Action == action)
                {
                    seen.TrySetResult();
                }
            }),
            stop.Token);
        try
        {
            await seen.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await monitor;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
