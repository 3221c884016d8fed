using System.Net;
using Docker.DotNet;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Containers;

/// <summary>The one container model, read from <c>docker inspect</c> recorded on both test engines, and the one "inspect or nothing".</summary>
public sealed class ContainerInfoTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void A_recorded_inspect_reads_as_one_container_with_its_state_labels_mounts_and_digests(string engine)
    {
        var (container, image) = ContainerBlueprintTests.Recorded(engine);

        var info = DockerContainerLookup.Info(container, image.RepoDigests.ToArray());

        Assert.Equal(container.ID, info.Id);
        Assert.Equal("wu-blueprint-app", info.Name);
        Assert.Equal("localhost:5000/wu-test/app:1.0", info.ConfiguredImage);
        Assert.Equal(image.ID, info.ImageId);
        Assert.Equal("created", info.Status);
        Assert.False(info.Running);
        Assert.Null(info.Health);
        Assert.Equal("automatic", info.Label("update.policy"));
        Assert.Equal(["/data", "/config", "/cache"], info.Mounts.Select(mount => mount.Destination));
        Assert.Equal(["volume", "bind", "volume"], info.Mounts.Select(mount => mount.Type));
        Assert.Equal("wu-blueprint-data", info.Mounts[0].Name);
        Assert.Null(info.Mounts[1].Name);
        Assert.NotNull(info.Mounts[2].Name);
        Assert.True(info.RunsDigest(ImageReference.Parse("localhost:5000/wu-test/app:1.0"), "sha256:719534923fc176bad14f06bb5664eafc04873ec2627669cd1e6722c06bed393f"));
        Assert.False(info.RunsDigest(ImageReference.Parse("localhost:5000/wu-test/other:1.0"), "sha256:719534923fc176bad14f06bb5664eafc04873ec2627669cd1e6722c06bed393f"));
    }

    [Fact]
    public async Task Inspect_or_nothing_answers_null_when_the_engine_says_not_found()
    {
        var answer = await DockerCalls.OrNothingAsync<string>(() => throw new DockerApiException(HttpStatusCode.NotFound, "No such container: web"));

        Assert.Null(answer);
    }

    [Fact]
    public async Task Inspect_or_nothing_passes_every_other_answer_on()
    {
        Assert.Equal("found", await DockerCalls.OrNothingAsync(() => Task.FromResult("found")));
        var failure = await Assert.ThrowsAsync<DockerApiException>(() => DockerCalls.OrNothingAsync<string>(() => throw new DockerApiException(HttpStatusCode.InternalServerError, "engine error")));
        Assert.Equal(HttpStatusCode.InternalServerError, failure.StatusCode);
    }

    [Fact]
    public async Task An_archive_of_a_missing_path_is_nothing_but_of_a_missing_container_is_a_failure()
    {
        Assert.Null(await DockerCalls.OrNothingAsync<string>(() => throw new DockerApiException(HttpStatusCode.NotFound, "Could not find the file /etc/letsencrypt/live in container certbot"), DockerContainerActions.IsMissingPath));
        await Assert.ThrowsAsync<DockerApiException>(() => DockerCalls.OrNothingAsync<string>(() => throw new DockerApiException(HttpStatusCode.NotFound, "No such container: certbot"), DockerContainerActions.IsMissingPath));
    }

    [Fact]
    public async Task Removing_what_is_already_gone_is_no_error()
    {
        Assert.False(await DockerCalls.OrNothingAsync(() => throw new DockerApiException(HttpStatusCode.NotFound, "No such container: web")));
        Assert.True(await DockerCalls.OrNothingAsync(() => Task.CompletedTask));
    }
}
