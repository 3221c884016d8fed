using System.Net;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Observability;

public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format_with_the_documented_series()
    {
        await using var app = new TestApp();
        app.Containers.Add("nginx", "nginx:1.27", "automatic");
        var webhook = app.Webhook();
        await webhook.PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("nginx:1.27")), TestContext.Current.CancellationToken);
        await app.CreateClient().PostAsync("/api/diun", Payloads.Raw("{}"), TestContext.Current.CancellationToken);

        var response = await app.CreateClient().GetAsync("/metrics", TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        // Meters are process-wide: other tests' hosts count into the same series, so values are "at least".
        Assert.Contains("# TYPE webhookupdater_webhook_requests_total counter", text, StringComparison.Ordinal);
        Assert.Matches("""webhookupdater_webhook_requests_total\{otel_scope_name="WebhookUpdater.Webhooks",outcome="accepted"\} [1-9]""", text);
        Assert.Matches("""webhookupdater_webhook_requests_total\{otel_scope_name="WebhookUpdater.Webhooks",outcome="unauthorized"\} [1-9]""", text);
        Assert.Matches("""webhookupdater_webhook_decisions_total\{otel_scope_name="WebhookUpdater.Webhooks",decision="queued"\} [1-9]""", text);
        Assert.Matches("""# TYPE webhookupdater_queue_depth gauge""", text);
        Assert.DoesNotContain(TestApp.WebhookSecret, text, StringComparison.Ordinal);
    }
}
