using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WebhookUpdater.Containers;

namespace WebhookUpdater.Tests.Support;

/// <summary>The service in memory, with its own data folder and a fake engine.</summary>
internal sealed class TestApp : WebApplicationFactory<Program>
{
    public const string WebhookSecret = "test-webhook-secret-0123456789";
    public const string AdminToken = "test-admin-token-0123456789";
    public const string SigningKey = "test-approval-signing-key-0123456789abcdef";
    public const string BackupSigningKey = "test-backup-signing-key-0123456789abcdef";
    public const string BaseUrl = "https://updates.example.test";

    private readonly Dictionary<string, string?> _settings;

    public TestApp(Dictionary<string, string?>? settings = null, string environment = "Production", string? dataDirectory = null)
    {
        DataDirectory = dataDirectory ?? Directory.CreateTempSubdirectory("wu-test-").FullName;
        Environment = environment;
        _settings = new Dictionary<string, string?>
        {
            ["Store:DataDirectory"] = DataDirectory,
            ["Webhook:Secret"] = WebhookSecret,
            ["Admin:Token"] = AdminToken,
            ["Logging:LogLevel:Default"] = "Warning",
            ["Updates:RunWorker"] = "false",
            ["Approvals:SigningKey"] = SigningKey,
            ["Backups:SigningKey"] = BackupSigningKey,
            ["Approvals:BaseUrl"] = BaseUrl,
        };
        foreach (var (key, value) in settings ?? [])
        {
            _settings[key] = value;
        }
    }

    public string DataDirectory { get; }

    public Dictionary<string, string?> Settings => new(_settings);

    public string Environment { get; }

    public FakeContainerRuntime Containers { get; } = new();

    /// <summary>Swarm in memory; not a manager unless a test makes it one.</summary>
    public FakeSwarm Swarm { get; init; } = new();

    /// <summary>Every registration is checked when the provider is built: a service nobody registered fails at once.</summary>
    public bool ValidateServices { get; init; }

    /// <summary>More service replacements (a FakeTimeProvider, …), applied after the fake engine.</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(Environment);
        if (ValidateServices)
        {
            builder.UseDefaultServiceProvider(options => { options.ValidateOnBuild = true; options.ValidateScopes = true; });
        }

        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureTestServices(services =>
        {
            services.RemoveAll<IContainerLookup>();
            services.AddSingleton<IContainerLookup>(Containers);
            services.AddKeyedSingleton<IContainerLookup>(DockerResilience.Quick, Containers);
            services.RemoveAll<WebhookUpdater.Swarm.ISwarmServices>();
            services.AddSingleton<WebhookUpdater.Swarm.ISwarmServices>(Swarm);
            services.AddKeyedSingleton<WebhookUpdater.Swarm.ISwarmServices>(DockerResilience.Quick, Swarm);
            services.RemoveAll<IImageActions>();
            services.AddSingleton<IImageActions>(Containers);
            services.RemoveAll<IContainerActions>();
            services.AddSingleton<IContainerActions>(Containers);
            ConfigureServices?.Invoke(services);
        });
    }

    /// <summary>
    /// Why a host made by <paramref name="make"/> does not start: every message, flattened.
    /// WebApplicationFactory can lose the start-up exception in a race with its own disposal
    /// (ObjectDisposedException under load): then a new host is started, up to five times.
    /// </summary>
    public static async Task<string> StartErrorAsync(Func<TestApp> make)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var app = make();
            var error = Record.Exception(() => app.CreateClient());
            Assert.NotNull(error);
            if (error is ObjectDisposedException && attempt < 5)
            {
                continue;
            }

            return error is AggregateException aggregate
                ? string.Join(" | ", aggregate.Flatten().InnerExceptions.Select(e => e.ToString()))
                : error.ToString();
        }
    }

    public HttpClient Webhook()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", WebhookSecret);
        return client;
    }

    public HttpClient Admin()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return client;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Payloads
{
    public const string DigestA = "sha256:216a8a6e6a3f7c1f0e7c8b9a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e";
    public const string DigestB = "sha256:9c1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

    /// <summary>The shape Diun 4.28's webhook notifier posts for the docker provider.</summary>
    public static string Diun(string image, string digest = DigestA, string? containerName = null, string status = "new") =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["diun_version"] = "4.28.0",
            ["hostname"] = "myserver",
            ["status"] = status,
            ["provider"] = "docker",
            ["image"] = image,
            ["hub_link"] = "https://hub.docker.com/r/gitea/gitea",
            ["mime_type"] = "application/vnd.docker.distribution.manifest.list.v2+json",
            ["digest"] = digest,
            ["created"] = "2024-10-15T19:58:44Z",
            ["platform"] = "linux/amd64",
            ["metadata"] = containerName is null
                ? new Dictionary<string, string>()
                : new Dictionary<string, string> { ["ctn_id"] = "", ["ctn_names"] = containerName, ["ctn_state"] = "running", ["ctn_status"] = "Up 3 days" },
        });

    /// <summary>Diun sends no Content-Type unless told to: the body goes as plain bytes.</summary>
    public static ByteArrayContent Raw(string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = null;
        return content;
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();
}

internal static class JournalQueries
{
    public static async Task ExecuteAsync(this TestApp app, string sql)
    {
        var database = app.Services.GetRequiredService<WebhookUpdater.Persistence.Database>();
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<long> CountAsync(this TestApp app, string table, string where = "1 = 1")
    {
        var database = app.Services.GetRequiredService<WebhookUpdater.Persistence.Database>();
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {table} WHERE {where}";
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
