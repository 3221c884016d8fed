using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.IntegrationTests.Webhooks;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class WebhookDockerTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;


    /// <summary>A repository of the test's own in the loopback registry: no other container on the engine runs it.</summary>
    private async Task<(string Stable, string NewDigest)> OwnRepositoryAsync(string role)
    {
        var repository = docker.Repository(role);
        await docker.PublishAsync(repository, "1.4", "1.4");
        var newDigest = await docker.RegistryDigestAsync(TestEnvironment.AppImage("1.4"));
        await docker.PublishAsync(repository, "stable", "1.0");
        return ($"{repository}:stable", newDigest);
    }

    private static Dictionary<string, string> Decisions(JsonElement answer) =>
        answer.GetProperty("jobs").EnumerateArray().ToDictionary(
            job => job.GetProperty("container").GetString()!,
            job => job.GetProperty("decision").GetString()!);

    [Fact]
    public async Task Labels_read_from_the_engine_decide_each_container()
    {
        var (stable, newDigest) = await OwnRepositoryAsync("labels");
        var automatic = docker.Name("auto");
        var manual = docker.Name("manual");
        var unlabelled = docker.Name("none");
        var unknown = docker.Name("unknown");
        var otherTag = docker.Name("tag");
        await docker.RunAppAsync(automatic, stable, new Dictionary<string, string> { ["update.policy"] = "automatic" });
        await docker.RunAppAsync(manual, stable, new Dictionary<string, string> { ["update.policy"] = "manual" });
        await docker.RunAppAsync(unlabelled, stable);
        await docker.RunAppAsync(unknown, stable, new Dictionary<string, string> { ["update.policy"] = "yolo" });
        await docker.RunAppAsync(otherTag, stable.Replace(":stable", ":1.4", StringComparison.Ordinal), new Dictionary<string, string> { ["update.policy"] = "automatic" });
        await using var service = new ServiceHost(Data);

        // Diun names no container here (as with a file provider): the repository decides who is a target.
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload(stable, newDigest));

        var decisions = Decisions(answer);
        Assert.Equal("queued", decisions[automatic]);
        Assert.Equal("awaiting_approval", decisions[manual]);
        Assert.Equal("ignored_no_policy", decisions[unlabelled]);
        Assert.Equal("ignored_unknown_policy", decisions[unknown]);
        Assert.Equal("ignored_tag_mismatch", decisions[otherTag]);
        Assert.Equal(5, decisions.Count);
    }

    [Fact]
    public async Task A_container_already_running_the_digest_is_current()
    {
        var name = docker.Name("current");
        var id = await docker.RunAppAsync(name, "1.0", new Dictionary<string, string> { ["update.policy"] = "automatic" });
        var runningDigest = await docker.RegistryDigestAsync(TestEnvironment.AppImage("1.0"));
        await using var service = new ServiceHost(Data);

        var answer = await service.PostEventAsync(ServiceHost.DiunPayload(TestEnvironment.AppImage("1.0"), runningDigest, name, id));

        Assert.Equal("ignored_already_current", Decisions(answer)[name]);
    }

    [Fact]
    public async Task Diun_container_names_pick_the_target_among_containers_of_the_same_image()
    {
        var target = docker.Name("target");
        var bystander = docker.Name("bystander");
        await docker.RunAppAsync(target, "1.0", new Dictionary<string, string> { ["update.policy"] = "automatic" });
        await docker.RunAppAsync(bystander, "1.0", new Dictionary<string, string> { ["update.policy"] = "automatic" });
        var newDigest = await docker.RegistryDigestAsync(TestEnvironment.AppImage("1.4"));
        await using var service = new ServiceHost(Data);

        var answer = await service.PostEventAsync(ServiceHost.DiunPayload(TestEnvironment.AppImage("1.0"), newDigest, target));

        Assert.Equal(["queued"], Decisions(answer).Where(d => d.Key == target).Select(d => d.Value));
        Assert.DoesNotContain(bystander, Decisions(answer).Keys);
    }

    [Fact]
    public async Task Repeated_events_make_one_job()
    {
        var name = docker.Name("repeat");
        await docker.RunAppAsync(name, "1.0", new Dictionary<string, string> { ["update.policy"] = "manual" });
        var newDigest = await docker.RegistryDigestAsync(TestEnvironment.AppImage("1.4"));
        await using var service = new ServiceHost(Data);
        var body = ServiceHost.DiunPayload(TestEnvironment.AppImage("1.0"), newDigest, name);

        var answers = new List<JsonElement>();
        foreach (var _ in Enumerable.Range(0, 3))
        {
            answers.Add(await service.PostEventAsync(body));
        }

        var ids = answers.Select(a => a.GetProperty("jobs")[0].GetProperty("id").GetString()).Distinct().ToList();
        Assert.Single(ids);
        Assert.Equal(["awaiting_approval", "duplicate", "duplicate"], answers.Select(a => a.GetProperty("jobs")[0].GetProperty("decision").GetString()));
        var jobs = await service.GetJsonAsync($"/api/jobs?container={name}");
        Assert.Equal(1, jobs.GetArrayLength());
    }

    [Fact]
    public async Task After_a_restart_the_journal_is_intact_and_queued_jobs_are_read_back()
    {
        var (stable, newDigest) = await OwnRepositoryAsync("restart");
        var automatic = docker.Name("restart-auto");
        var manual = docker.Name("restart-manual");
        await docker.RunAppAsync(automatic, stable, new Dictionary<string, string> { ["update.policy"] = "automatic" });
        await docker.RunAppAsync(manual, stable, new Dictionary<string, string> { ["update.policy"] = "manual" });

        Dictionary<string, string> before;
        await using (var first = new ServiceHost(Data))
        {
            var answer = await first.PostEventAsync(ServiceHost.DiunPayload(stable, newDigest));
            before = answer.GetProperty("jobs").EnumerateArray().ToDictionary(j => j.GetProperty("id").GetString()!, j => j.GetProperty("decision").GetString()!);
        }

        await using var second = new ServiceHost(Data);
        var jobs = await second.GetJsonAsync("/api/jobs");
        var after = jobs.EnumerateArray().ToDictionary(j => j.GetProperty("id").GetString()!, j => j.GetProperty("decision").GetString()!);

        Assert.Equal(2, before.Count);
        Assert.Equal(before.OrderBy(p => p.Key), after.OrderBy(p => p.Key));
        var queue = second.Services.GetRequiredService<UpdateQueue>();
        var queuedId = before.Single(p => p.Value == "queued").Key;
        Assert.True(queue.Reader.TryRead(out var recovered));
        Assert.Equal(queuedId, recovered);
    }

    [Fact]
    public async Task A_container_changed_between_two_events_is_decided_from_what_it_is_at_the_second()
    {
        var repository = docker.Repository("changed");
        await docker.PublishAsync(repository, "stable", "1.0");
        await docker.PublishAsync(repository, "1.4", "1.4");
        var stable = $"{repository}:stable";
        var name = docker.Name("changed");
        var firstId = await docker.RunAppAsync(name, stable, new Dictionary<string, string> { ["update.policy"] = "manual" });
        await using var service = new ServiceHost(Data);

        var asFirstCreated = await service.PostEventAsync(ServiceHost.DiunPayload(stable, "sha256:" + new string('a', 64), name, firstId));

        // Relabelled (a new container under the same name: labels cannot change in place).
        var relabelledId = await ReplaceAsync(name, stable, "automatic");
        var relabelled = await service.PostEventAsync(ServiceHost.DiunPayload(stable, "sha256:" + new string('b', 64), name, relabelledId));

        // Retagged; Diun still names the first container's id, which no longer exists.
        await ReplaceAsync(name, $"{repository}:1.4", "automatic");
        var retagged = await service.PostEventAsync(ServiceHost.DiunPayload(stable, "sha256:" + new string('c', 64), name, firstId));

        // Recreated from the same tag, which now points at another image: it runs the new digest already.
        var newDigest = await docker.PublishAsync(repository, "stable", "1.4");
        await ReplaceAsync(name, stable, "automatic");
        var recreated = await service.PostEventAsync(ServiceHost.DiunPayload(stable, newDigest, name, firstId));

        Assert.Equal(new Dictionary<string, string> { [name] = "awaiting_approval" }, Decisions(asFirstCreated));
        Assert.Equal(new Dictionary<string, string> { [name] = "queued" }, Decisions(relabelled));
        Assert.Equal(new Dictionary<string, string> { [name] = "ignored_tag_mismatch" }, Decisions(retagged));
        Assert.Equal(new Dictionary<string, string> { [name] = "ignored_already_current" }, Decisions(recreated));
    }

    private async Task<string> ReplaceAsync(string name, string image, string policy)
    {
        await docker.Client.Containers.RemoveContainerAsync(name, new ContainerRemoveParameters { Force = true }, TestContext.Current.CancellationToken);
        return await docker.RunAppAsync(name, image, new Dictionary<string, string> { ["update.policy"] = policy });
    }
}
