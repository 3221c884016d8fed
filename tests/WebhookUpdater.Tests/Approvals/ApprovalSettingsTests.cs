using Microsoft.Extensions.DependencyInjection;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Approvals;

public sealed class ApprovalSettingsTests
{
    private static Task<string> StartErrorAsync(Dictionary<string, string?> settings) => TestApp.StartErrorAsync(() => new TestApp(settings));

    [Theory]
    [InlineData("Approvals:SigningKey", "", "Approvals:SigningKey is required outside Development: set Approvals__SigningKey or Approvals__SigningKey_FILE")]
    [InlineData("Approvals:SigningKey", "only-31-bytes-long-0123456789ab", "Approvals:SigningKey is too short (31 bytes): use at least 32")]
    [InlineData("Approvals:BaseUrl", "", "Approvals:BaseUrl is required outside Development")]
    [InlineData("Approvals:BaseUrl", "ftp://example.org", "Approvals:BaseUrl 'ftp://example.org' is not an http(s) URL")]
    [InlineData("Approvals:TokenLifetime", "00:00:00", "Approvals:TokenLifetime is 00:00:00")]
    [InlineData("Email:Sender", "Ses", "Email:Sender is Ses but no SES region is set: set AWS_REGION")]
    [InlineData("Email:Sender", "Smtp", "Email:Smtp:Host is empty")]
    [InlineData("Email:To", "not an address", "Email:To 'not an address' must be one or more email addresses")]
    public async Task Bad_approval_and_email_settings_name_the_setting_and_the_fix(string setting, string value, string message)
    {
        Assert.Contains(message, await StartErrorAsync(new() { [setting] = value }), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AWS_REGION")]
    [InlineData("AWS_DEFAULT_REGION")]
    public async Task The_SES_region_falls_back_to_the_AWS_region_of_the_environment(string variable)
    {
        await using var app = new TestApp(new() { ["Email:Sender"] = "Ses", ["Email:Ses:Region"] = "", [variable] = "eu-west-3" });

        var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<WebhookUpdater.Notifications.EmailOptions>>().Value;

        Assert.Equal("eu-west-3", options.Ses.Region);
    }

    [Fact]
    public async Task The_SES_region_setting_wins_over_the_AWS_region()
    {
        await using var app = new TestApp(new() { ["Email:Sender"] = "Ses", ["Email:Ses:Region"] = "us-east-2", ["AWS_REGION"] = "eu-west-3" });

        var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<WebhookUpdater.Notifications.EmailOptions>>().Value;

        Assert.Equal("us-east-2", options.Ses.Region);
    }

    [Fact]
    public async Task The_signing_key_can_come_from_a_file_and_never_shows_in_a_start_error()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "a-signing-key-from-a-file-0123456789abcdef\n", TestContext.Current.CancellationToken);
        await using var fromFile = new TestApp(new() { ["Approvals:SigningKey"] = "", ["Approvals:SigningKey_FILE"] = file });

        Assert.Equal(System.Net.HttpStatusCode.OK, (await fromFile.CreateClient().GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        Assert.DoesNotContain("short-secret-value", await StartErrorAsync(new() { ["Approvals:SigningKey"] = "short-secret-value" }), StringComparison.Ordinal);
        File.Delete(file);
    }
}
