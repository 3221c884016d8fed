using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace WebhookUpdater.Updates;

/// <summary>The update feature's trace source and meter (exported by Observability/).</summary>
public sealed class UpdateTelemetry : IDisposable
{
    public const string Name = "WebhookUpdater.Updates";

    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;
    private readonly Counter<long> _jobs;
    private readonly Histogram<double> _stepDuration;

    public UpdateTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        _jobs = _meter.CreateCounter<long>("webhookupdater.jobs", "{job}", "Jobs that ended, by policy and final state");
        _stepDuration = _meter.CreateHistogram<double>("webhookupdater.job.step.duration", "s", "Duration of each pipeline step");
    }

    public void JobEnded(string policy, string state) =>
        _jobs.Add(1, new KeyValuePair<string, object?>("policy", policy), new KeyValuePair<string, object?>("state", state));

    public void StepEnded(string step, string result, TimeSpan duration) =>
        _stepDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("step", step), new KeyValuePair<string, object?>("result", result));

    /// <summary>
    /// One trace per job. The worker runs long after the webhook request has ended, so the job's
    /// span is a root linked to the request that created it rather than its child.
    /// </summary>
    public static Activity? StartJob(JobView job, string name)
    {
        var links = ActivityContext.TryParse(job.TraceParent, null, out var origin) ? new[] { new ActivityLink(origin) } : null;
        var activity = Source.StartActivity(name, ActivityKind.Internal, parentContext: default, links: links);
        activity?.SetTag("job.id", job.Id);
        activity?.SetTag("container.name", job.Container);
        activity?.SetTag("container.image", job.Image);
        activity?.SetTag("image.digest", job.Digest);
        activity?.SetTag("update.policy", job.Policy);
        return activity;
    }

    public void Dispose() => _meter.Dispose();
}
