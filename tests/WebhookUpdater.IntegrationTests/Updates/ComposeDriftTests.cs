#nullable disable warnings
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.IntegrationTests.Deployment;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.Status;

namespace WebhookUpdater.IntegrationTests.Updates;

/// <summary>
/// A tag move of a container docker-compose 1.29 created: the job names the .env line that still
/// holds the old tag, and with the rewrite on, a later `docker-compose up -d` keeps the new tag.
/// </summary>
// Engine A only (no Category=Docker trait): docker-compose 1.29 cannot recreate a container on
// Docker 25 and later (its image inspect has no ContainerConfig), and it is the only Compose here.
[Collection(DockerCollection.Name)]
public sealed class ComposeDriftTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Without_the_rewrite_the_job_the_email_and_the_status_page_name_the_env_line()
    {
        var project = await StartProjectAsync("drifta");

        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);
        var job = await MoveAsync(service, project);

        var drift = job.GetProperty("composeDrift");
        Assert.Equal($"APP_IMAGE={project.Repository}:1.1", drift.GetProperty("line").GetString());
        Assert.Equal("APP_IMAGE", drift.GetProperty("variable").GetString());
        Assert.False(drift.GetProperty("rewritten").GetBoolean());
        Assert.Contains(job.GetProperty("steps").EnumerateArray(), step => step.GetProperty("name").GetString() == "compose");
        Assert.Equal($"APP_IMAGE={project.Repository}:1.0\nAPP_PORT={project.Port}\n", await File.ReadAllTextAsync(project.EnvFile));

        // An automatic container's tag move still sends the success email: the operator must act.
        var email = await WaitForEmailAsync(job.GetProperty("id").GetString());
        Assert.Contains($"APP_IMAGE={project.Repository}:1.1", email, StringComparison.Ordinal);

        var status = await service.Services.GetRequiredService<StatusReport>().BuildAsync(CancellationToken.None);
        var row = Assert.Single(status.Sections.Single(section => section.Title == "Compose project").Rows);
        Assert.Equal(project.Container, row.Label);
        Assert.Equal("warn", row.Tone);
        Assert.Contains($"APP_IMAGE={project.Repository}:1.1", row.Value, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_the_rewrite_docker_compose_up_after_the_move_keeps_the_new_tag()
    {
        var project = await StartProjectAsync("driftb");
        var settings = new Dictionary<string, string?>(UpdatePipelineTests.FastGate)
        {
            ["Compose:EnvFile"] = project.EnvFile,
            ["Compose:RewriteEnv"] = "true",
            ["Compose:Project"] = project.Name,
        };

        await using var service = new ServiceHost(Data, settings);
        var job = await MoveAsync(service, project);

        var drift = job.GetProperty("composeDrift");
        Assert.True(drift.GetProperty("rewritten").GetBoolean(), drift.ToString());
        Assert.Equal($"APP_IMAGE={project.Repository}:1.1\nAPP_PORT={project.Port}\n", await File.ReadAllTextAsync(project.EnvFile));
        Assert.Equal($"APP_IMAGE={project.Repository}:1.0\nAPP_PORT={project.Port}\n", await File.ReadAllTextAsync(drift.GetProperty("copy").GetString()));

        var up = await ComposeAsync(project, "up", "-d");
        Assert.True(up.ExitCode == 0, up.Describe("docker-compose up -d"));
        var running = await docker.Client.Containers.InspectContainerAsync(project.Container);
        Assert.Equal($"{project.Repository}:1.1", running.Config.Image);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.1")), running.Image);

        var status = await service.Services.GetRequiredService<StatusReport>().BuildAsync(CancellationToken.None);
        var row = Assert.Single(status.Sections.Single(section => section.Title == "Compose project").Rows);
        Assert.Equal("ok", row.Tone);
    }

    private sealed record Project(string Name, string Directory, string EnvFile, string Repository, string Container, int Port, string Digest);

    /// <summary>A one-service compose project on <c>repo:1.0</c>, tracking minor versions, with 1.1 in the registry.</summary>
    private async Task<Project> StartProjectAsync(string role)
    {
        var repository = docker.Repository(role);
        await docker.PublishAsync(repository, "1.0", "1.0");
        var digest = await docker.PublishAsync(repository, "1.1", "1.1");
        var name = docker.Name(role).Replace("-", "", StringComparison.Ordinal);
        var directory = System.IO.Directory.CreateDirectory(Path.Combine(Data, "project")).FullName;
        var port = DockerFixture.FreePort();
        var envFile = Path.Combine(directory, ".env");
        await File.WriteAllTextAsync(envFile, $"APP_IMAGE={repository}:1.0\nAPP_PORT={port}\n");
        var labels = string.Concat(docker.RunLabels().Select(label => $"      {label.Key}: \"{label.Value}\"\n"));
        await File.WriteAllTextAsync(Path.Combine(directory, "docker-compose.yml"), $"""
            services:
              app:
                image: ${"{"}APP_IMAGE{"}"}
                network_mode: host
                environment:
                  APP_PORT: ${"{"}APP_PORT{"}"}
                labels:
                  update.policy: automatic
                  update.track: minor
                  update.image.env: APP_IMAGE
            {labels}
            """);
        var project = new Project(name, directory, envFile, repository, $"{name}_app_1", port, digest);
        Containers.Add(project.Container);
        var up = await ComposeAsync(project, "up", "-d");
        Assert.True(up.ExitCode == 0, up.Describe("docker-compose up -d"));
        await docker.WaitHealthyAsync(project.Container, TimeSpan.FromSeconds(20));
        return project;
    }

    /// <summary>Diun's `new` event for tag 1.1 of the container's repository (watch_repo), and the job to its end.</summary>
    private static async Task<JsonElement> MoveAsync(ServiceHost service, Project project)
    {
        var payload = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["diun_version"] = "4.28.0",
            ["hostname"] = "myserver",
            ["status"] = "new",
            ["provider"] = "docker",
            ["image"] = $"{project.Repository}:1.1",
            ["hub_link"] = "",
            ["mime_type"] = "application/vnd.docker.distribution.manifest.v2+json",
            ["digest"] = project.Digest,
            ["created"] = "2026-12-01T10:00:00Z",
            ["platform"] = "linux/amd64",
            ["metadata"] = new Dictionary<string, string> { ["ctn_names"] = project.Container, ["ctn_state"] = "running" },
        });
        var answer = await service.PostEventAsync(payload);
        var queued = answer.GetProperty("jobs").EnumerateArray().Single();
        Assert.True(queued.GetProperty("decision").GetString() == "queued", answer.ToString());
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, queued.GetProperty("id").GetString()!, JobTimeout);
        Assert.True(job.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(job));
        return job;
    }

    private async Task<string> WaitForEmailAsync(string jobId)
    {
        var outbox = Path.Combine(Data, "outbox");
        for (var i = 0; i < 100; i++)
        {
            if (System.IO.Directory.Exists(outbox))
            {
                foreach (var file in System.IO.Directory.EnumerateFiles(outbox, "*.eml"))
                {
                    var text = await File.ReadAllTextAsync(file);
                    if (text.Contains(jobId, StringComparison.Ordinal))
                    {
                        return text;
                    }
                }
            }

            await Task.Delay(200);
        }

        Assert.Fail($"no email for job {jobId} in {outbox}");
        return "";
    }

    private static Task<Cli.Result> ComposeAsync(Project project, params string[] args) =>
        Cli.RunAsync(ComposeFileTests.DockerCompose(), ["-p", project.Name, .. args], project.Directory, timeout: TimeSpan.FromMinutes(2));
}
