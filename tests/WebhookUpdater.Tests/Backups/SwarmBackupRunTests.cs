using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Backups;
using WebhookUpdater.Swarm;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

/// <summary>The daily and on-demand runs take the backup-labelled Swarm services too, each through its agent.</summary>
public sealed class SwarmBackupRunTests : IAsyncLifetime
{
    private readonly TestApp _app;
    private readonly FakeSwarmBackups _backups;

    public SwarmBackupRunTests()
    {
        var swarm = new FakeSwarm();
        _backups = new FakeSwarmBackups(swarm);
        _app = new TestApp { Swarm = swarm, ConfigureServices = services => services.AddSingleton<ISwarmBackups>(_backups) };
    }

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private BackupRunner Runner => _app.Services.GetRequiredService<BackupRunner>();

    /// <summary>
    /// The host starts before the swarm has services that ask for backups (a local store would stop
    /// the start then): the runs below meet them as a running service does.
    /// </summary>
    public ValueTask InitializeAsync()
    {
        _ = _app.Services;
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task On_a_swarm_manager_the_daily_run_backs_up_each_labelled_service()
    {
        _app.Swarm.IsManager = true;
        _app.Swarm.Add("forge_db", "registry.test/postgres:15@sha256:" + new string('a', 64), "manual", new Dictionary<string, string> { ["backup.postgres"] = "true" });
        _app.Swarm.Add("forge_cache", "registry.test/redis:7@sha256:" + new string('b', 64), "manual");

        var result = await Runner.RunDailyAsync(Cancel);

        Assert.True(result.Succeeded, string.Join("; ", result.Failures.Select(f => f.Error)));
        Assert.Equal([("forge_db", BackupKinds.Daily, 0)], _backups.Backups);
        Assert.Equal("forge_db", Assert.Single(result.Sets).Container);
    }

    [Fact]
    public async Task A_service_named_in_a_manual_run_is_backed_up_by_its_agent_and_a_failure_is_reported()
    {
        _app.Swarm.IsManager = true;
        _app.Swarm.Add("forge_db", "registry.test/postgres:15@sha256:" + new string('a', 64), "manual", new Dictionary<string, string> { ["backup.postgres"] = "true" });
        _backups.Failure = "Set Backups:Store=S3";

        var result = await Runner.RunAsync(BackupKinds.Manual, ["forge_db"], Cancel);

        var failure = Assert.Single(result.Failures);
        Assert.Equal("forge_db", failure.Container);
        Assert.Contains("Backups:Store=S3", failure.Error);
    }

    [Fact]
    public async Task Without_a_swarm_no_service_is_backed_up()
    {
        _app.Swarm.Add("forge_db", "registry.test/postgres:15@sha256:" + new string('a', 64), "manual", new Dictionary<string, string> { ["backup.postgres"] = "true" });

        var result = await Runner.RunDailyAsync(Cancel);

        Assert.Empty(_backups.Backups);
        Assert.Empty(result.Sets);
    }
}
