using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;
using WebhookUpdater.Swarm;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

/// <summary>What the manager asks of Swarm for a service's set, and what it takes back, over Swarm jobs in memory and a real local store.</summary>
public sealed class SwarmBackupsTests : IDisposable
{
    private const string Key = "swarm-backups-test-signing-key-0123456789";
    private const string Credentials = "[default]\naws_access_key_id = AKIDTEST\naws_secret_access_key = very-secret-value\n";

    private readonly string _folder = Directory.CreateTempSubdirectory("wu-swarm-backups-").FullName;
    private readonly FakeSwarm _swarm = new() { IsManager = true };
    private readonly FakeSwarmJobs _jobs = new();
    private readonly LocalFolderBackupStore _store;
    private readonly ServiceInfo _service;

    public SwarmBackupsTests()
    {
        _store = new LocalFolderBackupStore(Options.Create(new StoreOptions { DataDirectory = _folder }));
        _service = _swarm.Add("forge_db", "registry.test/postgres:15@sha256:" + new string('a', 64), "manual", new Dictionary<string, string> { ["backup.postgres"] = "true" });
        File.WriteAllText(Path.Combine(_folder, "credentials"), Credentials);
    }

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private BackupOptions S3Options => new()
    {
        Store = BackupStores.S3,
        Bucket = "forge-backups",
        SigningKey = Key,
        ProfilesLocation = Path.Combine(_folder, "credentials"),
    };

    private SwarmBackups Make(BackupOptions options) => new(
        _swarm, _jobs, _store, new BackupManifestSigner(Options.Create(options)),
        Options.Create(new SwarmOptions { AgentImage = "registry.test/webhook-updater:1", PollInterval = TimeSpan.FromMilliseconds(1) }),
        Options.Create(options), TimeProvider.System, NullLogger<SwarmBackups>.Instance);

    /// <summary>The agent: writes the set the request names, signed with <paramref name="key"/>.</summary>
    private Func<SwarmJob, SwarmJobEnd?> Agent(string key) => job =>
    {
        var request = SwarmAgentRequest.Parse(job.Args[2]);
        var signer = new BackupManifestSigner(Options.Create(new BackupOptions { SigningKey = key }));
        // The set's folder, as its objects would have made it.
        Directory.CreateDirectory(Path.Combine(_folder, "backups", request.SetId));
        _store.CompleteAsync(signer.Sign(new BackupManifest(request.SetId, request.Kind, DateTimeOffset.UtcNow, request.JobId, request.Service, request.ImageId, [])), CancellationToken.None).GetAwaiter().GetResult();
        return new SwarmJobEnd("complete", null, null);
    };

    [Fact]
    public async Task A_service_set_is_made_by_one_job_on_the_task_node_with_the_key_and_credentials_as_secret_files_only()
    {
        _jobs.OnRun = Agent(Key);

        var manifest = await Make(S3Options).BackupAsync(_service, BackupKinds.PreUpdate, "job-1", "sha256:old", Cancel);

        var job = Assert.Single(_jobs.Runs);
        Assert.Equal("node-1", job.Node);
        Assert.Equal(["agent", "backup"], job.Args.Take(2));
        var request = SwarmAgentRequest.Parse(job.Args[2]);
        Assert.Equal((manifest.Id, "forge_db", _service.Id, "true"), (request.SetId, request.Service, request.ServiceId, request.Labels["backup.postgres"]));
        Assert.Equal(["wu-backup-signing-key", "wu-aws-credentials"], job.Secrets.Select(secret => secret.File));
        Assert.Equal([Key, Credentials], _jobs.Secrets.Select(secret => System.Text.Encoding.UTF8.GetString(secret.Content)));
        Assert.Contains("Backups__SigningKey_FILE=/run/secrets/wu-backup-signing-key", job.Environment);
        Assert.Contains("Backups__ProfilesLocation=/run/secrets/wu-aws-credentials", job.Environment);
        var spec = string.Join("\n", job.Args.Concat(job.Environment));
        Assert.DoesNotContain(Key, spec);
        Assert.DoesNotContain("very-secret-value", spec);
    }

