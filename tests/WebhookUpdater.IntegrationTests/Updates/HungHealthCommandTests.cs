#nullable disable warnings
using System.Text.Json;
using Docker.DotNet.Models;
using MimeKit;
using WebhookUpdater.Health;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class HungHealthCommandTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private const int GateSeconds = 20;

    // The gate may overrun its timeout by one poll, one status call and the kill; more would be a hang.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(8);

    private async Task<string> CreateAsync(string repository, string name, Dictionary<string, string> labels)
    {
        await docker.PublishAsync(repository, "stable", "1.0");
        var all = docker.RunLabels(labels);
        all["update.policy"] = "automatic";
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = $"{repository}:stable",
            Labels = all,
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(30));
        return created.ID;
    }

    private static async Task<string> QueueAsync(ServiceHost service, string repository, string digest, string name)
    {
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        var job = answer.GetProperty("jobs")[0];
        Assert.Equal("queued", job.GetProperty("decision").GetString());
        return job.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task A_health_command_that_never_returns_is_killed_at_the_gate_timeout_the_job_rolls_back_and_the_next_job_runs()
    {
        // Healthy on 1.0; on the new version the command sleeps for good (a probe against an app that accepts and never answers).
        var hungRepository = docker.Repository("hung");
        var hung = docker.Name("hung");
        var oldId = await CreateAsync(hungRepository, hung, new()
        {
            [HealthLabels.Command] = "[ \"$APP_VERSION\" = 1.0 ] || sleep 100000",
            [HealthLabels.TimeoutSeconds] = GateSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var nextRepository = docker.Repository("after-hung");
        var next = docker.Name("after-hung");
        await CreateAsync(nextRepository, next, []);
        var hungDigest = await docker.PublishAsync(hungRepository, "stable", "1.1");
        var nextDigest = await docker.PublishAsync(nextRepository, "stable", "1.1");
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);

        var hungJobId = await QueueAsync(service, hungRepository, hungDigest, hung);
        var nextJobId = await QueueAsync(service, nextRepository, nextDigest, next);
        var hungJob = await JobWaiter.WaitAsync(service.GetJsonAsync, hungJobId, TimeSpan.FromSeconds(150));
        var nextJob = await JobWaiter.WaitAsync(service.GetJsonAsync, nextJobId, TimeSpan.FromSeconds(150));

        Assert.True(hungJob.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(hungJob));
        Assert.Equal("rolled back, healthy", hungJob.GetProperty("outcome").GetString());
        var gate = hungJob.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "health-gate");
        var gateTook = gate.GetProperty("endedAt").GetDateTimeOffset() - gate.GetProperty("startedAt").GetDateTimeOffset();
        Assert.InRange(gateTook, TimeSpan.FromSeconds(GateSeconds - 1), TimeSpan.FromSeconds(GateSeconds) + Margin);
        var reason = hungJob.GetProperty("reason").GetString();
        Assert.Contains("sleep 100000' did not finish within", reason, StringComparison.Ordinal);
        Assert.Contains("killed inside the container", reason, StringComparison.Ordinal);
        var running = await docker.Client.Containers.InspectContainerAsync(hung);
        Assert.Equal(oldId, running.ID);
        Assert.True(running.State.Running);
        Assert.Equal("healthy", running.State.Health.Status);
        Assert.True(nextJob.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(nextJob));
        var mail = await FailureMailAsync(hung);
        Assert.Contains("did not finish within", mail.TextBody, StringComparison.Ordinal);
    }

    /// <summary>The email the local outbox wrote about the container (the default sender writes .eml files into the data folder).</summary>
    private async Task<MimeMessage> FailureMailAsync(string container)
    {
        var outbox = Path.Combine(Data, "outbox");
        for (var i = 0; i < 100; i++)
        {
            foreach (var file in Directory.Exists(outbox) ? Directory.GetFiles(outbox, "*.eml") : [])
            {
                var message = await MimeMessage.LoadAsync(file);
                if (message.Subject.Contains(container, StringComparison.Ordinal) && message.TextBody.Contains("What failed", StringComparison.Ordinal))
                {
                    return message;
                }
            }

            await Task.Delay(100);
        }

        Assert.Fail($"no failure email about {container} in {outbox}");
        return null;
    }
}
