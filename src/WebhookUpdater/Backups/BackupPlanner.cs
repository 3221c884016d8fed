using WebhookUpdater.Containers;

namespace WebhookUpdater.Backups;

/// <summary>Labels a container carries to say what of it is backed up, and how it is restored.</summary>
public static class BackupLabels
{
    /// <summary><c>true</c>: the container is a PostgreSQL server; its database is dumped with pg_dump -Fc.</summary>
    public const string Postgres = "backup.postgres";

    /// <summary>The database user for pg_dump/pg_restore (default: its POSTGRES_USER, else postgres).</summary>
    public const string PostgresUser = "backup.postgres.user";

    /// <summary>The database (default: its POSTGRES_DB, else the user's name).</summary>
    public const string PostgresDatabase = "backup.postgres.database";

    /// <summary>Comma-separated paths archived from the container (default: all its volumes and binds, none for a postgres container).</summary>
    public const string Paths = "backup.paths";

    /// <summary>Comma-separated other containers whose data belongs in this container's sets (gitea: its postgres).</summary>
    public const string With = "backup.with";

    /// <summary><c>false</c>: nothing of this container is backed up (its pre-update set is empty).</summary>
    public const string Enable = "backup.enable";

    /// <summary><c>pause</c> (default) or <c>none</c>: whether the container is paused while its paths are copied (<see cref="BackupQuiesce"/>).</summary>
    public const string Quiesce = "backup.quiesce";

    /// <summary><c>true</c>: a rollback of this container restores its pre-update set before the old version starts.</summary>
    public const string RestoreOnRollback = "backup.restore-on-rollback";

    public static bool IsTrue(IReadOnlyDictionary<string, string> labels, string label) =>
        labels.TryGetValue(label, out var value) && string.Equals(value.Trim(), "true", StringComparison.OrdinalIgnoreCase);

    public static IReadOnlyList<string> List(IReadOnlyDictionary<string, string> labels, string label) =>
        labels.TryGetValue(label, out var value)
            ? value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];

    /// <summary>Containers with any of these labels take part in the daily backup.</summary>
    public static bool AsksForBackup(IReadOnlyDictionary<string, string> labels) =>
        !string.Equals(labels.GetValueOrDefault(Enable), "false", StringComparison.OrdinalIgnoreCase)
        && (IsTrue(labels, Postgres) || labels.ContainsKey(Paths) || labels.ContainsKey(With));
}

/// <summary>One thing to copy out of a container.</summary>
/// <param name="Target">The path (archive) or the database (pg_dump).</param>
/// <param name="User">The database user (pg_dump only).</param>
public sealed record BackupSource(string Container, string Type, string Target, string ObjectName, string? User = null)
{
    public string Describe() => Type == BackupObjectTypes.PostgresDump ? $"{Container}: database {Target}" : $"{Container}:{Target}";
}

/// <summary>Reads the labels and says what a set of a container holds.</summary>
public sealed class BackupPlanner(IContainerLookup containers)
{
    /// <summary>The sources of a set for <paramref name="container"/>: its own, then those of the containers it names in backup.with.</summary>
    public async Task<IReadOnlyList<BackupSource>> PlanAsync(string container, CancellationToken cancellationToken)
    {
        var primary = await containers.FindAsync(container, cancellationToken)
            ?? throw new BackupSourceException($"container {container} does not exist");
        var sources = new List<BackupSource>(await OwnSourcesAsync(primary, cancellationToken));
        foreach (var other in BackupLabels.List(primary.Labels, BackupLabels.With))
        {
            var status = await containers.FindAsync(other, cancellationToken)
                ?? await ComposeServiceAsync(primary, other, cancellationToken)
                ?? throw new BackupSourceException($"{primary.Name} has {BackupLabels.With}={other}, but no container {other} exists: fix the label or start {other}");
            sources.AddRange(await OwnSourcesAsync(status, cancellationToken));
        }

        return sources.DistinctBy(source => (source.Container, source.Type, source.Target)).ToList();
    }

