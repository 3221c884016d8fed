using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Leases;
using WebhookUpdater.Persistence;

namespace WebhookUpdater.Tests.Leases;

public sealed class ContainerLeasesTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("wu-leases-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
    private readonly Database _database;
    private readonly ContainerLeases _leases;

    public ContainerLeasesTests()
    {
        _database = new Database(Options.Create(new StoreOptions { DataDirectory = _folder }));
        _leases = new ContainerLeases(_database, _time, NullLogger<ContainerLeases>.Instance);
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await _database.MigrateAsync(Token);

    public async ValueTask DisposeAsync()
    {
        await _database.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_second_operation_that_does_not_wait_is_told_who_holds_the_container()
    {
        var first = await _leases.AcquireAsync(["gitea"], OperationKind.Update, "job-1", TimeSpan.Zero, Token);
        _time.Advance(TimeSpan.FromSeconds(5));

        var second = await _leases.AcquireAsync(["gitea"], OperationKind.Restore, "restore-1", TimeSpan.Zero, Token);

        Assert.True(first.Acquired);
        Assert.False(second.Acquired);
        Assert.Equal(new LeaseHolder("gitea", OperationKind.Update, "job-1", new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero)), second.HeldBy);
        Assert.Equal("update job job-1 since 2026-12-03 12:00:00Z", second.HeldBy!.Describe());
    }

    [Fact]
    public async Task A_waiting_operation_gets_the_container_when_the_holder_releases_it_without_time_passing()
    {
        var first = await _leases.AcquireAsync(["nginx"], OperationKind.Update, "job-1", TimeSpan.Zero, Token);
        var waiting = _leases.AcquireAsync(["nginx"], OperationKind.CertificateRenewal, "renewal-1", TimeSpan.FromMinutes(10), Token);
        await WaitUntilWaitingAsync();
        Assert.False(waiting.IsCompleted);

        await first.Lease!.DisposeAsync();
        var second = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Token);

        Assert.True(second.Acquired);
        Assert.Equal(OperationKind.CertificateRenewal, (await _leases.HoldersAsync(Token)).Single().Kind);
    }

    [Fact]
    public async Task A_waiting_operation_gives_up_when_its_wait_has_passed_and_names_the_holder()
    {
        await _leases.AcquireAsync(["postgres"], OperationKind.Restore, "restore-1", TimeSpan.Zero, Token);
        var waiting = _leases.AcquireAsync(["postgres"], OperationKind.Backup, "daily-1", TimeSpan.FromSeconds(30), Token);
        await WaitUntilWaitingAsync();

        // Second by second: each step wakes the waiter, which looks again and sleeps again.
        for (var i = 0; i < 29; i++)
        {
            var looks = _leases.Looks;
            _time.Advance(TimeSpan.FromSeconds(1));
            await WaitUntilWaitingAgainAsync(waiting, looks);
        }

        Assert.False(waiting.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(1));

        var attempt = await waiting;
        Assert.False(attempt.Acquired);
        Assert.Equal("restore-1", attempt.HeldBy!.OperationId);
    }

    [Fact]
    public async Task A_lease_on_several_containers_is_taken_whole_or_not_at_all()
    {
        await _leases.AcquireAsync(["postgres"], OperationKind.Backup, "daily-1", TimeSpan.Zero, Token);

        var restore = await _leases.AcquireAsync(["gitea", "postgres"], OperationKind.Restore, "restore-1", TimeSpan.Zero, Token);
        var update = await _leases.AcquireAsync(["gitea"], OperationKind.Update, "job-1", TimeSpan.Zero, Token);

        Assert.False(restore.Acquired);
        Assert.Equal("postgres", restore.HeldBy!.Container);
        Assert.True(update.Acquired);
    }

    [Fact]
    public async Task The_old_container_an_update_renamed_is_the_same_container_for_everyone_else()
    {
        await _leases.AcquireAsync(["nginx"], OperationKind.Update, "job-1", TimeSpan.Zero, Token);

        var renewal = await _leases.AcquireAsync(["certbot", "nginx.old"], OperationKind.CertificateRenewal, "renewal-1", TimeSpan.Zero, Token);

        Assert.False(renewal.Acquired);
        Assert.Equal("job-1", renewal.HeldBy!.OperationId);
        Assert.Equal("nginx", ContainerLeases.KeyOf("/nginx.old"));
    }

    [Fact]
    public async Task A_released_lease_can_be_taken_again_and_releasing_twice_changes_nothing()
    {
        var first = await _leases.AcquireAsync(["gitea"], OperationKind.Update, "job-1", TimeSpan.Zero, Token);
        await first.Lease!.DisposeAsync();
        var second = await _leases.AcquireAsync(["gitea"], OperationKind.Restore, "restore-1", TimeSpan.Zero, Token);
        await first.Lease!.DisposeAsync();

        Assert.True(second.Acquired);
        Assert.Equal("restore-1", (await _leases.HoldersAsync(Token)).Single().OperationId);
    }

    [Fact]
    public async Task A_lease_held_by_a_process_that_is_gone_is_released_at_start_up_and_a_live_one_is_kept()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        var selfStart = self.StartTime.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        await _database.WriteAsync((connection, transaction) => connection.ExecuteAsync(
            """
            INSERT INTO leases (container, kind, operation_id, since, process_id, process_start) VALUES
                ('gitea', 'restore', 'restore-crashed', '2026-12-03T11:00:00.0000000Z', @Id, '2020-01-01T00:00:00.000Z'),
                ('nginx', 'update', 'job-crashed', '2026-12-03T11:00:00.0000000Z', 2147483000, '2026-12-03T10:00:00.000Z'),
                ('postgres', 'backup', 'daily-live', '2026-12-03T11:00:00.0000000Z', @Id, @selfStart)
            """, new { self.Id, selfStart }, transaction), Token);

        // A new journal user in this process: the start-up of a service after its crash.
        var restarted = new ContainerLeases(_database, _time, NullLogger<ContainerLeases>.Instance);
        var gitea = await restarted.AcquireAsync(["gitea"], OperationKind.Update, "job-2", TimeSpan.Zero, Token);
        var nginx = await restarted.AcquireAsync(["nginx"], OperationKind.CertificateRenewal, "renewal-2", TimeSpan.Zero, Token);
        var postgres = await restarted.AcquireAsync(["postgres"], OperationKind.Restore, "restore-2", TimeSpan.Zero, Token);

        Assert.True(gitea.Acquired);
        Assert.True(nginx.Acquired);
        Assert.False(postgres.Acquired);
        Assert.Equal("daily-live", postgres.HeldBy!.OperationId);
    }

    [Fact]
    public async Task A_waiter_that_is_cancelled_stops_waiting_and_takes_nothing()
    {
        await _leases.AcquireAsync(["gitea"], OperationKind.Update, "job-1", TimeSpan.Zero, Token);
        using var cancel = new CancellationTokenSource();
        var waiting = _leases.AcquireAsync(["gitea"], OperationKind.Backup, "daily-1", TimeSpan.FromHours(1), cancel.Token);
        await WaitUntilWaitingAsync();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal("job-1", (await _leases.HoldersAsync(Token)).Single().OperationId);
    }

    private async Task WaitUntilWaitingAgainAsync(Task waiting, int looksBefore)
    {
        // Advancing the clock ran the timer's callback, which woke the waiter: it looks again, then
        // sleeps on a new timer (counted in Waiting only once that timer exists).
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!waiting.IsCompleted && !(_leases.Looks > looksBefore && _leases.Waiting > 0))
        {
            await Task.Delay(1, bound.Token);
        }
    }

    /// <summary>The waiter has looked once and sleeps on the fake clock (or on the holder's release).</summary>
    private async Task WaitUntilWaitingAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (_leases.Waiting == 0)
        {
            await Task.Delay(1, bound.Token);
        }
    }
}
