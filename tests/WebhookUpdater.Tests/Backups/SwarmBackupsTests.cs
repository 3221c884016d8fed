using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WebhookUpdater.Backups;
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

    [Fact]
    public async Task A_service_set_with_paths_is_refused_before_any_job()
    {
        var manifest = new BackupManifest("20260101-000000-manual-forge_db-abcdef", BackupKinds.Manual, DateTimeOffset.UtcNow, null, "forge_db", null,
            [new BackupObject("forge_db.data-00000000.tar.gz", "forge_db:/data", 10, "00", "forge_db", BackupObjectTypes.Archive, "/data")]);

        await Assert.ThrowsAsync<RestoreRefusedException>(() => Make(S3Options).RestoreAsync(_service, new VerifiedSet(manifest, []), dryRun: true, Cancel));

        Assert.Empty(_jobs.Runs);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed class FakeSwarmJobs : ISwarmJobs
    {
        public IReadOnlyList<string> Nodes { get; set; } = ["node-1"];

        public Func<SwarmJob, SwarmJobEnd?> OnRun { get; set; } = _ => new SwarmJobEnd("complete", null, null);

        public List<SwarmJob> Runs { get; } = [];

        public List<(string Name, byte[] Content)> Secrets { get; } = [];

        public Task<IReadOnlyList<string>> NodesOfAsync(string serviceId, CancellationToken cancellationToken) => Task.FromResult(Nodes);

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
    }
}
