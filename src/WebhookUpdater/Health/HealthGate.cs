using System.Globalization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using WebhookUpdater.Configuration;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Health;

/// <summary>Labels a managed container can carry to tell the gate what "healthy" means for it.</summary>
public static class HealthLabels
{
    /// <summary>A shell command run in the container (sh -c); exit 0 is healthy. E.g. <c>pg_isready -h 127.0.0.1</c>.</summary>
    public const string Command = "update.health.cmd";

    /// <summary>A URL the service fetches; 2xx is healthy. E.g. <c>http://gitea:3000/api/healthz</c>.</summary>
    public const string Url = "update.health.url";

    /// <summary>Seconds everything must stay healthy before the gate passes.</summary>
    public const string StableSeconds = "update.health.stable";

    /// <summary>Seconds the gate waits at most.</summary>
    public const string TimeoutSeconds = "update.health.timeout";
}

public sealed class HealthGateOptions
{
    public const string Section = "HealthGate";

    public TimeSpan StableFor { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(120);

    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);
}

public sealed record GateResult(bool Passed, string Detail);

/// <summary>
/// Healthy means: running and not restarting, the image's HEALTHCHECK (if any) says healthy, and
/// the label probes pass, all of it without a break for the stable time, within the timeout.
/// A container that exits, restarts or turns unhealthy fails at once: no point waiting.
/// </summary>
public sealed class HealthGate(IContainerLookup lookup, IContainerActions containers, OutboundHttp http, IOptions<HealthGateOptions> options, TimeProvider time)
{
    public async Task<GateResult> WaitAsync(string container, CancellationToken cancellationToken)
    {
        var first = await lookup.FindAsync(container, cancellationToken);
        if (first is null)
        {
            return new GateResult(false, $"container {container} does not exist");
        }

        var stableFor = StableFor(first.Labels, options.Value.StableFor);
        var timeout = Seconds(first.Labels, HealthLabels.TimeoutSeconds) ?? options.Value.Timeout;
        var started = time.GetUtcNow();
        DateTimeOffset? healthySince = null;
        var restarts = first.RestartCount;
        var last = "not checked yet";

        while (true)
        {
            var status = await lookup.FindAsync(container, cancellationToken);
            if (status is null)
            {
                return new GateResult(false, $"container {container} disappeared");
            }

            if (!status.Running && !status.Restarting && status.Status is "exited" or "dead")
            {
                return new GateResult(false, $"container exited with code {status.ExitCode}");
            }

            if (status.RestartCount > restarts || status.Restarting)
            {
                return new GateResult(false, $"container is restarting (restart count {status.RestartCount})");
            }

            if (status.Health == "unhealthy")
            {
                return new GateResult(false, "the image's HEALTHCHECK reports unhealthy");
            }

            // Each probe gets what is left of the gate's time, so a probe that never returns cannot hold the gate past its timeout.
            last = await CheckAsync(status, timeout - (time.GetUtcNow() - started), cancellationToken);
            var now = time.GetUtcNow();
            if (last.Length == 0)
            {
                healthySince ??= now;
                if (now - healthySince >= stableFor)
                {
                    return new GateResult(true, $"healthy for {stableFor.TotalSeconds:0.#} s{(status.Health is null ? "" : " (HEALTHCHECK healthy)")}");
                }
            }
            else
            {
                healthySince = null;
            }

            if (now - started >= timeout)
            {
                return new GateResult(false, $"not healthy within {timeout.TotalSeconds:0} s: {last}");
            }

            await Task.Delay(options.Value.PollInterval, time, cancellationToken);
        }
    }

    /// <summary>Empty when healthy, else what is not.</summary>
    private async Task<string> CheckAsync(ContainerInfo status, TimeSpan budget, CancellationToken cancellationToken)
    {
        if (!status.Running)
        {
            return $"container is {status.Status}";
        }

        if (status.Health is { } health && health != "healthy")
        {
            return $"HEALTHCHECK is {health}";
        }

        if (status.Labels.TryGetValue(HealthLabels.Command, out var command) && !string.IsNullOrWhiteSpace(command))
        {
            try
            {
                var result = await containers.ExecAsync(status.Id, ["/bin/sh", "-c", command], budget, cancellationToken);
                if (result.End == ExecEnd.DeadlinePassed)
                {
                    return $"'{command}' {result.Note}";
                }

                if (result.ExitCode != 0)
                {
                    return $"'{command}' exited with {result.ExitCode}";
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return $"'{command}' could not run: {e.GetType().Name}";
            }
        }

        if (status.Labels.TryGetValue(HealthLabels.Url, out var url) && !string.IsNullOrWhiteSpace(url))
        {
            try
            {
                using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                probe.CancelAfter(budget < ProbeTimeout ? ExecLimitFloor(budget) : ProbeTimeout);
                using var response = await http.Client.GetAsync(url, probe.Token);
                if (!response.IsSuccessStatusCode)
                {
                    return $"{url} answered {(int)response.StatusCode}";
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException)
            {
                return $"{url} did not answer ({e.GetType().Name})";
            }
        }

        return "";
    }

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private static TimeSpan ExecLimitFloor(TimeSpan budget) => budget < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : budget;

    /// <summary>How long the target must stay healthy: its <c>update.health.stable</c> label, else HealthGate:StableFor.</summary>
    public static TimeSpan StableFor(IReadOnlyDictionary<string, string> labels, TimeSpan configured) =>
        Seconds(labels, HealthLabels.StableSeconds) ?? configured;

    private static TimeSpan? Seconds(IReadOnlyDictionary<string, string> labels, string label) =>
        labels.TryGetValue(label, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : null;
}

public static class HealthExtensions
{
    public static IServiceCollection AddHealthGate(this IServiceCollection services)
    {
        if (!services.FirstRegistrationOf(nameof(Health)))
        {
            return services;
        }

        services.AddContainers();
        services.AddOptions<HealthGateOptions>().BindConfiguration(HealthGateOptions.Section)
            .Validate(o => o.StableFor >= TimeSpan.Zero && o.Timeout > TimeSpan.Zero && o.PollInterval > TimeSpan.Zero,
                "HealthGate:StableFor must be 0 or more, HealthGate:Timeout and HealthGate:PollInterval positive (e.g. 00:00:10, 00:02:00, 00:00:00.500)")
            .ValidateOnStart();
        services.TryAddSingleton<OutboundHttp>();
        services.AddSingleton<HealthGate>();
        return services;
    }
}