    /// <summary>
    /// The containers a set of <paramref name="container"/> reads and, on a restore, writes: itself
    /// and the existing containers its backup.with names. An operation on the container leases
    /// them all, so a partner's own backup or restore never runs inside it.
    /// </summary>
    public async Task<IReadOnlyList<string>> MembersAsync(string container, CancellationToken cancellationToken)
    {
        if (await containers.FindAsync(container, cancellationToken) is not { } primary)
        {
            return [container];
        }

        var members = new List<string> { container };
        foreach (var other in BackupLabels.List(primary.Labels, BackupLabels.With))
        {
            if ((await containers.FindAsync(other, cancellationToken) ?? await ComposeServiceAsync(primary, other, cancellationToken)) is { } partner)
            {
                members.Add(partner.Name);
            }
        }

        return members.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Containers that get a daily set of their own: those asking for one, minus those already inside another's set.</summary>
    public async Task<IReadOnlyList<string>> DailyRootsAsync(CancellationToken cancellationToken)
    {
        var all = await containers.ListAsync(cancellationToken);
        var asking = all.Where(c => BackupLabels.AsksForBackup(c.Labels)).ToList();
        var included = asking.SelectMany(c => BackupLabels.List(c.Labels, BackupLabels.With).Select(other => (Project: c.Labels.GetValueOrDefault(ComposeProject), Name: other))).ToList();
        return asking.Where(c => !included.Any(with => with.Name == c.Name
                || (with.Project is not null && c.Labels.GetValueOrDefault(ComposeProject) == with.Project && c.Labels.GetValueOrDefault(ComposeService) == with.Name)))
            .Select(c => c.Name).Order(StringComparer.Ordinal).ToList();
    }

    private const string ComposeProject = "com.docker.compose.project";
    private const string ComposeService = "com.docker.compose.service";

    /// <summary>
    /// backup.with=postgres in a compose file names the service: compose v1 names its container
    /// {project}_postgres_1, so a name that is no container is looked up as a service of the same project.
    /// </summary>
    private async Task<ContainerInfo?> ComposeServiceAsync(ContainerInfo primary, string service, CancellationToken cancellationToken)
    {
        if (primary.Labels.GetValueOrDefault(ComposeProject) is not { Length: > 0 } project)
        {
            return null;
        }

        var matches = (await containers.ListAsync(cancellationToken))
            .Where(c => c.Labels.GetValueOrDefault(ComposeProject) == project && c.Labels.GetValueOrDefault(ComposeService) == service)
            .OrderByDescending(c => c.Running).ThenBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        return matches.Count == 0 ? null : await containers.FindAsync(matches[0].Name, cancellationToken);
    }

    private async Task<IReadOnlyList<BackupSource>> OwnSourcesAsync(ContainerInfo container, CancellationToken cancellationToken)
    {
        var labels = container.Labels;
        if (string.Equals(labels.GetValueOrDefault(BackupLabels.Enable), "false", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }

        var sources = new List<BackupSource>();
        var isPostgres = BackupLabels.IsTrue(labels, BackupLabels.Postgres);
        if (isPostgres)
        {
            var (user, database) = await PostgresConnectionAsync(container, cancellationToken);
            sources.Add(new BackupSource(container.Name, BackupObjectTypes.PostgresDump, database, BackupNames.ObjectName(container.Name, BackupObjectTypes.PostgresDump, database), user));
        }

        IEnumerable<string> paths = labels.ContainsKey(BackupLabels.Paths)
            ? BackupLabels.List(labels, BackupLabels.Paths)
            : isPostgres
                // A live copy of a data directory is not a consistent backup: the dump is.
                ? []
                : container.Mounts.Select(mount => mount.Destination);
        foreach (var path in paths)
        {
            if (!path.StartsWith('/'))
            {
                throw new BackupSourceException($"{container.Name} has {BackupLabels.Paths} with '{path}': paths must be absolute, e.g. /data");
            }

            sources.Add(new BackupSource(container.Name, BackupObjectTypes.Archive, path, BackupNames.ObjectName(container.Name, BackupObjectTypes.Archive, path)));
        }

        return sources;
    }

    public async Task<(string User, string Database)> PostgresConnectionAsync(ContainerInfo container, CancellationToken cancellationToken)
    {
        var environment = Environment(await containers.EnvironmentAsync(container.Name, cancellationToken) ?? []);
        var user = container.Labels.GetValueOrDefault(BackupLabels.PostgresUser) is { Length: > 0 } labelUser ? labelUser
            : environment.GetValueOrDefault("POSTGRES_USER") is { Length: > 0 } envUser ? envUser : "postgres";
        var database = container.Labels.GetValueOrDefault(BackupLabels.PostgresDatabase) is { Length: > 0 } labelDb ? labelDb
            : environment.GetValueOrDefault("POSTGRES_DB") is { Length: > 0 } envDb ? envDb : user;
        return (user, database);
    }

    /// <summary>
    /// What pg_dump and pg_restore get in their environment: the user and, when the container has
    /// one, its password (the exec already inherits the container's own variables; PGPASSWORD is
    /// how the client tools read it). Sent to Docker only, never logged.
    /// </summary>
    public async Task<IReadOnlyList<string>> PostgresEnvironmentAsync(string container, string user, CancellationToken cancellationToken)
    {
        var environment = Environment(await containers.EnvironmentAsync(container, cancellationToken) ?? []);
        var variables = new List<string> { $"PGUSER={user}" };
        if (environment.GetValueOrDefault("POSTGRES_PASSWORD") is { Length: > 0 } password)
        {
            variables.Add($"PGPASSWORD={password}");
        }

        return variables;
    }

    private static Dictionary<string, string> Environment(IReadOnlyList<string> variables) =>
        variables
            .Select(variable => variable.Split('=', 2))
            .Where(parts => parts.Length == 2)
            .GroupBy(parts => parts[0], StringComparer.Ordinal)
            .ToDictionary(group => group.Key, group => group.Last()[1], StringComparer.Ordinal);
}

/// <summary>What to back up cannot be read or reached (a label is wrong, a dump failed).</summary>
public sealed class BackupSourceException(string message) : Exception(message);
