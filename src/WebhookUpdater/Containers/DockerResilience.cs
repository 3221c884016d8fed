using System.Diagnostics;
using System.Net.Sockets;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Polly.Retry;

namespace WebhookUpdater.Containers;

/// <summary>
/// Retries for calls that never reached the engine (connection refused or cut: a daemon that
/// restarts). A DockerApiException is an answer, not an outage, and is never retried.
/// </summary>
public static class DockerResilience
{
    /// <summary>For the webhook: Diun waits 10 s at most, so give up quickly and defer the event.</summary>
    public const string Quick = "docker-quick";

    /// <summary>For the worker: ride out a daemon restart (about half a minute) mid-job.</summary>
    public const string Patient = "docker-patient";

    public const string TraceSourceName = "WebhookUpdater.Containers";

    public static readonly ActivitySource Source = new(TraceSourceName);

    private static PredicateBuilder Outage => (PredicateBuilder)new PredicateBuilder()
        .Handle<HttpRequestException>()
        .Handle<SocketException>()
        .Handle<IOException>()
        .Handle<TimeoutException>();

    public static IServiceCollection AddDockerResilience(this IServiceCollection services)
    {
        services.AddResiliencePipeline(Quick, pipeline => pipeline
            .AddRetry(new RetryStrategyOptions { ShouldHandle = Outage, MaxRetryAttempts = 1, Delay = TimeSpan.FromMilliseconds(200) }));

        services.AddResiliencePipeline(Patient, pipeline => pipeline
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = Outage,
                MaxRetryAttempts = 8,
                Delay = TimeSpan.FromSeconds(1),
                BackoffType = DelayBackoffType.Exponential,
                MaxDelay = TimeSpan.FromSeconds(10),
                UseJitter = true,
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = Outage,
                FailureRatio = 0.9,
                MinimumThroughput = 20,
                SamplingDuration = TimeSpan.FromSeconds(60),
                BreakDuration = TimeSpan.FromSeconds(15),
            }));
        return services;
    }

    /// <summary>One Docker call: a span named after it, through the pipeline.</summary>
    public static async Task<T> CallAsync<T>(this ResiliencePipeline pipeline, string operation, string target, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var activity = Source.StartActivity($"docker {operation}", ActivityKind.Client);
        activity?.SetTag("docker.operation", operation);
        activity?.SetTag("docker.target", target);
        try
        {
            return await pipeline.ExecuteAsync(async token => await call(token), cancellationToken);
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
            throw;
        }
    }

    public static Task CallAsync(this ResiliencePipeline pipeline, string operation, string target, Func<CancellationToken, Task> call, CancellationToken cancellationToken) =>
        pipeline.CallAsync(operation, target, async token =>
        {
            await call(token);
            return true;
        }, cancellationToken);

    public static ResiliencePipeline Docker(this ResiliencePipelineProvider<string> provider, string name) => provider.GetPipeline(name);

    public static bool IsOutage(Exception e) =>
        e is HttpRequestException or SocketException or IOException or TimeoutException or BrokenCircuitException;
}
