using System.Net;
using System.Net.Http.Headers;
using WebhookUpdater.Approvals;
using WebhookUpdater.Pages;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Approvals;

public sealed class ApprovalRateLimitTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static TestApp App() => new(new() { ["Approvals:PermitsPerMinute"] = "2" });

    [Fact]
    public async Task Approval_pages_are_rate_limited_with_their_own_answer()
    {
        await using var app = new TestApp(new() { ["Approvals:PermitsPerMinute"] = "3" });
        var client = app.CreateClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? last = null;
        for (var i = 0; i < 5; i++)
        {
            last = await client.GetAsync("/approvals/not-a-token", TestContext.Current.CancellationToken);
            statuses.Add(last.StatusCode);
        }

        Assert.Equal([HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        var page = await last!.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Contains("approval links", page, StringComparison.Ordinal);
        Assert.DoesNotContain("Webhook:PermitsPerMinute", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_progress_page_left_open_keeps_refreshing_after_the_approval_pages_budget_is_spent()
    {
        await using var app = App();
        var browser = app.CreateClient();

        var links = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            links.Add((await browser.GetAsync("/approvals/not-a-token", Cancel)).StatusCode);
        }

        var refreshes = new List<HttpStatusCode>();
        for (var i = 0; i < 40; i++)
        {
            refreshes.Add((await browser.GetAsync("/approvals/not-a-token/progress", Cancel)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, links[2]);
        Assert.DoesNotContain(HttpStatusCode.TooManyRequests, refreshes);
    }

    [Fact]
    public async Task A_refused_page_says_when_to_retry_as_a_page_for_a_browser_and_as_problem_json_for_a_client()
    {
        await using var app = App();
        var client = app.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            await client.GetAsync("/approvals/not-a-token", Cancel);
        }

        var page = await client.GetAsync("/approvals/not-a-token", Cancel);
        using var asJson = new HttpRequestMessage(HttpMethod.Get, "/approvals/not-a-token");
        asJson.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        var problem = await client.SendAsync(asJson, Cancel);

        Assert.Equal(HttpStatusCode.TooManyRequests, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var seconds = page.Headers.RetryAfter?.Delta?.TotalSeconds;
        Assert.InRange(seconds ?? 0, 1, 60);
        Assert.Contains($"Wait {seconds} s", await page.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal("no-store", page.Headers.CacheControl?.ToString());
        Assert.Equal("no-referrer", page.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal(PageResults.ContentSecurityPolicy, page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(HttpStatusCode.TooManyRequests, problem.StatusCode);
        Assert.Equal("application/problem+json", problem.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(problem.Headers.RetryAfter?.Delta);
        Assert.InRange((await problem.JsonAsync()).GetProperty("retryAfterSeconds").GetInt32(), 1, 60);
    }

    [Fact]
    public void Three_tabs_of_the_progress_page_fit_in_its_budget()
    {
        var reloadsPerMinute = 60 / ApprovalsApi.ProgressRefreshSeconds;

        Assert.True(3 * reloadsPerMinute <= ApprovalsApi.ProgressPermitsPerMinute, $"{reloadsPerMinute} reloads a minute per tab, {ApprovalsApi.ProgressPermitsPerMinute} permitted");
    }
}
