#nullable disable warnings
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Amazon.S3.Model;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Swarm;

/// <summary>
/// Backups of Swarm services where the data is: an agent job of webhook-updater's own image runs
/// on the node of the service's task, writes the signed set to S3 (s3rver), and restores it; the
/// pre-update set comes before Swarm's update; a local store is refused in Swarm mode.
/// </summary>
[Collection(SwarmCollection.Name)]
// No Category=Docker trait: the swarm is always on engine B, so the engine-B step must not run it a second time.
public sealed class SwarmBackupTests(SwarmFixture swarm) : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("wu-it-swarm-backup-").FullName;
    private readonly List<string> _services = [];
    private S3Server _s3;

    public async ValueTask InitializeAsync()
    {
        swarm.Require();
        _s3 = await S3Server.StartAsync();
    }

    private static Dictionary<string, string> Settings => new()
    {
        ["Updates:RunWorker"] = "true",
        ["HealthGate:StableFor"] = "00:00:02",
        ["HealthGate:PollInterval"] = "00:00:00.200",
        ["HealthGate:Timeout"] = "00:01:00",
        ["Swarm:PollInterval"] = "00:00:00.250",
        ["Swarm:UpdateTimeout"] = "00:03:00",
        ["Swarm:AgentTimeout"] = "00:03:00",
        ["Backups:Schedule"] = "",
        ["Backups:RestoreTestSchedule"] = "",
        ["DOCKER_HOST"] = SwarmFixture.Host,
    };

    private async Task<Dictionary<string, string>> OnS3Async()
    {
        var settings = Settings;
        foreach (var (key, value) in _s3.Settings())
        {
            settings[key] = value;
        }

        settings["Swarm:AgentImage"] = await swarm.AgentImageAsync();
        // The test engine's socket is not at the default path, and s3rver listens on loopback only.
        settings["Swarm:AgentDockerSocket"] = new Uri(SwarmFixture.Host).LocalPath;
        settings["Swarm:AgentNetwork"] = "host";
        return settings;
    }

    [Fact]
    public async Task A_postgres_service_is_backed_up_on_its_node_to_S3_signed_and_restored()
    {
        var name = swarm.Name("pg");
        var id = await swarm.CreateServiceAsync(name, new ContainerSpec
        {
            Image = BackupContainers.PostgresImage,
            Env = ["POSTGRES_USER=gitea", "POSTGRES_PASSWORD=it-db-password", "POSTGRES_DB=forge", $"PGPORT={DockerFixture.FreePort()}"],
        }, new Dictionary<string, string> { ["backup.postgres"] = "true" });
        _services.Add(id);
        var task = await swarm.HealthyTaskAsync(id, TimeSpan.FromSeconds(90));
        await PsqlAsync(task, "create table notes (v text); insert into notes values ('before');");
        await using var service = await ServiceProcess.StartAsync(_data, await OnS3Async());

        using var watching = new CancellationTokenSource();
        var seen = WatchAgentJobsAsync(watching.Token);
        using var run = await Admin(service).PostAsJsonAsync("/api/backups", new { containers = new[] { name } }, TestContext.Current.CancellationToken);
        var answer = await run.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await watching.CancelAsync();
        Assert.True(run.IsSuccessStatusCode, answer + service.Output);
        var setId = JsonDocument.Parse(answer).RootElement.GetProperty("sets")[0].GetProperty("id").GetString();

        // The agent as Swarm ran it: one job on the task's node, no health check, secrets as files, no secret in its spec.
        var job = Assert.Single(await seen);
        var taskNode = (await swarm.Client.Tasks.ListAsync(new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [id] = true } },
        })).Single(t => t.Status.State == TaskState.Running).NodeID;
        Assert.Equal([$"node.id=={taskNode}"], job.TaskTemplate.Placement.Constraints);
        Assert.Equal((1UL, 1UL), (job.Mode.ReplicatedJob.MaxConcurrent, job.Mode.ReplicatedJob.TotalCompletions));
        Assert.Equal(["NONE"], job.TaskTemplate.ContainerSpec.Healthcheck.Test);
        Assert.Equal(["wu-backup-signing-key", "wu-aws-credentials"], job.TaskTemplate.ContainerSpec.Secrets.Select(secret => secret.File.Name));
        var spec = JsonSerializer.Serialize(job);
        Assert.DoesNotContain(ServiceHost.BackupSigningKey, spec);
        Assert.DoesNotContain("aws_secret_access_key", spec);

        var manifest = await ManifestAsync(setId);
        Assert.Equal(name, manifest.GetProperty("container").GetString());
        Assert.StartsWith("hmac-sha256:", manifest.GetProperty("signature").GetString());
        Assert.Equal("pg_dump", manifest.GetProperty("objects")[0].GetProperty("type").GetString());
        Assert.Empty(await AgentJobsAsync());

        await PsqlAsync(task, "insert into notes values ('after');");
        using var dryRun = await Admin(service).PostAsync($"/api/backups/{setId}/restore?dryRun=true", null, TestContext.Current.CancellationToken);
        var plan = await dryRun.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(dryRun.IsSuccessStatusCode, plan + service.Output);
        Assert.Contains("would restore", plan);
        Assert.Equal("before,after", await PsqlAsync(task, "select string_agg(v, ',' order by v desc) from notes;"));
        using var restore = await Admin(service).PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);
        var report = await restore.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(restore.IsSuccessStatusCode, report + service.Output);

        Assert.Equal("before", await PsqlAsync(task, "select string_agg(v, ',' order by v) from notes;"));
        Assert.Empty(await AgentJobsAsync());
        // The key and the credentials reached the agent as Docker secrets, and no log shows the key.
        var secrets = (await swarm.Client.Secrets.ListAsync(TestContext.Current.CancellationToken)).Select(secret => secret.Spec.Name).ToList();
        Assert.Contains(secrets, secret => secret.StartsWith("wu-backup-signing-key-", StringComparison.Ordinal));
        Assert.Contains(secrets, secret => secret.StartsWith("wu-aws-credentials-", StringComparison.Ordinal));
        Assert.DoesNotContain(ServiceHost.BackupSigningKey, service.Output);
    }

    [Fact]
    public async Task The_paths_of_a_service_are_restored_with_the_service_scaled_to_0_and_back()
    {
        var (name, volume, id, repository, digest, task) = await RunVolumeServiceAsync("paths");
        await ShAsync(task, "mkdir -p /data/repos && echo before > /data/repos/note");
        await using var service = await ServiceProcess.StartAsync(_data, await OnS3Async());

        using var run = await Admin(service).PostAsJsonAsync("/api/backups", new { containers = new[] { name } }, TestContext.Current.CancellationToken);
        var answer = await run.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(run.IsSuccessStatusCode, answer + service.Output);
        var setId = JsonDocument.Parse(answer).RootElement.GetProperty("sets")[0].GetProperty("id").GetString();
        Assert.Equal("archive", (await ManifestAsync(setId)).GetProperty("objects")[0].GetProperty("type").GetString());

        await ShAsync(task, "echo after > /data/repos/note && echo later > /data/added");
        using var dryRun = await Admin(service).PostAsync($"/api/backups/{setId}/restore?dryRun=true", null, TestContext.Current.CancellationToken);
        var plan = await dryRun.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(dryRun.IsSuccessStatusCode, plan + service.Output);
        Assert.Contains("scale", plan);
        Assert.Equal(1UL, (await swarm.InspectAsync(id)).Spec.Mode.Replicated.Replicas);

        // An agent of this service left running by an earlier webhook-updater: it ends and goes before the restore's own.
        await swarm.Client.Swarm.CreateServiceAsync(new ServiceCreateParameters
        {
            Service = new ServiceSpec
            {
                Name = $"{name}-leftover",
                Labels = new Dictionary<string, string> { ["webhook-updater.agent"] = "backup", ["webhook-updater.agent.service"] = name, [DockerFixture.RunLabel] = swarm.RunId },
                Mode = new ServiceMode { ReplicatedJob = new ReplicatedJob { MaxConcurrent = 1, TotalCompletions = 1 } },
                TaskTemplate = new TaskSpec
                {
                    ContainerSpec = new ContainerSpec { Image = $"{repository}:stable@{digest}", Command = ["sleep", "3"], Healthcheck = new HealthcheckConfig { Test = ["NONE"] } },
                    RestartPolicy = new SwarmRestartPolicy { Condition = "none" },
                },
            },
        }, TestContext.Current.CancellationToken);

        using var restore = await Admin(service).PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);
        var report = await restore.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(restore.IsSuccessStatusCode, report + service.Output);
        Assert.Contains("Removed 1 agent job(s) of service", service.Output);
        Assert.Contains($"scaled {name} from 1 task(s) to 0", report);
        Assert.Contains($"scaled {name} back to 1 task(s)", report);

        // A new task, on the data as it was backed up: the changed file back, the added one gone.
        var spec = (await swarm.InspectAsync(id)).Spec;
        Assert.Equal(1UL, spec.Mode.Replicated.Replicas);
        Assert.DoesNotContain(spec.Labels.Keys, key => key.StartsWith("webhook-updater.restore", StringComparison.Ordinal));
        var after = await swarm.HealthyTaskAsync(id, TimeSpan.FromSeconds(90));
        Assert.NotEqual(task, after);
        Assert.Equal("before", await ShAsync(after, "cat /data/repos/note"));
        Assert.Equal("gone", await ShAsync(after, "[ -e /data/added ] && echo there || echo gone"));
        Assert.Empty(await AgentJobsAsync());
        Assert.Empty(await swarm.Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["webhook-updater.agent=restore-holder"] = true } },
        }, TestContext.Current.CancellationToken));

        await swarm.RemoveServiceAsync(id);
        await RemoveVolumeAsync(volume);
    }

    [Fact]
    public async Task A_path_restore_cut_short_by_a_SIGKILL_is_finished_after_the_restart_and_the_service_runs_again()
    {
        var (name, volume, id, _, _, task) = await RunVolumeServiceAsync("pathkill");
        await ShAsync(task, "echo before > /data/note");
        var settings = await OnS3Async();
        string setId;
        await using (var first = await ServiceProcess.StartAsync(_data, settings))
        {
            using var run = await Admin(first).PostAsJsonAsync("/api/backups", new { containers = new[] { name } }, TestContext.Current.CancellationToken);
            var answer = await run.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.True(run.IsSuccessStatusCode, answer + first.Output);
            setId = JsonDocument.Parse(answer).RootElement.GetProperty("sets")[0].GetProperty("id").GetString();
            await ShAsync(task, "echo after > /data/note");

            // The restore starts; once the service is at 0 with its count in the label, the process is killed.
            var restore = Admin(first).PostAsync($"/api/backups/{setId}/restore", null, TestContext.Current.CancellationToken);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!((await swarm.InspectAsync(id)).Spec is { } spec && spec.Mode.Replicated.Replicas == 0 && spec.Labels.ContainsKey("webhook-updater.restore.replicas")))
            {
                Assert.True(DateTime.UtcNow < deadline, "the restore did not scale the service to 0: " + first.Output);
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }

            await first.KillAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => restore);
        }

        await using var second = await ServiceProcess.StartAsync(_data, settings);
        var until = DateTime.UtcNow.AddSeconds(180);
        SwarmService now;
        while ((now = await swarm.InspectAsync(id)).Spec.Labels.ContainsKey("webhook-updater.restore.replicas") || now.Spec.Mode.Replicated.Replicas != 1)
        {
            Assert.True(DateTime.UtcNow < until, "the restore was not finished after the restart: " + second.Output);
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }

        var after = await swarm.HealthyTaskAsync(id, TimeSpan.FromSeconds(90));
        Assert.True(await ShAsync(after, "cat /data/note") == "before", second.Output);
        // The job ends once a task runs again: it may still be looking when the task is healthy.
        JsonElement job;
        while ((job = Assert.Single((await second.GetJsonAsync("/api/backups/restores")).EnumerateArray())).GetProperty("state").GetString() == "running")
        {
            Assert.True(DateTime.UtcNow < until, "the restore job did not end after the restart: " + second.Output);
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }

        Assert.True(job.GetProperty("state").GetString() == "succeeded", job.GetRawText());
        Assert.Equal(2, job.GetProperty("attempts").GetInt32());
        Assert.Empty(await AgentJobsAsync());

        await swarm.RemoveServiceAsync(id);
        await RemoveVolumeAsync(volume);
    }

    [Fact]
    public async Task The_pre_update_backup_of_a_service_runs_on_its_node_before_Swarm_updates_it()
    {
        var (repository, name, id, _) = await RunAppServiceAsync("pre");
        var digest = await swarm.PublishAsync(repository, "stable", "1.1");
        await using var service = await ServiceProcess.StartAsync(_data, await OnS3Async());

        var job = await UpdateAsync(service, repository, digest, name);

        Assert.True(job.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(job) + service.Output);
        var steps = job.GetProperty("steps").EnumerateArray().Select(step => step.GetProperty("name").GetString()).ToList();
        Assert.True(steps.IndexOf("backup") >= 0 && steps.IndexOf("backup") < steps.IndexOf("service-update"), JobWaiter.Timeline(job));
        var backup = job.GetProperty("steps").EnumerateArray().Single(step => step.GetProperty("name").GetString() == "backup");
        var setId = Regex.Match(backup.GetProperty("detail").GetString(), @"backup set (\S+)").Groups[1].Value;
        var manifest = await ManifestAsync(setId);
        Assert.Equal("pre-update", manifest.GetProperty("kind").GetString());
        Assert.Equal(job.GetProperty("id").GetString(), manifest.GetProperty("jobId").GetString());
        Assert.Equal($"{repository}:stable@{digest}", (await swarm.InspectAsync(id)).Spec.TaskTemplate.ContainerSpec.Image);
    }

    [Fact]
    public async Task A_local_store_stops_the_start_when_a_service_asks_for_backups_and_fails_the_update_of_one_labelled_later()
    {
        // Started before any service asks for a backup: the start goes on.
        string name;
        await using (var service = await ServiceProcess.StartAsync(_data, Settings))
        {
            (var repository, name, var id, var oldImage) = await RunAppServiceAsync("local");
            var digest = await swarm.PublishAsync(repository, "stable", "1.1");

            var job = await UpdateAsync(service, repository, digest, name);

            Assert.True(job.GetProperty("state").GetString() == "failed", JobWaiter.Timeline(job) + service.Output);
            Assert.Contains("Backups:Store=S3", job.GetRawText());
            Assert.Contains("nothing was changed", job.GetRawText());
            Assert.DoesNotContain(job.GetProperty("steps").EnumerateArray(), step => step.GetProperty("name").GetString() == "service-update");
            Assert.Equal(oldImage, (await swarm.InspectAsync(id)).Spec.TaskTemplate.ContainerSpec.Image);
        }

        // Started again now that one does: it refuses, naming the service and the setting.
        var (exitCode, output) = await ServiceProcess.StartupFailureAsync(_data, Settings);

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"services {name} ask for backups", output);
        Assert.Contains("Set Backups:Store=S3", output);
    }

    /// <summary>A service of the test app keeping /data on a named volume, labelled backup.paths=/data, with its task healthy.</summary>
    private async Task<(string Name, string Volume, string Id, string Repository, string Digest, string Task)> RunVolumeServiceAsync(string role)
    {
        var name = swarm.Name(role);
        var volume = $"{name}-data";
        var repository = swarm.Repository(role);
        var digest = await swarm.PublishAsync(repository, "stable", "1.0");
        var id = await swarm.CreateServiceAsync(name, new ContainerSpec
        {
            Image = $"{repository}:stable@{digest}",
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            Mounts = [new Mount { Type = "volume", Source = volume, Target = "/data" }],
        }, new Dictionary<string, string> { ["backup.paths"] = "/data" });
        _services.Add(id);
        return (name, volume, id, repository, digest, await swarm.HealthyTaskAsync(id, TimeSpan.FromSeconds(90)));
    }

    private async Task<(string Repository, string Name, string Id, string Image)> RunAppServiceAsync(string role)
    {
        var repository = swarm.Repository(role);
        var digest = await swarm.PublishAsync(repository, "stable", "1.0");
        var name = swarm.Name(role);
        var image = $"{repository}:stable@{digest}";
        var id = await swarm.CreateServiceAsync(name, image, new Dictionary<string, string> { ["update.policy"] = "automatic", ["backup.paths"] = "/data" });
        _services.Add(id);
        return (repository, name, id, image);
    }

    private static async Task<JsonElement> UpdateAsync(ServiceProcess service, string repository, string digest, string name)
    {
        var answer = await service.PostEventAsync(SwarmServiceUpdateTests.SwarmPayload($"{repository}:stable", digest));
        return await JobWaiter.WaitAsync(service.GetJsonAsync, SwarmServiceUpdateTests.JobOf(answer, name), TimeSpan.FromSeconds(240));
    }

    private async Task<string> PsqlAsync(string container, string sql)
    {
        var (exitCode, stdout, stderr) = await swarm.Client.ExecAsync(container, ["psql", "-U", "gitea", "-d", "forge", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]);
        Assert.True(exitCode == 0, $"psql failed ({exitCode}): {stderr}");
        return stdout.Trim();
    }

    private async Task<string> ShAsync(string container, string script)
    {
        var (exitCode, stdout, stderr) = await swarm.Client.ExecAsync(container, ["sh", "-c", script]);
        Assert.True(exitCode == 0, $"sh -c '{script}' failed ({exitCode}): {stderr}");
        return stdout.Trim();
    }

    /// <summary>Removes the volume once the removed service's task containers have let go of it.</summary>
    private async Task RemoveVolumeAsync(string volume)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await swarm.Client.Volumes.RemoveAsync(volume, force: true);
                return;
            }
            catch (Docker.DotNet.DockerApiException) when (attempt < 60)
            {
                await Task.Delay(500);
            }
        }
    }

    private async Task<JsonElement> ManifestAsync(string setId)
    {
        using var manifest = await _s3.Client.GetObjectAsync(_s3.Bucket, $"wu/backups/{setId}/manifest.json", TestContext.Current.CancellationToken);
        return (await JsonDocument.ParseAsync(manifest.ResponseStream, cancellationToken: TestContext.Current.CancellationToken)).RootElement.Clone();
    }

    /// <summary>The specs of the agent jobs that appear until <paramref name="stop"/>.</summary>
    private async Task<List<ServiceSpec>> WatchAgentJobsAsync(CancellationToken stop)
    {
        var seen = new Dictionary<string, ServiceSpec>();
        while (!stop.IsCancellationRequested)
        {
            foreach (var job in await AgentJobsAsync())
            {
                seen.TryAdd(job.ID, job.Spec);
            }

            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return seen.Values.ToList();
    }

    /// <summary>Agent jobs left on the swarm: each is removed once it ended.</summary>
    private async Task<IList<SwarmService>> AgentJobsAsync() =>
        await swarm.Client.Swarm.ListServicesAsync(new ServiceListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["webhook-updater.agent"] = true } },
        });

    private static HttpClient Admin(ServiceProcess service)
    {
        var client = new HttpClient { BaseAddress = service.Http.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _services)
        {
            await swarm.RemoveServiceAsync(id);
        }

        if (_s3 is not null)
        {
            await _s3.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }
}
