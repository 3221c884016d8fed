using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Backups;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupScheduleTests : IAsyncLifetime
{
    private TempJournal _journal = null!;

    public async ValueTask InitializeAsync() => _journal = await TempJournal.CreateAsync();

    public ValueTask DisposeAsync() => _journal.DisposeAsync();

    private BackupSchedule Schedule(IDailyBackup daily, BackupOptions options, TimeProvider time) =>
        new(new Lazy<IDailyBackup>(() => daily), new ScheduleJournal(_journal.Database, time, NullLogger<ScheduleJournal>.Instance), Microsoft.Extensions.Options.Options.Create(options), time, NullLogger<BackupSchedule>.Instance);

    private sealed class CountingDailyBackup(TimeProvider time, Exception? failure = null) : IDailyBackup
    {
        public List<DateTimeOffset> Runs { get; } = [];

        public Task<BackupRunResult> RunDailyAsync(CancellationToken cancellationToken)
        {
            lock (Runs)
            {
                Runs.Add(time.GetUtcNow());
            }

            return failure is null ? Task.FromResult(new BackupRunResult(BackupKinds.Daily, [], [])) : throw failure;
        }

        public int Count
        {
            get
            {
                lock (Runs)
                {
                    return Runs.Count;
                }
            }
        }
    }

    /// <summary>The schedule runs on the thread pool: give it a moment to react to the moved clock.</summary>
    private static async Task<int> SettledCountAsync(CountingDailyBackup daily, int expected)
    {
        for (var i = 0; i < 100 && daily.Count < expected; i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await Task.Delay(50, TestContext.Current.CancellationToken);
        return daily.Count;
    }

    /// <summary>From 00:30 UTC: nothing before 01:00, one run at 01:00, the next only 24 h later.</summary>
    private static async Task RunsOnlyAtOneUtcOnTwoDaysAsync(FakeTimeProvider time, CountingDailyBackup daily)
    {
        time.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(0, await SettledCountAsync(daily, 1));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await SettledCountAsync(daily, 1));
        time.Advance(TimeSpan.FromHours(23) + TimeSpan.FromMinutes(59));
        Assert.Equal(1, await SettledCountAsync(daily, 2));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, await SettledCountAsync(daily, 2));
    }

    [Fact]
    public async Task The_daily_backup_runs_at_the_cron_time_in_the_configured_zone_and_not_before()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 3, 1, 0, 30, 0, TimeSpan.Zero));
        var daily = new CountingDailyBackup(time);
        using var schedule = Schedule(daily, new BackupOptions { Schedule = "0 2 * * *", TimeZone = "Europe/Berlin" }, time);
        await schedule.StartAsync(TestContext.Current.CancellationToken);
        await _journal.WaitForScheduleAsync(BackupSchedule.Name);

        // 02:00 in Berlin (UTC+1 in March) is 01:00 UTC.
        await RunsOnlyAtOneUtcOnTwoDaysAsync(time, daily);

        Assert.Equal([new DateTimeOffset(2024, 3, 1, 1, 0, 0, TimeSpan.Zero), new DateTimeOffset(2024, 3, 2, 1, 0, 0, TimeSpan.Zero)], daily.Runs);
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task An_empty_schedule_never_runs()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 3, 1, 0, 30, 0, TimeSpan.Zero));
        var daily = new CountingDailyBackup(time);
        using var schedule = Schedule(daily, new BackupOptions { Schedule = "" }, time);
        await schedule.StartAsync(TestContext.Current.CancellationToken);

        time.Advance(TimeSpan.FromDays(3));

        Assert.Equal(0, await SettledCountAsync(daily, 1));
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_day_whose_run_throws_does_not_stop_the_schedule()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 3, 1, 0, 30, 0, TimeSpan.Zero));
        var daily = new CountingDailyBackup(time, new HttpRequestException("Docker did not answer"));
        using var schedule = Schedule(daily, new BackupOptions { Schedule = "0 1 * * *" }, time);
        await schedule.StartAsync(TestContext.Current.CancellationToken);
        await _journal.WaitForScheduleAsync(BackupSchedule.Name);

        await RunsOnlyAtOneUtcOnTwoDaysAsync(time, daily);

        Assert.False(schedule.ExecuteTask!.IsCompleted);
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_service_stopped_across_its_backup_time_runs_the_missed_backup_once_when_it_starts_and_not_again()
    {
        var options = new BackupOptions { Schedule = "0 2 * * *", TimeZone = "UTC" };
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 3, 1, 1, 0, 0, TimeSpan.Zero));
        var daily = new CountingDailyBackup(time);
        var ct = TestContext.Current.CancellationToken;

        // Runs at 01:00, stops at 01:30: nothing due yet.
        using (var first = Schedule(daily, options, time))
        {
            await first.StartAsync(ct);
            await _journal.WaitForScheduleAsync(BackupSchedule.Name);
            time.Advance(TimeSpan.FromMinutes(30));
            Assert.Equal(0, await SettledCountAsync(daily, 1));
            await first.StopAsync(ct);
        }

        // Down across 02:00; started again at 05:00 on a journal reopened from disk.
        time.Advance(TimeSpan.FromHours(3.5));
        await _journal.ReopenAsync();
        using (var second = Schedule(daily, options, time))
        {
            await second.StartAsync(ct);
            Assert.Equal(1, await SettledCountAsync(daily, 2));
            Assert.Equal(new DateTimeOffset(2024, 3, 1, 5, 0, 0, TimeSpan.Zero), Assert.Single(daily.Runs));
            await second.StopAsync(ct);
        }

        // A restart before the next 02:00 does not run it again; the next day's run comes at its time.
        time.Advance(TimeSpan.FromHours(1));
        await _journal.ReopenAsync();
        using var third = Schedule(daily, options, time);
        await third.StartAsync(ct);
        Assert.Equal(1, await SettledCountAsync(daily, 2));
        time.Advance(TimeSpan.FromHours(20));
        Assert.Equal(2, await SettledCountAsync(daily, 2));
        Assert.Equal(new DateTimeOffset(2024, 3, 2, 2, 0, 0, TimeSpan.Zero), daily.Runs[1]);
        await third.StopAsync(ct);
    }

    [Fact]
    public async Task The_first_start_of_a_schedule_does_not_catch_up_a_time_that_passed_before_it_existed()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 3, 1, 5, 0, 0, TimeSpan.Zero));
        var daily = new CountingDailyBackup(time);
        using var schedule = Schedule(daily, new BackupOptions { Schedule = "0 2 * * *", TimeZone = "UTC" }, time);
        await schedule.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, await SettledCountAsync(daily, 1));
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }
}
