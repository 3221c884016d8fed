using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Webhooks;

[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class WebhookCrashTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    [Fact]
    public async Task After_a_SIGKILL_during_a_burst_every_event_answered_202_is_stored()
    {
        var name = docker.Name("burst");
        await docker.RunAppAsync(name, "1.0", new Dictionary<string, string> { ["update.policy"] = "manual" });
        await using var service = await ServiceProcess.StartAsync(Data, new() { ["Updates:RunWorker"] = "false", ["Webhook:PermitsPerMinute"] = "100000" });
        var answered = new ConcurrentBag<long>();
        var failed = 0;
        using var stop = new CancellationTokenSource();

        // Diun's workers: ten senders, each posting one event after the other until the service dies.
        var senders = Enumerable.Range(0, 10).Select(sender => Task.Run(async () =>
        {
            using var client = new HttpClient { BaseAddress = service.Http.BaseAddress };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost.WebhookSecret);
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var digest = "sha256:" + $"{sender:x2}{n:x8}".PadLeft(64, '0');
                var body = ServiceHost.DiunPayload(TestEnvironment.AppImage("1.0"), digest, name);
                try
                {
                    var response = await client.PostAsync("/api/diun", new ByteArrayContent(Encoding.UTF8.GetBytes(body)));
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
                        answered.Add(answer.GetProperty("eventId").GetInt64());
                    }
                }
                catch (HttpRequestException)
                {
                    // The service is gone: stop sending.
                    Interlocked.Increment(ref failed);
                    return;
                }
            }
        })).ToList();

        for (var i = 0; i < 1200 && answered.Count < 100; i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        await service.KillAsync();
        await stop.CancelAsync();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.True(answered.Count >= 100, $"the burst got only {answered.Count} answers before the kill: {service.Output}");
        Assert.True(failed > 0, "the senders should still have been sending when the service was killed");
        var stored = new HashSet<long>();
        await using (var journal = new SqliteConnection($"Data Source={Path.Combine(Data, "webhook-updater.db")};Pooling=False"))
        {
            await journal.OpenAsync(TestContext.Current.CancellationToken);
            await using var query = journal.CreateCommand();
            query.CommandText = "SELECT id FROM events";
            await using var rows = await query.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            while (await rows.ReadAsync(TestContext.Current.CancellationToken))
            {
                stored.Add(rows.GetInt64(0));
            }
        }

        var lost = answered.Where(id => !stored.Contains(id)).Order().ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {answered.Count} events answered 202 are not in the journal: {string.Join(", ", lost.Take(10))}");
    }
}
