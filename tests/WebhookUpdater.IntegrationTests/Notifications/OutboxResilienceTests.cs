#nullable disable warnings
using System.Text.Json;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.IntegrationTests.Support;
using WebhookUpdater.Notifications;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Settings;

namespace WebhookUpdater.IntegrationTests.Notifications;

/// <summary>
/// WireMock.Net plays an SES that fails (the real emulator cannot be made to): the durable outbox
/// retries with Polly, keeps what still fails, and sends it once SES is back, exactly once.
/// </summary>
public sealed class OutboxResilienceTests : IAsyncLifetime
{
    private const string SendPath = "/v2/email/outbound-emails";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _data = Directory.CreateTempSubdirectory("wu-it-").FullName;
    private readonly WireMockServer _ses = WireMockServer.Start(new WireMockServerSettings { Urls = [$"http://127.0.0.1:{DockerFixture.FreePort()}"] });

    public ValueTask InitializeAsync()
    {
        SesEmulator.UseTestCredentialsInThisProcess();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _ses.Stop();
        _ses.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
        return ValueTask.CompletedTask;
    }

    internal static Dictionary<string, string> SesSettings(string url, Dictionary<string, string> more = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Email:Sender"] = "Ses",
            ["Email:Ses:Region"] = "us-east-1",
            ["Email:Ses:ServiceUrl"] = url,
            ["Email:From"] = "updates@example.test",
            ["Email:To"] = "operator@example.test",
            ["Email:RetryDelay"] = "00:00:00.100",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    private void SesAnswers(int status, string scenarioState = null, string nextState = null)
    {
        var mapping = _ses.Given(Request.Create().WithPath(SendPath).UsingPost());
        if (scenarioState is not null || nextState is not null)
        {
            mapping = mapping.InScenario("ses");
            if (scenarioState is not null)
            {
                mapping = mapping.WhenStateIs(scenarioState);
            }

            if (nextState is not null)
            {
                mapping = mapping.WillSetStateTo(nextState);
            }
        }

        mapping.RespondWith(Response.Create()
            .WithStatusCode(status)
            .WithHeader("Content-Type", "application/json")
            .WithBody(status == 200 ? $"{{\"MessageId\":\"wiremock-{Guid.NewGuid():N}\"}}" : "{\"message\":\"internal failure\"}"));
    }

    private int[] Statuses() =>
        _ses.LogEntries.Where(entry => entry.RequestMessage.Path == SendPath).OrderBy(entry => entry.RequestMessage.DateTime)
            .Select(entry => (int)entry.ResponseMessage.StatusCode).ToArray();

    private static JobNotification Failure(string jobId) =>
        new(NotificationKinds.UpdateFailed, jobId, "gitea", "automatic", "gitea/gitea:1.22", "gitea/gitea:1.22", "sha256:" + new string('c', 64),
            "https://hub.docker.com/r/gitea/gitea", "rolled back, healthy", "the new container failed its health gate", "log line 1\nlog line 2");

    private static async Task<JsonElement> WaitForOutboxAsync(Func<string, Task<JsonElement>> get, string jobId, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + Timeout;
        JsonElement entry = default;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var entries = await get("/api/notifications/outbox");
                entry = entries.EnumerateArray().FirstOrDefault(e => e.GetProperty("jobId").GetString() == jobId);
                if (entry.ValueKind == JsonValueKind.Object && until(entry))
                {
                    return entry;
                }
            }
            catch (HttpRequestException)
            {
                // The service may be restarting.
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the outbox entry for job {jobId} did not get there: {entry}");
        return entry;
    }

    [Fact]
    public async Task A_500_then_an_ok_from_SES_sends_the_email_once()
    {
        SesAnswers(500, nextState: "recovered");
        SesAnswers(200, scenarioState: "recovered");
        var metrics = new List<OpenTelemetry.Metrics.Metric>();
        await using var service = new ServiceHost(_data, SesSettings(_ses.Url), services =>
            services.ConfigureOpenTelemetryMeterProvider(meters => meters.AddInMemoryExporter(metrics)));
        service.CreateClient();

        await service.Services.GetRequiredService<INotifier>().NotifyAsync(Failure("job-500-then-200"), CancellationToken.None);
        var sent = await WaitForOutboxAsync(service.GetJsonAsync, "job-500-then-200", e => e.GetProperty("state").GetString() == "sent");
        await Task.Delay(1500);
        service.Services.GetRequiredService<OpenTelemetry.Metrics.MeterProvider>().ForceFlush();

        // One retry inside the round, then sent; the metrics say the same.
        Assert.Equal(1, OutboxRestartTests.Sum(metrics, "webhookupdater.email.sent"));
        Assert.Equal(1, OutboxRestartTests.Sum(metrics, "webhookupdater.email.retried"));
        Assert.Equal(0, OutboxRestartTests.Sum(metrics, "webhookupdater.email.failed"));

        Assert.Equal([500, 200], Statuses());
        Assert.Equal(1, sent.GetProperty("attempts").GetInt32());
        Assert.Equal("ses", sent.GetProperty("sender").GetString());
        var request = _ses.LogEntries[^1].RequestMessage;
        Assert.StartsWith($"AWS4-HMAC-SHA256 Credential={SesEmulator.AccessKeyId}/", request.Headers["Authorization"].Single(), StringComparison.Ordinal);
        Assert.Contains("/us-east-1/ses/aws4_request", request.Headers["Authorization"].Single(), StringComparison.Ordinal);
        var body = JsonDocument.Parse(request.Body).RootElement;
        Assert.Equal("Update of gitea failed: rolled back, healthy", body.GetProperty("Content").GetProperty("Simple").GetProperty("Subject").GetProperty("Data").GetString());
        Assert.Contains("log line 2", body.GetProperty("Content").GetProperty("Simple").GetProperty("Body").GetProperty("Text").GetProperty("Data").GetString(), StringComparison.Ordinal);
        Assert.Equal(["operator@example.test"], body.GetProperty("Destination").GetProperty("ToAddresses").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task An_email_SES_keeps_refusing_stays_in_the_outbox_and_goes_out_once_SES_is_back()
    {
        SesAnswers(500);
        await using var service = new ServiceHost(_data, SesSettings(_ses.Url, new()
        {
            ["Email:RetryAttempts"] = "1",
            ["Email:RetryInterval"] = "00:00:01",
            ["Email:MaxRetryInterval"] = "00:00:01",
        }));
        service.CreateClient();

        await service.Services.GetRequiredService<INotifier>().NotifyAsync(Failure("job-ses-down"), CancellationToken.None);
        var kept = await WaitForOutboxAsync(service.GetJsonAsync, "job-ses-down", e => e.GetProperty("attempts").GetInt32() >= 2 && e.GetProperty("state").GetString() == "pending");

        Assert.Contains("SES answered 500", kept.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.All(Statuses(), status => Assert.Equal(500, status));
        Assert.True(Statuses().Length >= 4, $"two rounds of two tries each: {string.Join(",", Statuses())}");

        _ses.Reset();
        SesAnswers(200);
        var sent = await WaitForOutboxAsync(service.GetJsonAsync, "job-ses-down", e => e.GetProperty("state").GetString() == "sent");
        await Task.Delay(2500);

        Assert.Equal([200], Statuses());
        Assert.Null(sent.GetProperty("lastError").GetString());
    }
}

/// <summary>The same faulty SES, with the service killed and started again on the same data folder.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class OutboxRestartTests(DockerFixture docker) : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("wu-it-").FullName;
    private readonly WireMockServer _ses = WireMockServer.Start(new WireMockServerSettings { Urls = [$"http://127.0.0.1:{DockerFixture.FreePort()}"] });

    public ValueTask InitializeAsync()
    {
        docker.Require();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await docker.RemoveTestContainersAsync();
        _ses.Stop();
        _ses.Dispose();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task Nothing_in_the_outbox_is_lost_across_a_service_restart()
    {
        _ses.Given(Request.Create().WithPath("/v2/email/outbound-emails").UsingPost()).RespondWith(Response.Create().WithStatusCode(503).WithBody("{\"message\":\"down\"}"));
        var name = docker.Name("outbox-restart");
        await docker.RunAppAsync(name, "1.0", new Dictionary<string, string> { ["update.policy"] = "manual" });
        var settings = OutboxResilienceTests.SesSettings(_ses.Url, new()
        {
            ["Email:RetryAttempts"] = "1",
            ["Email:RetryInterval"] = "00:00:01",
            ["Email:MaxRetryInterval"] = "00:00:01",
        });
        foreach (var (key, value) in SesEmulator.AwsEnvironment)
        {
            settings[key] = value;
        }

        var port = DockerFixture.FreePort();
        string jobId;
        await using (var first = await ServiceProcess.StartAsync(_data, settings, port))
        {
            jobId = (await first.PostEventAsync(ServiceHost.DiunPayload(TestEnvironment.AppImage("1.0"), "sha256:" + new string('f', 64), name)))
                .GetProperty("jobs")[0].GetProperty("id").GetString();
            var kept = await WaitAsync(first, jobId, e => e.GetProperty("attempts").GetInt32() >= 1 && e.GetProperty("state").GetString() == "pending");
            Assert.Contains("SES answered 503", kept.GetProperty("lastError").GetString(), StringComparison.Ordinal);
            await first.KillAsync();
        }

        _ses.Reset();
        _ses.Given(Request.Create().WithPath("/v2/email/outbound-emails").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithBody("{\"MessageId\":\"after-restart\"}"));
        await using var second = await ServiceProcess.StartAsync(_data, settings, port);
        await WaitAsync(second, jobId, e => e.GetProperty("state").GetString() == "sent");
        await Task.Delay(2000);

        var delivered = _ses.LogEntries.Where(e => (int)e.ResponseMessage.StatusCode == 200).ToList();
        Assert.Single(delivered);
        var text = JsonDocument.Parse(delivered[0].RequestMessage.Body).RootElement
            .GetProperty("Content").GetProperty("Simple").GetProperty("Body").GetProperty("Text").GetProperty("Data").GetString();
        var link = System.Text.RegularExpressions.Regex.Match(text, @"http://\S+/approvals/[A-Za-z0-9_-]+").Value;
        // The link issued before the kill still works after it: the approval row survived with its email.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await second.Http.GetAsync(link)).StatusCode);
        Assert.Equal("awaiting_approval", (await second.GetJsonAsync($"/api/jobs/{jobId}")).GetProperty("state").GetString());
    }

    private static async Task<JsonElement> WaitAsync(ServiceProcess service, string jobId, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
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

        Assert.Fail($"outbox entry for {jobId}: {entry}\n{service.Output}");
        return entry;
    }

    internal static long Sum(List<OpenTelemetry.Metrics.Metric> metrics, string name)
    {
        long total = 0;
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                total = Math.Max(total, point.GetSumLong());
            }
        }

        return total;
    }
}
