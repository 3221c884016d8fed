namespace WebhookUpdater.Configuration;

/// <summary>
/// The one HttpClient for the service's own outbound HTTP calls (health-gate probes, SES), made
/// when first needed. Connections are recycled every two minutes so DNS changes are seen, as
/// IHttpClientFactory's handler rotation would; timeouts are per call (cancellation tokens).
/// Not IHttpClientFactory: registering it loads System.Net.Http and Microsoft.Extensions.Http at
/// start-up (1.3 MiB resident while idle), and this service needs neither named clients
/// nor handler pipelines. OpenTelemetry sees these calls all the same (HttpClient's own
/// diagnostics).
/// </summary>
public sealed class OutboundHttp : IDisposable
{
    public HttpClient Client { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public void Dispose() => Client.Dispose();
}
