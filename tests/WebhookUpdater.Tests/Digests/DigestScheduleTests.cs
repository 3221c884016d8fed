using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebhookUpdater.Digests;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;
using WebhookUpdater.Updates;

namespace WebhookUpdater.Tests.Digests;

public sealed class DigestScheduleTests : IAsyncLifetime
{
    private const string NotifyJournalName = "digests.notify";
    private TempJournal _journal = null!;

    public async ValueTask InitializeAsync() => _journal = await TempJournal.CreateAsync();

    public ValueTask DisposeAsync() => _journal.DisposeAsync();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private NotifyDigestSchedule Schedule(FakeTimeProvider time)
    {
        var sender = new DigestSender(new DigestStore(_journal.Database), new EmailComposer(new NoPublicLinks()), new OutboxSignal(), time, NullLogger<DigestSender>.Instance);
        return new NotifyDigestSchedule(
            sender, new ScheduleJournal(_journal.Database, time, NullLogger<ScheduleJournal>.Instance),
            Options.Create(new DigestOptions { TimeZone = "UTC" }), time, NullLogger<NotifyDigestSchedule>.Instance);
    }

    private async Task RecordAsync(FakeTimeProvider time, string container, string policy, Decision decision, JobState state)
    {
        var update = new UpdateEvent("new", "docker", $"example/{container}:1", "sha256:" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N"), null, null, null, [container]);
        await new JobStore(_journal.Database, time).RecordEventAsync(
            new EventRecord(time.GetUtcNow(), update),
            [new UpdateDecision(container, null, policy, decision, state, $"example/{container}:1", null, "test")],
            Cancel);
    }

    private async Task<IReadOnlyList<(string Subject, string Text)>> DigestEmailsAsync()
    {
        await using var connection = await _journal.Database.OpenAsync(Cancel);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT subject, text_body FROM outbox WHERE kind = $kind ORDER BY created_at, id";
        command.Parameters.AddWithValue("$kind", NotificationKinds.NotifyDigest);
        var found = new List<(string, string)>();
        await using var reader = await command.ExecuteReaderAsync(Cancel);
        while (await reader.ReadAsync(Cancel))
        {
            found.Add((reader.GetString(0), reader.GetString(1)));
        }

        return found;
    }

    private async Task<IReadOnlyList<(string Subject, string Text)>> EmailsWithinAsync(int count, TimeSpan realTime)
    {
        var deadline = DateTime.UtcNow + realTime;
        var emails = await DigestEmailsAsync();
        while (emails.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Cancel);
            emails = await DigestEmailsAsync();
        }

        return emails;
    }

    /// <summary>
    /// Moves the clock on a second at a time until <paramref name="count"/> emails are there: the
    /// schedule registers its next wait only after it woke, and a single jump made before that
    /// registration would land its timer a whole step later.
    /// </summary>
    private async Task<IReadOnlyList<(string Subject, string Text)>> AdvanceUntilEmailsAsync(FakeTimeProvider time, int count)
    {
        var emails = await DigestEmailsAsync();
        for (var step = 0; step < 600 && emails.Count < count; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            emails = await EmailsWithinAsync(count, TimeSpan.FromMilliseconds(20));
        }

        return emails;
    }

    [Fact]
    public async Task The_notify_events_of_a_day_go_out_in_one_email_at_eight_and_never_twice()
    {
        // Monday 07:00 UTC.
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 6, 7, 0, 0, TimeSpan.Zero));
        await RecordAsync(time, "diun", Policies.Notify, Decision.Notified, JobState.Ignored);
        await RecordAsync(time, "certbot", Policies.Notify, Decision.Notified, JobState.Ignored);
        await RecordAsync(time, "nginx", Policies.Automatic, Decision.Queued, JobState.Queued);
        var schedule = Schedule(time);
        await schedule.StartAsync(Cancel);
        await _journal.WaitForScheduleAsync(NotifyJournalName);

        time.Advance(TimeSpan.FromMinutes(59));
        Assert.Empty(await EmailsWithinAsync(1, TimeSpan.FromMilliseconds(300)));

        var (subject, text) = Assert.Single(await AdvanceUntilEmailsAsync(time, 1));
        Assert.Equal("Updates available: diun, certbot", subject);
        Assert.Contains("example/diun:1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("nginx", text, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromDays(1));
        Assert.Single(await EmailsWithinAsync(2, TimeSpan.FromMilliseconds(300)));
        await schedule.StopAsync(Cancel);
    }

    [Fact]
    public async Task A_run_missed_while_the_service_was_down_is_caught_up_once_with_only_what_no_email_listed()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 6, 12, 0, 0, TimeSpan.Zero));
        var first = Schedule(time);
        await first.StartAsync(Cancel);
        await _journal.WaitForScheduleAsync(NotifyJournalName);
        await RecordAsync(time, "diun", Policies.Notify, Decision.Notified, JobState.Ignored);
        await first.StopAsync(Cancel);

        // Down across Tuesday 08:00.
        time.Advance(TimeSpan.FromDays(1));
        await _journal.ReopenAsync();
        var second = Schedule(time);
        await second.StartAsync(Cancel);
        Assert.Contains("diun", Assert.Single(await EmailsWithinAsync(1, TimeSpan.FromSeconds(5))).Subject, StringComparison.Ordinal);
        await second.StopAsync(Cancel);

        var third = Schedule(time);
        await third.StartAsync(Cancel);
        Assert.Single(await EmailsWithinAsync(2, TimeSpan.FromMilliseconds(300)));
        await third.StopAsync(Cancel);
    }

    [Theory]
    [InlineData("Digests:NotifySchedule", "daily", "Digests:NotifySchedule 'daily' is not a cron expression")]
    [InlineData("Digests:OutsideTrackSchedule", "1 2 3", "Digests:OutsideTrackSchedule '1 2 3' is not a cron expression")]
    [InlineData("Digests:TimeZone", "Mars/Olympus", "Digests:TimeZone 'Mars/Olympus' is not a known time zone")]
    public async Task Bad_digest_settings_stop_the_start_with_the_fix(string setting, string value, string message)
    {
        var messages = await TestApp.StartErrorAsync(() => new TestApp(new() { [setting] = value }));
        Assert.Contains(message, messages, StringComparison.Ordinal);
    }
}
