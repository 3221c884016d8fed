namespace WebhookUpdater.Observability;

public sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>OTLP endpoint (e.g. http://otel-collector:4317); empty: no OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>
    /// Record traces. Empty: only when <see cref="OtlpEndpoint"/> is set, since OTLP is where traces
    /// go (Prometheus takes metrics only); without an exporter, recording them would cost memory and
    /// CPU for nothing. Set true to record them anyway (e.g. for an exporter added in code).
    /// </summary>
    public bool? TracingEnabled { get; set; }

    /// <summary>How long /readyz reuses its last answer (its checks call Docker and read the journal).</summary>
    public TimeSpan ReadyCacheFor { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Serve Prometheus metrics at /metrics.</summary>
    public bool PrometheusEnabled { get; set; } = true;
}
