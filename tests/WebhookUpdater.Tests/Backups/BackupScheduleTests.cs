using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Backups;

namespace WebhookUpdater.Tests.Backups;

public sealed class BackupScheduleTests
{
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
        var options = Microsoft.Extensions.Options.Options.Create(new BackupOptions { Schedule = "0 2 * * *", TimeZone = "Europe/Berlin" });
        using var schedule = new BackupSchedule(new Lazy<IDailyBackup>(() => daily), options, time, NullLogger<BackupSchedule>.Instance);
        await schedule.StartAsync(TestContext.Current.CancellationToken);

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
        using var schedule = new BackupSchedule(new Lazy<IDailyBackup>(() => daily), Microsoft.Extensions.Options.Options.Create(new BackupOptions { Schedule = "" }), time, NullLogger<BackupSchedule>.Instance);
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
        using var schedule = new BackupSchedule(new Lazy<IDailyBackup>(() => daily), Microsoft.Extensions.Options.Options.Create(new BackupOptions { Schedule = "0 1 * * *" }), time, NullLogger<BackupSchedule>.Instance);
        await schedule.StartAsync(TestContext.Current.CancellationToken);

        await RunsOnlyAtOneUtcOnTwoDaysAsync(time, daily);

        Assert.False(schedule.ExecuteTask!.IsCompleted);
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }
}