    [Fact]
    public async Task With_a_local_store_no_job_runs_and_the_failure_names_the_setting()
    {
        var local = S3Options;
        local.Store = BackupStores.Local;

        var failure = await Assert.ThrowsAsync<BackupSourceException>(() => Make(local).BackupAsync(_service, BackupKinds.Daily, null, null, Cancel));

        Assert.Contains("Set Backups:Store=S3", failure.Message);
        Assert.Empty(_jobs.Runs);
    }

    [Fact]
    public async Task A_set_signed_with_another_key_is_not_taken()
    {
        _jobs.OnRun = Agent("another-installation-key-0123456789abcdef");

        var failure = await Assert.ThrowsAsync<BackupSourceException>(() => Make(S3Options).BackupAsync(_service, BackupKinds.Daily, null, null, Cancel));

        Assert.Contains("not signed with this installation's key", failure.Message);
    }

    [Fact]
    public async Task A_failed_agent_fails_the_backup_with_its_last_output()
    {
        _jobs.OnRun = _ => new SwarmJobEnd("failed", "task: non-zero exit (1)", "{\"error\":\"pg_dump of database forge failed\"}");

        var failure = await Assert.ThrowsAsync<BackupSourceException>(() => Make(S3Options).BackupAsync(_service, BackupKinds.Daily, null, null, Cancel));

        Assert.Contains("ended failed (task: non-zero exit (1))", failure.Message);
        Assert.Contains("pg_dump of database forge failed", failure.Message);
    }

    [Fact]
    public async Task A_service_with_two_running_tasks_is_not_backed_up()
    {
        _jobs.Nodes = ["node-1", "node-2"];

        var failure = await Assert.ThrowsAsync<BackupSourceException>(() => Make(S3Options).BackupAsync(_service, BackupKinds.Daily, null, null, Cancel));

        Assert.Contains("runs on 2 nodes", failure.Message);
        Assert.Empty(_jobs.Runs);
    }

    private static BackupManifest PathsSet(string service, params string[] types) =>
        new($"20260101-000000-manual-{service}-abcdef", BackupKinds.Manual, DateTimeOffset.UtcNow, null, service, null,
            types.Select((type, n) => type == BackupObjectTypes.Archive
                ? new BackupObject($"{service}.data-0000000{n}.tar.gz", $"{service}:/data", 10, "00", service, type, "/data")
                : new BackupObject($"{service}.forge-0000000{n}.dump", $"{service}:forge", 10, "00", service, type, "forge")).ToList());

    private ServiceInfo Git(ulong? replicas, params DataMount[] mounts) =>
        _swarm.Put(_swarm.Add("forge_git", "registry.test/gitea:1.22@sha256:" + new string('b', 64), "manual", new Dictionary<string, string> { ["backup.paths"] = "/data" })
            with { Replicas = replicas, Mounts = mounts });

    private static readonly DataMount GitData = new("volume", "forge_git-data", "forge_git-data", "/data");

