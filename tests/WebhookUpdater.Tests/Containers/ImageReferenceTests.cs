using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Containers;

public sealed class ImageReferenceTests
{
    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.27", "docker.io/library/nginx:1.27")]
    [InlineData("library/nginx", "docker.io/library/nginx:latest")]
    [InlineData("docker.io/nginx", "docker.io/library/nginx:latest")]
    [InlineData("index.docker.io/library/nginx:stable", "docker.io/library/nginx:stable")]
    [InlineData("gitea/gitea:1.22.3", "docker.io/gitea/gitea:1.22.3")]
    [InlineData("docker.io/gitea/gitea:1.22.3", "docker.io/gitea/gitea:1.22.3")]
    [InlineData("ghcr.io/crazy-max/diun:4.28", "ghcr.io/crazy-max/diun:4.28")]
    [InlineData("localhost:5000/wu-test/app:1.0", "localhost:5000/wu-test/app:1.0")]
    [InlineData("localhost/app", "localhost/app:latest")]
    [InlineData("registry.example.com:443/a/b/c", "registry.example.com:443/a/b/c:latest")]
    [InlineData("postgres@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/postgres@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Normalizes_like_docker(string text, string normalized) =>
        Assert.Equal(normalized, ImageReference.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("Nginx")]
    [InlineData("nginx:")]
    [InlineData("nginx:-bad")]
    [InlineData("/nginx")]
    [InlineData("nginx//x")]
    [InlineData("nginx@sha256:zz")]
    [InlineData("ngi nx")]
    [InlineData("docker.io/Gitea/gitea")]
    public void Rejects_what_docker_rejects(string text)
    {
        Assert.False(ImageReference.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void Same_repository_ignores_tag_and_spelling() =>
        Assert.True(ImageReference.Parse("nginx:1.26").SameRepository(ImageReference.Parse("docker.io/library/nginx:1.27")));

    [Fact]
    public void Different_registries_are_different_repositories() =>
        Assert.False(ImageReference.Parse("ghcr.io/library/nginx").SameRepository(ImageReference.Parse("nginx")));
}
