#nullable disable warnings
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet.Models;
using WebhookUpdater.IntegrationTests.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Updates;

/// <summary>The rollback of a finished update (POST /api/jobs/{id}/rollback), and the pruning of previous images, on the real engine.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class FinishedRollbackTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_finished_update_is_rolled_back_to_its_previous_image_and_with_restoreData_to_its_data(bool restoreData)
    {
        var role = restoreData ? "rbdata" : "rbimage";
        var database = docker.Name($"{role}-pg");
        Containers.Add(await docker.RunPostgresAsync(database, "forge"));
        await docker.PsqlAsync(database, "forge", "CREATE TABLE issues (title text); INSERT INTO issues VALUES ('before')");
        var repository = docker.Repository(role);
        await docker.PublishAsync(repository, "stable", "1.0");
        var name = docker.Name($"{role}-gitea");
        await CreateAsync(name, $"{repository}:stable", new Dictionary<string, string>
        {
            ["update.policy"] = "automatic",
            ["backup.paths"] = "/data",
            ["backup.with"] = database,
        });
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);
        var update = await UpdateAsync(service, repository, digest, name);
        Assert.True(update.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(update));
        await docker.PsqlAsync(database, "forge", "INSERT INTO issues VALUES ('after')");

        var response = await PostRollbackAsync(service, update.GetProperty("id").GetString(), restoreData);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var rollbackId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var rollback = await JobWaiter.WaitAsync(service.GetJsonAsync, rollbackId, JobTimeout);

        Assert.True(rollback.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(rollback));
        Assert.Equal(update.GetProperty("id").GetString(), rollback.GetProperty("rollbackOf").GetString());
        var running = await docker.Client.Containers.InspectContainerAsync(name);
        Assert.Equal(await docker.ImageIdAsync(TestEnvironment.AppImage("1.0")), running.Image);
        Assert.Equal($"{repository}:stable", running.Config.Image);
        Assert.True(running.State.Running);
        var steps = rollback.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.Equal(restoreData, steps.Contains("restore-data"));
        Assert.Equal(restoreData ? "before" : "after,before", await docker.PsqlAsync(database, "forge", "SELECT string_agg(title, ',' ORDER BY title) FROM issues"));

        // The update is undone: it cannot be rolled back a second time.
        var again = await PostRollbackAsync(service, update.GetProperty("id").GetString(), false);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task A_rollback_is_refused_while_a_newer_update_stands_and_once_the_previous_image_is_gone()
    {
        var repository = docker.Repository("rbrefused");
        var (_, first) = await PublishUniqueAsync(repository, "1.0");
        var name = docker.Name("rbrefused");
        await CreateAsync(name, $"{repository}:stable", new Dictionary<string, string> { ["update.policy"] = "automatic" });
        await using var service = new ServiceHost(Data, UpdatePipelineTests.FastGate);
        var (digest2, _) = await PublishUniqueAsync(repository, "1.1");
        var older = await UpdateAsync(service, repository, digest2, name);
        var (digest3, _) = await PublishUniqueAsync(repository, "1.0");
        var newer = await UpdateAsync(service, repository, digest3, name);
        Assert.True(newer.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(newer));

        var conflict = await PostRollbackAsync(service, older.GetProperty("id").GetString(), false);
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal("application/problem+json", conflict.Content.Headers.ContentType?.MediaType);
        Assert.Contains(newer.GetProperty("id").GetString(), await conflict.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await PostRollbackAsync(service, "no-such-job", false)).StatusCode);

        // The image the newer update replaced is removed by hand: nothing to go back to.
        await docker.Client.Images.DeleteImageAsync(newer.GetProperty("currentImageId").GetString(), new ImageDeleteParameters { Force = true });
        var gone = await PostRollbackAsync(service, newer.GetProperty("id").GetString(), false);
        Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
        Assert.NotNull(first);
    }

    [Fact]
    public async Task Pruning_keeps_exactly_the_newest_previous_images_of_the_repository()
    {
        var repository = docker.Repository("prune");
        var (_, v0) = await PublishUniqueAsync(repository, "1.0");
        var name = docker.Name("prune");
        await CreateAsync(name, $"{repository}:stable", new Dictionary<string, string> { ["update.policy"] = "automatic" });
        var settings = UpdatePipelineTests.FastGate;
        settings["Updates:KeepImages"] = "1";
        await using var service = new ServiceHost(Data, settings);

        var (ids, last) = await UpdateThreeTimesAsync(service, repository, name, v0);

        // v3 runs, v2 is the one previous image kept; v1 and v0 are gone.
        var present = await PresentAsync(ids[3], ids[2], ids[1], ids[0]);
        Assert.Equal("kept,kept,removed,removed", present);
        var prune = last.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "prune");
        Assert.Equal("succeeded", prune.GetProperty("state").GetString());
        Assert.Contains("kept 1 previous image(s)", prune.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("reclaimed", prune.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pruning_never_removes_an_image_a_stopped_container_uses_or_a_rollback_needs()
    {
        var repository = docker.Repository("prunekeep");
        var (_, v0) = await PublishUniqueAsync(repository, "1.0");
        var name = docker.Name("prunekeep");
        await CreateAsync(name, $"{repository}:stable", new Dictionary<string, string> { ["update.policy"] = "automatic" });
        // A stopped container of the first image (no policy: the service leaves it alone).
        var stopped = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = docker.Name("prunekeep-stopped"), Image = v0, Labels = docker.RunLabels(), HostConfig = new HostConfig { NetworkMode = "none" },
        });
        Containers.Add(stopped.ID);
        var settings = UpdatePipelineTests.FastGate;
        settings["Updates:KeepImages"] = "0";
        await using var service = new ServiceHost(Data, settings);

        var (ids, _) = await UpdateThreeTimesAsync(service, repository, name, v0);

        // v3 runs; v2 is what a rollback of the last update needs; v1 goes; v0 stays for the stopped container.
        var present = await PresentAsync(ids[3], ids[2], ids[1], ids[0]);
        Assert.Equal("kept,kept,removed,kept", present);
    }

    /// <summary>Three successful updates, each to an image of its own; returns the four image ids in order and the last job.</summary>
    private async Task<(List<string> Ids, JsonElement Last)> UpdateThreeTimesAsync(ServiceHost service, string repository, string name, string first)
    {
        var ids = new List<string> { first };
        JsonElement last = default;
        foreach (var version in new[] { "1.1", "1.0", "1.1" })
        {
            var (digest, id) = await PublishUniqueAsync(repository, version);
            ids.Add(id);
            last = await UpdateAsync(service, repository, digest, name);
            Assert.True(last.GetProperty("state").GetString() == "succeeded", JobWaiter.Timeline(last));
        }

        return (ids, last);
    }

    /// <summary>kept or removed, for each image id in order.</summary>
    private async Task<string> PresentAsync(params string[] ids)
    {
        var present = new List<bool>();
        foreach (var id in ids)
        {
            try
            {
                await docker.Client.Images.InspectImageAsync(id);
                present.Add(true);
            }
            catch (Docker.DotNet.DockerImageNotFoundException)
            {
                present.Add(false);
            }
            catch (Docker.DotNet.DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                present.Add(false);
            }
        }

        return string.Join(',', present.Select(kept => kept ? "kept" : "removed"));
    }

    /// <summary>
    /// An image of the test app of its own (a commit with a unique label), pushed as repository:stable:
    /// removing it touches no other test. Returns its registry digest and its id.
    /// </summary>
    private async Task<(string Digest, string Id)> PublishUniqueAsync(string repository, string version)
    {
        var source = TestEnvironment.AppImage(version);
        await docker.EnsureImageAsync(source);
        var container = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters { Image = source, Labels = docker.RunLabels() });
        try
        {
            await docker.Client.Images.CommitContainerChangesAsync(new CommitContainerChangesParameters
            {
                ContainerID = container.ID,
                RepositoryName = repository,
                Tag = "stable",
                Labels = new Dictionary<string, string> { ["wu.test.unique"] = Guid.NewGuid().ToString("N") },
            });
        }
        finally
        {
            await docker.RemoveIfPresentAsync(container.ID);
        }

        string error = null;
        await docker.Client.Images.PushImageAsync($"{repository}:stable", new ImagePushParameters { Tag = "stable" }, new AuthConfig(),
            new Progress<JSONMessage>(m => error ??= m.Error?.Message));
        Assert.Null(error);
        var inspect = await docker.Client.Images.InspectImageAsync($"{repository}:stable");
        var repoDigest = inspect.RepoDigests.First(d => d.StartsWith(repository + "@", StringComparison.Ordinal));
        return (repoDigest[(repoDigest.IndexOf('@', StringComparison.Ordinal) + 1)..], inspect.ID);
    }

    private async Task CreateAsync(string name, string image, Dictionary<string, string> labels)
    {
        var created = await docker.Client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Labels = docker.RunLabels(labels),
            Env = [$"APP_PORT={DockerFixture.FreePort()}"],
            HostConfig = new HostConfig { NetworkMode = "host" },
        });
        Containers.Add(created.ID);
        await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        await docker.WaitHealthyAsync(created.ID, TimeSpan.FromSeconds(30));
    }

    private static async Task<JsonElement> UpdateAsync(ServiceHost service, string repository, string digest, string name)
    {
        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        return await JobWaiter.WaitAsync(service.GetJsonAsync, answer.GetProperty("jobs")[0].GetProperty("id").GetString(), JobTimeout);
    }

    private static Task<HttpResponseMessage> PostRollbackAsync(ServiceHost service, string jobId, bool restoreData)
    {
        var client = service.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.AdminToken);
        return client.PostAsync($"/api/jobs/{jobId}/rollback?restoreData={(restoreData ? "true" : "false")}", null);
    }
}
