using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using WebhookUpdater.Certificates;
using WebhookUpdater.IntegrationTests.Support;

namespace WebhookUpdater.IntegrationTests.Certificates;

/// <summary>
/// POST /api/certificates/renew against real servers: pebble (ACME), Debian's certbot in a
/// one-off container shaped like the stack's certbot service, and nginx serving the certificate
/// over HTTPS on a loopback port.
/// </summary>
[Collection(DockerCollection.Name)]
[Trait("Category", "Docker")]
public sealed class CertificateRenewalTests(DockerFixture docker) : DockerTest
{
    protected override DockerFixture Docker => docker;

    private static async Task<(HttpStatusCode Status, JsonElement Body, string MediaType)> RenewAsync(HttpClient client)
    {
        var response = await client.PostAsync("/api/certificates/renew", null);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (response.StatusCode, body, response.Content.Headers.ContentType?.MediaType ?? "");
    }

    /// <summary>On a wrong status the failure shows the whole answer (its problem detail says why).</summary>
    private static void AssertStatus(HttpStatusCode expected, HttpStatusCode actual, JsonElement body) =>
        Assert.True(expected == actual, $"expected {(int)expected}, got {(int)actual}: {body}");

    private static JsonElement Certificate(JsonElement body, string name) =>
        body.GetProperty("certificates").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static string Nginx(JsonElement body) => body.GetProperty("nginx").GetProperty("action").GetString()!;

