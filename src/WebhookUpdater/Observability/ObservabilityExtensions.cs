using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Observability;

/// <summary>Cross-cutting concerns in one place: problem details, health endpoints, telemetry.</summary>
public static class ObservabilityExtensions
{
    private const string ReadyTag = "ready";

    public static IServiceCollection AddServiceDefaults(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddHealthChecks()
            .AddCheck<DockerHealthCheck>("docker", tags: [ReadyTag])
            .AddCheck<StoreHealthCheck>("store", tags: [ReadyTag]);
        return services;
    }

    public static IEndpointRouteBuilder MapDefaultEndpoints(this IEndpointRouteBuilder routes)
    {
        // Alive: the process answers. Ready: Docker answers and the journal takes writes.
        routes.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync });
        routes.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync });
        return routes;
    }

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

internal sealed class DockerHealthCheck(IContainerRuntime containers) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            return HealthCheckResult.Healthy(await containers.PingAsync(timeout.Token));
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"Docker does not answer: {e.GetType().Name}");
        }
    }
}

internal sealed class StoreHealthCheck(JobStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.TouchAsync(cancellationToken);
            return HealthCheckResult.Healthy("journal writable");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"journal not writable: {e.GetType().Name}");
        }
    }
}
