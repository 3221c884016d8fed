using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using WebhookUpdater.Approvals;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Approvals;

/// <summary>
/// The emailed link end to end, in memory: the webhook records a manual job, the issuer writes the
/// link and its email (the default .eml outbox), and the test clicks through with HTTP.
/// </summary>
public sealed partial class ApprovalLinkTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly TestApp _app;

    public ApprovalLinkTests()
    {
        _app = new TestApp(new() { ["Approvals:PermitsPerMinute"] = "1000" })
        {
            ConfigureServices = services => services.AddSingleton<TimeProvider>(_time),
        };
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Browser() => _app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    /// <summary>A Diun event for the manual container; returns the job id.</summary>
    private async Task<string> ManualJobAsync(string digest = Payloads.DigestA)
    {
        var response = await _app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("gitea/gitea:1.22", digest, "gitea")), Cancel);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = (await response.JsonAsync()).GetProperty("jobs")[0];
        Assert.Equal("awaiting_approval", job.GetProperty("decision").GetString());
        return job.GetProperty("id").GetString()!;
    }

    /// <summary>Issues the pending links and returns the one emailed for the job, from its .eml file.</summary>
    private async Task<(string Path, MimeMessage Email)> LinkAsync(string jobId)
    {
        await _app.Services.GetRequiredService<ApprovalService>().IssuePendingAsync(Cancel);
        var outbox = Path.Combine(_app.DataDirectory, "outbox");
        for (var i = 0; i < 100; i++)
        {
            foreach (var file in Directory.Exists(outbox) ? Directory.GetFiles(outbox, "*.eml") : [])
            {
                var email = await MimeMessage.LoadAsync(file, Cancel);
                if (email.TextBody is { } text && text.Contains(jobId, StringComparison.Ordinal) && email.Headers["X-WebhookUpdater-Kind"] == "update-available")
                {
                    var link = LinkPattern().Match(text).Value;
                    Assert.StartsWith(TestApp.BaseUrl + "/approvals/", link, StringComparison.Ordinal);
                    return (link[TestApp.BaseUrl.Length..], email);
                }
            }

            await Task.Delay(50, Cancel);
        }

        Assert.Fail($"no update-available email for job {jobId} in {outbox}");
        return default;
    }

    /// <summary>The ids in the worker's channel (the worker is off in these tests), taken out.</summary>
    private List<string> TakeQueued()
    {
        var ids = new List<string>();
        while (_app.Services.GetRequiredService<UpdateQueue>().Reader.TryRead(out var id))
        {
            ids.Add(id);
        }

        return ids;
    }

    private async Task<string> StateAsync(string jobId) =>
        (await _app.Services.GetRequiredService<JobStore>().GetJobAsync(jobId, Cancel))!.State.Name();

    private async Task<HttpResponseMessage> PostAsync(string path, string decision, bool json = false)
    {
        var client = Browser();
        if (json)
        {
            client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        }

        return await client.PostAsync(path, new FormUrlEncodedContent([new("decision", decision)]), Cancel);
    }

    private async Task<HttpResponseMessage> GetJsonAsync(string path)
    {
        var client = Browser();
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return await client.GetAsync(path, Cancel);
    }

    [GeneratedRegex(@"https?://\S+/approvals/[A-Za-z0-9_-]+")]
    private static partial Regex LinkPattern();

    [Fact]
    public async Task A_manual_job_gets_one_email_with_a_text_and_an_html_part_and_the_link()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();

        var (path, email) = await LinkAsync(jobId);
        await _app.Services.GetRequiredService<ApprovalService>().IssuePendingAsync(Cancel);

        Assert.Equal("Approval needed: update gitea to gitea/gitea:1.22", email.Subject);
        Assert.Contains(Payloads.DigestA, email.TextBody, StringComparison.Ordinal);
        Assert.Contains("https://hub.docker.com/r/gitea/gitea", email.HtmlBody, StringComparison.Ordinal);
        Assert.Contains(TestApp.BaseUrl + path, email.HtmlBody, StringComparison.Ordinal);
        Assert.Contains($"{TestApp.BaseUrl}/api/jobs/{jobId}", email.TextBody, StringComparison.Ordinal);
        Assert.Equal(1, await _app.CountAsync("approvals"));
        Assert.Equal(1, await _app.CountAsync("outbox", "kind = 'update-available'"));
    }

    [Fact]
    public async Task Opening_the_link_shows_what_will_happen_and_changes_nothing()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);

        for (var i = 0; i < 5; i++)
        {
            var response = await Browser().GetAsync(path, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.Content.ReadAsStringAsync(Cancel);
            foreach (var expected in new[] { "Update gitea?", "gitea/gitea:1.22", Payloads.DigestA, "Backup", "Pull", "Recreate", "Health gate", "Rollback on failure", "value=\"approve\"", "value=\"reject\"" })
            {
                Assert.Contains(expected, page, StringComparison.Ordinal);
            }

            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
            Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
            Assert.DoesNotContain("<script", page, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal("awaiting_approval", await StateAsync(jobId));
        Assert.Equal(0, await _app.CountAsync("approvals", "decision IS NOT NULL"));
        Assert.Empty(TakeQueued());
    }

    [Fact]
    public async Task Approve_queues_the_job_once_and_a_second_post_gets_409_with_what_happened()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);

        var approved = await PostAsync(path, "approve");
        var again = await PostAsync(path, "approve");
        var againJson = await PostAsync(path, "reject", json: true);

        Assert.Equal(HttpStatusCode.SeeOther, approved.StatusCode);
        Assert.Equal(TestApp.BaseUrl + path + "/progress", approved.Headers.Location?.ToString());
        Assert.Equal("queued", await StateAsync(jobId));
        Assert.Equal([jobId], TakeQueued());
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("already used", await again.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, againJson.StatusCode);
        Assert.Equal("application/problem+json", againJson.Content.Headers.ContentType?.MediaType);
        var problem = await againJson.JsonAsync();
        Assert.Equal("queued", problem.GetProperty("state").GetString());
        Assert.Equal("approved", problem.GetProperty("decision").GetString());
        Assert.Empty(TakeQueued());
    }

    [Fact]
    public async Task The_progress_page_refreshes_until_the_job_ends()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);
        await PostAsync(path, "approve");

        var running = await (await Browser().GetAsync(path + "/progress", Cancel)).Content.ReadAsStringAsync(Cancel);
        await _app.Services.GetRequiredService<JobStore>().FinishAsync(jobId, JobState.Succeeded, JobOutcome.Updated.ToText(), "gitea runs the new image", null, Cancel);
        var done = await (await Browser().GetAsync(path + "/progress", Cancel)).Content.ReadAsStringAsync(Cancel);
        var json = await (await GetJsonAsync(path + "/progress")).JsonAsync();

        Assert.Contains("http-equiv=\"refresh\"", running, StringComparison.Ordinal);
        Assert.DoesNotContain("http-equiv=\"refresh\"", done, StringComparison.Ordinal);
        Assert.Contains("succeeded", done, StringComparison.Ordinal);
        Assert.True(json.GetProperty("final").GetBoolean());
        Assert.Equal("succeeded", json.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Reject_ends_the_job_as_rejected_and_nothing_is_queued()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);

        var response = await PostAsync(path, "reject");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("rejected", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal("rejected", await StateAsync(jobId));
        Assert.Empty(TakeQueued());
    }

    [Fact]
    public async Task A_changed_byte_gets_400_and_changes_nothing()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);
        var token = path["/approvals/".Length..];

        foreach (var i in new[] { 0, 5, token.Length / 2, token.Length - 1 })
        {
            var changed = "/approvals/" + token[..i] + (token[i] == 'x' ? 'y' : 'x') + token[(i + 1)..];
            var page = await PostAsync(changed, "approve");
            var json = await GetJsonAsync(changed);
            Assert.Equal(HttpStatusCode.BadRequest, page.StatusCode);
            Assert.Contains("not valid", await page.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.BadRequest, json.StatusCode);
            Assert.Equal("application/problem+json", json.Content.Headers.ContentType?.MediaType);
        }

        Assert.Equal("awaiting_approval", await StateAsync(jobId));
    }

    [Fact]
    public async Task A_link_past_its_expiry_gets_410_and_changes_nothing()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);

        _time.Advance(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1));
        var stillOpen = await Browser().GetAsync(path, Cancel);
        _time.Advance(TimeSpan.FromMinutes(2));
        var page = await Browser().GetAsync(path, Cancel);
        var post = await PostAsync(path, "approve", json: true);

        Assert.Equal(HttpStatusCode.OK, stillOpen.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, page.StatusCode);
        Assert.Contains("expired", await page.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Gone, post.StatusCode);
        Assert.Equal("awaiting_approval", await StateAsync(jobId));
    }

    [Fact]
    public async Task A_newer_digest_supersedes_the_job_and_the_old_link_names_the_newer_one()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var oldJob = await ManualJobAsync(Payloads.DigestA);
        var (oldPath, _) = await LinkAsync(oldJob);

        var newJob = await ManualJobAsync(Payloads.DigestB);
        var (newPath, _) = await LinkAsync(newJob);
        var page = await Browser().GetAsync(oldPath, Cancel);
        var post = await PostAsync(oldPath, "approve", json: true);

        Assert.Equal("superseded", await StateAsync(oldJob));
        Assert.Equal(HttpStatusCode.Conflict, page.StatusCode);
        Assert.Contains(newJob, await page.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, post.StatusCode);
        Assert.Equal(newJob, (await post.JsonAsync()).GetProperty("supersededBy").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Browser().GetAsync(newPath, Cancel)).StatusCode);
    }

    [Fact]
    public async Task The_admin_api_approves_or_rejects_with_the_token_and_uses_up_the_link()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        _app.Containers.Add("postgres", "postgres:15", "manual");
        var giteaJob = await ManualJobAsync();
        var (giteaPath, _) = await LinkAsync(giteaJob);
        var postgresJob = (await (await _app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("postgres:15", Payloads.DigestB, "postgres")), Cancel)).JsonAsync())
            .GetProperty("jobs")[0].GetProperty("id").GetString()!;

        var anonymous = await _app.CreateClient().PostAsync($"/api/jobs/{giteaJob}/approve", null, Cancel);
        var approved = await _app.Admin().PostAsync($"/api/jobs/{giteaJob}/approve", null, Cancel);
        var twice = await _app.Admin().PostAsync($"/api/jobs/{giteaJob}/approve", null, Cancel);
        var rejected = await _app.Admin().PostAsync($"/api/jobs/{postgresJob}/reject", null, Cancel);
        var unknown = await _app.Admin().PostAsync("/api/jobs/nope/approve", null, Cancel);
        var link = await Browser().GetAsync(giteaPath, Cancel);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, approved.StatusCode);
        Assert.Equal("queued", (await approved.JsonAsync()).GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.Equal("application/problem+json", twice.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        Assert.Equal("rejected", await StateAsync(postgresJob));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, link.StatusCode);
        Assert.Contains("through the admin API", await link.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal([giteaJob], TakeQueued());
    }

    [Fact]
    public async Task A_post_without_a_decision_or_from_another_site_changes_nothing()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var jobId = await ManualJobAsync();
        var (path, _) = await LinkAsync(jobId);
        var crossSite = Browser();
        crossSite.DefaultRequestHeaders.Add("Sec-Fetch-Site", "cross-site");

        var noDecision = await PostAsync(path, "maybe");
        var fromElsewhere = await crossSite.PostAsync(path, new FormUrlEncodedContent([new("decision", "approve")]), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, noDecision.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, fromElsewhere.StatusCode);
        Assert.Equal("awaiting_approval", await StateAsync(jobId));
    }
}