    [Fact]
    public async Task Nothing_due_renews_nothing_and_leaves_nginx_alone()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "notdue", labelled: true);
        var servedBefore = await stack.ServedSerialAsync();
        var workersBefore = await stack.WorkerPidsAsync();
        // Found by their webhook-updater.role labels: no container names in the settings.
        await using var service = new CertificateServiceHost(Data, []);

        var (status, body, _) = await RenewAsync(service.Admin());

        AssertStatus(HttpStatusCode.OK, status, body);
        Assert.Equal(RenewalOutcomes.NothingDue, body.GetProperty("outcome").GetString());
        var certificate = Certificate(body, stack.Domain);
        Assert.Equal(CertificateStatuses.NotDue, certificate.GetProperty("status").GetString());
        Assert.Equal(stack.Domain, certificate.GetProperty("domains")[0].GetString());
        Assert.Equal(certificate.GetProperty("oldExpiry").GetDateTimeOffset(), certificate.GetProperty("newExpiry").GetDateTimeOffset());
        Assert.Equal(servedBefore, certificate.GetProperty("newSerial").GetString());
        Assert.Equal(NginxActions.NotTouched, Nginx(body));
        Assert.Equal(0, body.GetProperty("certbot").GetProperty("exitCode").GetInt64());
        Assert.Contains("No renewals were attempted", body.GetProperty("certbot").GetProperty("outputTail").GetString(), StringComparison.Ordinal);
        Assert.Equal(stack.CertbotContainer, body.GetProperty("certbot").GetProperty("container").GetString());
        Assert.False(body.GetProperty("actionRequired").GetBoolean());
        Assert.Equal(servedBefore, await stack.ServedSerialAsync());
        Assert.Equal(workersBefore, await stack.WorkerPidsAsync());
        Assert.Empty(service.Notifications.Sent);
    }

    [Fact]
    public async Task A_due_certificate_is_renewed_and_nginx_reloaded_to_serve_it()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "due");
        var servedBefore = await stack.ServedSerialAsync();
        var workersBefore = await stack.WorkerPidsAsync();
        var startedBefore = await stack.NginxStartedAtAsync();
        await stack.MakeDueAsync();
        await using var service = new CertificateServiceHost(Data, stack.NamedSettings());

        var (status, body, _) = await RenewAsync(service.Admin());

        AssertStatus(HttpStatusCode.OK, status, body);
        Assert.True(body.GetProperty("outcome").GetString() == RenewalOutcomes.Renewed, body.ToString());
        var certificate = Certificate(body, stack.Domain);
        Assert.Equal(CertificateStatuses.Renewed, certificate.GetProperty("status").GetString());
        Assert.Equal(servedBefore, certificate.GetProperty("oldSerial").GetString());
        var renewedSerial = certificate.GetProperty("newSerial").GetString();
        Assert.NotEqual(servedBefore, renewedSerial);
        Assert.True(certificate.GetProperty("newExpiry").GetDateTimeOffset() >= certificate.GetProperty("oldExpiry").GetDateTimeOffset());
        Assert.Equal(NginxActions.Reloaded, Nginx(body));
        Assert.Contains("test is successful", body.GetProperty("nginx").GetProperty("output").GetString(), StringComparison.Ordinal);

        // What nginx really serves on its port: the renewed certificate, from a reload (new
        // workers), not a restart (same container start time). nginx -s reload only signals the
        // master, which starts new workers a moment later.
        Assert.Equal(renewedSerial, await stack.ServedSerialEventuallyAsync(renewedSerial!));
        Assert.Empty((await stack.WorkerPidsEventuallyAsync(workers => !workers.Overlaps(workersBefore))).Intersect(workersBefore));
        Assert.Equal(startedBefore, await stack.NginxStartedAtAsync());
        Assert.Empty(service.Notifications.Sent);
    }

    [Fact]
    public async Task A_broken_nginx_configuration_is_not_reloaded_and_the_operator_is_told()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "broken");
        var servedBefore = await stack.ServedSerialAsync();
        var workersBefore = await stack.WorkerPidsAsync();
        await stack.MakeDueAsync();
        await stack.BreakNginxConfigAsync();
        await using var service = new CertificateServiceHost(Data, stack.NamedSettings());

        var (status, body, _) = await RenewAsync(service.Admin());

        AssertStatus(HttpStatusCode.OK, status, body);
        Assert.Equal(CertificateStatuses.Renewed, Certificate(body, stack.Domain).GetProperty("status").GetString());
        Assert.Equal(NginxActions.ConfigInvalid, Nginx(body));
        Assert.Contains("this_is_not_an_nginx_directive", body.GetProperty("nginx").GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.True(body.GetProperty("actionRequired").GetBoolean());

        // nginx was left alone: same workers, still up, still serving the old certificate.
        Assert.True(await stack.NginxRunningAsync());
        Assert.Equal(workersBefore, await stack.WorkerPidsAsync());
        Assert.Equal(servedBefore, await stack.ServedSerialAsync());
        var notice = Assert.IsType<CertificateNotification>(Assert.Single(service.Notifications.Sent));
        Assert.Equal(CertificateNotification.NginxNotReloaded, notice.Kind);
        Assert.Contains("nginx", notice.Subject, StringComparison.Ordinal);
        Assert.Contains("this_is_not_an_nginx_directive", notice.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_acme_server_that_is_down_fails_the_renewal_with_certbots_output_and_a_notice()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "acmedown");
        var servedBefore = await stack.ServedSerialAsync();
        var workersBefore = await stack.WorkerPidsAsync();
        await stack.MakeDueAsync();
        var deadPort = DockerFixture.FreePort();
        await stack.PointAtDeadAcmeServerAsync(deadPort);
        await using var service = new CertificateServiceHost(Data, stack.NamedSettings());

        var (status, body, mediaType) = await RenewAsync(service.Admin());

        AssertStatus(HttpStatusCode.BadGateway, status, body);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Equal(RenewalOutcomes.CertbotFailed, body.GetProperty("outcome").GetString());
        var certbot = body.GetProperty("certbot");
        Assert.NotEqual(0, certbot.GetProperty("exitCode").GetInt64());
        Assert.Contains($"127.0.0.1:{deadPort}", certbot.GetProperty("outputTail").GetString(), StringComparison.Ordinal);
        Assert.Equal(CertificateStatuses.NotRenewed, Certificate(body, stack.Domain).GetProperty("status").GetString());
        Assert.Equal(NginxActions.NotTouched, Nginx(body));
        Assert.Equal(servedBefore, await stack.ServedSerialAsync());
        Assert.Equal(workersBefore, await stack.WorkerPidsAsync());
        var notice = Assert.IsType<CertificateNotification>(Assert.Single(service.Notifications.Sent));
        Assert.Equal(CertificateNotification.RenewalFailed, notice.Kind);
        Assert.Contains("certbot exited with", notice.Subject, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{deadPort}", notice.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_renewals_at_once_run_one_and_refuse_the_other_with_409()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "twice");
        await stack.MakeDueAsync();
        await using var service = new CertificateServiceHost(Data, stack.NamedSettings());
        var first = service.Admin();
        var second = service.Admin();

        var answers = await Task.WhenAll(RenewAsync(first), RenewAsync(second));

        var statuses = answers.Select(a => a.Status).Order().ToList();
        Assert.True(
            statuses.SequenceEqual([HttpStatusCode.OK, HttpStatusCode.Conflict]),
            string.Join(" | ", answers.Select(a => $"{(int)a.Status}: {a.Body}")));
        var refused = answers.Single(a => a.Status == HttpStatusCode.Conflict);
        Assert.Equal("application/problem+json", refused.MediaType);
        Assert.Contains("already running", refused.Body.GetProperty("title").GetString(), StringComparison.Ordinal);
        var ran = answers.Single(a => a.Status == HttpStatusCode.OK);
        Assert.Equal(CertificateStatuses.Renewed, Certificate(ran.Body, stack.Domain).GetProperty("status").GetString());

        // The gate opens again once the run is over (the lineage is still due: it renews again).
        var (again, body, _) = await RenewAsync(first);
        AssertStatus(HttpStatusCode.OK, again, body);
        Assert.Equal(RenewalOutcomes.Renewed, body.GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task A_certificate_expiring_within_the_threshold_sends_a_warning_after_the_run()
    {
        await using var stack = await CertificateStack.StartAsync(docker, "expiring");
        // pebble issues for 5 years: a threshold of 10 years makes the fresh certificate "expiring".
        var settings = stack.NamedSettings();
        settings["Certificates:WarnWithinDays"] = "3650";
        await using var service = new CertificateServiceHost(Data, settings);

        var (status, body, _) = await RenewAsync(service.Admin());

        AssertStatus(HttpStatusCode.OK, status, body);
        var certificate = Certificate(body, stack.Domain);
        Assert.Equal(CertificateStatuses.NotDue, certificate.GetProperty("status").GetString());
        Assert.True(certificate.GetProperty("expiresSoon").GetBoolean());
        Assert.InRange(certificate.GetProperty("daysLeft").GetInt32(), 1000, 3650);
        Assert.True(body.GetProperty("actionRequired").GetBoolean());
        var notice = Assert.IsType<CertificateNotification>(Assert.Single(service.Notifications.Sent));
        Assert.Equal(CertificateNotification.Expiring, notice.Kind);
        Assert.Contains(stack.Domain, notice.Subject, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_certbot_container_is_named_in_the_answer_and_a_notice()
    {
        docker.Require();
        var missing = docker.Name("no-such-certbot");
        await using var service = new CertificateServiceHost(Data, new() { ["Certificates:CertbotContainer"] = missing });

        var (status, body, mediaType) = await RenewAsync(service.Admin());

        AssertStatus(HttpStatusCode.ServiceUnavailable, status, body);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Contains($"Certificates:CertbotContainer names '{missing}'", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(CertificateNotification.RenewalFailed, Assert.Single(service.Notifications.Sent).Kind);
    }
}
