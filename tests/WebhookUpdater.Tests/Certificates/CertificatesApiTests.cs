using System.Net;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Certificates;

public sealed class CertificatesApiTests
{
    [Fact]
    public async Task Renewing_without_the_admin_token_is_refused()
    {
        await using var app = new TestApp();

        var anonymous = await app.CreateClient().PostAsync("/api/certificates/renew", null, TestContext.Current.CancellationToken);
        var webhookSecret = await app.Webhook().PostAsync("/api/certificates/renew", null, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, webhookSecret.StatusCode);
    }

    [Theory]
    [InlineData("Certificates:Schedule", "every sunday", "Certificates:Schedule 'every sunday' is not a cron expression")]
    [InlineData("Certificates:TimeZone", "Mars/Olympus", "Certificates:TimeZone 'Mars/Olympus' is not a known time zone")]
    [InlineData("Certificates:WarnWithinDays", "-1", "Certificates:WarnWithinDays is -1: use 0 to 3650")]
    [InlineData("Certificates:ConfigDirectory", "letsencrypt", "Certificates:ConfigDirectory 'letsencrypt' must be an absolute path")]
    [InlineData("Certificates:CertbotTimeout", "00:00:00", "Certificates:CertbotTimeout is 00:00:00")]
    [InlineData("Certificates:RenewCommand", " ", "Certificates:RenewCommand is empty")]
    public async Task Bad_certificate_settings_stop_the_start_with_the_fix(string setting, string value, string message)
    {
        var error = await TestApp.StartErrorAsync(() => new TestApp(new() { [setting] = value }));

        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
