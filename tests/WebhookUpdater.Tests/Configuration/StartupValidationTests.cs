using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using WebhookUpdater.Containers;
using WebhookUpdater.Persistence;
using WebhookUpdater.Security;
using WebhookUpdater.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using System.Net;
using WebhookUpdater.Tests.Support;

namespace WebhookUpdater.Tests.Configuration;

public sealed class StartupValidationTests
{
    /// <summary>
    /// Starts the host and returns every message of why it did not start. WebApplicationFactory
    /// can lose the start-up exception in a race with its own disposal (ObjectDisposedException);
    /// then the same options are resolved again from the built container, which runs the same
    /// binding and validators.
    /// </summary>
    private static Exception StartFails(TestApp app)
    {
        var error = Record.Exception(() => app.CreateClient());
        Assert.NotNull(error);
        if (error is ObjectDisposedException)
        {
            error = Record.Exception(() => ResolveAllOptions(app)) ?? error;
        }

        return error;
    }

    private static void ResolveAllOptions(TestApp app)
    {
        var collection = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(app.Settings).Build())
            .AddSingleton<IHostEnvironment>(new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = app.Environment })
            .AddLogging();
        collection.AddPersistence().AddContainers().AddAdminAccess().AddDiunWebhook();
        using var services = collection.BuildServiceProvider();
        _ = services.GetRequiredService<IOptions<WebhookUpdater.Webhooks.WebhookOptions>>().Value;
        _ = services.GetRequiredService<IOptions<WebhookUpdater.Security.AdminOptions>>().Value;
        _ = services.GetRequiredService<IOptions<WebhookUpdater.Persistence.StoreOptions>>().Value;
        _ = services.GetRequiredService<IOptions<WebhookUpdater.Containers.DockerOptions>>().Value;
    }

    private static string Messages(Exception error) =>
        error is AggregateException aggregate
            ? string.Join(" | ", aggregate.Flatten().InnerExceptions.Select(e => e.Message))
            : error.ToString();

    [Fact]
    public async Task Outside_development_the_service_refuses_to_start_without_its_secrets()
    {
        await using var app = new TestApp(new() { ["Webhook:Secret"] = "", ["Admin:Token"] = "" });

        var messages = Messages(StartFails(app));

        Assert.Contains("Webhook:Secret is required outside Development", messages, StringComparison.Ordinal);
        Assert.Contains("Webhook__Secret_FILE", messages, StringComparison.Ordinal);
        Assert.Contains("Admin:Token is required", messages, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_short_secret_is_refused_with_the_reason()
    {
        await using var app = new TestApp(new() { ["Webhook:Secret"] = "short" });

        Assert.Contains("Webhook:Secret is too short", Messages(StartFails(app)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Store:Synchronous", "Sometimes", "Store:Synchronous is 'Sometimes': use Full or Normal")]
    [InlineData("Webhook:MaxBodyBytes", "10", "Webhook:MaxBodyBytes is 10: use 1024 to 16777216")]
    [InlineData("Webhook:PermitsPerMinute", "0", "Webhook:PermitsPerMinute is 0: use 1 or more")]
    [InlineData("Docker:Endpoint", "ftp://example", "Docker:Endpoint (or DOCKER_HOST) 'ftp://example' is not a Docker endpoint")]
    [InlineData("Docker:ExecTimeout", "00:00:00", "Docker:ExecTimeout is 00:00:00: use a duration from 00:00:01 to 1.00:00:00 (default 00:05:00)")]
    [InlineData("Docker:StallTimeout", "2.00:00:00", "Docker:StallTimeout is 2.00:00:00: use a duration from 00:00:01 to 1.00:00:00 (default 00:02:00)")]
    public async Task Bad_settings_name_the_setting_and_the_fix(string setting, string value, string message)
    {
        await using var app = new TestApp(new() { [setting] = value });

        Assert.Contains(message, Messages(StartFails(app)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_secret_can_come_from_a_file()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "secret-from-a-file-0123456789\n", TestContext.Current.CancellationToken);
        await using var app = new TestApp(new() { ["Webhook:Secret"] = "", ["Webhook:Secret_FILE"] = file });
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", "secret-from-a-file-0123456789");

        var response = await client.PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("nginx")), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        File.Delete(file);
    }

    [Fact]
    public async Task An_unreadable_secret_file_names_the_setting_and_the_path()
    {
        await using var app = new TestApp(new() { ["Webhook:Secret_FILE"] = "/nonexistent/webhook-secret" });

        var messages = Messages(StartFails(app));

        Assert.Contains("Webhook:Secret_FILE names '/nonexistent/webhook-secret'", messages, StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_development_the_service_starts_without_secrets_and_the_webhook_refuses_everything()
    {
        await using var app = new TestApp(new() { ["Webhook:Secret"] = "", ["Admin:Token"] = "" }, environment: "Development");
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", "");

        var response = await client.PostAsync("/api/diun", Payloads.Raw(Payloads.Diun("nginx")), TestContext.Current.CancellationToken);
        var alive = await client.GetAsync("/healthz", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [Fact]
    public async Task Ready_reports_docker_and_the_journal_and_asks_them_at_most_once_per_cache_period()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = new TestApp(new() { ["Observability:ReadyCacheFor"] = "00:00:05" })
        {
            ConfigureServices = services => services.AddSingleton<TimeProvider>(time),
        };
        var client = app.CreateClient();

        var ready = await client.GetAsync("/readyz", TestContext.Current.CancellationToken);
        app.Containers.Failure = new HttpRequestException("down");
        var cached = await client.GetAsync("/readyz", TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(5));
        var notReady = await client.GetAsync("/readyz", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, cached.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains("Docker does not answer", await notReady.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }
}
