using WebhookUpdater.Containers;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Updates;

public sealed class UpdateTrackTests
{
    private const string Digest = "sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e";

    // container tag, event tag, track, pre-releases allowed, null when allowed, else a part of the reason.
    public static TheoryData<string, string, Track, bool, string?> Rules => new()
    {
        { "1.0", "1.1", Track.Minor, false, null },
        { "1.0", "1.1", Track.Major, false, null },
        { "1.0", "2.0", Track.Major, false, null },
        { "1.0", "1.1", Track.Patch, false, "allows only 1.0.x tags" },
        { "1.0", "2.0", Track.Minor, false, "allows only 1.x tags; 2.0 changes the major version" },
        { "1.0", "1.1.1", Track.Major, false, "has 3 version parts, 1.0 has 2" },
        { "1.22", "1.23", Track.Minor, false, null },
        { "1.22", "1.23.1", Track.Minor, false, "as precise as its own" },
        { "1.0.0", "1.0.1", Track.Patch, false, null },
        { "1.0.0", "1.1.0", Track.Patch, false, "allows only 1.0.x tags; 1.1.0 changes the minor version" },
        { "1.0.0", "1.1.0", Track.Minor, false, null },
        { "1.0.0", "1.1", Track.Minor, false, "version parts" },
        { "1.0", "0.9", Track.Major, false, "not newer" },
        { "1.1", "1.1.0", Track.Major, false, "version parts" },
        { "1.10", "1.9", Track.Minor, false, "not newer" },
        { "1.9", "1.10", Track.Minor, false, null },
        { "16.4-bookworm", "16.5-bookworm", Track.Minor, false, null },
        { "16.4-bookworm", "16.5-alpine", Track.Minor, false, "another variant" },
        { "16.4-bookworm", "16.5", Track.Minor, false, "another variant" },
        { "16.4", "16.5-bookworm", Track.Minor, false, "another variant" },
        { "1.0", "1.1-variant", Track.Major, false, "another variant" },
        { "1.0", "1.2-rc1", Track.Major, false, "is a pre-release (rc1)" },
        { "1.0", "1.2-rc1", Track.Major, true, null },
        { "1.2-rc1", "1.2", Track.Minor, false, null },
        { "1.2-rc1", "1.2-rc2", Track.Minor, true, null },
        { "1.2", "1.2-rc1", Track.Minor, true, "not newer" },
        { "1.2.0-beta.1-alpine", "1.2.0-alpine", Track.Patch, false, null },
        { "1.2.0-beta.1-alpine", "1.2.0-beta.2-alpine", Track.Patch, false, "is a pre-release" },
        { "v1.2", "v1.3", Track.Minor, false, null },
        { "v1.2", "1.3", Track.Minor, false, "another variant" },
        { "16", "17", Track.Major, false, null },
        { "16", "17", Track.Minor, false, "allows only 16.x tags" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void A_tag_move_is_allowed_only_within_the_track(string from, string to, Track track, bool prereleases, string? why)
    {
        Assert.True(TagVersion.TryParse(from, out var current));
        Assert.True(TagVersion.TryParse(to, out var candidate));

        var verdict = Tracks.Judge(current, candidate, track, prereleases);

        Assert.True(verdict.Allowed == (why is null), verdict.Reason);
        if (why is not null)
        {
            Assert.Contains(why, verdict.Reason, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("1.2-rc1", "rc1", "")]
    [InlineData("1.2-RC.2", "RC.2", "")]
    [InlineData("1.2.0-alpha", "alpha", "")]
    [InlineData("1.2-beta3-bookworm", "beta3", "bookworm")]
    [InlineData("1.2-preview.1", "preview.1", "")]
    [InlineData("1.2-dev", "dev", "")]
    [InlineData("16.4-bookworm", null, "bookworm")]
    [InlineData("3.20-alpine3.20", null, "alpine3.20")]
    [InlineData("1.22-rootless", null, "rootless")]
    [InlineData("1.2-release", null, "release")]
    [InlineData("1.2-developer", null, "developer")]
    public void A_suffix_is_a_pre_release_only_when_it_starts_with_a_pre_release_word(string tag, string? preRelease, string variant)
    {
        Assert.True(TagVersion.TryParse(tag, out var version));
        Assert.Equal(preRelease, version.PreRelease);
        Assert.Equal(variant, version.Variant);
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("stable")]
    [InlineData("bookworm")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1..2")]
    [InlineData("sha-1a2b3c")]
    [InlineData("99999999999")]
    public void A_tag_that_is_not_a_version_is_not_read_as_one(string tag) =>
        Assert.False(TagVersion.TryParse(tag, out _));

    [Theory]
    [InlineData(null, Track.Digest)]
    [InlineData("", Track.Digest)]
    [InlineData("digest", Track.Digest)]
    [InlineData(" Minor ", Track.Minor)]
    [InlineData("patch", Track.Patch)]
    [InlineData("major", Track.Major)]
    public void The_track_label_is_read_case_and_space_insensitively(string? label, Track track)
    {
        Assert.True(Tracks.TryParse(label, out var read));
        Assert.Equal(track, read);
    }

    [Theory]
    [InlineData("minr")]
    [InlineData("2")]
    [InlineData("semver")]
    [InlineData("patch,minor")]
    public void An_unknown_track_is_not_read_as_any(string label) =>
        Assert.False(Tracks.TryParse(label, out _));

    private static ContainerInfo Container(string image, string policy, string? track, params (string Key, string Value)[] more)
    {
        var labels = new Dictionary<string, string> { ["update.policy"] = policy };
        if (track is not null)
        {
            labels[Tracks.Label] = track;
        }

        foreach (var (key, value) in more)
        {
            labels[key] = value;
        }

        return new ContainerInfo("0123456789ab", "web", image, "sha256:" + new string('b', 64), "running", true, false, 0, 0, null, labels, [], []);
    }

    private static UpdateDecision Decide(string eventImage, ContainerInfo container) =>
        UpdateDecider.Decide(ImageReference.Parse(eventImage), Digest, container);

    [Fact]
    public void A_newer_tag_within_the_track_is_queued_and_the_reason_names_the_move()
    {
        var decision = Decide("docker.io/library/nginx:1.27.4", Container("nginx:1.27.3", "automatic", "patch"));

        Assert.Equal(Decision.Queued, decision.Decision);
        Assert.Equal("nginx:1.27.3", decision.CurrentImage);
        Assert.Contains("moves from 1.27.3 to 1.27.4 (update.track=patch)", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manual_container_waits_for_approval_of_a_tag_move() =>
        Assert.Equal(Decision.AwaitingApproval, Decide("docker.io/gitea/gitea:1.23", Container("gitea/gitea:1.22", "manual", "minor")).Decision);

    [Fact]
    public void A_tag_outside_the_track_is_ignored_with_what_the_track_allows()
    {
        var decision = Decide("docker.io/gitea/gitea:2.0", Container("gitea/gitea:1.22", "manual", "minor"));

        Assert.Equal(Decision.IgnoredOutsideTrack, decision.Decision);
        Assert.Equal(JobState.Ignored, decision.State);
        Assert.Contains("update.track=minor allows only 1.x tags", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_digest_track_container_keeps_ignoring_other_tags() =>
        Assert.Equal(Decision.IgnoredTagMismatch, Decide("nginx:1.28", Container("nginx:1.27", "automatic", null)).Decision);

    [Fact]
    public void A_tracked_container_still_takes_a_new_digest_of_its_own_tag() =>
        Assert.Equal(Decision.Queued, Decide("nginx:1.27", Container("nginx:1.27", "automatic", "minor")).Decision);

    [Fact]
    public void An_unknown_track_is_ignored_with_the_values_it_may_have()
    {
        var decision = Decide("nginx:1.28", Container("nginx:1.27", "automatic", "minr"));

        Assert.Equal(Decision.IgnoredOutsideTrack, decision.Decision);
        Assert.Contains("digest, patch, minor, major", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_container_on_a_tag_that_is_not_a_version_does_not_move() =>
        Assert.Equal(Decision.IgnoredOutsideTrack, Decide("nginx:1.28", Container("nginx:stable", "automatic", "major")).Decision);

    [Fact]
    public void The_prereleases_label_lets_a_pre_release_in() =>
        Assert.Equal(Decision.Queued,
            Decide("nginx:1.28-rc1", Container("nginx:1.27", "automatic", "minor", (Tracks.PrereleasesLabel, "true"))).Decision);

    [Theory]
    [InlineData("major")]
    [InlineData("minor")]
    [InlineData("digest")]
    public void A_database_major_is_refused_whatever_the_track(string track)
    {
        var decision = Decide("docker.io/library/postgres:17", Container("postgres:16", "manual", track, ("backup.postgres", "true")));

        var expected = track == "digest" ? Decision.IgnoredTagMismatch : Decision.RefusedDatabaseMajor;
        Assert.Equal(expected, decision.Decision);
        Assert.Equal(JobState.Ignored, decision.State);
        if (expected == Decision.RefusedDatabaseMajor)
        {
            Assert.Contains("16 to 17", decision.Reason, StringComparison.Ordinal);
            Assert.Contains("pg_upgrade", decision.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_database_minor_within_the_track_is_not_refused() =>
        Assert.Equal(Decision.AwaitingApproval,
            Decide("docker.io/library/postgres:16.5-bookworm", Container("postgres:16.4-bookworm", "manual", "minor", ("backup.postgres", "true"))).Decision);

    [Theory]
    [InlineData("gitea/gitea:1.22", "1.23", "gitea/gitea:1.23")]
    [InlineData("localhost:5000/app:1.0", "2.0", "localhost:5000/app:2.0")]
    [InlineData("localhost:5000/app", "1.1", "localhost:5000/app:1.1")]
    [InlineData("gitea/gitea:1.22@sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e", "1.23", "gitea/gitea:1.23")]
    public void A_tag_move_keeps_the_repository_as_written(string written, string tag, string expected) =>
        Assert.Equal(expected, ImageReference.WithTag(written, tag));

    [Theory]
    [InlineData("gitea/gitea:1.22", "docker.io/gitea/gitea:1.22", "gitea/gitea:1.22")]
    [InlineData("gitea/gitea:1.22", "docker.io/gitea/gitea:1.23", "gitea/gitea:1.23")]
    [InlineData(null, "docker.io/gitea/gitea:1.23", "docker.io/gitea/gitea:1.23")]
    public void The_new_container_is_configured_with_the_event_tag(string? current, string eventImage, string expected)
    {
        var job = new JobView("j", 1, "gitea", "c", "automatic", Decision.Queued, JobState.Running, eventImage, Digest, current, null, null, null,
            DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, []);

        Assert.Equal(expected, UpdatePipeline.NewConfiguredImage(new UpdateRun(job)));
    }

    [Theory]
    [InlineData("docker.io/gitea/gitea:2.0", "docker.io/gitea/gitea:1.1", true)]
    [InlineData("docker.io/gitea/gitea:1.1", "docker.io/gitea/gitea:2.0", false)]
    [InlineData("docker.io/gitea/gitea:1.1", "docker.io/gitea/gitea:1.1", false)]
    [InlineData("docker.io/gitea/gitea:1.1.1", "docker.io/gitea/gitea:1.1", false)]
    [InlineData("docker.io/other/gitea:2.0", "docker.io/gitea/gitea:1.1", false)]
    [InlineData("docker.io/gitea/gitea:latest", "docker.io/gitea/gitea:1.1", false)]
    public void A_pending_job_is_newer_only_for_a_newer_version_of_the_same_shape(string pending, string incoming, bool newer) =>
        Assert.Equal(newer, Tracks.IsNewerTag(pending, incoming));
}
