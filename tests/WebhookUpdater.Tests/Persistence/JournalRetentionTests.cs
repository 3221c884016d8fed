using System.Collections.Concurrent;
using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Persistence;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Persistence;

public sealed class JournalRetentionTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Ago(int days) => DateTimeOffset.UtcNow.AddDays(-days).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// 100,000 rows older than 90 days: 30,000 events (20,000 of them with a finished job), 20,000 jobs,
    /// 40,000 steps, 5,000 approvals (decided, of the kept failed jobs), 5,000 sent emails. Beside them what must stay: 100 failed jobs of
    /// 200 days (with their events and steps), a deferred event, an unsent email, 50 recent events,
    /// and a recent sent email that still has its body.
    /// </summary>
    private static async Task SeedAsync(TestApp app)
    {
        var database = app.Services.GetRequiredService<Database>();
        await using var connection = await database.OpenAsync(Cancel);
        await using var transaction = connection.BeginTransaction();
        var old = Ago(200);
        var recent = Ago(1);
        await connection.ExecuteAsync(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30100)
            INSERT INTO events (id, received_at, status, provider, image, digest, payload, resolution)
            SELECT i, @old, 'new', 'docker', 'example/old:1', 'sha256:' || i, '{"payload":"' || hex(randomblob(64)) || '"}', 'resolved' FROM n;

            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20100)
            INSERT INTO jobs (id, event_id, container, policy, decision, state, image, digest, finished_at, created_at, updated_at)
            SELECT 'job-' || i, i, 'gitea', 'automatic', 'update', CASE WHEN i > 20000 THEN 'failed' WHEN i % 2 = 0 THEN 'succeeded' ELSE 'ignored' END,
                   'example/old:1', 'sha256:' || i, @old, @old, @old FROM n;

            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20100)
            INSERT INTO job_steps (job_id, seq, name, state, started_at, ended_at)
            SELECT 'job-' || i, s.seq, 'step', 'succeeded', @old, @old FROM n, (SELECT 1 AS seq UNION ALL SELECT 2) s;

            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
            INSERT INTO approvals (nonce, job_id, container, digest, issued_at, expires_at, decision, decided_at)
            SELECT 'nonce-' || i, 'job-' || (20001 + i % 100), 'gitea', 'sha256:' || i, @old, @old, 'approved', @old FROM n;

            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
            INSERT INTO outbox (id, kind, job_id, subject, text_body, html_body, state, created_at, next_attempt_at, sent_at)
            SELECT 'mail-' || i, 'update-succeeded', 'job-' || (20000 + i), 'subject', 'https://updates.example/approvals/secret', '<p>body</p>', 'sent', @old, @old, @old FROM n;

            INSERT INTO events (id, received_at, status, provider, image, digest, payload, resolution)
            VALUES (30101, @old, 'new', 'docker', 'example/deferred:1', 'sha256:deferred', '{}', 'deferred');
            INSERT INTO outbox (id, kind, subject, text_body, html_body, state, created_at, next_attempt_at)
            VALUES ('mail-unsent', 'update-failed', 'subject', 'text', 'html', 'pending', @old, @old);
            INSERT INTO outbox (id, kind, subject, text_body, html_body, state, created_at, next_attempt_at, sent_at)
            VALUES ('mail-recent', 'update-failed', 'subject', 'https://updates.example/approvals/secret', 'html', 'sent', @recent, @recent, @recent);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
            INSERT INTO events (received_at, status, provider, image, digest, payload, resolution)
            SELECT @recent, 'new', 'docker', 'example/recent:1', 'sha256:r' || i, '{}', 'resolved' FROM n;
            """,
            new { old, recent }, transaction);
        await transaction.CommitAsync(Cancel);
    }

    [Fact]
    public async Task A_journal_with_100000_old_rows_is_pruned_while_a_burst_of_webhooks_is_answered_and_every_202_keeps_its_event()
    {
        await using var app = new TestApp(new() { ["Webhook:PermitsPerMinute"] = "1000000" });
        app.CreateClient();
        await SeedAsync(app);
        var webhook = app.Webhook();
        var accepted = new ConcurrentBag<long>();
        var answeredWhilePruning = 0;

        var prune = Task.Run(() => app.Services.GetRequiredService<JournalRetention>().PruneAsync(Cancel), Cancel);
        var senders = Enumerable.Range(0, 8).Select(sender => Task.Run(async () =>
        {
            for (var i = 0; !prune.IsCompleted || i < 20; i++)
            {
                var response = await webhook.PostAsync("/api/diun", Payloads.Raw(Payloads.Diun($"example/burst{sender}:{i}", Payloads.DigestA)), Cancel);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                accepted.Add((await response.JsonAsync()).GetProperty("eventId").GetInt64());
                if (!prune.IsCompleted)
                {
                    Interlocked.Increment(ref answeredWhilePruning);
                }
            }
        }, Cancel)).ToList();
        await Task.WhenAll(senders);
        var result = await prune;

        Assert.True(answeredWhilePruning > 0, "no webhook was answered while the journal was pruned");
        Assert.Equal(20_000, result["jobs"]);
        Assert.Equal(30_000, result["events"]);
        Assert.Equal(5_000, result["approvals"]);
        Assert.Equal(5_000, result["emails"]);

        // Every 202 has its event; the webhooks' events are newer than any seeded one.
        var stored = (await QueryAsync<long>(app, "SELECT id FROM events WHERE id > 30101")).ToHashSet();
        Assert.All(accepted, id => Assert.Contains(id, stored));

        // Kept: failed jobs within a year with their events and steps, the deferred event, the unsent mail, recent events.
        Assert.Equal(100, await app.CountAsync("jobs", "state = 'failed'"));
        Assert.Equal(200, await app.CountAsync("job_steps"));
        Assert.Equal(100, await app.CountAsync("events", "id BETWEEN 20001 AND 20100"));
        Assert.Equal(1, await app.CountAsync("events", "resolution = 'deferred'"));
        Assert.Equal(50, await app.CountAsync("events", "image = 'example/recent:1'"));
        Assert.Equal(0, await app.CountAsync("events", "image = 'example/old:1' AND id NOT BETWEEN 20001 AND 20100"));
        Assert.Equal(0, await app.CountAsync("jobs", "state <> 'failed'"));
        Assert.Equal(0, await app.CountAsync("approvals"));
        Assert.Equal(["mail-recent", "mail-unsent"], (await QueryAsync<string>(app, "SELECT id FROM outbox ORDER BY id")).ToList());

        // A sent message keeps no body (it held an approval link); an unsent one keeps it to send it.
        Assert.Equal(1, await app.CountAsync("outbox", "id = 'mail-recent' AND text_body = '' AND html_body = ''"));
        Assert.Equal(1, await app.CountAsync("outbox", "id = 'mail-unsent' AND text_body = 'text'"));
    }

    [Fact]
    public async Task Failed_jobs_go_after_KeepFailedDays_and_KeepDays_0_keeps_everything()
    {
        await using (var app = new TestApp(new() { ["Journal:KeepDays"] = "30", ["Journal:KeepFailedDays"] = "150" }))
        {
            app.CreateClient();
            await SeedAsync(app);
            var result = await app.Services.GetRequiredService<JournalRetention>().PruneAsync(Cancel);

            Assert.Equal(20_100, result["jobs"]);
            Assert.Equal(0, await app.CountAsync("jobs"));
            Assert.Equal(0, await app.CountAsync("job_steps"));
            Assert.Equal(51, await app.CountAsync("events"));
        }

        await using (var app = new TestApp(new() { ["Journal:KeepDays"] = "0" }))
        {
            app.CreateClient();
            await SeedAsync(app);
            var result = await app.Services.GetRequiredService<JournalRetention>().PruneAsync(Cancel);

            Assert.Equal(0, result.Total);
            Assert.Equal(20_100, await app.CountAsync("jobs"));
        }
    }

    [Theory]
    [InlineData("Journal:KeepDays", "-1", "Journal:KeepDays")]
    [InlineData("Journal:KeepFailedDays", "30", "at least Journal:KeepDays")]
    [InlineData("Journal:BatchSize", "0", "Journal:BatchSize")]
    [InlineData("Journal:PruneEvery", "00:00:05", "Journal:PruneEvery")]
    public async Task A_bad_retention_setting_stops_the_start_with_a_message_that_says_how_to_fix_it(string key, string value, string expected)
    {
        await using var app = new TestApp(new() { [key] = value });

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
    }

    private static async Task<IEnumerable<T>> QueryAsync<T>(TestApp app, string sql)
    {
        await using var connection = await app.Services.GetRequiredService<Database>().OpenAsync(Cancel);
        return (await connection.QueryAsync<T>(sql)).ToList();
    }
}
