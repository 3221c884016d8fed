#nullable disable warnings
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class CrashRecoveryTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    /// <summary>Every phase an update that succeeds passes through.</summary>
    public static TheoryData<string> UpdatePhases =>
        ["backing_up", "pulling", "creating", "renaming", "stopping", "starting", "gating", "gate_passed", "finishing"];

    /// <summary>Every phase of an update whose new image exits, from its start through the whole rollback.</summary>
    public static TheoryData<string> RollbackPhases =>
        ["starting", "gating", "rolling_back", "removing_new", "renaming_back", "restoring_data", "starting_old", "rollback_gating", "finishing"];

    [Theory]
    [MemberData(nameof(UpdatePhases))]
    public Task A_service_killed_at_any_phase_of_an_update_finishes_it_at_the_next_start(string phase) =>
        KillAndRestartAsync(phase, newVersion: "1.1", expectedState: "succeeded", expectedVersion: "1.1", emails: 0);

    [Theory]
    [MemberData(nameof(RollbackPhases))]
    public Task A_service_killed_at_any_phase_of_a_rollback_finishes_the_rollback_at_the_next_start(string phase) =>
        KillAndRestartAsync(phase, newVersion: "1.3-exits", expectedState: "rolled_back", expectedVersion: "1.0", emails: 1);

    private async Task KillAndRestartAsync(string phase, string newVersion, string expectedState, string expectedVersion, int emails)
    {
        var role = $"crash-{(expectedState == "succeeded" ? "u" : "r")}-{phase.Replace('_', '-')}";
        var (repository, name) = await docker.RunPublishedAppAsync(role, "automatic");
        var oldId = (await docker.Client.Containers.InspectContainerAsync(name)).ID;
        var starts = FollowStarts(name);
        var digest = await docker.PublishAsync(repository, "stable", newVersion);
        var settings = UpdatePipelineTests.FastGate;
        string jobId;
        string backupAtKill;

        await using (var first = await ServiceProcess.StartAsync(Data, settings, hangAfterPhase: phase))
        {
            var answer = await first.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
            jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();
            var atKill = await JobWaiter.WaitAsync(first.GetJsonAsync, jobId, TimeSpan.FromSeconds(90), job => job.GetProperty("phase").GetString() == phase);
            Assert.True(atKill.GetProperty("state").GetString() == "running", JobWaiter.Timeline(atKill));
            backupAtKill = Text(atKill, "backupId");
            await first.KillAsync();
        }

        await using var second = await ServiceProcess.StartAsync(Data, settings);
        var finished = await JobWaiter.WaitAsync(second.GetJsonAsync, jobId, TimeSpan.FromSeconds(120));

        Assert.True(finished.GetProperty("state").GetString() == expectedState, JobWaiter.Timeline(finished) + second.Output);
        var container = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.True(container.State.Running);
        Assert.Equal("healthy", container.State.Health?.Status);
        Assert.Equal((await docker.Client.Images.InspectImageAsync(TestEnvironment.AppImage(expectedVersion))).ID, container.Image);
        Assert.Equal(expectedState == "succeeded", container.ID != oldId);
        var all = await docker.Client.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(all, c => c.Names.Contains($"/{name}.old") || c.Names.Contains($"/{name}.new"));

        // The pre-update set taken before the crash is the job's, after it too.
        Assert.NotNull(Text(finished, "backupId"));
        if (backupAtKill is not null)
        {
            Assert.Equal(backupAtKill, Text(finished, "backupId"));
        }

        // The new image ran once: no container but the original was started twice, or by another run.
        var started = await starts();
        Assert.True(started.Count(id => id != oldId) == 1, $"containers started (the original is {oldId}): {string.Join(", ", started)}");
        Assert.Equal(expectedState == "rolled_back" ? 1 : 0, started.Count(id => id == oldId));

        var outbox = await second.GetJsonAsync("/api/notifications/outbox?limit=500");
        Assert.Equal(emails, outbox.EnumerateArray().Count(m => m.GetProperty("jobId").GetString() == jobId));
        await AssertEmailFilesAsync(Path.Combine(Data, "outbox"), emails);
    }

    /// <summary>The outbox sender writes one .eml file per message sent: wait for the expected number, then count.</summary>
    private static async Task AssertEmailFilesAsync(string directory, int expected)
    {
        int Count() => Directory.Exists(directory) ? Directory.GetFiles(directory, "*.eml").Length : 0;
        for (var i = 0; i < 40 && Count() < expected; i++)
        {
            await Task.Delay(250);
        }

        Assert.Equal(expected, Count());
    }

    /// <summary>
    /// Follows Docker's start events live from now on (the engine keeps only its last 256 events,
    /// and other tests share it): ids of the containers named <paramref name="name"/> or name.new,
    /// one entry per start, read when the returned function is called.
    /// </summary>
    private Func<Task<List<string>>> FollowStarts(string name)
    {
        var starts = new List<string>();
        var stop = new CancellationTokenSource();
        var following = docker.Client.System.MonitorEventsAsync(
            new ContainerEventsParameters
            {
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["type"] = new Dictionary<string, bool> { ["container"] = true },
                    ["event"] = new Dictionary<string, bool> { ["start"] = true },
                    ["label"] = new Dictionary<string, bool> { [$"{DockerFixture.RunLabel}={docker.RunId}"] = true },
                },
            },
            new Collect(message =>
            {
                if (message.Actor?.Attributes is { } attributes && attributes.TryGetValue("name", out var started) && (started == name || started == $"{name}.new"))
                {
                    lock (starts)
                    {
                        starts.Add(message.Actor.ID);
                    }
                }
            }),
            stop.Token);
        return async () =>
        {
            // An event arrives a moment after the call that caused it.
            await Task.Delay(500);
            await stop.CancelAsync();
            try
            {
                await following;
            }
            catch (OperationCanceledException)
            {
            }

            stop.Dispose();
            lock (starts)
            {
                return [.. starts];
            }
        };
    }

    /// <summary>Called on the reading thread, in order (Progress&lt;T&gt; would post each one elsewhere).</summary>
    private sealed class Collect(Action<Message> handle) : IProgress<Message>
    {
        public void Report(Message value) => handle(value);
    }

    private static string Text(JsonElement job, string property) =>
        job.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
