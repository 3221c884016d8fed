using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace WebhookUpdater.Notifications;

/// <summary>Emails sent, retried within a round, and kept in the outbox after a failed round.</summary>
public sealed class EmailMetrics : IDisposable
{
    public const string MeterName = "WebhookUpdater.Notifications";

    private readonly Meter _meter;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _retried;
    private readonly Counter<long> _failed;

    public EmailMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _sent = _meter.CreateCounter<long>("webhookupdater.email.sent", "{email}", "Emails the sender accepted");
        _retried = _meter.CreateCounter<long>("webhookupdater.email.retried", "{attempt}", "Send attempts retried within a round");
        _failed = _meter.CreateCounter<long>("webhookupdater.email.failed", "{round}", "Rounds that ended with the email kept in the outbox");
    }

    public void Sent(string sender, string kind) => _sent.Add(1, Tags(sender, kind));

    public void Retried(string sender, string kind) => _retried.Add(1, Tags(sender, kind));

    public void Failed(string sender, string kind) => _failed.Add(1, Tags(sender, kind));

    private static TagList Tags(string sender, string kind) => new() { { "sender", sender }, { "kind", kind } };

    public void Dispose() => _meter.Dispose();
}
