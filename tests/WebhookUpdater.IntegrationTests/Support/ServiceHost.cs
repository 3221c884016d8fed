using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;

namespace WebhookUpdater.IntegrationTests.Support;

/// <summary>The real service, in memory, against the real engine (DOCKER_HOST) and its own data folder.</summary>
internal sealed class ServiceHost(string dataDirectory, Dictionary<string, string?>? settings = null, Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? services = null) : WebApplicationFactory<Program>
{
    public const string WebhookSecret = "it-webhook-secret-0123456789";
    public const string AdminToken = "it-admin-token-0123456789";
    public const string SigningKey = "it-approval-signing-key-0123456789abcdef";

    public const string BackupSigningKey = "it-backup-signing-key-0123456789abcdef01";

    public string DataDirectory { get; } = dataDirectory;

    /// <summary>Service replacements (a clock the test moves, …), applied last.</summary>
    public Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? ConfigureServices { get; init; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        builder.UseSetting("Store:DataDirectory", DataDirectory);
        builder.UseSetting("Webhook:Secret", WebhookSecret);
        builder.UseSetting("Admin:Token", AdminToken);
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        builder.UseSetting("Updates:RunWorker", "false");
        builder.UseSetting("Approvals:SigningKey", SigningKey);
        builder.UseSetting("Backups:SigningKey", BackupSigningKey);
        builder.UseSetting("Approvals:BaseUrl", "http://127.0.0.1");
        foreach (var (key, value) in settings ?? [])
        {
            builder.UseSetting(key, value);
        }

        if (services is not null)
        {
            builder.ConfigureTestServices(services);
        }

        if (ConfigureServices is { } configure)
        {
            builder.ConfigureServices(configure);
        }
    }

    public async Task<JsonElement> PostEventAsync(string body)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", WebhookSecret);
        var response = await client.PostAsync("/api/diun", new ByteArrayContent(Encoding.UTF8.GetBytes(body)));
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        var response = await client.GetAsync(path);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static string DiunPayload(string image, string digest, string? containerName = null, string? containerId = null, string status = "update") =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["diun_version"] = "4.28.0",
            ["hostname"] = "myserver",
            ["status"] = status,
            ["provider"] = "docker",
            ["image"] = image,
            ["hub_link"] = "https://hub.docker.com/r/gitea/gitea",
            ["mime_type"] = "application/vnd.docker.distribution.manifest.v2+json",
            ["digest"] = digest,
            ["created"] = "2024-10-15T19:58:44Z",
            ["platform"] = "linux/amd64",
            ["metadata"] = containerName is null && containerId is null
                ? null
                : new Dictionary<string, string>
                {
                    ["ctn_id"] = containerId ?? "",
                    ["ctn_names"] = containerName ?? "",
                    ["ctn_state"] = "running",
                    ["ctn_status"] = "Up 3 days",
                },
        });
}
