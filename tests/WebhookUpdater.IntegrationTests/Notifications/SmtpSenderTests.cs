#nullable disable warnings
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.Notifications;

namespace WebhookUpdater.IntegrationTests.Notifications;

/// <summary>
/// The MailKit sender against a real SMTP server (Debian's aiosmtpd, which scripts/testenv/smtp.sh
/// starts and which delivers into a Maildir the test reads).
/// </summary>
public sealed class SmtpSenderTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("wu-it-").FullName;
    private readonly string _operator = SesEmulator.NewAddress("smtp");

    private static string Server => Environment.GetEnvironmentVariable("WU_TEST_SMTP") is { Length: > 0 } server ? server : "127.0.0.1:2525";

    private static string Maildir =>
        Environment.GetEnvironmentVariable("WU_TEST_SMTP_MAILDIR") is { Length: > 0 } maildir ? maildir : FindStateFolder("smtp-maildir");

    /// <summary>scripts/testenv/.state/NAME of the checkout these tests were built from.</summary>
    private static string FindStateFolder(string name)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "scripts", "testenv", ".state", name);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return "/nonexistent/smtp-maildir";
    }

    public async ValueTask InitializeAsync()
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            var (host, port) = (Server.Split(':')[0], int.Parse(Server.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture));
            await client.ConnectAsync(host, port).WaitAsync(TimeSpan.FromSeconds(3));
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or TimeoutException)
        {
            TestEnvironment.Unavailable($"The SMTP server at {Server}", e);
        }

        if (!Directory.Exists(Path.Combine(Maildir, "new")))
        {
            TestEnvironment.Unavailable($"The SMTP server's Maildir {Maildir}");
        }
    }

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
        return ValueTask.CompletedTask;
    }

    private Dictionary<string, string> Settings(string server) => new()
    {
        ["Email:Sender"] = "Smtp",
        ["Email:Smtp:Host"] = server.Split(':')[0],
        ["Email:Smtp:Port"] = server.Split(':')[1],
        ["Email:Smtp:Security"] = "None",
        ["Email:From"] = "WebhookUpdater <updates@example.test>",
        ["Email:To"] = _operator,
        ["Email:RetryAttempts"] = "1",
        ["Email:RetryDelay"] = "00:00:00.100",
    };

    private static JobNotification Success(string jobId) =>
        new(NotificationKinds.UpdateSucceeded, jobId, "gitea", "manual", "gitea/gitea:1.22.2", "gitea/gitea:1.22.3", "sha256:" + new string('d', 64),
            "https://hub.docker.com/r/gitea/gitea", "updated", "gitea runs gitea/gitea:1.22.3", null);

    private static async Task<JsonElement> OutboxEntryAsync(ServiceHost service, string jobId, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        JsonElement entry = default;
        while (DateTime.UtcNow < deadline)
        {
            entry = (await service.GetJsonAsync("/api/notifications/outbox")).EnumerateArray().FirstOrDefault(e => e.GetProperty("jobId").GetString() == jobId);
            if (entry.ValueKind == JsonValueKind.Object && until(entry))
            {
                return entry;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"outbox entry for {jobId}: {entry}");
        return entry;
    }

    [Fact]
    public async Task A_notification_arrives_over_SMTP_with_a_text_and_an_html_part()
    {
        await using var service = new ServiceHost(_data, Settings(Server));
        service.CreateClient();

        await service.Services.GetRequiredService<INotifier>().NotifyAsync(Success("job-smtp"), CancellationToken.None);
        var sent = await OutboxEntryAsync(service, "job-smtp", e => e.GetProperty("state").GetString() == "sent");

        MimeMessage received = null;
        for (var i = 0; i < 100 && received is null; i++)
        {
            foreach (var file in Directory.GetFiles(Path.Combine(Maildir, "new")))
            {
                var message = await MimeMessage.LoadAsync(file);
                if (message.To.Mailboxes.Any(m => m.Address == _operator))
                {
                    received = message;
                }
            }

            await Task.Delay(100);
        }

        Assert.NotNull(received);
        Assert.Equal("smtp", sent.GetProperty("sender").GetString());
        Assert.Equal("Updated gitea to gitea/gitea:1.22.3", received.Subject);
        Assert.Equal($"{sent.GetProperty("id").GetString()}@webhook-updater", received.MessageId);
        Assert.Contains("passed its health gate", received.TextBody, StringComparison.Ordinal);
        Assert.Contains("<b>gitea</b>", received.HtmlBody, StringComparison.Ordinal);
        Assert.Equal("updates@example.test", received.From.Mailboxes.Single().Address);
    }

    [Fact]
    public async Task An_smtp_server_that_does_not_answer_leaves_the_message_in_the_outbox_with_the_reason()
    {
        await using var service = new ServiceHost(_data, Settings($"127.0.0.1:{DockerFixture.FreePort()}"));
        service.CreateClient();

        await service.Services.GetRequiredService<INotifier>().NotifyAsync(Success("job-smtp-down"), CancellationToken.None);
        var kept = await OutboxEntryAsync(service, "job-smtp-down", e => e.GetProperty("attempts").GetInt32() >= 1 && e.GetProperty("state").GetString() == "pending");

        Assert.Contains("could not be reached", kept.GetProperty("lastError").GetString(), StringComparison.Ordinal);
    }
}
