using WebhookUpdater.Containers;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

public sealed class UpdateDeciderTests
{
    private const string Digest = "sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e";

    private static ContainerInfo Container(string image, string? policy, params string[] repoDigests) => new(
        "0123456789ab", "web", image, "sha256:" + new string('b', 64), "running", true, false, 0, 0, null,
        policy is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["update.policy"] = policy },
        repoDigests, []);

    private static UpdateDecision Decide(string eventImage, ContainerInfo container) =>
        UpdateDecider.Decide(ImageReference.Parse(eventImage), Digest, container);

    [Fact]
    public void Automatic_label_queues_the_update() =>
        Assert.Equal(Decision.Queued, Decide("nginx:1.27", Container("nginx:1.27", "automatic")).Decision);

    [Fact]
    public void Manual_label_waits_for_approval()
    {
        var decision = Decide("docker.io/gitea/gitea:1.22", Container("gitea/gitea:1.22", "manual"));
        Assert.Equal(Decision.AwaitingApproval, decision.Decision);
        Assert.Equal(JobState.AwaitingApproval, decision.State);
    }

    [Fact]
    public void Labels_are_read_case_and_space_insensitively() =>
        Assert.Equal(Decision.Queued, Decide("nginx", Container("nginx", " Automatic ")).Decision);

    [Fact]
    public void Notify_label_is_recorded_for_the_daily_email_and_never_becomes_an_update()
    {
        var decision = Decide("crazymax/diun:4", Container("crazymax/diun:4", "notify"));
        Assert.Equal(Decision.Notified, decision.Decision);
        Assert.Equal(JobState.Ignored, decision.State);
        Assert.Equal("notified", decision.Decision.Name());
    }

    [Fact]
    public void Notify_container_already_on_the_digest_is_not_listed() =>
        Assert.Equal(Decision.IgnoredAlreadyCurrent, Decide("nginx:1.27", Container("nginx:1.27", "notify", "nginx@" + Digest)).Decision);

    [Fact]
    public void No_label_is_ignored() =>
        Assert.Equal(Decision.IgnoredNoPolicy, Decide("nginx", Container("nginx", null)).Decision);

    [Theory]
    [InlineData("disabled")]
    [InlineData("sometimes")]
    public void Unknown_label_is_ignored_and_recorded(string policy)
    {
        var decision = Decide("nginx", Container("nginx", policy));
        Assert.Equal(Decision.IgnoredUnknownPolicy, decision.Decision);
        Assert.Equal(policy, decision.Policy);
    }

    [Fact]
    public void Another_tag_of_the_same_repository_is_ignored() =>
        Assert.Equal(Decision.IgnoredTagMismatch, Decide("nginx:1.27", Container("nginx:1.26", "automatic")).Decision);

    [Fact]
    public void Latest_is_the_tag_when_none_is_written() =>
        Assert.Equal(Decision.Queued, Decide("docker.io/library/nginx:latest", Container("nginx", "automatic")).Decision);

    [Fact]
    public void A_container_already_on_the_digest_is_current() =>
        Assert.Equal(Decision.IgnoredAlreadyCurrent,
            Decide("nginx:1.27", Container("nginx:1.27", "automatic", "nginx@" + Digest)).Decision);

    [Fact]
    public void The_same_digest_in_another_repository_does_not_count_as_current() =>
        Assert.Equal(Decision.Queued,
            Decide("nginx:1.27", Container("nginx:1.27", "automatic", "ghcr.io/other/nginx@" + Digest)).Decision);

    [Fact]
    public void The_digest_is_found_among_many_entries_and_in_any_case()
    {
        // An image pushed and pulled many times lists one entry per repository and digest.
        var others = Enumerable.Range(0, 300).Select(n => $"registry.local/nginx@sha256:{n:x64}").ToArray();
        var container = Container("nginx:1.27", "automatic", [.. others, "nginx@" + Digest.ToUpperInvariant().Replace("SHA256", "sha256", StringComparison.Ordinal), .. others]);

        Assert.Equal(Decision.IgnoredAlreadyCurrent, Decide("nginx:1.27", container).Decision);
        Assert.Equal(Decision.Queued, Decide("nginx:1.27", Container("nginx:1.27", "automatic", others)).Decision);
    }

    [Fact]
    public void Only_an_entry_that_ends_in_an_at_sign_and_the_whole_digest_counts()
    {
        var middle = Digest.Length / 2;
        var oneCharOff = "nginx@" + Digest[..middle] + (Digest[middle] == 'a' ? 'b' : 'a') + Digest[(middle + 1)..];
        string[] lookalikes = ["", "@", Digest, "@" + Digest, "nginx" + Digest, "nginx:" + Digest, oneCharOff, "nginx@" + Digest + "0", "nginx@" + Digest[1..]];

        Assert.Equal(Decision.Queued, Decide("nginx:1.27", Container("nginx:1.27", "automatic", lookalikes)).Decision);
        Assert.Equal(Decision.IgnoredAlreadyCurrent, Decide("nginx:1.27", Container("nginx:1.27", "automatic", [.. lookalikes, "nginx@" + Digest])).Decision);
    }

    [Fact]
    public void Control_characters_in_a_label_do_not_reach_the_journal() =>
        Assert.Equal("badx", UpdateDecider.NormalizePolicy("bad\nx"));
}
