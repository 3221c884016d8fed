using System.Net;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Webhooks;

public sealed class RateLimitTests
{
    [Fact]
    public async Task Requests_over_the_limit_get_429_problem()
    {
        await using var app = new TestApp(new() { ["Webhook:PermitsPerMinute"] = "3" });
        var client = app.Webhook();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            var response = await client.PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("nginx")), TestContext.Current.CancellationToken);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.InRange(response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
                Assert.InRange((await response.JsonAsync()).GetProperty("retryAfterSeconds").GetInt32(), 1, 60);
            }
        }

        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.Accepted, HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(3, await app.CountAsync("events"));
    }
}
