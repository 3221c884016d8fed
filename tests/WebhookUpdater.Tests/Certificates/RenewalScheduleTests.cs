using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Certificates;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Certificates;

public sealed class RenewalScheduleTests : IAsyncLifetime
{
    private TempJournal _journal = null!;

    public async ValueTask InitializeAsync() => _journal = await TempJournal.CreateAsync();

    public ValueTask DisposeAsync() => _journal.DisposeAsync();

    private static async Task<bool> RanWithinAsync(FakeCertificateStack stack, TimeSpan realTime)
    {
        var deadline = DateTime.UtcNow + realTime;
        while (DateTime.UtcNow < deadline)
        {
            if (!stack.Calls.IsEmpty)
            {
                return true;
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        return !stack.Calls.IsEmpty;
    }

    private (RenewalSchedule Schedule, FakeCertificateStack Stack, RecordingNotifier Notifier) Create(FakeTimeProvider time, CertificatesOptions options)
    {
        var stack = new FakeCertificateStack();
        stack.Issue("git.example.com", TimeSpan.FromDays(80), time.GetUtcNow());
        var notifier = new RecordingNotifier();
        var renewal = new CertificateRenewal(stack, stack, notifier, new OptionsMonitor(options), time, NullLogger<CertificateRenewal>.Instance);
        return (new RenewalSchedule(new Lazy<CertificateRenewal>(() => renewal), new ScheduleJournal(_journal.Database, time, NullLogger<ScheduleJournal>.Instance), Options.Create(options), time, NullLogger<RenewalSchedule>.Instance), stack, notifier);
    }

    [Fact]
    public async Task The_default_schedule_renews_on_sunday_at_half_past_three_and_not_before()
    {
        // Saturday noon, UTC.
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 4, 12, 0, 0, TimeSpan.Zero));
        var (schedule, stack, _) = Create(time, new CertificatesOptions { TimeZone = "UTC" });
        await schedule.StartAsync(TestContext.Current.CancellationToken);
        await _journal.WaitForScheduleAsync(RenewalSchedule.Name);

        time.Advance(new TimeSpan(15, 29, 0));
        Assert.False(await RanWithinAsync(stack, TimeSpan.FromMilliseconds(300)));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await RanWithinAsync(stack, TimeSpan.FromSeconds(5)));
        Assert.StartsWith("run certbot: certbot renew", Assert.Single(stack.Calls), StringComparison.Ordinal);
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task The_schedule_is_read_in_the_configured_time_zone()
    {
        // 03:30 in Berlin in winter is 02:30 UTC.
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 5, 2, 0, 0, TimeSpan.Zero));
        var (schedule, stack, _) = Create(time, new CertificatesOptions { TimeZone = "Europe/Berlin" });
        await schedule.StartAsync(TestContext.Current.CancellationToken);
        await _journal.WaitForScheduleAsync(RenewalSchedule.Name);

        time.Advance(TimeSpan.FromMinutes(29));
        Assert.False(await RanWithinAsync(stack, TimeSpan.FromMilliseconds(300)));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await RanWithinAsync(stack, TimeSpan.FromSeconds(5)));
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task An_empty_schedule_never_runs()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 4, 12, 0, 0, TimeSpan.Zero));
        var (schedule, stack, _) = Create(time, new CertificatesOptions { Schedule = "" });
        await schedule.StartAsync(TestContext.Current.CancellationToken);

        time.Advance(TimeSpan.FromDays(14));

        Assert.False(await RanWithinAsync(stack, TimeSpan.FromMilliseconds(300)));
        await schedule.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_renewal_missed_while_the_service_was_down_runs_once_at_start()
    {
        // Saturday noon: started, stopped; down across Sunday 03:30; started again on Monday.
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 4, 12, 0, 0, TimeSpan.Zero));
        var options = new CertificatesOptions { TimeZone = "UTC" };
        var (first, stack, _) = Create(time, options);
        await first.StartAsync(TestContext.Current.CancellationToken);
        await _journal.WaitForScheduleAsync(RenewalSchedule.Name);
        await first.StopAsync(TestContext.Current.CancellationToken);
        Assert.Empty(stack.Calls);

        time.Advance(TimeSpan.FromDays(2));
        await _journal.ReopenAsync();
        var (second, restarted, _) = Create(time, options);
        await second.StartAsync(TestContext.Current.CancellationToken);
        Assert.True(await RanWithinAsync(restarted, TimeSpan.FromSeconds(5)));
        await second.StopAsync(TestContext.Current.CancellationToken);

        var (third, again, _) = Create(time, options);
        await third.StartAsync(TestContext.Current.CancellationToken);
        Assert.False(await RanWithinAsync(again, TimeSpan.FromMilliseconds(300)));
        await third.StopAsync(TestContext.Current.CancellationToken);
    }

    private sealed class OptionsMonitor(CertificatesOptions value) : IOptionsMonitor<CertificatesOptions>
    {
        public CertificatesOptions CurrentValue => value;

        public CertificatesOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<CertificatesOptions, string?> listener) => null;
    }
}
