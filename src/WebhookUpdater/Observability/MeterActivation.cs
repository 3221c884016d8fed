namespace WebhookUpdater.Observability;

/// <summary>
/// Creates a feature's meter at start-up rather than at its first use, so its observable
/// gauges are exported from the first scrape.
/// </summary>
public sealed class MeterActivation(object meterOwner) : IHostedService
{
    public object MeterOwner { get; } = meterOwner;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
