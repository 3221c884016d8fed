using Dapper;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using WebhookUpdater.Notifications;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Notifications;

public sealed class OutboxTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<string> WaitForEmlAsync(string directory, string id)
    {
        var path = Path.Combine(directory, id + ".eml");
        for (var i = 0; i < 200 && !File.Exists(path); i++)
        {
            await Task.Delay(25, Cancel);
        }

        Assert.True(File.Exists(path), $"{path} was not written");
        return path;
    }

    [Fact]
    public async Task A_notification_becomes_an_eml_file_with_a_text_and_an_html_part()
    {
        await using var app = new TestApp(new() { ["Email:To"] = "ops@example.org, oncall@example.org" });
        app.CreateClient();

        await app.Services.GetRequiredService<INotifier>().NotifyAsync(new JobNotification(
            NotificationKinds.UpdateSucceeded, "job-eml", "gitea", "manual", "gitea/gitea:1.22.2", "gitea/gitea:1.22.3", "sha256:abc", null, "updated", "gitea runs it", null), Cancel);
        var id = (await app.Services.GetRequiredService<OutboxStore>().ListAsync(null, 10, Cancel)).Single().Id;
        var email = await MimeMessage.LoadAsync(await WaitForEmlAsync(Path.Combine(app.DataDirectory, "outbox"), id), Cancel);

        Assert.Equal("Updated gitea to gitea/gitea:1.22.3", email.Subject);
        Assert.Equal(["ops@example.org", "oncall@example.org"], email.To.Mailboxes.Select(m => m.Address));
        Assert.Equal($"{id}@webhook-updater", email.MessageId);
        Assert.Contains("passed its health gate", email.TextBody, StringComparison.Ordinal);
        Assert.Contains("<b>gitea</b>", email.HtmlBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_notice_for_the_same_job_is_queued_once()
    {
        await using var app = new TestApp();
        app.CreateClient();
        var notification = new JobNotification(
            NotificationKinds.UpdateFailed, "job-twice", "gitea", "automatic", null, "gitea/gitea:1.22.3", "sha256:abc", null, "nothing changed", "pull failed", null);

        await app.Services.GetRequiredService<INotifier>().NotifyAsync(notification, Cancel);
        await app.Services.GetRequiredService<INotifier>().NotifyAsync(notification, Cancel);

        Assert.Equal(1, await app.CountAsync("outbox", "job_id = 'job-twice'"));
    }

    [Fact]
    public async Task A_message_a_crash_left_mid_send_is_sent_again_at_start_and_marked_sent()
    {
        var data = Directory.CreateTempSubdirectory("wu-test-").FullName;
        const string id = "0199aaaabbbbccccddddeeeeffff0000";
        // The first service writes the row as a crash mid-send leaves it, then stops (its dispose
        // would delete the data folder, so it is disposed last).
        await using var first = new TestApp(dataDirectory: data);
        first.CreateClient();
        await first.Services.GetRequiredService<Database>().WriteAsync((connection, transaction) => connection.ExecuteAsync(
            """
            INSERT INTO outbox (id, kind, subject, text_body, html_body, state, attempts, created_at, next_attempt_at)
            VALUES (@id, 'update-failed', 'Update of gitea failed', 'text', '<p>html</p>', 'sending', 1, '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z')
            """, new { id }, transaction), Cancel);
        first.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().StopApplication();

        await using var second = new TestApp(dataDirectory: data);
        second.CreateClient();
        await WaitForEmlAsync(Path.Combine(data, "outbox"), id);
        for (var i = 0; i < 100 && await second.CountAsync("outbox", $"id = '{id}' AND state = 'sent'") == 0; i++)
        {
            await Task.Delay(25, Cancel);
        }

        Assert.Equal(1, await second.CountAsync("outbox", $"id = '{id}' AND state = 'sent' AND attempts = 2"));
    }

    [Fact]
    public async Task The_outbox_api_needs_the_admin_token_and_never_shows_bodies()
    {
        await using var app = new TestApp();
        await app.Services.GetRequiredService<INotifier>().NotifyAsync(new JobNotification(
            NotificationKinds.UpdateFailed, "job-api", "gitea", "automatic", null, "gitea/gitea:1.22.3", "sha256:abc", null, "nothing changed", "pull failed", "secret-ish log"), Cancel);

        var anonymous = await app.CreateClient().GetAsync("/api/notifications/outbox", Cancel);
        var listed = await app.Admin().GetStringAsync("/api/notifications/outbox", Cancel);

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("job-api", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-ish log", listed, StringComparison.Ordinal);
    }
}
