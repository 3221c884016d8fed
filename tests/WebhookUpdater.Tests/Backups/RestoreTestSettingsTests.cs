using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Backups;

public sealed class RestoreTestSettingsTests
{
    [Theory]
    [InlineData("Backups:RestoreTestSchedule", "every sunday", "Backups:RestoreTestSchedule 'every sunday' is not a 5-field cron expression")]
    [InlineData("Backups:RestoreTestTimeout", "00:00:00", "Backups:RestoreTestTimeout must be positive")]
    public async Task A_bad_restore_test_setting_stops_the_start_with_a_message_that_says_how_to_fix_it(string key, string value, string expected)
    {
        await using var app = new TestApp(new() { [key] = value });

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_restore_test_schedule_is_a_valid_setting()
    {
        await using var app = new TestApp(new() { ["Backups:RestoreTestSchedule"] = "" });

        var response = await app.CreateClient().GetAsync("/healthz", TestContext.Current.CancellationToken);

        Assert.True(response.IsSuccessStatusCode);
    }
}
