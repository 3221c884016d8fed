using System.Net;
using System.Text.Json;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Webhooks;

/// <summary>Diun's watch_repo events (one per newer tag, each naming the watched container) through the webhook and the journal.</summary>
public sealed class TrackEventTests : IAsyncLifetime
{
    private readonly TestApp _app = new();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task<JsonElement> PostAsync(string image, string digest = Payloads.DigestA, string container = "gitea")
    {
        var response = await _app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun(image, digest, container)), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("jobs")[0];
    }

    private async Task<JsonElement> JobAsync(JsonElement job) =>
        await (await _app.Admin().GetAsync($"/api/jobs/{job.GetProperty("id").GetString()}", TestContext.Current.CancellationToken)).JsonAsync();

    private void Gitea(string track = "major", string tag = "1.0") =>
        _app.Containers.Add("gitea", $"gitea/gitea:{tag}", "manual", moreLabels: new Dictionary<string, string> { ["update.track"] = track });

    [Fact]
    public async Task Each_event_of_one_diun_run_is_decided_by_the_track()
    {
        Gitea("minor");

        var minor = await PostAsync("docker.io/gitea/gitea:1.1");
        var patch = await PostAsync("docker.io/gitea/gitea:1.1.1", Payloads.DigestB);
        var major = await PostAsync("docker.io/gitea/gitea:2.0", Payloads.DigestB);

        Assert.Equal("awaiting_approval", minor.GetProperty("decision").GetString());
        Assert.Equal("ignored_outside_track", patch.GetProperty("decision").GetString());
        Assert.Equal("ignored_outside_track", major.GetProperty("decision").GetString());
        var view = await JobAsync(minor);
        Assert.Equal("docker.io/gitea/gitea:1.1", view.GetProperty("image").GetString());
        Assert.Equal("gitea/gitea:1.0", view.GetProperty("currentImage").GetString());
        var outside = await JobAsync(major);
        Assert.Equal("ignored", outside.GetProperty("state").GetString());
        Assert.Contains("update.track=minor allows only 1.x tags", outside.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newer_version_supersedes_a_pending_older_one()
    {
        Gitea();

        var older = await PostAsync("docker.io/gitea/gitea:1.1");
        var newer = await PostAsync("docker.io/gitea/gitea:2.0", Payloads.DigestB);

        var view = await JobAsync(older);
        Assert.Equal("superseded", view.GetProperty("state").GetString());
        Assert.Equal(newer.GetProperty("id").GetString(), view.GetProperty("supersededBy").GetString());
        Assert.Equal("awaiting_approval", (await JobAsync(newer)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task An_older_version_after_a_newer_one_is_superseded_at_once()
    {
        Gitea();

        var newer = await PostAsync("docker.io/gitea/gitea:2.0", Payloads.DigestB);
        var older = await PostAsync("docker.io/gitea/gitea:1.1");

        var view = await JobAsync(older);
        Assert.Equal("superseded", view.GetProperty("state").GetString());
        Assert.Equal(newer.GetProperty("id").GetString(), view.GetProperty("supersededBy").GetString());
        Assert.Contains("docker.io/gitea/gitea:2.0", view.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("awaiting_approval", (await JobAsync(newer)).GetProperty("state").GetString());
        Assert.Equal(1, await _app.CountAsync("jobs", "state = 'awaiting_approval'"));
    }

    [Fact]
    public async Task Two_tags_with_one_digest_are_two_jobs_not_duplicates()
    {
        Gitea();

        var first = await PostAsync("docker.io/gitea/gitea:1.1");
        var second = await PostAsync("docker.io/gitea/gitea:2.0");

        Assert.NotEqual("duplicate", second.GetProperty("decision").GetString());
        Assert.Equal("superseded", (await JobAsync(first)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_database_major_is_refused_emailed_and_shown_on_the_status_page()
    {
        _app.Containers.Add("postgres", "postgres:16", "manual",
            moreLabels: new Dictionary<string, string> { ["update.track"] = "major", ["backup.postgres"] = "true" });

        var job = await PostAsync("docker.io/library/postgres:17", container: "postgres");

        Assert.Equal("refused_database_major", job.GetProperty("decision").GetString());
        var view = await JobAsync(job);
        Assert.Equal("ignored", view.GetProperty("state").GetString());
        Assert.Contains("pg_upgrade", view.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, await _app.CountAsync("outbox", $"kind = 'update-refused' AND job_id = '{job.GetProperty("id").GetString()}'"));
        var browser = _app.Browser();
        await browser.LogInAsync(TestApp.AdminToken);
        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Contains("PostgreSQL major version (16 to 17)", page, StringComparison.Ordinal);
    }
}
