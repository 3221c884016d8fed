using Microsoft.Extensions.Options;
using WebhookUpdater.Containers;
using WebhookUpdater.Health;

namespace WebhookUpdater.Updates;

/// <summary>The labels that say which containers need another one to work.</summary>
public static class DependentLabels
{
    /// <summary>On the dependent: the containers it needs, comma-separated (<c>update.requires=postgres</c>).</summary>
    public const string Requires = "update.requires";

    /// <summary>What compose v2 writes from <c>depends_on</c>: <c>service:condition:restart[,…]</c>.</summary>
    public const string ComposeDependsOn = "com.docker.compose.depends_on";

    public const string ComposeProject = "com.docker.compose.project";

    public const string ComposeService = "com.docker.compose.service";

    /// <summary>
    /// The containers that require <paramref name="required"/>: their <c>update.requires</c> label
    /// names it (by container name, or by compose service within the same compose project, as a
    /// compose file writes it), or their compose <c>depends_on</c> label names its service.
    /// </summary>
    public static IReadOnlyList<string> DependentsOf(ContainerInfo required, IEnumerable<ContainerInfo> all)
    {
        var project = required.Label(ComposeProject);
        var service = required.Label(ComposeService);
        bool SameProject(ContainerInfo other) => service is not null && project is not null && other.Label(ComposeProject) == project;
        return all
            .Where(other => other.Id != required.Id && other.Name != required.Name)
            .Where(other => Names(other.Label(Requires)).Any(name => name == required.Name || (SameProject(other) && name == service))
                || (SameProject(other) && Names(other.Label(ComposeDependsOn)).Select(entry => entry.Split(':')[0]).Contains(service, StringComparer.Ordinal)))
            .Select(other => other.Name)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static IEnumerable<string> Names(string? list) =>
        list?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(name => name.TrimStart('/')) ?? [];
}

/// <summary>How a dependent came through its check.</summary>
/// <param name="Passed">Healthy, at first or after its one restart.</param>
/// <param name="LogTail">The end of its log when it failed, for the job and the email.</param>
public sealed record DependentVerdict(string Container, bool Passed, bool Restarted, string Detail, string? LogTail);

/// <summary>
/// Runs the gate of each container that requires an updated one; a dependent that fails is
/// restarted once (it may hold a connection the update broke) and gated again.
/// </summary>
public sealed class DependentsCheck(IContainerLookup lookup, IContainerActions containers, HealthGate gate, IOptions<UpdateOptions> options)
{
    public async Task<IReadOnlyList<string>> FindAsync(string container, CancellationToken cancellationToken)
    {
        var required = await lookup.FindAsync(container, cancellationToken);
        if (required is null)
        {
            return [];
        }

        var all = await lookup.ListAsync(cancellationToken);
        return DependentLabels.DependentsOf(required, all.Where(other => other.Running || other.Restarting));
    }

    /// <summary>Gates the dependent; when it fails, restarts it once and gates it again.</summary>
    public async Task<DependentVerdict> CheckAsync(string dependent, bool restartFirst, CancellationToken cancellationToken)
    {
        var first = restartFirst ? null : await gate.WaitAsync(dependent, cancellationToken);
        if (first is { Passed: true })
        {
            return new DependentVerdict(dependent, true, false, first.Detail, null);
        }

        await RestartAsync(dependent, cancellationToken);
        var second = await gate.WaitAsync(dependent, cancellationToken);
        var before = first is null ? "restarted" : $"failed ({first.Detail}), restarted";
        if (second.Passed)
        {
            return new DependentVerdict(dependent, true, true, $"{before}, then {second.Detail}", null);
        }

        var tail = await lookup.LogTailAsync(dependent, options.Value.LogTailLines, cancellationToken);
        return new DependentVerdict(dependent, false, true, $"{before}, still failing: {second.Detail}", $"--- {dependent} ---\n{tail}");
    }

    private async Task RestartAsync(string dependent, CancellationToken cancellationToken)
    {
        if (await lookup.FindAsync(dependent, cancellationToken) is { Running: true })
        {
            await containers.StopAsync(dependent, cancellationToken);
        }

        await containers.StartAsync(dependent, cancellationToken);
    }
}