    [Theory]
    [InlineData(null, true, new[] { BackupObjectTypes.Archive }, "not replicated")]
    [InlineData(1UL, false, new[] { BackupObjectTypes.Archive }, "mounts no volume")]
    [InlineData(1UL, true, new[] { BackupObjectTypes.Archive, BackupObjectTypes.PostgresDump }, "a database and paths")]
    public async Task A_set_of_paths_is_refused_before_any_job_when_the_service_cannot_be_scaled_to_0_for_it(ulong? replicas, bool mounted, string[] types, string message)
    {
        var service = Git(replicas, mounted ? [GitData] : []);

        var refused = await Assert.ThrowsAsync<RestoreRefusedException>(() => Make(S3Options).RestoreAsync(service, new VerifiedSet(PathsSet(service.Name, types), []), dryRun: false, Cancel));

        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
        Assert.Empty(_jobs.Runs);
        Assert.Equal(replicas, _swarm.Named(service.Name)!.Replicas);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_paths_go_back_with_the_service_at_0_and_it_gets_its_tasks_back_whatever_the_agent_did(bool agentCompletes)
    {
        var service = Git(2, GitData);
        _jobs.NodesOf = () => _swarm.Named(service.Name)!.Replicas > 0 ? ["node-7"] : [];
        ServiceInfo? during = null;
        _jobs.OnRun = _ =>
        {
            during = _swarm.Named(service.Name);
            return agentCompletes ? new SwarmJobEnd("complete", null, null) : new SwarmJobEnd("failed", "task: non-zero exit (1)", "no space left on device");
        };

        var report = await Make(S3Options).RestoreAsync(service, new VerifiedSet(PathsSet(service.Name, BackupObjectTypes.Archive), []), dryRun: false, Cancel);

        Assert.Equal(agentCompletes, report.Succeeded);
        Assert.Equal(agentCompletes ? null : "no space left on device", agentCompletes ? report.Error : report.Error![^"no space left on device".Length..]);
        // While the agent ran: no task, the count and the node kept in labels.
        Assert.Equal(0UL, during!.Replicas);
        Assert.Equal("2", during.Labels[SwarmLabels.ScaledDownFrom]);
        Assert.Equal("node-7", during.Labels[SwarmLabels.ScaledDownOn]);
        var job = Assert.Single(_jobs.Runs);
        Assert.Equal("node-7", job.Node);
        var request = SwarmAgentRequest.Parse(job.Args[2]);
        Assert.Equal([GitData], request.Mounts);
        Assert.Equal("registry.test/webhook-updater:1", request.HolderImage);
        // After it: the count back, the labels gone.
        var after = _swarm.Named(service.Name)!;
        Assert.Equal(2UL, after.Replicas);
        Assert.DoesNotContain(after.Labels.Keys, key => key.StartsWith("webhook-updater.restore", StringComparison.Ordinal));
        Assert.Contains("scaled forge_git back to 2 task(s)", report.Steps);
        Assert.Equal(["webhook-updater.agent.service=forge_git"], _jobs.Cleared);
    }

    [Fact]
    public async Task A_restore_cut_short_goes_on_at_the_node_in_the_label_and_scales_back_to_the_first_count()
    {
        var service = Git(1, GitData);
        await _swarm.ScaleDownAsync(service.Id, "node-3", Cancel);
        service = _swarm.Named(service.Name)!;
        _jobs.NodesOf = () => _swarm.Named(service.Name)!.Replicas > 0 ? ["node-9"] : [];

        var report = await Make(S3Options).RestoreAsync(service, new VerifiedSet(PathsSet(service.Name, BackupObjectTypes.Archive), []), dryRun: false, Cancel);

        Assert.True(report.Succeeded, report.Error);
        Assert.Equal("node-3", Assert.Single(_jobs.Runs).Node);
        Assert.Equal(1UL, _swarm.Named(service.Name)!.Replicas);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed class FakeSwarmJobs : ISwarmJobs
    {
        public IReadOnlyList<string> Nodes { get; set; } = ["node-1"];

        /// <summary>When set, the nodes of running tasks now (a service scaled to 0 has none).</summary>
        public Func<IReadOnlyList<string>>? NodesOf { get; set; }

        public Func<SwarmJob, SwarmJobEnd?> OnRun { get; set; } = _ => new SwarmJobEnd("complete", null, null);

        public List<SwarmJob> Runs { get; } = [];

        public List<(string Name, byte[] Content)> Secrets { get; } = [];

        public Task<IReadOnlyList<string>> NodesOfAsync(string serviceId, CancellationToken cancellationToken) => Task.FromResult(NodesOf?.Invoke() ?? Nodes);

        public Task<SwarmJobSecret> SecretAsync(string name, byte[] content, string label, CancellationToken cancellationToken)
        {
            Secrets.Add((name, content));
            return Task.FromResult(new SwarmJobSecret($"id-{name}", $"{name}-0123456789ab", name));
        }

        public Task<SwarmJobEnd?> RunAsync(SwarmJob job, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken)
        {
            Runs.Add(job);
            return Task.FromResult(OnRun(job));
        }

        public Task<string?> OwnImageAsync(CancellationToken cancellationToken) => Task.FromResult<string?>(null);

        /// <summary>The services whose leftover agents were cleared, in order.</summary>
        public List<string> Cleared { get; } = [];

        public Task<int> ClearLeftoversAsync(string label, string value, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken)
        {
            Cleared.Add($"{label}={value}");
            return Task.FromResult(0);
        }
    }
}
