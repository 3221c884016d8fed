#nullable disable warnings
using System.Text.Json;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

/// <summary>
/// update.track against the real engine and the loopback registry: Diun's watch_repo run sends one
/// <c>new</c> event per newer tag, each naming the watched container, and each container moves
/// exactly where its track allows, or stays as it was.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class TagTrackTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(180);

    // The repository's tags, and the test-app version published under each.
    private static readonly (string Tag, string App)[] Tags =
    [
        ("1.0", "1.0"), ("1.1", "1.1"), ("1.1.1", "1.0"), ("2.0", "1.4"), ("1.1-variant", "1.1"), ("1.2-rc1", "1.4"),
        ("1.0.0", "1.0"), ("1.0.1", "1.1"),
    ];

    private sealed record Watched(string Name, string Id, string Tag, string ImageId);

    private async Task<Dictionary<string, string>> PublishAsync(string repository, params (string Tag, string App)[] tags)
    {
        var digests = new Dictionary<string, string>();
        foreach (var (tag, app) in tags)
        {
            digests[tag] = await docker.PublishAsync(repository, tag, app);
        }

        return digests;
    }

    private async Task<Watched> RunAsync(string role, string repository, string tag, string track, Dictionary<string, string> more = null)
    {
        var labels = new Dictionary<string, string>(more ?? []) { ["update.policy"] = "automatic" };
        if (track is not null)
        {
            labels["update.track"] = track;
        }

        var name = docker.Name(role);
        var id = await docker.RunAppAsync(name, $"{repository}:{tag}", labels);
        await docker.WaitHealthyAsync(id, TimeSpan.FromSeconds(30));
        return new Watched(name, id, tag, (await docker.Client.Containers.InspectContainerAsync(id)).Image);
    }

    /// <summary>What Diun's watch_repo run posts for one watched container: a <c>new</c> event per other tag, in the given order.</summary>
    private static async Task<Dictionary<string, JsonElement>> DiunRunAsync(
        ServiceHost service, string repository, Dictionary<string, string> digests, Watched container)
    {
        var answers = new Dictionary<string, JsonElement>();
        foreach (var tag in digests.Keys.Where(tag => tag != container.Tag))
        {
            var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:{tag}", digests[tag], container.Name, container.Id, status: "new"));
            answers[tag] = answer.GetProperty("jobs")[0];
        }

        return answers;
    }

    private static string Decision(JsonElement job) => job.GetProperty("decision").GetString();

    private async Task AssertUnchangedAsync(Watched container, string repository)
    {
        var now = await docker.Client.Containers.InspectContainerAsync(container.Name);
        Assert.Equal(container.Id, now.ID);
        Assert.Equal(container.ImageId, now.Image);
        Assert.Equal($"{repository}:{container.Tag}", now.Config.Image);
        Assert.True(now.State.Running);
    }

    private async Task AssertMovedAsync(Watched container, string repository, string tag, string app)
    {
        var now = await docker.Client.Containers.InspectContainerAsync(container.Name);
        Assert.NotEqual(container.Id, now.ID);
        Assert.Equal($"{repository}:{tag}", now.Config.Image);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage(app)), now.Image);
        await docker.WaitHealthyAsync(now.ID, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Containers_on_one_version_move_exactly_where_their_track_allows()
    {
        var repository = docker.Repository("track");
        var digests = await PublishAsync(repository, Tags);
        var onDigest = await RunAsync("t-digest", repository, "1.0", null);
        var onPatch = await RunAsync("t-patch", repository, "1.0", "patch");
        var onPatch3 = await RunAsync("t-patch3", repository, "1.0.0", "patch");
        var onMinor = await RunAsync("t-minor", repository, "1.0", "minor");
        var onMajor = await RunAsync("t-major", repository, "1.0", "major");
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);

        var digest = await DiunRunAsync(service, repository, digests, onDigest);
        var patch = await DiunRunAsync(service, repository, digests, onPatch);
        var patch3 = await DiunRunAsync(service, repository, digests, onPatch3);
        var minor = await DiunRunAsync(service, repository, digests, onMinor);
        var major = await DiunRunAsync(service, repository, digests, onMajor);

        Assert.All(digest.Values, job => Assert.Equal("ignored_tag_mismatch", Decision(job)));
        Assert.All(patch.Values, job => Assert.Equal("ignored_outside_track", Decision(job)));
        Assert.Equal(["1.0.1"], patch3.Where(pair => Decision(pair.Value) == "queued").Select(pair => pair.Key));
        Assert.Equal(["1.1"], minor.Where(pair => Decision(pair.Value) == "queued").Select(pair => pair.Key));
        Assert.Equal(["1.1", "2.0"], major.Where(pair => Decision(pair.Value) == "queued").Select(pair => pair.Key).Order());
        Assert.Equal("ignored_outside_track", Decision(major["1.1.1"]));
        Assert.Equal("ignored_outside_track", Decision(major["1.1-variant"]));
        Assert.Equal("ignored_outside_track", Decision(major["1.2-rc1"]));

        var movedPatch = await JobWaiter.WaitAsync(service.GetJsonAsync, patch3["1.0.1"].GetProperty("id").GetString(), JobTimeout);
        var movedMinor = await JobWaiter.WaitAsync(service.GetJsonAsync, minor["1.1"].GetProperty("id").GetString(), JobTimeout);
        var movedMajor = await JobWaiter.WaitAsync(service.GetJsonAsync, major["2.0"].GetProperty("id").GetString(), JobTimeout);
        var firstMajor = await JobWaiter.WaitAsync(service.GetJsonAsync, major["1.1"].GetProperty("id").GetString(), JobTimeout);

        Assert.True(movedPatch.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(movedPatch));
        Assert.True(movedMinor.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(movedMinor));
        Assert.True(movedMajor.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(movedMajor));
        // 1.1 either ran first (then 2.0 moved on from it) or was still waiting when 2.0 superseded it.
        Assert.True(firstMajor.GetProperty("state").GetString() is "succeeded" or "superseded", JobWaiter.Timeline(firstMajor));
        await AssertUnchangedAsync(onDigest, repository);
        await AssertUnchangedAsync(onPatch, repository);
        await AssertMovedAsync(onPatch3, repository, "1.0.1", "1.1");
        await AssertMovedAsync(onMinor, repository, "1.1", "1.1");
        await AssertMovedAsync(onMajor, repository, "2.0", "1.4");

        // The journal names both ends of a tag move: the new repo:tag, and the one the container left.
        Assert.Equal($"{repository}:1.1", movedMinor.GetProperty("image").GetString());
        Assert.Equal($"{repository}:1.0", movedMinor.GetProperty("currentImage").GetString());
        Assert.Equal(onMinor.ImageId, movedMinor.GetProperty("currentImageId").GetString());
        Assert.Equal($"{repository}:2.0", movedMajor.GetProperty("image").GetString());
        var left = firstMajor.GetProperty("state").GetString() == "succeeded" ? "1.1" : "1.0";
        Assert.Equal($"{repository}:{left}", movedMajor.GetProperty("currentImage").GetString());
    }

    [Fact]
    public async Task A_database_major_is_refused_and_nothing_changes()
    {
        // A stand-in labelled like the stack's postgres: the decision is taken before any pull.
        var repository = docker.Repository("pgmajor");
        var digests = await PublishAsync(repository, ("15", "1.0"), ("16", "1.1"));
        var postgres = await RunAsync("t-pg", repository, "15", "major", new Dictionary<string, string> { ["backup.postgres"] = "true" });
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);

        var answers = await DiunRunAsync(service, repository, digests, postgres);

        Assert.Equal("refused_database_major", Decision(answers["16"]));
        var job = await service.GetJsonAsync($"/api/jobs/{answers["16"].GetProperty("id").GetString()}");
        Assert.Equal("ignored", job.GetProperty("state").GetString());
        Assert.Contains("PostgreSQL major version (15 to 16)", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("pg_upgrade", job.GetProperty("reason").GetString(), StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        await AssertUnchangedAsync(postgres, repository);
    }

    [Fact]
    public async Task A_tag_move_that_fails_its_gate_leaves_the_container_on_the_old_tag_and_image()
    {
        var repository = docker.Repository("trackbad");
        var digests = await PublishAsync(repository, ("1.0", "1.0"), ("2.0", "1.2-unhealthy"));
        var container = await RunAsync("t-bad", repository, "1.0", "major");
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);

        var answers = await DiunRunAsync(service, repository, digests, container);
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, answers["2.0"].GetProperty("id").GetString(), JobTimeout);

        Assert.True(job.GetProperty("state").GetString() == "rolled_back", JobWaiter.Timeline(job));
        Assert.Equal("rolled back, healthy", job.GetProperty("outcome").GetString());
        Assert.Equal($"{repository}:2.0", job.GetProperty("image").GetString());
        Assert.Equal($"{repository}:1.0", job.GetProperty("currentImage").GetString());
        // The new container was configured with the new tag before it failed.
        var create = job.GetProperty("steps").EnumerateArray().Single(step => step.GetProperty("name").GetString() == "create");
        Assert.Contains($"from {repository}:2.0 ", create.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertUnchangedAsync(container, repository);
        await docker.WaitHealthyAsync(container.Id, TimeSpan.FromSeconds(30));
    }
}
