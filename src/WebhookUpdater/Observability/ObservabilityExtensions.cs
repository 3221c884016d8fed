using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;

namespace WebhookUpdater.Observability;

/// <summary>
/// Cross-cutting concerns in one place: problem details, health endpoints, telemetry. Features
/// only own an ActivitySource or a Meter named WebhookUpdater.*; they are all picked up here.
/// </summary>
public static class ObservabilityExtensions
{
    public const string ServiceName = "webhook-updater";
    public const string SourcePrefix = "WebhookUpdater.*";
    private const string MeterPrefix = "WebhookUpdater.";

    /// <summary>
    /// Tag combinations kept per metric stream of the framework's meters (ASP.NET Core, Kestrel,
    /// HttpClient, the runtime, Polly). Their tags are methods, routes, status codes, GC
    /// generations, pipeline names: a few dozen combinations. OpenTelemetry's default (2,000)
    /// preallocates room for every stream; this service's own meters keep the default, since
    /// their tags (certificate names among them) come from the host, not from a fixed list in
    /// the code (idle memory: 1 MiB).
    /// </summary>
    internal const int FrameworkCardinalityLimit = 100;
    private const string ReadyTag = ReadinessProbe.ReadyTagName;

    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        if (!builder.Services.FirstRegistrationOf(nameof(Observability)))
        {
            return builder;
        }

        builder.Services.AddContainers();
        builder.Services.AddPersistence();
        var options = builder.Configuration.GetSection(ObservabilityOptions.Section).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        builder.Services.Configure<ObservabilityOptions>(builder.Configuration.GetSection(ObservabilityOptions.Section));
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton<ReadinessProbe>();
        builder.Services.AddHealthChecks()
            .AddCheck<DockerHealthCheck>("docker", tags: [ReadyTag])
            .AddCheck<StoreHealthCheck>("store", tags: [ReadyTag]);

        var otlp = Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var endpoint) ? endpoint : null;
        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint) && otlp is null)
        {
            throw new InvalidOperationException($"Observability:OtlpEndpoint '{options.OtlpEndpoint}' is not an absolute URL, e.g. http://otel-collector:4317");
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName));
        if (options.TracingEnabled ?? otlp is not null)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(SourcePrefix)
                    .AddAspNetCoreInstrumentation(aspnet => aspnet.Filter = context => !IsProbe(context.Request.Path))
                    .AddHttpClientInstrumentation();
                if (otlp is not null)
                {
                    Otlp.AddTo(tracing, otlp);
                }
            });
        }

        telemetry.WithMetrics(metrics =>
        {
            // "Polly": retries and circuit-breaker events of the resilience pipelines.
            metrics.AddMeter(SourcePrefix, "Polly")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddView(instrument => instrument.Meter.Name.StartsWith(MeterPrefix, StringComparison.Ordinal)
                    ? null
                    : new MetricStreamConfiguration { CardinalityLimit = FrameworkCardinalityLimit });
            if (options.PrometheusEnabled)
            {
                metrics.AddPrometheusExporter();
            }

            if (otlp is not null)
            {
                Otlp.AddTo(metrics, otlp);
            }
        });

        if (otlp is not null)
        {
            Otlp.AddTo(telemetry, otlp);
        }

        return builder;
    }

    public static IEndpointRouteBuilder MapDefaultEndpoints(this IEndpointRouteBuilder routes)
    {
        // Alive: the process answers. Ready: Docker answers and the journal takes writes.
        routes.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync });
        routes.MapGet("/readyz", async (ReadinessProbe probe, HttpContext context, CancellationToken cancellationToken) =>
        {
            var report = await probe.CheckAsync(cancellationToken);
            context.Response.StatusCode = report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            context.Response.Headers.CacheControl = "no-store";
            await WriteAsync(context, report);
        }).PrivateToTheNetwork().ExcludeFromDescription();
        if (routes.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<ObservabilityOptions>>().Value.PrometheusEnabled)
        {
            routes.MapPrometheusScrapingEndpoint("/metrics").PrivateToTheNetwork();
        }

        return routes;
    }

    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics");

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                entry => entry.Key,
                entry => new { status = entry.Value.Status.ToString(), description = entry.Value.Description }),
        });
    }
}

/// <summary>
/// The OTLP exporters, in methods of their own: the exporter's assembly is loaded only when an
/// endpoint is set, not whenever the code that might add it is compiled (idle memory).
/// </summary>
internal static class Otlp
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void AddTo(TracerProviderBuilder tracing, Uri endpoint) =>
        tracing.AddOtlpExporter(exporter => exporter.Endpoint = endpoint);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void AddTo(MeterProviderBuilder metrics, Uri endpoint) =>
        metrics.AddOtlpExporter(exporter => exporter.Endpoint = endpoint);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void AddTo(IOpenTelemetryBuilder telemetry, Uri endpoint) =>
        telemetry.WithLogging(
            logging => logging.AddOtlpExporter(exporter => exporter.Endpoint = endpoint),
            logging => logging.IncludeScopes = true);
}

internal sealed class DockerHealthCheck(IContainerLookup containers) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var engine = await containers.PingAsync(timeout.Token);
            return HealthCheckResult.Healthy(engine);
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"Docker does not answer: {e.GetType().Name}");
        }
    }
}

/// <summary>Read-only: the journal opens and answers a query (a probe must not write).</summary>
internal sealed class StoreHealthCheck(Database database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await database.ReadAsync(async connection =>
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM sqlite_schema";
                return await command.ExecuteScalarAsync(cancellationToken);
            }, cancellationToken);
            return HealthCheckResult.Healthy("journal readable");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"journal not readable: {e.GetType().Name}");
        }
    }
}

/// <summary>
/// /readyz runs its checks (a Docker ping, a journal read) at most once per
/// Observability:ReadyCacheFor; callers in between, and callers at the same time, share that answer.
/// </summary>
internal sealed class ReadinessProbe(HealthCheckService checks, IOptions<ObservabilityOptions> options, TimeProvider time)
{
    private readonly Lock _gate = new();
    private Task<HealthReport>? _current;
    private DateTimeOffset _checkedAt;

    public Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_current is null || (_current.IsCompleted && now - _checkedAt >= options.Value.ReadyCacheFor))
            {
                _checkedAt = now;
                // Not the caller's token: a caller that goes away must not cancel the answer others wait for.
                _current = checks.CheckHealthAsync(check => check.Tags.Contains(ReadyTagName), CancellationToken.None);
            }

            return _current.WaitAsync(cancellationToken);
        }
    }

    internal const string ReadyTagName = "ready";
}
