#nullable disable warnings
using System.Diagnostics;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.IntegrationTests.Updates;

namespace WebhookUpdater.IntegrationTests.Observability;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class JobTelemetryTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;


    [Fact]
    public async Task A_real_update_leaves_one_trace_with_a_span_per_step_and_its_metrics()
    {
        var (repository, name) = await docker.RunPublishedAppAsync("otel", "automatic");
        var digest = await docker.PublishAsync(repository, "stable", "1.1");
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        // No OTLP endpoint here: traces are recorded because they are asked for (the in-memory exporter).
        await using var service = new ServiceHost(Data, new(UpdatePipelineTests.FastGate) { ["Observability:TracingEnabled"] = "true" }, services =>
        {
            services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans));
            services.ConfigureOpenTelemetryMeterProvider(meters => meters.AddInMemoryExporter(metrics));
        });

        var answer = await service.PostEventAsync(ServiceHost.DiunPayload($"{repository}:stable", digest, name));
        var jobId = answer.GetProperty("jobs")[0].GetProperty("id").GetString();
        var job = await JobWaiter.WaitAsync(service.GetJsonAsync, jobId, TimeSpan.FromSeconds(120));
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        service.Services.GetRequiredService<TracerProvider>().ForceFlush();
        service.Services.GetRequiredService<MeterProvider>().ForceFlush();

        Activity[] finished;
        lock (spans)
        {
            finished = [.. spans];
        }

        var root = Assert.Single(finished, a => a.OperationName == $"update {name}");
        Assert.Equal(jobId, root.GetTagItem("job.id"));
        Assert.Equal(default, root.ParentSpanId);
        var request = Assert.Single(finished, a => a.Kind == ActivityKind.Server && a.TraceId == Assert.Single(root.Links).Context.TraceId);
        Assert.Equal("/api/diun", request.GetTagItem("url.path"));
        // The look-up of the containers that require this one is a Docker call of the job itself, not a step.
        var steps = finished.Where(a => a.ParentSpanId == root.SpanId && a.OperationName.StartsWith("step ", StringComparison.Ordinal))
            .OrderBy(a => a.StartTimeUtc).Select(a => a.OperationName);
        Assert.Equal(["step check", "step backup", "step pull", "step create", "step recreate", "step health-gate", "step cleanup", "step prune"], steps);
        var create = finished.Single(a => a.OperationName == "step create" && a.TraceId == root.TraceId);
        Assert.Equal(["docker inspect", "docker inspect-image", "docker create"],
            finished.Where(a => a.ParentSpanId == create.SpanId).OrderBy(a => a.StartTimeUtc).Select(a => a.OperationName));

        // The new container was created and both were renamed while the old one ran: the downtime holds only the stop and the start.
        var recreate = finished.Single(a => a.OperationName == "step recreate" && a.TraceId == root.TraceId);
        Assert.Equal(["docker rename", "docker rename", "docker stop", "docker start"],
            finished.Where(a => a.ParentSpanId == recreate.SpanId).OrderBy(a => a.StartTimeUtc).Select(a => a.OperationName));

        var jobs = metrics.Where(m => m.Name == "webhookupdater.jobs").SelectMany(Points).ToList();
        Assert.Contains(jobs, p => Tag(p, "state") == "succeeded" && Tag(p, "policy") == "automatic" && p.GetSumLong() >= 1);
        var backupBytes = metrics.Where(m => m.Name == "webhookupdater.backup.bytes").SelectMany(Points).ToList();
        Assert.Contains(backupBytes, p => Tag(p, "kind") == "pre-update" && p.GetSumLong() > 0);
        var durations = metrics.Where(m => m.Name == "webhookupdater.job.step.duration").SelectMany(Points).ToList();
        Assert.Contains(durations, p => Tag(p, "step") == "health-gate" && p.GetHistogramCount() >= 1 && p.GetHistogramSum() >= 2.0);
    }

    private static IEnumerable<MetricPoint> Points(Metric metric)
    {
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            yield return point;
        }
    }

    private static string Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value?.ToString();
            }
        }

        return null;
    }
}
