namespace WebhookUpdater.Observability;

public sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>OTLP endpoint (e.g. http://otel-collector:4317); empty: no OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Serve Prometheus metrics at /metrics.</summary>
    public bool PrometheusEnabled { get; set; } = true;
}
