using System.Diagnostics.Metrics;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Webhooks;

/// <summary>The webhook's own meter; exporters are wired in one place (Observability).</summary>
public sealed class WebhookMetrics : IDisposable
{
    public const string MeterName = "WebhookUpdater.Webhooks";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _decisions;

    public WebhookMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _requests = _meter.CreateCounter<long>("webhookupdater.webhook.requests", "{request}", "Webhook requests by outcome");
        _decisions = _meter.CreateCounter<long>("webhookupdater.webhook.decisions", "{decision}", "Decisions taken per container");
    }

    public void Request(string outcome) => _requests.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Decision(Decision decision) => _decisions.Add(1, new KeyValuePair<string, object?>("decision", decision.Name()));

    public void Dispose() => _meter.Dispose();
}
