using WebhookUpdater.Notifications;

namespace WebhookUpdater.Tests.Notifications;

public sealed class EmailComposerTests
{
    private sealed class Links : IPublicLinks
    {
        public string? JobPage(string jobId) => $"https://updates.example.test/api/jobs/{jobId}";
    }

    private sealed record CertificateWarning(string Domain) : Notification("certificate-expiring")
    {
        public override string Subject => $"Certificate for {Domain} expires soon";

        public override string Summary => $"The certificate for {Domain} expires in 5 days <soon>.";
    }

    private static readonly EmailComposer Composer = new(new Links());

    [Fact]
    public void A_failure_says_what_failed_whether_it_was_rolled_back_and_the_log_tail()
    {
        var email = Composer.Compose(new JobNotification(
            NotificationKinds.UpdateFailed, "job-1", "gitea", "automatic", "gitea/gitea:1.22.2", "gitea/gitea:1.22.3", "sha256:abc",
            "https://hub.docker.com/r/gitea/gitea", "rolled back, healthy", "the new container failed its health gate", "panic: boom"));

        Assert.Equal("Update of gitea failed: rolled back, healthy", email.Subject);
        foreach (var part in new[] { email.Text, email.Html })
        {
            Assert.Contains("the new container failed its health gate", part, StringComparison.Ordinal);
            Assert.Contains("rolled back and runs its previous image", part, StringComparison.Ordinal);
            Assert.Contains("panic: boom", part, StringComparison.Ordinal);
            Assert.Contains("gitea/gitea:1.22.2", part, StringComparison.Ordinal);
            Assert.Contains("gitea/gitea:1.22.3", part, StringComparison.Ordinal);
            Assert.Contains("sha256:abc", part, StringComparison.Ordinal);
            Assert.Contains("https://updates.example.test/api/jobs/job-1", part, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Values_from_outside_are_encoded_and_only_http_links_become_links()
    {
        var email = Composer.Compose(new JobNotification(
            NotificationKinds.UpdateSucceeded, "job-2", "<script>alert(1)</script>", "manual", null, "evil:1", "sha256:def",
            "javascript:alert(1)", "updated", "done", null));

        Assert.DoesNotContain("<script>", email.Html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", email.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"javascript:", email.Html, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kind_without_a_template_is_sent_as_its_subject_and_summary_in_both_parts()
    {
        var email = Composer.Compose(new CertificateWarning("git.example.org"));

        Assert.Equal("Certificate for git.example.org expires soon", email.Subject);
        Assert.Equal("The certificate for git.example.org expires in 5 days <soon>.", email.Text);
        Assert.Contains("expires in 5 days &lt;soon&gt;.", email.Html, StringComparison.Ordinal);
    }
}
