using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using WebhookUpdater.Status;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Status;

public sealed class StatusPageTests : IAsyncLifetime
{
    private readonly TestApp _app = new();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private HttpClient Browser() => _app.Browser();

    private static Task<HttpResponseMessage> LogInAsync(HttpClient browser, string token) => browser.LogInAsync(token);

    private async Task<string> PendingJobAsync()
    {
        _app.Containers.Add("gitea", "gitea/gitea:1.22", "manual");
        var answer = await (await _app.Webhook().PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("gitea/gitea:1.22")), TestContext.Current.CancellationToken)).JsonAsync();
        return answer.GetProperty("jobs")[0].GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task Without_a_session_the_page_asks_for_the_admin_token_and_shows_nothing_else()
    {
        await PendingJobAsync();
        var browser = Browser();

        var status = await browser.GetAsync("/", TestContext.Current.CancellationToken);
        var page = await browser.GetStringAsync("/login", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Redirect, status.StatusCode);
        Assert.Equal("/login", status.Headers.Location?.ToString());
        Assert.Contains("Admin token", page, StringComparison.Ordinal);
        Assert.DoesNotContain("gitea", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_token_is_refused()
    {
        var browser = Browser();

        var response = await LogInAsync(browser, "not-the-token-at-all");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain(response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [], c => c.StartsWith(StatusApi.CookieName, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Too_many_logins_are_refused_with_a_page_that_says_when_to_retry()
    {
        var browser = Browser();
        for (var i = 0; i < StatusApi.LoginPermitsPerMinute; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LogInAsync(browser, "not-the-token-at-all")).StatusCode);
        }

        var refused = await LogInAsync(browser, TestApp.AdminToken);
        using var asJson = new HttpRequestMessage(HttpMethod.Post, "/login") { Content = new FormUrlEncodedContent([new("token", TestApp.AdminToken)]) };
        asJson.Headers.Accept.Add(new("application/problem+json"));
        var problem = await browser.SendAsync(asJson, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var seconds = refused.Headers.RetryAfter?.Delta?.TotalSeconds;
        Assert.InRange(seconds ?? 0, 1, 60);
        Assert.Equal("text/html", refused.Content.Headers.ContentType?.MediaType);
        var page = await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Contains("Too many login attempts", page, StringComparison.Ordinal);
        Assert.Contains($"Wait {seconds} s, then reload.", page, StringComparison.Ordinal);
        Assert.Equal("DENY", refused.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("no-store", refused.Headers.CacheControl?.ToString());
        Assert.DoesNotContain(refused.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [], c => c.StartsWith(StatusApi.CookieName, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.TooManyRequests, problem.StatusCode);
        Assert.Equal("application/problem+json", problem.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(problem.Headers.RetryAfter?.Delta);
        Assert.InRange((await problem.JsonAsync()).GetProperty("retryAfterSeconds").GetInt32(), 1, 60);
    }

    [Fact]
    public async Task Logging_out_ends_the_session()
    {
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);
        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);

        var logout = await browser.PressAsync("/logout", page);
        var after = await browser.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal("/login", logout.Headers.Location?.ToString());
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.Equal("/login", after.Headers.Location?.ToString());
    }

    [Fact]
    public async Task A_login_posted_without_the_login_page_token_is_refused()
    {
        var browser = Browser();

        var response = await browser.PostAsync("/login", new FormUrlEncodedContent([new("token", TestApp.AdminToken)]), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain(response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [], c => c.StartsWith(StatusApi.CookieName, StringComparison.Ordinal));
    }

    [Fact]
    public async Task After_login_the_pending_approval_is_shown_and_can_be_approved()
    {
        var jobId = await PendingJobAsync();
        var browser = Browser();

        var login = await LogInAsync(browser, TestApp.AdminToken);
        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);
        var approve = await browser.PressAsync($"/status/jobs/{jobId}/approve", page);
        var job = await (await _app.Admin().GetAsync($"/api/jobs/{jobId}", TestContext.Current.CancellationToken)).JsonAsync();

        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"), c => c.StartsWith("wu_session=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(TestApp.AdminToken, cookie, StringComparison.Ordinal);
        Assert.Contains("Waiting for approval", page, StringComparison.Ordinal);
        Assert.Contains($"/status/jobs/{jobId}/approve", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, approve.StatusCode);
        Assert.Equal("queued", job.GetProperty("state").GetString());
        Assert.DoesNotContain(TestApp.AdminToken, page, StringComparison.Ordinal);
        Assert.DoesNotContain(TestApp.WebhookSecret, page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_lists_the_managed_containers_with_policy_track_version_health_and_last_job()
    {
        var jobId = await PendingJobAsync();
        _app.Containers.Add("nginx", "nginx:1.27", "automatic", repoDigest: "nginx@" + Payloads.DigestB,
            moreLabels: new Dictionary<string, string> { ["update.track"] = "patch", ["org.opencontainers.image.version"] = "1.27.3" });
        _app.Containers.Add("gitea-runner", "gitea/act_runner:0.2", moreLabels: new Dictionary<string, string> { ["update.requires"] = "gitea" });
        _app.Containers.Add("web", "nginx:1.27", "automatic", moreLabels: new Dictionary<string, string> { ["update.requires"] = "gitea, postgres" });
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);

        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);

        var nginx = Row(page, "nginx");
        Assert.Contains("automatic", nginx, StringComparison.Ordinal);
        Assert.Contains("track patch", nginx, StringComparison.Ordinal);
        Assert.Contains("version 1.27.3", nginx, StringComparison.Ordinal);
        Assert.Contains(Payloads.DigestB[..19], nginx, StringComparison.Ordinal);
        Assert.Contains("none yet", nginx, StringComparison.Ordinal);
        var gitea = Row(page, "gitea");
        Assert.Contains("manual", gitea, StringComparison.Ordinal);
        Assert.Contains("(no version label)", gitea, StringComparison.Ordinal);
        Assert.Contains($"href=\"/jobs/{jobId}\">awaiting_approval", gitea, StringComparison.Ordinal);
        Assert.Contains("requires gitea, postgres", Row(page, "web"), StringComparison.Ordinal);
        // Only containers with an update policy are the service's.
        Assert.DoesNotContain("data-container=\"gitea-runner\"", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_swarm_manager_the_services_are_listed_and_their_task_containers_are_not()
    {
        _app.Swarm.IsManager = true;
        _app.Swarm.Add("forge", "registry.test/forge:1.0", "automatic", new Dictionary<string, string> { ["update.track"] = "minor" });
        _app.Containers.Add("forge.1.abc", "registry.test/forge:1.0", "automatic",
            moreLabels: new Dictionary<string, string> { ["com.docker.swarm.service.id"] = "svc1" });
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);

        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);

        var forge = Row(page, "forge");
        Assert.Contains("Swarm service", forge, StringComparison.Ordinal);
        Assert.Contains("track minor", forge, StringComparison.Ordinal);
        Assert.DoesNotContain("data-container=\"forge.1.abc\"", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_has_its_own_page_with_its_timeline_and_an_unknown_one_is_a_404()
    {
        var jobId = await PendingJobAsync();
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);

        var page = await browser.GetStringAsync($"/jobs/{jobId}", TestContext.Current.CancellationToken);
        var missing = await browser.GetAsync("/jobs/no-such-job", TestContext.Current.CancellationToken);
        var anonymous = await Browser().GetAsync($"/jobs/{jobId}", TestContext.Current.CancellationToken);

        Assert.Contains("data-state=\"awaiting_approval\"", page, StringComparison.Ordinal);
        Assert.Contains("gitea/gitea:1.22", page, StringComparison.Ordinal);
        Assert.Contains("none (no backup was taken)", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("There is no job no-such-job", await missing.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
    }

    [Fact]
    public async Task When_docker_does_not_answer_the_page_still_shows_and_says_so()
    {
        await PendingJobAsync();
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);
        _app.Containers.Failure = new System.Net.Http.HttpRequestException("connection refused");

        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);

        Assert.Contains("Docker did not answer (HttpRequestException)", page, StringComparison.Ordinal);
        Assert.Contains("Waiting for approval", page, StringComparison.Ordinal);
    }

    /// <summary>The table row of one container.</summary>
    private static string Row(string page, string container)
    {
        var start = page.IndexOf($"<tr data-container=\"{container}\">", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no row for {container}");
        return page[start..page.IndexOf("</tr>", start, StringComparison.Ordinal)];
    }

    [Fact]
    public async Task The_page_shows_what_will_run_next()
    {
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);

        var page = await browser.GetStringAsync("/", TestContext.Current.CancellationToken);

        Assert.Contains("<h2>Backups</h2>", page, StringComparison.Ordinal);
        Assert.Contains("Next daily backup", page, StringComparison.Ordinal);
        Assert.Contains("<h2>Certificates</h2>", page, StringComparison.Ordinal);
        Assert.Contains("Next renewal", page, StringComparison.Ordinal);
        Assert.Contains("none since the service started", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forged_or_expired_cookie_is_not_a_session()
    {
        var jobId = await PendingJobAsync();
        var client = _app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        var far = DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeSeconds();
        client.DefaultRequestHeaders.Add("Cookie", $"wu_session={far}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

        var page = await client.GetAsync("/", TestContext.Current.CancellationToken);
        var approve = await client.PostAsync($"/status/jobs/{jobId}/approve", null, TestContext.Current.CancellationToken);

        Assert.Equal("/login", page.Headers.Location?.ToString());
        Assert.Equal(HttpStatusCode.Unauthorized, approve.StatusCode);
        var job = await (await _app.Admin().GetAsync($"/api/jobs/{jobId}", TestContext.Current.CancellationToken)).JsonAsync();
        Assert.Equal("awaiting_approval", job.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_form_post_without_the_page_token_is_refused_even_with_a_session()
    {
        var jobId = await PendingJobAsync();
        var browser = Browser();
        await LogInAsync(browser, TestApp.AdminToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/status/jobs/{jobId}/reject");
        request.Headers.Add("Sec-Fetch-Site", "cross-site");
        request.Content = new FormUrlEncodedContent([new(PageForms.TokenField, "not-the-page-token")]);

        var response = await browser.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var job = await (await _app.Admin().GetAsync($"/api/jobs/{jobId}", TestContext.Current.CancellationToken)).JsonAsync();
        Assert.Equal("awaiting_approval", job.GetProperty("state").GetString());
    }
}
