using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using WebhookUpdater.Certificates;
using WebhookUpdater.IntegrationTests.Backups;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Certificates;

/// <summary>An nginx -t that never returns must not hold certificate renewal: it is killed at Docker:ExecTimeout.</summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class NginxDeadlineTests(DockerFixture docker) : DockerTest
{
    private const int ExecSeconds = 5;

    protected override DockerFixture Docker => docker;

    private static async Task<(HttpStatusCode Status, JsonElement Body)> RenewAsync(HttpClient client)
    {
        var response = await client.PostAsync("/api/certificates/renew", null);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    [Fact]
    public async Task An_nginx_config_test_that_never_returns_fails_the_renewal_at_its_deadline_with_a_notice_and_the_next_renewal_runs()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "hangtest");
        var servedBefore = await stack.ServedSerialAsync();
        var workersBefore = await stack.WorkerPidsAsync();
        await stack.MakeDueAsync();
        await stack.HangNginxConfigTestAsync();
        var settings = stack.NamedSettings();
        settings["Docker:ExecTimeout"] = $"00:00:{ExecSeconds:00}";
        await using var service = new CertificateServiceHost(Data, settings);
        var clock = Stopwatch.StartNew();

        var (status, body) = await RenewAsync(service.Admin());

        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(ExecSeconds), TimeSpan.FromSeconds(ExecSeconds + 45));
        var nginx = body.GetProperty("nginx");
        Assert.Equal(NginxActions.TestTimedOut, nginx.GetProperty("action").GetString());
        Assert.Contains($"did not finish within {ExecSeconds} s", nginx.GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.Contains("killed inside the container", nginx.GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.True(body.GetProperty("actionRequired").GetBoolean());
        Assert.Contains("nginx -t did not finish", body.GetProperty("problem").GetString(), StringComparison.Ordinal);
        var notice = Assert.IsType<CertificateNotification>(Assert.Single(service.Notifications.Sent));
        Assert.Equal(CertificateNotification.NginxNotReloaded, notice.Kind);
        Assert.Contains(NginxActions.TestTimedOut, notice.Subject, StringComparison.Ordinal);
        // nginx was left alone, and the hung test is gone from its container.
        Assert.Equal(workersBefore, await stack.WorkerPidsAsync());
        Assert.Equal(servedBefore, await stack.ServedSerialAsync());
        var (_, processes, _) = await docker.ExecAsync(stack.NginxContainer, ["/bin/sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done"]);
        Assert.DoesNotContain("nginx -t", processes, StringComparison.Ordinal);

        await stack.RepairNginxConfigAsync();
        var (again, next) = await RenewAsync(service.Admin());

        Assert.True(again == HttpStatusCode.OK, $"{(int)again}: {next}");
        Assert.Equal(NginxActions.Reloaded, next.GetProperty("nginx").GetProperty("action").GetString());
        var renewed = next.GetProperty("certificates").EnumerateArray().Single(c => c.GetProperty("name").GetString() == stack.Domain).GetProperty("newSerial").GetString()!;
        Assert.NotEqual(servedBefore, renewed);
        Assert.Equal(renewed, await stack.ServedSerialEventuallyAsync(renewed));
    }
}
