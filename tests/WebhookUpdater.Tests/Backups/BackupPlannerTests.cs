using WebhookUpdater.Backups;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupPlannerTests
{
    /// <summary>
    /// Containers as Docker would describe them: labels, environment, mounts. A proxy rather than
    /// a class, so look-ups the planner never makes need nothing here.
    /// </summary>
    private sealed class Containers
    {
        private readonly Dictionary<string, (Dictionary<string, string> Labels, string[] Env, DataMount[] Mounts)> _all = new(StringComparer.Ordinal);

        public Containers Add(string name, Dictionary<string, string>? labels = null, string[]? env = null, params DataMount[] mounts)
        {
            _all[name] = (labels ?? [], env ?? [], mounts);
            return this;
        }

        private ContainerInfo Status(string name) =>
            new(name + "-id", name, "app", "sha256:1", "running", true, false, 0, 0, null, _all[name].Labels, [], _all[name].Mounts);

        public static implicit operator BackupPlanner(Containers containers) => new(containers.Lookup());

        public IContainerLookup Lookup()
        {
            var proxy = System.Reflection.DispatchProxy.Create<IContainerLookup, Proxy>();
            ((Proxy)(object)proxy).Answer = (method, args) => method switch
            {
                nameof(IContainerLookup.FindAsync) => Task.FromResult(_all.ContainsKey((string)args[0]!) ? Status((string)args[0]!) : null),
                nameof(IContainerLookup.EnvironmentAsync) => Task.FromResult<IReadOnlyList<string>?>(_all.TryGetValue((string)args[0]!, out var c) ? c.Env : null),
                nameof(IContainerLookup.ListAsync) => Task.FromResult<IReadOnlyList<ContainerInfo>>(_all.Keys.Select(Status).ToList()),
                _ => throw new NotSupportedException($"the planner should not call {method}"),
            };
            return proxy;
        }
    }

    public class Proxy : System.Reflection.DispatchProxy
    {
        public Func<string, object?[], object?> Answer { get; set; } = (_, _) => null;

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args) => Answer(targetMethod!.Name, args ?? []);
    }

    private static readonly DataMount DataVolume = new("volume", "gitea-data", "/var/lib/docker/volumes/gitea-data/_data", "/data");
    private static readonly DataMount ConfigBind = new("bind", null, "/srv/gitea/config", "/etc/gitea");
    private static readonly DataMount PgData = new("volume", "pg-data", "/var/lib/docker/volumes/pg-data/_data", "/var/lib/postgresql/data");

    // Object names end in a short hash of the full target (BackupNamesTests); the readable part is what is checked here.
    private static string[] Describe(IReadOnlyList<BackupSource> sources) => sources.Select(s =>
    {
        Assert.Equal(BackupNames.ObjectName(s.Container, s.Type, s.Target), s.ObjectName);
        var readable = System.Text.RegularExpressions.Regex.Replace(s.ObjectName, "-[0-9a-f]{8}(?=\\.(tar\\.gz|pgdump)$)", "");
        return $"{s.Type} {s.Container} {s.Target} {readable} {s.User}".TrimEnd();
    }).ToArray();

    [Fact]
    public async Task A_container_without_labels_gets_every_volume_and_bind()
    {
        BackupPlanner planner = new Containers().Add("gitea", mounts: [DataVolume, ConfigBind]);

        var sources = await planner.PlanAsync("gitea", TestContext.Current.CancellationToken);

        Assert.Equal(["archive gitea /data gitea.data.tar.gz", "archive gitea /etc/gitea gitea.etc_gitea.tar.gz"], Describe(sources));
    }

    [Fact]
    public async Task A_postgres_container_is_dumped_not_copied_with_the_connection_from_its_environment()
    {
        BackupPlanner planner = new Containers().Add("db", new() { ["backup.postgres"] = "true" }, ["POSTGRES_USER=gitea", "POSTGRES_DB=forge", "POSTGRES_PASSWORD=s3cret"], PgData);

        var sources = await planner.PlanAsync("db", TestContext.Current.CancellationToken);

        Assert.Equal(["pg_dump db forge db.forge.pgdump gitea"], Describe(sources));
        Assert.Equal(["PGUSER=gitea", "PGPASSWORD=s3cret"], await planner.PostgresEnvironmentAsync("db", "gitea", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Labels_name_the_database_the_user_and_the_paths()
    {
        BackupPlanner planner = new Containers().Add("db",
            new() { ["backup.postgres"] = "true", ["backup.postgres.user"] = "backup", ["backup.postgres.database"] = "gitea", ["backup.paths"] = "/etc/postgresql" },
            ["POSTGRES_USER=postgres"]);

        var sources = await planner.PlanAsync("db", TestContext.Current.CancellationToken);

        Assert.Equal(["pg_dump db gitea db.gitea.pgdump backup", "archive db /etc/postgresql db.etc_postgresql.tar.gz"], Describe(sources));
    }

    [Fact]
    public async Task Backup_with_puts_the_database_in_the_gitea_set_and_out_of_the_daily_roots()
    {
        var containers = new Containers()
            .Add("gitea", new() { ["backup.paths"] = "/data", ["backup.with"] = "db" }, [], DataVolume, ConfigBind)
            .Add("db", new() { ["backup.postgres"] = "true" }, ["POSTGRES_USER=gitea"], PgData)
            .Add("nginx", mounts: ConfigBind)
            .Add("certbot", new() { ["backup.paths"] = "/etc/letsencrypt" })
            .Add("diun", new() { ["backup.paths"] = "/data", ["backup.enable"] = "false" });
        BackupPlanner planner = containers;

        var sources = await planner.PlanAsync("gitea", TestContext.Current.CancellationToken);
        var roots = await planner.DailyRootsAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["archive gitea /data gitea.data.tar.gz", "pg_dump db gitea db.gitea.pgdump gitea"], Describe(sources));
        Assert.Equal(["certbot", "gitea"], roots);
    }

    [Fact]
    public async Task A_container_that_opts_out_has_an_empty_set()
    {
        BackupPlanner planner = new Containers().Add("diun", new() { ["backup.enable"] = "false" }, [], DataVolume);

        Assert.Empty(await planner.PlanAsync("diun", TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("backup.with", "ghost", "gitea has backup.with=ghost, but no container ghost exists")]
    [InlineData("backup.paths", "data", "paths must be absolute, e.g. /data")]
    public async Task A_wrong_label_fails_the_backup_with_the_fix(string label, string value, string message)
    {
        BackupPlanner planner = new Containers().Add("gitea", new() { [label] = value });

        var error = await Assert.ThrowsAsync<BackupSourceException>(() => planner.PlanAsync("gitea", TestContext.Current.CancellationToken));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backup_with_names_a_compose_service_of_the_same_project_whatever_its_container_is_called()
    {
        var containers = new Containers()
            .Add("stack_gitea_1", new() { ["backup.paths"] = "/data", ["backup.with"] = "postgres", ["com.docker.compose.project"] = "stack", ["com.docker.compose.service"] = "gitea" }, [], DataVolume)
            .Add("stack_postgres_1", new() { ["backup.postgres"] = "true", ["com.docker.compose.project"] = "stack", ["com.docker.compose.service"] = "postgres" }, ["POSTGRES_USER=gitea"], PgData)
            .Add("other_postgres_1", new() { ["backup.postgres"] = "true", ["com.docker.compose.project"] = "other", ["com.docker.compose.service"] = "postgres" }, ["POSTGRES_USER=other"], PgData);
        BackupPlanner planner = containers;

        var sources = await planner.PlanAsync("stack_gitea_1", TestContext.Current.CancellationToken);
        var roots = await planner.DailyRootsAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["archive stack_gitea_1 /data stack_gitea_1.data.tar.gz", "pg_dump stack_postgres_1 gitea stack_postgres_1.gitea.pgdump gitea"], Describe(sources));
        Assert.Equal(["other_postgres_1", "stack_gitea_1"], roots);
    }
}
