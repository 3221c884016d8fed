using WebhookUpdater.Notifications;

namespace WebhookUpdater.Tests.Notifications;

public sealed class ImageComparisonTests
{
    private static readonly EmailComposer Composer = new(new NoPublicLinks());

    private static ImageComparison Compare(string? source = "https://github.com/go-gitea/gitea", string? pullError = null) => new(
        new ImageFacts("gitea/gitea:1.22", "1.22", "1.22.2", "abc1234", source, "2024-09-01T00:00:00Z", 100_000_000),
        pullError is null
            ? new ImageFacts("gitea/gitea:1.22", "1.22", "1.22.3", "<b>def5678</b>", source, "2024-10-15T00:00:00Z", 101_500_000)
            : ImageFacts.Unknown("gitea/gitea:1.22", "1.22"),
        pullError);

    [Theory]
    [InlineData("https://github.com/go-gitea/gitea", "1.22.3", "https://github.com/go-gitea/gitea/releases/tag/1.22.3")]
    [InlineData("https://github.com/go-gitea/gitea.git/", "v1.22.3", "https://github.com/go-gitea/gitea/releases/tag/v1.22.3")]
    [InlineData("https://codeberg.org/forgejo/forgejo", "9.0.1", "https://codeberg.org/forgejo/forgejo/releases/tag/9.0.1")]
    [InlineData("https://gitea.example.org/ops/app", "2.0", "https://gitea.example.org/ops/app/releases/tag/2.0")]
    [InlineData("https://gitlab.com/group/project", "1.0", "https://gitlab.com/group/project/-/releases/1.0")]
    [InlineData("https://example.org/group/project", "1.0", null)]
    [InlineData("https://github.com/go-gitea", "1.0", null)]
    [InlineData("javascript:alert(1)//github.com/a/b", "1.0", null)]
    [InlineData("https://github.com/a/b?x=1", "1.0", null)]
    [InlineData("https://github.com/a/b", "1.0/../../evil", "https://github.com/a/b/releases/tag/1.0%2F..%2F..%2Fevil")]
    public void Release_notes_are_linked_only_on_known_forges(string source, string version, string? expected) =>
        Assert.Equal(expected, ImageComparison.ReleaseNotesLink(source, version));

    [Fact]
    public void The_approval_email_shows_from_and_to_the_size_change_and_the_release_notes_encoded()
    {
        var email = Composer.Compose(Available(Compare()));

        Assert.Contains("Version: 1.22.2 -> 1.22.3", email.Text, StringComparison.Ordinal);
        Assert.Contains("Revision: abc1234 -> <b>def5678</b>", email.Text, StringComparison.Ordinal);
        Assert.Contains("Size change: +1.5 MB", email.Text, StringComparison.Ordinal);
        Assert.Contains("Release notes: https://github.com/go-gitea/gitea/releases/tag/1.22.3", email.Text, StringComparison.Ordinal);
        Assert.Contains("&lt;b&gt;def5678&lt;/b&gt;", email.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>def5678", email.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"https://github.com/go-gitea/gitea/releases/tag/1.22.3\"", email.Html, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_labels_and_a_failed_pull_are_said_not_guessed()
    {
        var email = Composer.Compose(Available(Compare(source: null, pullError: "manifest unknown")));

        Assert.Contains("Source: missing -> missing", email.Text, StringComparison.Ordinal);
        Assert.Contains("Version: 1.22.2 -> missing", email.Text, StringComparison.Ordinal);
        Assert.Contains("Size change: unknown", email.Text, StringComparison.Ordinal);
        Assert.Contains("could not be pulled yet (manifest unknown)", email.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("Release notes", email.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_comparison_survives_the_journal()
    {
        var compared = Compare();
        Assert.Equal(compared, ImageComparison.FromJson(compared.ToJson()));
        Assert.Null(ImageComparison.FromJson("not json"));
        Assert.Null(ImageComparison.FromJson(null));
    }

    [Fact]
    public void A_digest_email_lists_every_line_encoded()
    {
        var email = Composer.Compose(new DigestNotification(NotificationKinds.NotifyDigest, "Updates available", "New images.",
        [
            new DigestLine("j1", "diun", "crazymax/diun:4", "crazymax/diun:4", "sha256:aaa", "https://hub.docker.com/r/crazymax/diun", DateTimeOffset.UnixEpoch),
            new DigestLine("j2", "<certbot>", "certbot/certbot:latest", "certbot/certbot:latest", "sha256:bbb", "javascript:alert(1)", DateTimeOffset.UnixEpoch),
        ]));

        Assert.Equal("Updates available: diun, <certbot>", email.Subject);
        Assert.Contains("sha256:aaa", email.Text, StringComparison.Ordinal);
        Assert.Contains("sha256:bbb", email.Text, StringComparison.Ordinal);
        Assert.Contains("&lt;certbot&gt;", email.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"javascript:", email.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"https://hub.docker.com/r/crazymax/diun\"", email.Html, StringComparison.Ordinal);
    }

    private static UpdateAvailableNotification Available(ImageComparison images) =>
        new("job-1", "gitea", "gitea/gitea:1.22", "gitea/gitea:1.22", "sha256:abc", null, "https://updates.example.test/approvals/t", DateTimeOffset.UnixEpoch)
        {
            Images = images,
        };
}
