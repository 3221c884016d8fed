using Microsoft.Extensions.Logging.Abstractions;
using WebhookUpdater.Backups;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

public sealed class SetQuiescerTests : IAsyncLifetime
{
    private TempJournal _journal = null!;

    private readonly FakeContainerRuntime _engine = new();

    public async ValueTask InitializeAsync() => _journal = await TempJournal.CreateAsync();

    public ValueTask DisposeAsync() => _journal.DisposeAsync();

    private SetQuiescer Quiescer() => new(_engine, _engine, _journal.Database, TimeProvider.System, NullLogger<SetQuiescer>.Instance);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static BackupSource Archive(string container) => new(container, BackupObjectTypes.Archive, "/data", $"{container}-data");

    private static BackupSource Dump(string container) => new(container, BackupObjectTypes.PostgresDump, "gitea", $"{container}-gitea", "gitea");

    private string StateOf(string name) => _engine.Named(name)!.Status;

    private Task<long> PausedRowsAsync() => _journal.Database.ReadAsync(
        connection => Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT COUNT(*) FROM paused_containers"), Cancel);

    [Fact]
    public async Task Gitea_is_paused_while_its_set_is_copied_and_its_database_keeps_running()
    {
        _engine.Add("gitea", "gitea/gitea:1.22");
        _engine.Add("postgres", "postgres:15");

        await using (var paused = await Quiescer().QuiesceAsync("set-1", [Archive("gitea"), Dump("postgres")], Cancel))
        {
            Assert.Equal(["gitea"], paused.Names);
            Assert.Equal("paused", StateOf("gitea"));
            Assert.Equal("running", StateOf("postgres"));
            Assert.Equal(1, await PausedRowsAsync());
        }

        Assert.Equal("running", StateOf("gitea"));
        Assert.Equal(0, await PausedRowsAsync());
        Assert.Equal(["pause gitea", "unpause gitea"], _engine.Operations);
    }

    [Fact]
    public async Task A_container_labelled_none_is_copied_while_it_runs()
    {
        _engine.Add("gitea", "gitea/gitea:1.22", moreLabels: new Dictionary<string, string> { [BackupLabels.Quiesce] = "none" });

        await using (var paused = await Quiescer().QuiesceAsync("set-1", [Archive("gitea")], Cancel))
        {
            Assert.Empty(paused.Names);
        }

        Assert.Empty(_engine.Operations);
    }

    [Fact]
    public async Task A_database_whose_paths_are_archived_too_is_not_paused_because_its_dump_runs_inside_it()
    {
        _engine.Add("postgres", "postgres:15");

        await using (var paused = await Quiescer().QuiesceAsync("set-1", [Dump("postgres"), Archive("postgres")], Cancel))
        {
            Assert.Empty(paused.Names);
        }

        Assert.Empty(_engine.Operations);
    }

    [Fact]
    public async Task A_container_someone_else_paused_is_left_paused()
    {
        _engine.Add("gitea", "gitea/gitea:1.22");
        await _engine.PauseAsync("gitea", Cancel);
        _engine.Operations.Clear();

        await using (await Quiescer().QuiesceAsync("set-1", [Archive("gitea")], Cancel))
        {
        }

        Assert.Equal("paused", StateOf("gitea"));
        Assert.Empty(_engine.Operations);
    }

    [Fact]
    public async Task An_unknown_quiesce_label_is_refused_with_the_values_that_work()
    {
        _engine.Add("gitea", "gitea/gitea:1.22", moreLabels: new Dictionary<string, string> { [BackupLabels.Quiesce] = "freeze" });

        var refused = await Assert.ThrowsAsync<BackupSourceException>(() => Quiescer().QuiesceAsync("set-1", [Archive("gitea")], Cancel));

        Assert.Contains("backup.quiesce=freeze", refused.Message, StringComparison.Ordinal);
        Assert.Contains("use pause", refused.Message, StringComparison.Ordinal);
        Assert.Equal("running", StateOf("gitea"));
    }

    [Fact]
    public async Task A_pause_a_crash_left_behind_is_undone_at_the_next_start()
    {
        _engine.Add("gitea", "gitea/gitea:1.22");
        // The process "dies" mid-copy: the set is never disposed.
        _ = await Quiescer().QuiesceAsync("set-1", [Archive("gitea")], Cancel);
        Assert.Equal("paused", StateOf("gitea"));
        await _journal.ReopenAsync();

        await Quiescer().RecoverAsync(Cancel);

        Assert.Equal("running", StateOf("gitea"));
        Assert.Equal(0, await PausedRowsAsync());
    }

    [Fact]
    public async Task A_failed_unpause_stays_in_the_journal_for_the_next_start()
    {
        _engine.Add("gitea", "gitea/gitea:1.22");
        _engine.Failures["unpause"] = "engine gone";

        await using (await Quiescer().QuiesceAsync("set-1", [Archive("gitea")], Cancel))
        {
        }

        Assert.Equal("paused", StateOf("gitea"));
        Assert.Equal(1, await PausedRowsAsync());
        _engine.Failures.Clear();
        await Quiescer().RecoverAsync(Cancel);
        Assert.Equal("running", StateOf("gitea"));
        Assert.Equal(0, await PausedRowsAsync());
    }
}
